//! The SMS pipeline (`providers`, `voice`, `[sms_queue]`): several providers per region each at its
//! own rate, failover down the list, a voice fallback, a delivery queue whose messages expire, codes
//! that cannot be checked before they land, and a pipeline that cannot work refused with file:line.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{number, start};
use http::StatusCode;
use surge_target::{CODE_DELAY_HEADER, CapacityPlan, DEFAULT_SECRET, SMS_PROVIDER_HEADER};

/// Europe has a pipeline (`providers` lines, `voice` line, `[sms_queue]` lines); Americas a plain
/// gateway.
fn pipeline_plan(providers: &str, voice: &str, queue: &str) -> String {
    format!(
        r#"default_region = "americas"
{queue}

[regions.americas]
sms_rate_per_s = 100000
sms_burst = 1000

[regions.europe]
providers = {providers}
{voice}

[service]
request_code = {{ median = "0ms", p99 = "0ms" }}
verify_code = {{ median = "0ms", p99 = "0ms" }}
register = {{ median = "0ms", p99 = "0ms" }}
keys = {{ median = "0ms", p99 = "0ms" }}
discovery = {{ median = "0ms", p99 = "0ms" }}

[dcs.us]
regions = ["americas"]
slots = 64

[dcs.eu]
regions = ["europe"]
slots = 64
"#
    )
}

fn plan(text: &str) -> CapacityPlan {
    CapacityPlan::from_toml_str(text, "pipeline.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn header(r: &common::Reply, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_queue_fail_over_fall_back_to_voice_and_expire() {
    // A long code at 1/s, a short code at 5/s, voice at 1/s; a provider more than 1 s behind passes
    // the message on; a message that would wait more than 3 s expires.
    let text = pipeline_plan(
        r#"[
  { name = "long-code", rate_per_s = 1, latency = { median = "50ms", p99 = "50ms" } },
  { name = "short-code", rate_per_s = 5, latency = { median = "50ms", p99 = "50ms" } },
]"#,
        r#"voice = { rate_per_s = 1, latency = { median = "200ms", p99 = "200ms" } }"#,
        "[sms_queue]\nexpiry = \"3s\"\nfailover_after = \"1s\"",
    );
    let (target, api) = start(plan(&text)).await;
    let mut providers = Vec::new();
    let mut delays = Vec::new();
    for i in 0..60 {
        let r = api.request_code("europe", &number(i)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let delay = header(&r, CODE_DELAY_HEADER).expect("a delay header");
        providers.push(header(&r, SMS_PROVIDER_HEADER).unwrap_or_default());
        delays.push(delay);
    }
    // The first message goes out at once on the preferred provider.
    assert_eq!(providers[0], "long-code");
    assert_eq!(delays[0], "50");
    for name in ["long-code", "short-code", "voice"] {
        assert!(providers.iter().any(|p| p == name), "{name}: {providers:?}");
    }
    // The short code carries the most; the first voice call comes after the short code is 1 s behind.
    let count = |n: &str| providers.iter().filter(|p| *p == n).count();
    assert!(count("short-code") > count("long-code") + count("voice"));
    let first_voice = providers.iter().position(|p| p == "voice").unwrap_or(0);
    assert!(
        providers[..first_voice]
            .iter()
            .filter(|p| *p == "short-code")
            .count()
            >= 5,
        "{providers:?}"
    );
    // Delivered delays grow with the queue and stay within expiry + latency; the rest expired.
    let delivered: Vec<u64> = delays.iter().filter_map(|d| d.parse().ok()).collect();
    let expired = delays.iter().filter(|d| *d == "expired").count();
    assert_eq!(delivered.len() + expired, 60);
    assert!(expired > 20, "{delays:?}");
    assert!(delivered.iter().all(|d| *d <= 3_200), "{delivered:?}");
    assert!(delivered.iter().any(|d| *d > 2_000), "{delivered:?}");

    let stats = target.stats();
    let sent: u64 = stats.sms_sent.values().sum();
    assert_eq!(sent as usize, delivered.len());
    assert_eq!(stats.sms_expired.get("europe"), Some(&(expired as u64)));
    assert_eq!(
        stats
            .sms_sent
            .get(&("europe".to_owned(), "voice".to_owned())),
        Some(&(count("voice") as u64))
    );
    let metrics = target.metrics_text();
    assert!(
        metrics.contains(&format!(
            "surge_target_sms_expired_total{{region=\"europe\"}} {expired}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("surge_target_sms_sent_total{region=\"europe\",provider=\"short-code\"}")
    );

    // A region without a pipeline: no delay header, the code is usable at once.
    let plain = api.request_code("americas", &number(1_000)).await;
    assert_eq!(plain.status, StatusCode::ACCEPTED);
    assert_eq!(header(&plain, CODE_DELAY_HEADER), None);
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_cannot_be_checked_before_it_lands_and_an_expired_one_never() {
    let text = pipeline_plan(
        r#"[{ name = "slow", rate_per_s = 1, latency = { median = "400ms", p99 = "400ms" } }]"#,
        "",
        "[sms_queue]\nexpiry = \"1s\"\nfailover_after = \"1s\"",
    );
    let (target, api) = start(plan(&text)).await;
    let (a, b, c) = (number(1), number(2), number(3));
    let first = api.request_code("europe", &a).await;
    assert_eq!(header(&first, CODE_DELAY_HEADER).as_deref(), Some("400"));
    let session = first.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second = api.request_code("europe", &b).await;
    let wait: u64 = header(&second, CODE_DELAY_HEADER)
        .and_then(|d| d.parse().ok())
        .expect("second message queued one send behind");
    assert!((1_300..=1_400).contains(&wait), "{wait}");
    let third = api.request_code("europe", &c).await;
    assert_eq!(
        header(&third, CODE_DELAY_HEADER).as_deref(),
        Some("expired")
    );

    let code = surge_target::verification_code(DEFAULT_SECRET, &a);
    let early = api.verify("europe", &session, &code).await;
    assert_eq!(early.status, StatusCode::FORBIDDEN, "{}", early.body);
    assert!(early.body.contains("not delivered"), "{}", early.body);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let landed = api.verify("europe", &session, &code).await;
    assert_eq!(landed.status, StatusCode::OK, "{}", landed.body);

    // The expired message never lands; asking again later goes through and lands.
    let expired_session = third.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code_c = surge_target::verification_code(DEFAULT_SECRET, &c);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let never = api.verify("europe", &expired_session, &code_c).await;
    assert_eq!(never.status, StatusCode::FORBIDDEN, "{}", never.body);
    let again = api.request_code("europe", &c).await;
    let d: u64 = header(&again, CODE_DELAY_HEADER)
        .and_then(|d| d.parse().ok())
        .expect("sent this time");
    tokio::time::sleep(Duration::from_millis(d + 50)).await;
    let session_c = again.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ok = api.verify("europe", &session_c, &code_c).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    target.shutdown().await;
}

#[test]
fn a_pipeline_that_cannot_work_is_refused_with_file_and_line() {
    let ok_provider =
        r#"[{ name = "p", rate_per_s = 1, latency = { median = "1s", p99 = "2s" } }]"#;
    let cases = [
        (
            pipeline_plan(
                r#"[{ name = "dead", rate_per_s = 0, latency = { median = "1s", p99 = "2s" } }]"#,
                "",
                "",
            ),
            "regions.europe.providers[0].rate_per_s",
            "providers = [{ name = \"dead\"",
        ),
        (
            pipeline_plan(ok_provider, "", "[sms_queue]\nexpiry = \"500ms\""),
            "sms_queue.expiry",
            "expiry = \"500ms\"",
        ),
        (
            pipeline_plan(
                ok_provider,
                r#"voice = { rate_per_s = -2, latency = { median = "1s", p99 = "2s" } }"#,
                "",
            ),
            "regions.europe.voice.rate_per_s",
            "voice = {",
        ),
        (
            pipeline_plan("[]", "", ""),
            "regions.europe.providers",
            "providers = []",
        ),
        (
            pipeline_plan(
                r#"[{ name = "p", rate_per_s = 1, latency = { median = "2s", p99 = "1s" } }]"#,
                "",
                "",
            ),
            "regions.europe.providers[0].latency",
            "providers = [{ name = \"p\"",
        ),
    ];
    for (text, field, line_start) in cases {
        let e = CapacityPlan::from_toml_str(&text, "p.toml").expect_err(field);
        assert_eq!(e.field(), Some(field), "{e}");
        let line = e.line().unwrap_or(0);
        assert!(e.to_string().starts_with(&format!("p.toml:{line}:")), "{e}");
        let shown = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        assert!(
            shown.trim().starts_with(line_start),
            "{e}\nline {line}: {shown}"
        );
    }
    // One send of the 1/s provider takes 1 s: the message says so.
    let text = pipeline_plan(ok_provider, "", "[sms_queue]\nexpiry = \"500ms\"");
    let e = CapacityPlan::from_toml_str(&text, "p.toml").expect_err("expiry");
    assert!(
        e.to_string()
            .contains("shorter than one send of provider `p`"),
        "{e}"
    );
}

#[test]
fn the_shipped_signal_sms_plan_has_a_pipeline_per_region() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/plans/signal-sms.toml");
    let plan = CapacityPlan::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for region in ["americas", "europe", "asia"] {
        let providers = plan.sms_providers(region);
        assert!(providers.len() >= 3, "{region}: {providers:?}");
        assert_eq!(providers.last().map(|p| p.0.as_str()), Some("voice"));
    }
}
