//! Per-number code limits (`[sms_limits]`, Signal's defaults in `profiles/plans/signal-like.toml`):
//! 6 code requests then 1 per 30 s per number, 6 code checks per 2 minutes per session; over them 429
//! `PHONE_NUMBER_FLOOD` with Retry-After; a limit that cannot work is refused with file:line.

mod common;

use common::{number, plan_text, start};
use http::StatusCode;
use std::path::Path;
use surge_target::CapacityPlan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_asking_too_often_gets_phone_number_flood() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/plans/signal-like.toml");
    let plan = CapacityPlan::load(&path).expect("signal-like plan loads");
    let (target, api) = start(plan).await;
    let mut session = String::new();
    for i in 0..6 {
        let r = api.request_code("europe", &number(1)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "request {i}: {}", r.body);
        session = r.json()["session_id"].as_str().unwrap().to_owned();
    }
    let flood = api.request_code("europe", &number(1)).await;
    assert_eq!(flood.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(flood.json()["error"], "PHONE_NUMBER_FLOOD");
    assert_eq!(flood.retry_after(), Some(30));
    // Another number is not limited by the first one's requests.
    let other = api.request_code("europe", &number(2)).await;
    assert_eq!(other.status, StatusCode::ACCEPTED, "{}", other.body);

    // Code checks: 6 wrong guesses, then the session is held off even with the right code.
    for _ in 0..6 {
        let r = api.verify("europe", &session, "000000").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let code = surge_target::verification_code(surge_target::DEFAULT_SECRET, &number(1));
    let held = api.verify("europe", &session, &code).await;
    assert_eq!(held.status, StatusCode::TOO_MANY_REQUESTS, "{}", held.body);
    assert_eq!(held.json()["error"], "PHONE_NUMBER_FLOOD");
    assert_eq!(held.retry_after(), Some(20));
    target.shutdown().await;
}

#[test]
fn a_limit_that_cannot_work_is_refused_with_file_and_line() {
    for (limit, field, line_text) in [
        (
            "request_code = { burst = 0, every = \"30s\" }",
            "sms_limits.request_code.burst",
            "request_code = { burst = 0, every = \"30s\" }",
        ),
        (
            "verify_code = { burst = 6, every = \"0s\" }",
            "sms_limits.verify_code.every",
            "verify_code = { burst = 6, every = \"0s\" }",
        ),
    ] {
        let top = format!("[sms_limits]\n{limit}");
        let text = plan_text("{ median = \"0ms\", p99 = \"0ms\" }", 64, "", &top);
        let e = CapacityPlan::from_toml_str(&text, "s.toml").expect_err(limit);
        let line = e.line().unwrap_or(0);
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().starts_with(&format!("s.toml:{line}:")), "{e}");
        assert_eq!(
            text.lines().nth(line.saturating_sub(1)).map(str::trim),
            Some(line_text)
        );
    }
}
