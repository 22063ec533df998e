//! The SMS gateway's governor limit, measured: accepted codes follow rate x time + burst.

mod common;

use std::time::Duration;

use common::{number, plan, start};
use http::StatusCode;
use tokio::time::{Instant, MissedTickBehavior};

const PLAN: &str = r#"
default_region = "americas"
[regions.americas]
sms_rate_per_s = 50
sms_burst = 5
[regions.europe]
sms_rate_per_s = 1000
sms_burst = 10
[service]
request_code = { median = "0ms", p99 = "0ms" }
verify_code = { median = "0ms", p99 = "0ms" }
register = { median = "0ms", p99 = "0ms" }
keys = { median = "0ms", p99 = "0ms" }
discovery = { median = "0ms", p99 = "0ms" }
[dcs.us]
regions = ["americas"]
slots = 64
[dcs.eu]
regions = ["europe"]
slots = 64
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_gateway_accepts_rate_times_time_plus_burst() {
    let (target, api) = start(plan(PLAN)).await;
    // 200 code requests/s (4x the gateway's rate) for 3 s: 600 requests, bounded.
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..600u64 {
        tick.tick().await;
        let api = api.clone();
        tasks.spawn(async move {
            (
                Instant::now(),
                api.request_code("americas", &number(i)).await,
            )
        });
    }
    let (mut accepted, mut limited) = (0u64, 0u64);
    let mut last_accepted = start;
    while let Some(joined) = tasks.join_next().await {
        let (sent, reply) = joined.expect("task");
        match reply.status {
            StatusCode::ACCEPTED => {
                accepted += 1;
                last_accepted = last_accepted.max(sent);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert_eq!(reply.json()["error"], "sms gateway rate limited");
                let retry = reply.retry_after().expect("Retry-After on every 429");
                assert!((1..=1).contains(&retry), "Retry-After {retry} s at 50/s");
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let expected = 50.0 * elapsed + 5.0;
    let error = (accepted as f64 - expected).abs() / expected;
    println!("accepted {accepted}, limited {limited} in {elapsed:.2} s; expected {expected:.0}");
    assert_eq!(accepted + limited, 600);
    assert!(
        error <= 0.10,
        "accepted {accepted} vs expected {expected:.0} (off by {:.1}%)",
        error * 100.0
    );
    assert!(
        last_accepted > start + Duration::from_millis(2_500),
        "acceptance spread over the run"
    );

    let stats = target.stats();
    assert_eq!(stats.sms_limited.get("americas"), Some(&limited));
    assert_eq!(stats.sms_limited.get("europe"), Some(&0));
    assert_eq!(
        stats.sessions, accepted,
        "a refused code creates no session"
    );
    // Another region's gateway is independent.
    let reply = api.request_code("europe", &number(10_000)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    target.shutdown().await;
}
