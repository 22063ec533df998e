//! The compiled connected phase of the built-in reference journey: metric steps, upgrade, frames and
//! the recognition of what the server sends.

mod common;

use common::{SECRET, person, text};
use surge_plan::Phone;
use surge_plan::journey::connect::{MsgVars, Received};
use surge_plan::journey::{self, Ctx};
use surge_profile::journey::parse_journey;

fn connected() -> (journey::Journey, Vec<String>) {
    let text = "[journey]\nbuiltin = \"reference\"\nconnect = true\n";
    let spec = parse_journey(text, "t.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut steps = Vec::new();
    let j = journey::compile(&spec, SECRET, &mut steps).unwrap_or_else(|e| panic!("{e}"));
    (j, steps)
}

#[test]
fn metric_steps_are_appended_after_the_http_steps() {
    let (j, steps) = connected();
    assert_eq!(
        steps,
        [
            "request_code",
            "verify_code",
            "register",
            "discover",
            "connect",
            "ack",
            "deliver",
            "reconnect"
        ]
    );
    let c = j.connect.unwrap_or_else(|| panic!("no phase"));
    assert_eq!((c.metrics.connect, c.metrics.reconnect), (4, 7));
}

#[test]
fn upgrade_and_frames_render() {
    let (j, _) = connected();
    let c = j.connect.unwrap_or_else(|| panic!("no phase"));
    let p = person();
    let values = vec![Some("sess".to_string()), Some("tok\"en".to_string())];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "americas",
        code: "123456",
        values: &values,
        batch: &[],
    };
    let (mut path, mut headers) = (Vec::new(), Vec::new());
    c.upgrade(&ctx, &mut path, &mut headers);
    assert_eq!(text(&path), "/v1/ws");
    let hs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), text(v).to_string()))
        .collect();
    assert_eq!(
        hs,
        [
            ("authorization".to_string(), "Bearer tok\"en".to_string()),
            ("x-surge-region".to_string(), "americas".to_string())
        ]
    );
    let mut out = Vec::new();
    c.heartbeat_frame(&ctx, &mut out);
    assert_eq!(text(&out), r#"{"type":"ping"}"#);
    out.clear();
    let msg = MsgVars {
        to: Phone(447700900123),
        to_user: 9,
        room: "",
        msg_id: "42.7",
        sent_at_us: 1_234_567,
    };
    c.message_frame(&ctx, &msg, &mut out);
    assert_eq!(
        text(&out),
        r#"{"type":"send","id":"42.7","to":"+447700900123","body":{"sent_at":1234567,"region":"americas"}}"#
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
}

#[test]
fn received_frames_are_classified() {
    let (j, _) = connected();
    let c = j.connect.unwrap_or_else(|| panic!("no phase"));
    let cases = [
        (r#"{"type":"pong"}"#, Received::Pong),
        (
            r#"{"type":"ack","id":"1.2"}"#,
            Received::Ack { id: "1.2".into() },
        ),
        (
            r#"{"type":"message","id":"1.2","from":"+1555","body":{"sent_at":99,"region":"europe"}}"#,
            Received::Deliver {
                id: "1.2".into(),
                sent_at_us: 99,
                region: Some("europe".into()),
            },
        ),
        (
            r#"{"type":"message","id":"1.2","body":"not ours"}"#,
            Received::BadDeliver,
        ),
        (
            r#"{"type":"error","id":"1.3","code":"unknown_recipient"}"#,
            Received::Refused { id: "1.3".into() },
        ),
        (r#"{"type":"error","code":"no id"}"#, Received::Other),
        (r#"{"type":"typing"}"#, Received::Other),
        ("not json", Received::Malformed),
    ];
    for (frame, want) in cases {
        assert_eq!(c.classify(frame), want, "{frame}");
    }
}

/// The built-in `matrix` journey's `/sync` long poll, compiled; the register step's values are
/// `session`, then `server` and `token` (one round's extractions in name order).
#[test]
fn matrix_sync_requests_render_and_answers_are_read() {
    let text_in = "[journey]\nbuiltin = \"matrix\"\nconnect = true\n";
    let spec = parse_journey(text_in, "t.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let mut steps = Vec::new();
    let j = journey::compile(&spec, SECRET, &mut steps).unwrap_or_else(|e| panic!("{e}"));
    let c = j.connect.unwrap_or_else(|| panic!("no phase"));
    let lp = c
        .long_poll
        .as_ref()
        .unwrap_or_else(|| panic!("not a long poll"));
    assert_eq!(lp.hold, std::time::Duration::from_secs(20));
    let p = person();
    let values = vec![
        Some("s".to_string()),
        Some("hs.example".to_string()),
        Some("tok".to_string()),
    ];
    let ctx = Ctx {
        plan_secret: SECRET,
        person: &p,
        region_name: "americas",
        code: "",
        values: &values,
        batch: &[],
    };
    let mut req = journey::RequestBuf::default();
    let filter = "/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A50%7D%7D%7D";
    c.poll_request(&ctx, None, false, &mut req);
    assert_eq!(text(&req.path), format!("{filter}&timeout=0"));
    assert_eq!(req.method, journey::Method::Get);
    assert_eq!(req.headers[0].0, "authorization");
    assert_eq!(text(&req.headers[0].1), "Bearer tok");
    c.poll_request(&ctx, Some("s72_1/2"), true, &mut req);
    assert_eq!(
        text(&req.path),
        format!("{filter}&timeout=20000&since=s72_1%2F2")
    );

    let msg = MsgVars {
        to: Phone(447700900123),
        to_user: 31,
        room: "!abc:hs.example",
        msg_id: "42.7",
        sent_at_us: 1_234_567,
    };
    c.room_request(&ctx, &msg, &mut req);
    assert_eq!(
        (req.method, text(&req.path)),
        (journey::Method::Post, "/_matrix/client/v3/createRoom")
    );
    assert_eq!(
        text(&req.body),
        r#"{"is_direct":true,"preset":"trusted_private_chat","invite":["@surge31:hs.example"]}"#
    );
    assert!(
        req.headers
            .iter()
            .any(|(n, v)| n == "content-type" && text(v) == "application/json")
    );
    assert_eq!(
        c.room_id(br#"{"room_id":"!abc:hs.example"}"#).as_deref(),
        Some("!abc:hs.example")
    );
    assert_eq!(c.room_id(b"{}"), None);
    c.message_request(&ctx, &msg, &mut req);
    assert_eq!(req.method, journey::Method::Put);
    assert_eq!(
        text(&req.path),
        "/_matrix/client/v3/rooms/%21abc%3Ahs.example/send/m.room.message/42.7"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&req.body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["surge"]["sent_at"], 1_234_567);
    assert_eq!(body["surge"]["region"], "americas");
    c.join_request(&ctx, "!xyz:hs.example", &mut req);
    assert_eq!(
        text(&req.path),
        "/_matrix/client/v3/join/%21xyz%3Ahs.example"
    );
    assert_eq!(text(&req.body), "{}");

    // A /sync answer: two rooms' timelines (a message, a membership event, a message without
    // surge's fields), an invite, and the token.
    let answer = br#"{"next_batch":"s80","rooms":{
        "join":{
          "!a:h":{"timeline":{"events":[
            {"type":"m.room.member","content":{"membership":"join"}},
            {"type":"m.room.message","content":{"surge":{"id":"3.1","sent_at":99,"region":"europe"}}}]}},
          "!b:h":{"timeline":{"events":[{"type":"m.room.message","content":{"body":"hi"}}]}}},
        "invite":{"!c:h":{"invite_state":{"events":[]}}}}}"#;
    let mut a = journey::connect::PollAnswer::default();
    assert!(c.read_poll(answer, &mut a));
    assert_eq!(a.since.as_deref(), Some("s80"));
    assert_eq!(a.joins, ["!c:h"]);
    assert_eq!(a.received.len(), 3);
    assert!(a.received.contains(&Received::Deliver {
        id: "3.1".into(),
        sent_at_us: 99,
        region: Some("europe".into())
    }));
    assert!(a.received.contains(&Received::BadDeliver));
    assert!(a.received.contains(&Received::Other));
    assert!(!c.read_poll(b"<html>", &mut a));
    assert!(c.read_poll(br#"{"next_batch":7}"#, &mut a));
    assert_eq!((a.since.as_deref(), a.received.len()), (Some("7"), 0));
    // The held values: the token (bearer header) and the server name (the invite in createRoom)
    // outlive the HTTP steps; the registration session does not.
    assert!(!c.uses_value(0), "session is not rendered while connected");
    assert!(c.uses_value(1), "the home server names the invited contact");
    assert!(
        c.uses_value(2),
        "the token is every request's bearer header"
    );
}

#[test]
fn only_the_values_the_phase_renders_are_kept() {
    // The reference journey extracts `session_id` (slot 0) and `token` (slot 1); the connected phase
    // renders only the token (its bearer header), so only slot 1 must outlive the HTTP steps.
    let (j, _) = connected();
    let c = j.connect.unwrap_or_else(|| panic!("no phase"));
    assert!(
        !c.uses_value(0),
        "session_id is not rendered while connected"
    );
    assert!(c.uses_value(1), "the token is the upgrade's bearer header");
    assert!(!c.uses_value(2), "no such slot");
}
