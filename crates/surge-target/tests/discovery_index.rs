//! The discovery index: lag that grows with the queue, and deliberate omission of a share.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::{fast_plan, number, parse_prometheus, plan, series, start};
use http::{Method, StatusCode};
use surge_target::{DEFAULT_SECRET, discovery_hash_hex};
use tokio::task::JoinSet;

/// `us` has one slot; keys take 200 ms there, everything else is instant; each request waiting in
/// `us` adds 300 ms of discovery-index lag.
const LAGGING: &str = r#"
default_region = "americas"
[regions.americas]
sms_rate_per_s = 1000
sms_burst = 100
[regions.europe]
sms_rate_per_s = 1000
sms_burst = 100
[service]
request_code = { median = "0ms", p99 = "0ms" }
verify_code = { median = "0ms", p99 = "0ms" }
register = { median = "0ms", p99 = "0ms" }
keys = { median = "0ms", p99 = "0ms" }
discovery = { median = "0ms", p99 = "0ms" }
[dcs.us]
regions = ["americas"]
slots = 1
queue_limit = 100
index_lag_base = "0ms"
index_lag_per_queued = "300ms"
[dcs.us.service]
keys = { median = "200ms", p99 = "200ms" }
[dcs.eu]
regions = ["europe"]
slots = 8
"#;

const KEYS: &str = r#"{"identity_key":"AAECAwQFBgcICQoLDA0ODw==","prekeys":[]}"#;

/// Queues `n` keys uploads (200 ms each on one slot) in the `us` data centre.
fn load_us(load: &mut JoinSet<common::Reply>, api: &common::Api, token: &str, n: usize) {
    for _ in 0..n {
        let (api, token) = (api.clone(), token.to_owned());
        load.spawn(async move {
            let keys = Method::PUT;
            api.call(keys, "/v1/keys", Some("americas"), Some(&token), KEYS)
                .await
        });
    }
}

/// A verified session for `number`, through the idle `eu` data centre.
async fn verified_session(api: &common::Api, number: &str) -> String {
    let reply = api.request_code("europe", number).await;
    let session = reply.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let code = surge_target::verification_code(DEFAULT_SECRET, number);
    assert_eq!(
        api.verify("europe", &session, &code).await.status,
        StatusCode::OK
    );
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_accounts_are_invisible_while_the_index_lags() {
    let (target, api) = start(plan(LAGGING)).await;
    let (_, watcher) = api.signup("europe", &number(1), DEFAULT_SECRET).await;
    let (_, loader) = api.signup("europe", &number(2), DEFAULT_SECRET).await;
    let early = number(3);
    api.signup("americas", &early, DEFAULT_SECRET).await;

    // Load `us`: six 200 ms keys uploads on one slot, so ~5 wait for most of a second.
    let mut load = JoinSet::new();
    load_us(&mut load, &api, &loader, 6);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let us = target.stats().data_centres["us"].clone();
    assert!(us.queue_depth >= 4, "queue {}", us.queue_depth);
    let metrics = parse_prometheus(&api.get("/metrics").await.body).expect("prometheus text");
    let lag = series(&metrics, "surge_target_index_lag_seconds", r#"dc="us""#).unwrap_or(0.0);
    assert!(lag >= 1.2, "index lag {lag} s with a loaded queue");

    // Registered behind the queue: its lag is 300 ms per request still waiting when it is served.
    let fresh = number(4);
    let session = verified_session(&api, &fresh).await;
    let register = {
        let (api, session) = (api.clone(), session.clone());
        tokio::spawn(async move { api.register("americas", &session).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    load_us(&mut load, &api, &loader, 3);
    let reply = register.await.expect("task");
    let registered = tokio::time::Instant::now();
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let asked = vec![discovery_hash_hex(&early), discovery_hash_hex(&fresh)];
    let found = api.found("europe", &watcher, &asked).await;
    assert_eq!(
        found,
        vec![discovery_hash_hex(&early)],
        "the fresh account is not indexed yet"
    );

    // Three requests were still waiting behind it: 900 ms of lag, then it appears.
    let mut visible_after = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if api.found("europe", &watcher, &asked).await.len() == 2 {
            visible_after = Some(registered.elapsed());
            break;
        }
    }
    let visible_after = visible_after.expect("fresh account visible within 3 s");
    println!("fresh account visible {visible_after:?} after registration");
    let expected = Duration::from_millis(700)..Duration::from_millis(1_600);
    assert!(
        expected.contains(&visible_after),
        "visible after {visible_after:?}, lag was ~900 ms"
    );
    while let Some(done) = load.join_next().await {
        assert_eq!(done.expect("task").status, StatusCode::NO_CONTENT);
    }
    target.shutdown().await;
}

async fn register_many(api: &common::Api, n: u64) -> (String, Vec<String>) {
    let (_, token) = api.signup("asia", &number(1_000_000), DEFAULT_SECRET).await;
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let api = api.clone();
        tasks.spawn(async move { api.signup("europe", &number(i), DEFAULT_SECRET).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("signup task");
    }
    (
        token,
        (0..n).map(|i| discovery_hash_hex(&number(i))).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omit_share_hides_about_half_deterministically() {
    let n = 300;
    let plan_a = fast_plan("discovery_omit_share = 0.5");
    let (a, api_a) = start(plan_a).await;
    let (token_a, hashes) = register_many(&api_a, n).await;
    let found: BTreeSet<String> = api_a
        .found("europe", &token_a, &hashes)
        .await
        .into_iter()
        .collect();
    let again: BTreeSet<String> = api_a
        .found("americas", &token_a, &hashes)
        .await
        .into_iter()
        .collect();
    assert_eq!(found, again, "the same accounts are omitted every time");
    let share = found.len() as f64 / n as f64;
    assert!(
        (0.38..=0.62).contains(&share),
        "found {} of {n}",
        found.len()
    );

    // A second server with the same plan omits exactly the same numbers.
    let (b, api_b) = start(fast_plan("discovery_omit_share = 0.5")).await;
    let (token_b, _) = register_many(&api_b, n).await;
    let found_b: BTreeSet<String> = api_b
        .found("europe", &token_b, &hashes)
        .await
        .into_iter()
        .collect();
    assert_eq!(found, found_b);

    // Without the omit share every registered account is found.
    let (c, api_c) = start(fast_plan("")).await;
    let (token_c, _) = register_many(&api_c, 50).await;
    assert_eq!(
        api_c.found("europe", &token_c, &hashes[..50]).await.len(),
        50
    );
    for target in [a, b, c] {
        target.shutdown().await;
    }
}

#[tokio::test]
async fn discovery_body_must_be_json_with_hashes() {
    let (target, api) = start(fast_plan("")).await;
    let (_, token) = api.signup("europe", &number(5), DEFAULT_SECRET).await;
    let reply = api
        .call(
            Method::POST,
            "/v1/discovery",
            None,
            Some(&token),
            Bytes::from_static(b"{\"hash\":[]}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    target.shutdown().await;
}
