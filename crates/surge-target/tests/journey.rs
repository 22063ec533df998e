//! The signup journey end to end against a real server on 127.0.0.1:0, and every error status.

mod common;

use bytes::Bytes;
use common::{Api, fast_plan, number, parse_prometheus, series, start};
use http::{Method, StatusCode};
use surge_target::{DEFAULT_SECRET, discovery_hash_hex};

#[tokio::test]
async fn full_journey_and_exact_discovery() {
    let (target, api) = start(fast_plan("")).await;
    let alice = number(1);
    let bob = number(2);
    let never = number(3);
    let (alice_id, alice_token) = api.signup("americas", &alice, DEFAULT_SECRET).await;
    let (bob_id, bob_token) = api.signup("europe", &bob, DEFAULT_SECRET).await;
    assert_ne!(alice_id, bob_id);
    assert_eq!(
        alice_token,
        surge_target::account_token(DEFAULT_SECRET, alice_id)
    );

    let keys = r#"{"identity_key":"AAECAwQFBgcICQoLDA0ODw==","prekeys":[{"id":1,"key":"AQ=="}]}"#;
    let reply = api
        .call(
            Method::PUT,
            "/v1/keys",
            Some("americas"),
            Some(&alice_token),
            keys,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);

    let asked = vec![
        discovery_hash_hex(&never),
        discovery_hash_hex(&bob),
        discovery_hash_hex(&alice),
    ];
    let found = api.found("americas", &alice_token, &asked).await;
    assert_eq!(
        found,
        vec![discovery_hash_hex(&bob), discovery_hash_hex(&alice)]
    );
    let found = api.found("asia", &bob_token, &asked[..1]).await;
    assert!(found.is_empty());

    let stats = target.stats();
    assert_eq!(stats.accounts, 2);
    assert_eq!(stats.sessions, 0, "sessions are consumed by registration");
    assert_eq!(stats.count("americas", "register", 201), 1);
    assert_eq!(stats.count("europe", "register", 201), 1);
    assert_eq!(stats.count("americas", "discovery", 200), 1);
    target.shutdown().await;
}

#[tokio::test]
async fn verification_and_registration_errors() {
    let (target, api) = start(fast_plan("")).await;
    let n = number(10);
    let reply = api.request_code("americas", &n).await;
    let session = reply.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(session.len(), 32);
    assert!(session.bytes().all(|b| b.is_ascii_hexdigit()));

    let reply = api.register("americas", &session).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "not verified yet");
    let code = surge_target::verification_code(DEFAULT_SECRET, &n);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        api.verify("americas", &session, wrong).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.verify("americas", &"0".repeat(32), &code).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.verify("americas", &session, &code).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.register("americas", &session).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.register("americas", &session).await.status,
        StatusCode::NOT_FOUND,
        "consumed"
    );

    target.shutdown().await;
}

#[tokio::test]
async fn duplicate_numbers_and_malformed_input() {
    let (target, api) = start(fast_plan("")).await;
    let n = number(11);
    let code = surge_target::verification_code(DEFAULT_SECRET, &n);
    api.signup("americas", &n, DEFAULT_SECRET).await;
    // The same number again: a new session verifies, but registration is a duplicate.
    let reply = api.request_code("americas", &n).await;
    let again = reply.json()["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        api.verify("americas", &again, &code).await.status,
        StatusCode::OK
    );
    let reply = api.register("americas", &again).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);

    for bad in [
        "15550001234",
        "+1234567",
        "+1234567890123456",
        "+1555abc1234",
    ] {
        let reply = api.request_code("americas", bad).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let reply = api
        .call(
            Method::POST,
            "/v1/verification/code",
            None,
            None,
            "{not json",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(target.stats().accounts, 1);
    target.shutdown().await;
}

#[tokio::test]
async fn auth_batch_limit_and_http_errors() {
    let (target, api) = start(fast_plan("discovery_batch_limit = 4")).await;
    let (id, token) = api.signup("asia", &number(20), DEFAULT_SECRET).await;
    let hashes: Vec<String> = (0..4)
        .map(|i| discovery_hash_hex(&number(100 + i)))
        .collect();
    assert!(api.found("asia", &token, &hashes).await.is_empty());

    let five: Vec<String> = (0..5)
        .map(|i| discovery_hash_hex(&number(100 + i)))
        .collect();
    let reply = api.discover("asia", &token, &five).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);

    let forged = format!("{id}.0123456789abcdef");
    let unissued = surge_target::account_token(DEFAULT_SECRET, id + 1);
    for bad in [forged.as_str(), unissued.as_str(), "nonsense"] {
        let reply = api.discover("asia", bad, &hashes).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        let reply = api
            .call(Method::PUT, "/v1/keys", None, Some(bad), "{}")
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let reply = api
        .call(Method::POST, "/v1/discovery", None, None, "{\"hashes\":[]}")
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "missing token");
    let reply = api.discover("asia", &token, &["xyz".to_owned()]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = api
        .call(
            Method::PUT,
            "/v1/keys",
            None,
            Some(&token),
            r#"{"identity_key":"%%%"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    assert_eq!(api.get("/nope").await.status, StatusCode::NOT_FOUND);
    let reply = api.get("/v1/accounts").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let huge = Bytes::from(vec![b' '; surge_target::MAX_BODY_BYTES + 1]);
    let reply = api
        .call(Method::POST, "/v1/accounts", None, None, huge)
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let health = api.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok\n")
    );
    target.shutdown().await;
}

#[tokio::test]
async fn http2_cleartext_serves_the_same_api() {
    let (target, _) = start(fast_plan("")).await;
    let api = Api::http2(&target.url());
    let (_, token) = api.signup("europe", &number(30), DEFAULT_SECRET).await;
    let found = api
        .found("europe", &token, &[discovery_hash_hex(&number(30))])
        .await;
    assert_eq!(found.len(), 1);
    target.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let (target, api) = start(fast_plan("")).await;
    api.signup("europe", &number(40), DEFAULT_SECRET).await;
    api.request_code("nowhere", &number(41)).await;
    let reply = api.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    let metrics = match parse_prometheus(&reply.body) {
        Ok(m) => m,
        Err(line) => panic!("not Prometheus text: {line:?}"),
    };
    for name in [
        "surge_target_requests_total",
        "surge_target_queue_depth",
        "surge_target_in_service",
        "surge_target_shed_total",
        "surge_target_sms_limited_total",
        "surge_target_accounts",
        "surge_target_index_lag_seconds",
    ] {
        assert!(
            reply.body.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE line"
        );
        assert!(
            metrics.iter().any(|(n, _, _)| n == name),
            "{name} has no sample"
        );
    }
    let labels = r#"dc="eu",region="europe",endpoint="register",status="201""#;
    assert_eq!(
        series(&metrics, "surge_target_requests_total", labels),
        Some(1.0)
    );
    let labels = r#"dc="us",region="unknown",endpoint="request_code",status="202""#;
    assert_eq!(
        series(&metrics, "surge_target_requests_total", labels),
        Some(1.0)
    );
    assert_eq!(series(&metrics, "surge_target_accounts", ""), Some(1.0));
    assert_eq!(
        target.metrics_text().lines().count(),
        reply.body.lines().count()
    );
    target.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let (target, api) = start(fast_plan("")).await;
    let addr = target.local_addr();
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    target.shutdown().await;
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "still accepting after shutdown");
}
