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
