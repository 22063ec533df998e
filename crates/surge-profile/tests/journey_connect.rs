//! `[journey.connect]`: the connected phase parses, validates with file:line, and the built-in
//! reference journey carries it on request.

use std::time::Duration;
use surge_profile::journey::{Part, ReconnectSpec, ThinkSpec, Var, parse_journey};

const STEPS: &str = r#"
[journey]
[[journey.steps]]
name = "register"
method = "POST"
path = "/v1/accounts"
expect = 201
extract = { token = "/token" }
"#;

fn with(connect: &str) -> String {
    format!("{STEPS}\n[journey.connect]\n{connect}\n")
}

fn err(connect: &str) -> String {
    match parse_journey(&with(connect), "p.toml", &[]) {
        Ok(_) => panic!("accepted: {connect}"),
        Err(e) => e.to_string(),
    }
}

const FULL: &str = r#"
path = "ws://127.0.0.1:9/v1/ws?v={user_id}"
headers = { Authorization = "Bearer {token}" }
on_open = ['{"type":"hello","region":"{region}"}']
dwell = { median = "60s", p99 = "10m" }
heartbeat = { every = "15s", frame = '{"type":"ping"}', reply = { pointer = "/type", equals = "pong" } }
messages = { per_minute = 2.0, frame = '{"type":"send","id":"{msg_id}","to":"{to}","body":{"sent_at":{sent_at},"region":"{region}"}}' }
ack = { pointer = "/type", equals = "ack", id = "/id" }
deliver = { pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "5s" }
reconnect = { policy = "server-hint", base = "1s", max = "20s" }
"#;

#[test]
fn a_full_phase_validates() {
    let spec = parse_journey(&with(FULL), "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let c = spec.connect.unwrap_or_else(|| panic!("no connect"));
    assert_eq!(c.base.as_deref(), Some("ws://127.0.0.1:9"));
    assert_eq!(c.path[0], Part::Lit("/v1/ws?v=".into()));
    assert_eq!(c.headers[0].0, "authorization");
    assert_eq!(c.on_open.len(), 1);
    assert!(
        matches!(c.dwell, ThinkSpec::LogNormal { median, .. } if median == Duration::from_secs(60))
    );
    let hb = c.heartbeat.unwrap_or_else(|| panic!("heartbeat"));
    assert_eq!(hb.timeout, hb.every, "timeout defaults to every");
    let frame = &c.messages.unwrap_or_else(|| panic!("messages")).frame;
    let vars: Vec<Var> = frame
        .iter()
        .filter_map(|p| match p {
            Part::Var { var, .. } => Some(*var),
            Part::Lit(_) => None,
        })
        .collect();
    assert_eq!(vars, [Var::MsgId, Var::To, Var::SentAt, Var::Region]);
    assert_eq!(
        c.reconnect,
        ReconnectSpec::ServerHint {
            base: Duration::from_secs(1),
            max: Duration::from_secs(20)
        }
    );
    assert_eq!(c.max_frame, 65536);
}

#[test]
fn bad_phases_are_refused_with_their_place() {
    let cases = [
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\non_open = ['{\"to\":\"{to}\"}']",
            "only `[journey.connect] messages.frame` knows",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nmessages = { per_minute = 1.0, frame = '{\"to\":\"{to}\"}' }\nack = { pointer = \"/type\", equals = \"ack\", id = \"/id\" }",
            "`ack` needs `messages.frame` to send `{msg_id}`",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nreconnect = { policy = \"sometimes\" }",
            "expected \"immediate\", \"backoff\" or \"server-hint\"",
        ),
        (
            "path = \"ws://{region}/ws\"\ndwell = { fixed = \"1s\" }",
            "needs a literal host",
        ),
        (
            "path = \"/ws\"\ndwell = { median = \"1s\" }",
            "expected { median, p99 } or { fixed }",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nmessages = { per_minute = 0.0, frame = '{}' }",
            "a rate is > 0",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nheaders = { sec-websocket-key = \"x\" }",
            "this header is the client's",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nbogus = 1",
            "unknown field `bogus`",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nheartbeat = { every = \"1s\", frame = '{\"a\":', reply = { pointer = \"/t\", equals = \"p\" } }",
            "malformed JSON",
        ),
    ];
    for (connect, want) in cases {
        let e = err(connect);
        assert!(e.contains(want), "{connect}\n=> {e}");
        assert!(e.contains("p.toml:"), "no place: {e}");
    }
}

#[test]
fn message_vars_stay_out_of_http_steps() {
    let text = r#"
[journey]
[[journey.steps]]
name = "x"
path = "/a/{msg_id}"
"#;
    let e = parse_journey(text, "p.toml", &[])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("only `[journey.connect] messages.frame`"), "{e}");
}

#[test]
fn builtin_reference_takes_connect_true() {
    let on = "[journey]\nbuiltin = \"reference\"\nconnect = true\n";
    let spec = parse_journey(on, "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let c = spec.connect.unwrap_or_else(|| panic!("no connect"));
    assert!(c.base.is_none());
    assert!(c.deliver.is_some());
    let plain =
        parse_journey("journey = \"reference\"\n", "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        plain.connect.is_none(),
        "the plain built-in stays without the phase"
    );
    let e = parse_journey(
        &STEPS.replace("[journey]\n", "[journey]\nconnect = true\n"),
        "p.toml",
        &[],
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("spell out [journey.connect]"), "{e}");
}
