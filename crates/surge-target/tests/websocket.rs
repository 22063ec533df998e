//! `GET /v1/ws` on real sockets: handshakes, send/ack/delivery, the offline mailbox, heartbeats,
//! connection capacity, faults and bad frames. No timed assertions: every wait has a generous
//! timeout that only stops a hung test.

mod common;

use std::time::Duration;

use common::{Api, number, parse_prometheus, plan, plan_text, series, start};
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use serde_json::{Value, json};
use surge_target::Listening;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message};

type Ws = WebSocketStream<TcpStream>;

const WAIT: Duration = Duration::from_secs(10);
const FAST: &str = "{ median = \"0ms\", p99 = \"0ms\" }";

/// Connects to `/v1/ws`; the refused handshake's status and `Retry-After` on failure.
async fn connect(
    target: &Listening,
    region: &str,
    token: Option<&str>,
) -> Result<Ws, (StatusCode, Option<u64>)> {
    let url = format!("ws://{}/v1/ws", target.local_addr());
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert("x-surge-region", region.parse().expect("region"));
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("token header");
        headers.insert("authorization", value);
    }
    let stream = TcpStream::connect(target.local_addr()).await.expect("tcp");
    let handshake = tokio_tungstenite::client_async(request, stream);
    match tokio::time::timeout(WAIT, handshake)
        .await
        .expect("handshake ends")
    {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => {
            let retry = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok());
            Err((response.status(), retry))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

async fn connected(target: &Listening, region: &str, token: &str) -> Ws {
    match connect(target, region, Some(token)).await {
        Ok(ws) => ws,
        Err((status, _)) => panic!("handshake refused: {status}"),
    }
}

async fn send_json(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("send");
}

/// The next frame (pings and pongs included), or `None` when the stream ended.
async fn next(ws: &mut Ws) -> Option<Message> {
    match tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame in time")
    {
        Some(Ok(message)) => Some(message),
        _ => None,
    }
}

/// The next text frame as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match next(ws).await {
            Some(Message::Text(text)) => {
                return serde_json::from_str(text.as_str()).expect("json frame");
            }
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code.
async fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match next(ws).await {
            Some(Message::Close(frame)) => return frame.map(|f| f.code),
            Some(_) => {}
            None => return None,
        }
    }
}

async fn signup(api: &Api, target: &Listening, region: &str, i: u64) -> (String, String) {
    let number = number(i);
    let (_, token) = api.signup(region, &number, target.plan().secret()).await;
    (number, token)
}

fn fast(extra_us: &str, top: &str) -> surge_target::CapacityPlan {
    plan(&plan_text(FAST, 64, extra_us, top))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_needs_a_known_token() {
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    assert_eq!(
        connect(&target, "americas", None).await.err(),
        Some((StatusCode::UNAUTHORIZED, None))
    );
    let forged = format!("{}0", &token[..token.len() - 1]);
    assert_eq!(
        connect(&target, "americas", Some(&forged)).await.err(),
        Some((StatusCode::UNAUTHORIZED, None))
    );
    let ws = connected(&target, "americas", &token).await;
    let reply = api.get("/v1/ws").await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "plain GET is no upgrade"
    );
    let us = &target.stats().connections["us"];
    assert_eq!(us.handshakes("accepted"), 1);
    assert_eq!(us.handshakes("unauthorized"), 2);
    assert_eq!(us.connections, 1);
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_is_acked_and_delivered_with_the_body_verbatim() {
    let (target, api) = start(fast("", "")).await;
    let (alice, alice_token) = signup(&api, &target, "americas", 1).await;
    let (bob, bob_token) = signup(&api, &target, "europe", 2).await;
    let mut a = connected(&target, "americas", &alice_token).await;
    let mut b = connected(&target, "europe", &bob_token).await;
    let body = json!({"sent_at": 1_764_745_891_123_456u64, "region": "americas", "x": [1, "é"]});
    send_json(
        &mut a,
        json!({"type":"send","id":"m1","to":bob,"body":body}),
    )
    .await;
    assert_eq!(next_json(&mut a).await, json!({"type":"ack","id":"m1"}));
    let got = next_json(&mut b).await;
    assert_eq!(
        got,
        json!({"type":"message","id":"m1","from":alice,"body":body})
    );
    send_json(
        &mut a,
        json!({"type":"send","id":"m2","to":number(99),"body":1}),
    )
    .await;
    assert_eq!(
        next_json(&mut a).await,
        json!({"type":"error","id":"m2","code":"unknown_recipient"})
    );
    let us = &target.stats().connections["us"];
    assert_eq!(us.messages("routed"), 1);
    assert_eq!(us.messages("delivered"), 1);
    assert_eq!(us.messages("unknown_recipient"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_recipient_gets_its_mailbox_on_connect() {
    let (target, api) = start(fast("", "mailbox_limit = 2")).await;
    let (_, alice_token) = signup(&api, &target, "americas", 1).await;
    let (carol, carol_token) = signup(&api, &target, "asia", 3).await;
    let mut a = connected(&target, "americas", &alice_token).await;
    for id in ["m1", "m2", "m3"] {
        send_json(&mut a, json!({"type":"send","id":id,"to":carol,"body":{}})).await;
        assert_eq!(next_json(&mut a).await["type"], "ack");
    }
    // Acks come before delivery: wait until all three are through the delivery slots.
    for _ in 0..1_000 {
        let us = &target.stats().connections["us"];
        if us.messages("queued") + us.messages("dropped") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let us = target.stats().connections["us"].clone();
    assert_eq!((us.messages("queued"), us.messages("dropped")), (2, 1));
    assert_eq!(target.stats().mailboxed, 2);
    // Parallel delivery slots with drawn service times may reorder: which two were kept is open.
    let mut c = connected(&target, "asia", &carol_token).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let frame = next_json(&mut c).await;
        assert_eq!(frame["type"], "message");
        got.push(frame["id"].as_str().unwrap_or_default().to_owned());
    }
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .all(|id| ["m1", "m2", "m3"].contains(&id.as_str()))
    );
    assert_eq!(target.stats().mailboxed, 0);
    // The mailbox is gone: the next message goes straight to the live connection.
    send_json(
        &mut a,
        json!({"type":"send","id":"m4","to":carol,"body":{}}),
    )
    .await;
    assert_eq!(next_json(&mut a).await["type"], "ack");
    assert_eq!(next_json(&mut c).await["id"], "m4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_and_protocol_pings_are_answered() {
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let mut ws = connected(&target, "americas", &token).await;
    send_json(&mut ws, json!({"type":"ping"})).await;
    assert_eq!(next_json(&mut ws).await, json!({"type":"pong"}));
    ws.send(Message::Ping(b"hb".to_vec().into()))
        .await
        .expect("ping");
    match next(&mut ws).await {
        Some(Message::Pong(payload)) => assert_eq!(&payload[..], b"hb"),
        other => panic!("expected a pong control frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_connections_is_refused_with_retry_after() {
    let (target, api) = start(fast("max_connections = 2", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let first = connected(&target, "americas", &token).await;
    let second = connected(&target, "americas", &token).await;
    assert_eq!(
        connect(&target, "americas", Some(&token)).await.err(),
        Some((StatusCode::SERVICE_UNAVAILABLE, Some(1)))
    );
    // Another data centre has its own capacity.
    let other = connected(&target, "europe", &token).await;
    let us = &target.stats().connections["us"];
    assert_eq!(
        (us.handshakes("over_capacity"), us.peak_connections),
        (1, 2)
    );
    drop((first, second, other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_accept_rate_is_refused_with_retry_after() {
    let (target, api) = start(fast("accept_rate_per_s = 0.2\naccept_burst = 1", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let _first = connected(&target, "americas", &token).await;
    let refused = connect(&target, "americas", Some(&token)).await.err();
    assert!(
        matches!(
            refused,
            Some((StatusCode::SERVICE_UNAVAILABLE, Some(1..=5)))
        ),
        "{refused:?}"
    );
    assert_eq!(
        target.stats().connections["us"].handshakes("rate_limited"),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_connections_fault_closes_with_1001() {
    let faults = "[[faults]]\nat = \"300ms\"\ndc = \"us\"\naction = \"drop-connections\"\n";
    let (target, api) = start(fast("", faults)).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let mut us = connected(&target, "americas", &token).await;
    let mut eu = connected(&target, "europe", &token).await;
    assert_eq!(close_code(&mut us).await, Some(CloseCode::Away));
    // The other data centre keeps its connection, and the dropped one may reconnect at once.
    send_json(&mut eu, json!({"type":"ping"})).await;
    assert_eq!(next_json(&mut eu).await["type"], "pong");
    let _again = connected(&target, "americas", &token).await;
    assert_eq!(target.stats().connections["us"].faults, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fault_drops_then_refuses_handshakes() {
    let faults = "[[faults]]\nat = \"300ms\"\ndc = \"us\"\naction = \"restart\"\nfor = \"30s\"\n";
    let (target, api) = start(fast("", faults)).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let mut ws = connected(&target, "americas", &token).await;
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Away));
    let refused = connect(&target, "americas", Some(&token)).await.err();
    assert!(
        matches!(
            refused,
            Some((StatusCode::SERVICE_UNAVAILABLE, Some(20..=30)))
        ),
        "{refused:?}"
    );
    assert_eq!(target.stats().connections["us"].handshakes("down"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_with_1008() {
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    for bad in [
        "not json",
        r#"{"type":"send","id":"1"}"#,
        r#"{"type":"shout"}"#,
    ] {
        let mut ws = connected(&target, "americas", &token).await;
        ws.send(Message::text(bad)).await.expect("send");
        assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy), "{bad}");
    }
    let mut ws = connected(&target, "americas", &token).await;
    ws.send(Message::binary(b"{}".to_vec()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Policy), "binary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_close_with_1009() {
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let mut ws = connected(&target, "americas", &token).await;
    let big = format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(surge_target::MAX_FRAME_BYTES)
    );
    ws.send(Message::text(big)).await.expect("send");
    assert_eq!(close_code(&mut ws).await, Some(CloseCode::Size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_connections_handshakes_and_messages() {
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let (bob, _) = signup(&api, &target, "americas", 2).await;
    let mut ws = connected(&target, "americas", &token).await;
    send_json(
        &mut ws,
        json!({"type":"send","id":"m","to":bob,"body":null}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "ack");
    let text = api.get("/metrics").await.body;
    let metrics = parse_prometheus(&text).expect("valid exposition");
    let get = |name: &str, labels: &str| series(&metrics, name, labels);
    assert_eq!(get("surge_target_ws_connections", "dc=\"us\""), Some(1.0));
    assert_eq!(get("surge_target_ws_connections", "dc=\"eu\""), Some(0.0));
    let accepted = "dc=\"us\",result=\"accepted\"";
    assert_eq!(get("surge_target_ws_handshakes_total", accepted), Some(1.0));
    let routed = "dc=\"us\",outcome=\"routed\"";
    assert_eq!(get("surge_target_ws_messages_total", routed), Some(1.0));
    assert!(get("surge_target_ws_delivery_queue_depth", "dc=\"us\"").is_some());
    assert!(get("surge_target_ws_mailboxed", "").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_fan_out_queue_closes_the_sender_with_1013_and_queued_mail_arrives() {
    let us = "delivery_slots = 1\ndelivery_queue_limit = 2\n\
              [dcs.us.service]\ndeliver = { median = \"300ms\", p99 = \"300ms\" }";
    let (target, api) = start(fast(us, "")).await;
    let (_, alice_token) = signup(&api, &target, "americas", 1).await;
    let (bob, bob_token) = signup(&api, &target, "europe", 2).await;
    let mut a = connected(&target, "americas", &alice_token).await;
    let mut b = connected(&target, "europe", &bob_token).await;
    for i in 0..6 {
        let id = format!("m{i}");
        send_json(&mut a, json!({"type":"send","id":id,"to":bob,"body":i})).await;
    }
    // One message holds the only slot, at most two wait: the sender is closed before six acks.
    let mut acked = Vec::new();
    let code = loop {
        match next(&mut a).await {
            Some(Message::Text(text)) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("json");
                assert_eq!(frame["type"], "ack");
                acked.push(frame["id"].as_str().unwrap_or_default().to_owned());
            }
            Some(Message::Close(frame)) => break frame.map(|f| f.code),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(code, Some(CloseCode::Again));
    assert!((2..=3).contains(&acked.len()), "acked {acked:?}");
    // Every acknowledged message is still delivered, late and in order.
    for id in &acked {
        assert_eq!(next_json(&mut b).await["id"], id.as_str());
    }
    let stats = &target.stats().connections["us"];
    assert_eq!(stats.messages("routed"), acked.len() as u64);
    assert_eq!(stats.messages("dropped"), 1);
}

/// Performs the handshake by hand and returns the raw socket (for frames no client library sends).
async fn raw_session(target: &Listening, token: &str) -> TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(target.local_addr()).await.expect("tcp");
    let request = format!(
        "GET /v1/ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
         sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\
         authorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await.expect("read head");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_end_the_session_but_never_the_target() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (target, api) = start(fast("", "")).await;
    let (_, token) = signup(&api, &target, "americas", 1).await;
    let garbage: [&[u8]; 6] = [
        b"\x81\x05hello",                                    // unmasked client frame
        b"\xf1\x80\0\0\0\0",                                 // reserved bits set
        b"\x83\x80\0\0\0\0",                                 // reserved opcode
        b"\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff\0\0\0\0", // 2^63-byte length
        b"\x81\x84\0\0\0\0\xff\xfe\xfd\xfc",                 // invalid UTF-8 text
        b"\x01\x81\0\0\0\0{\x81\x81\0\0\0\0}",               // a fragment, then a new message
    ];
    for bytes in garbage {
        let mut stream = raw_session(&target, &token).await;
        stream.write_all(bytes).await.expect("write");
        // The server answers (a close frame, possibly) and ends the connection.
        let mut sink = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "the server ends the session after {bytes:?}");
    }
    let mut ws = connected(&target, "americas", &token).await;
    send_json(&mut ws, json!({"type":"ping"})).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    assert_eq!(api.get("/healthz").await.status, StatusCode::OK);
    drop(ws);
    for _ in 0..1_000 {
        if target.stats().connections["us"].connections == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        target.stats().connections["us"].connections,
        0,
        "every session ended"
    );
}
