//! `[journey.connect]`: the connected phase parses, validates with file:line, and the built-in
//! reference journey carries it on request.

use std::time::Duration;
use surge_profile::journey::{DwellSpec, Part, ReconnectSpec, ThinkSpec, Var, parse_journey};

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
        matches!(c.dwell, DwellSpec::Dist(ThinkSpec::LogNormal { median, .. }) if median == Duration::from_secs(60))
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
            "only `[journey.connect] messages` knows",
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
            "expected { median, p99 }, { fixed } or { trace }",
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
        (
            "path = \"/ws\"\ndwell = { trace = \"d.csv\" }",
            "a dwell trace needs a profile file",
        ),
        (
            "path = \"/ws\"\ndwell = { fixed = \"1s\" }\nmessages = { per_minute = 1.0, frame = '{\"to\":\"{to}\"}' }\nerror = { pointer = \"/type\", equals = \"error\", id = \"/id\" }",
            "`error` needs `messages.frame` to send `{msg_id}`",
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
    assert!(e.contains("only `[journey.connect] messages` knows"), "{e}");
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

/// A profile file whose connected phase takes its dwell from `trace` (written beside it as
/// `dwell.csv`), loaded from disk like `surge run` does.
fn load_with_dwell_trace(trace: &str) -> Result<surge_profile::Profile, String> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("dwell.csv"), trace).unwrap_or_else(|e| panic!("{e}"));
    let profile = format!(
        "name = \"t\"\n[event]\npopulation = 10\nduration = \"10s\"\n[[regions]]\nname = \"a\"\nshare = 1.0\n[curve]\nkind = \"ramp\"\nup = \"1s\"\n[address_book]\nmedian = 2\nsigma = 0.1\nmax = 4\nsame_region = 1.0\nnever_join = 0.0\nlater = 0.0\n{}",
        with("path = \"/ws\"\ndwell = { trace = \"dwell.csv\" }")
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, profile).unwrap_or_else(|e| panic!("{e}"));
    surge_profile::load(&path).map_err(|e| e.to_string())
}

#[test]
fn dwell_comes_from_a_trace_file_checked_line_by_line() {
    let p = load_with_dwell_trace("# lengths\ntime,weight\n0,1\n30,3\n600,0\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let c = p.journey.connect.unwrap_or_else(|| panic!("no connect"));
    let DwellSpec::Trace(t) = c.dwell else {
        panic!("not a trace: {:?}", c.dwell)
    };
    assert_eq!(t.secs, [0.0, 30.0, 600.0]);
    assert_eq!(t.weights, [1.0, 3.0, 0.0]);

    let cases = [
        // A bad cell: the trace's own file, line and column.
        ("time,weight\n0,1\n30,x\n", "dwell.csv:3:4"),
        (
            "time,weight\n0,1\n30,-2\n",
            "must be a finite, non-negative number",
        ),
        ("time,weight\n30,1\n10,1\n", "times must increase"),
        // Whole-file problems: the profile's field, naming the file.
        ("time,a,b\n0,1,1\n", "one weight column"),
        ("time,weight\n0,5\n10,0\n", "no session length above 0 s"),
    ];
    for (trace, want) in cases {
        let e = load_with_dwell_trace(trace).map(|_| ()).unwrap_err();
        assert!(e.contains(want), "{trace:?}\n=> {e}");
        assert!(e.contains("journey.connect.dwell.trace"), "{e}");
        assert!(e.contains("p.toml:"), "no profile place: {e}");
    }
}

#[test]
fn the_shipped_dwell_trace_loads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../profiles/traces/dwell-mobile.csv"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let p = load_with_dwell_trace(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        p.journey.connect.map(|c| c.dwell),
        Some(DwellSpec::Trace(_))
    ));
}

const POLL: &str = r#"
kind = "long-poll"
path = "/sync?filter=1"
headers = { authorization = "Bearer {token}" }
dwell = { fixed = "1s" }
poll = { since = "/next_batch", events = ["/rooms/join/*/timeline/events"], join = { each = "/rooms/invite", path = "/join/" } }
messages = { per_minute = 2.0, method = "PUT", path = "/rooms/{room}/send/{msg_id}", frame = '{"id":"{msg_id}","sent_at":{sent_at}}', room = { path = "/createRoom", body = '{"invite":["@u{to_user}:x"]}', id = "/room_id" } }
deliver = { pointer = "/type", equals = "m", id = "/content/id", sent_at = "/content/sent_at", deadline = "5s" }
"#;

#[test]
fn a_long_poll_phase_validates_with_its_defaults() {
    let spec = parse_journey(&with(POLL), "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let c = spec.connect.unwrap_or_else(|| panic!("no connect"));
    let lp = c.long_poll.unwrap_or_else(|| panic!("not a long poll"));
    assert_eq!(
        (lp.param.as_str(), lp.hold_param.as_str()),
        ("since", "timeout")
    );
    assert_eq!(lp.hold, Duration::from_secs(20));
    assert_eq!(lp.events, ["/rooms/join/*/timeline/events"]);
    assert!(lp.join.is_some());
    let m = c.messages.unwrap_or_else(|| panic!("no messages"));
    let (method, path) = m.request.unwrap_or_else(|| panic!("no send request"));
    assert_eq!(method, surge_profile::journey::Method::Put);
    assert!(path.contains(&Part::Var {
        var: Var::Room,
        in_string: false
    }));
    assert!(m.room.is_some());
}

#[test]
fn bad_long_polls_are_refused_with_their_place() {
    let cases = [
        (
            POLL.replace("kind = \"long-poll\"", "kind = \"carrier-pigeon\""),
            "expected \"websocket\" or \"long-poll\"",
        ),
        (
            format!("{POLL}heartbeat = {{ every = \"1s\", frame = '{{}}', reply = {{ pointer = \"/t\", equals = \"p\" }} }}"),
            "`heartbeat` is a WebSocket's",
        ),
        (
            POLL.replace("poll = {", "nopoll = {"),
            "unknown field `nopoll`",
        ),
        (
            POLL.lines().filter(|l| !l.starts_with("poll")).collect::<Vec<_>>().join("\n"),
            "a long poll needs `poll = { since, events }`",
        ),
        (
            POLL.replace(", room = { path = \"/createRoom\", body = '{\"invite\":[\"@u{to_user}:x\"]}', id = \"/room_id\" }", ""),
            "`{room}` needs `messages.room`",
        ),
        (
            POLL.replace("method = \"PUT\", path = \"/rooms/{room}/send/{msg_id}\", ", ""),
            "a long poll's messages are requests",
        ),
        (
            POLL.replace("events = [\"/rooms/join/*/timeline/events\"]", "events = []"),
            "name at least one pointer",
        ),
        (
            POLL.replace("since = \"/next_batch\"", "since = \"next_batch\""),
            "invalid JSON pointer",
        ),
        (
            POLL.replace("body = '{\"invite\":[\"@u{to_user}:x\"]}'", "body = '{\"m\":\"{msg_id}\"}'"),
            "the room request knows",
        ),
        (
            POLL.replace("path = \"/sync?filter=1\"", "path = \"ws://h:1/sync\""),
            "a long poll's path is a path",
        ),
        (
            POLL.replace("kind = \"long-poll\"\n", ""),
            "only `kind = \"long-poll\"` knows this field",
        ),
    ];
    for (connect, want) in cases {
        let e = err(&connect);
        assert!(e.contains(want), "{connect}\n=> {e}");
        assert!(e.contains("p.toml:"), "no place: {e}");
    }
}

#[test]
fn builtin_matrix_takes_connect_true_as_a_sync_long_poll() {
    let on = "[journey]\nbuiltin = \"matrix\"\nconnect = true\n";
    let spec = parse_journey(on, "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        spec.values.iter().any(|v| v == "server"),
        "{:?}",
        spec.values
    );
    let c = spec.connect.unwrap_or_else(|| panic!("no connect"));
    assert!(c.long_poll.is_some() && c.deliver.is_some());
    assert!(c.messages.is_some_and(|m| m.room.is_some()));
    let plain =
        parse_journey("journey = \"matrix\"\n", "p.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(plain.connect.is_none());
    assert_eq!(
        plain.values,
        ["session", "token"],
        "the value only the phase uses is not extracted without it"
    );
}
