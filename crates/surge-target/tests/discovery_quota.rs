//! Signal-style discovery quota (`[discovery_quota]`, `profiles/plans/signal-like.toml`): new numbers
//! are charged to the account's bucket, numbers sent back with an earlier lookup's token are free,
//! over quota is 429 with Retry-After, and a plan whose quota cannot work is refused with file:line.

mod common;

use common::{fast_plan, number, plan_text, start};
use http::{Method, StatusCode};
use surge_target::{CapacityPlan, DEFAULT_SECRET, discovery_hash_hex};

/// A discovery lookup with `prev` numbers and a token.
async fn lookup(
    api: &common::Api,
    bearer: &str,
    new: &[String],
    prev: &[String],
    token: Option<&str>,
) -> common::Reply {
    let mut body = serde_json::json!({ "hashes": new, "prev": prev });
    if let Some(t) = token {
        body["token"] = t.into();
    }
    api.call(
        Method::POST,
        "/v1/discovery",
        Some("europe"),
        Some(bearer),
        body.to_string(),
    )
    .await
}

fn hashes(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| discovery_hash_hex(&number(i))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_numbers_are_charged_and_numbers_sent_back_with_the_token_are_free() {
    // 10 permits, one more an hour: nothing refills within the test.
    let (target, api) = start(fast_plan(
        "[discovery_quota]\npermits = 10\nrefill = 1\nper = \"1h\"",
    ))
    .await;
    let (_, me) = api.signup("europe", &number(1_000), DEFAULT_SECRET).await;
    let (_, friend) = api.signup("europe", &number(3), DEFAULT_SECRET).await;
    assert!(!friend.is_empty());

    // A new user's first upload: 8 new numbers, 8 permits; the registered one is found.
    let first = lookup(&api, &me, &hashes(0..8), &[], None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let json = first.json();
    assert_eq!(
        json["found"],
        serde_json::json!([discovery_hash_hex(&number(3))])
    );
    let token = json["token"].as_str().expect("a token").to_owned();

    // A re-sync: the 8 seen numbers with the token are free, 2 new ones take the last 2 permits.
    let resync = lookup(&api, &me, &hashes(8..10), &hashes(0..8), Some(&token)).await;
    assert_eq!(resync.status, StatusCode::OK, "{}", resync.body);
    let token2 = resync.json()["token"].as_str().expect("token").to_owned();
    assert_ne!(token2, token);
    assert_eq!(resync.json()["found"].as_array().map(Vec::len), Some(1));

    // The bucket is empty: a re-sync with the token and nothing new still passes ...
    let free = lookup(&api, &me, &[], &hashes(0..10), Some(&token2)).await;
    assert_eq!(free.status, StatusCode::OK, "{}", free.body);
    // ... one new number is over quota: 429 with the time until one permit is back (1 h).
    let over = lookup(&api, &me, &hashes(10..11), &hashes(0..10), Some(&token2)).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.body);
    assert_eq!(over.retry_after(), Some(3600));
    // ... and so is re-uploading everything without the token: all 10 are charged again.
    let again = lookup(&api, &me, &hashes(0..10), &[], None).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    // A token that does not stand for `prev` is refused.
    let forged = lookup(&api, &me, &[], &hashes(0..9), Some(&token2)).await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.body);
    // Another account has its own bucket.
    let other = lookup(&api, &friend, &hashes(0..10), &[], None).await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);

    let stats = target.stats();
    assert_eq!(stats.discovery_over_quota, 2);
    assert!(
        target
            .metrics_text()
            .contains("surge_target_discovery_over_quota_total 2")
    );
    target.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_quota_there_is_no_token_and_nothing_is_charged() {
    let (target, api) = start(fast_plan("")).await;
    let (_, me) = api.signup("europe", &number(1_000), DEFAULT_SECRET).await;
    for _ in 0..3 {
        let r = lookup(&api, &me, &hashes(0..100), &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.json().get("token").is_none(), "{}", r.body);
    }
    target.shutdown().await;
}

#[test]
fn a_quota_that_cannot_work_is_refused_with_file_and_line() {
    let cases = [
        (
            "permits = 0\nrefill = 6",
            "discovery_quota.permits",
            "permits = 0",
        ),
        (
            "permits = 10\nrefill = 0",
            "discovery_quota.refill",
            "refill = 0",
        ),
        (
            "permits = 10\nrefill = -1",
            "discovery_quota.refill",
            "refill = -1",
        ),
        (
            "permits = 10\nrefill = 6\nper = \"0s\"",
            "discovery_quota.per",
            "per = \"0s\"",
        ),
    ];
    for (quota, field, line_text) in cases {
        let top = format!("[discovery_quota]\n{quota}");
        let text = plan_text("{ median = \"0ms\", p99 = \"0ms\" }", 64, "", &top);
        let e = CapacityPlan::from_toml_str(&text, "q.toml").expect_err(quota);
        let line = e.line().unwrap_or(0);
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().starts_with(&format!("q.toml:{line}:")), "{e}");
        assert_eq!(
            text.lines().nth(line.saturating_sub(1)).map(str::trim),
            Some(line_text),
            "{e}"
        );
    }
}
