//! The built-in journeys, written in the same declarative form a profile uses.
//!
//! `journey = "reference"` stands exactly for [`REFERENCE`] (minus `upload_keys` unless `keys = true`,
//! minus `request_code`'s `code_wait` unless `wait_for_code = true`, minus `[journey.connect]` unless
//! `connect = true`),
//! so a profile that spells the text out gets the same journey.

use serde::Deserialize;

use super::{JourneySpec, RawJourney, RawJourneyKind, ValidateCtx};

/// Names of the built-in journeys.
pub(crate) const NAMES: &[&str] = &["reference", "matrix", "get"];

/// The reference backend's signup + discovery journey (`surge-target`'s API).
pub(crate) const REFERENCE: &str = r#"
[journey]
name = "reference"
headers = { "x-surge-region" = "{region}" }

[[journey.steps]]
name = "request_code"
method = "POST"
path = "/v1/verification/code"
body = '{"number":"{phone}"}'
expect = 202
extract = { session_id = "/session_id" }
code_wait = { delay = "header:x-surge-code-delay-ms", patience = { kind = "log-normal", median = "30s", sigma = 0.5, max = "2m" }, resends = 2 }

[[journey.steps]]
name = "verify_code"
method = "PUT"
path = "/v1/verification/code"
body = '{"session_id":"{session_id}","code":"{code}"}'
expect = 200

[[journey.steps]]
name = "register"
method = "POST"
path = "/v1/accounts"
body = '{"session_id":"{session_id}"}'
expect = 201
extract = { token = "/token" }

[[journey.steps]]
name = "upload_keys"
method = "PUT"
path = "/v1/keys"
headers = { authorization = "Bearer {token}" }
body = '{"identity_key":"{key}","prekeys":["{key}"]}'
expect = 204

[[journey.steps]]
name = "discover"
method = "POST"
path = "/v1/discovery"
headers = { authorization = "Bearer {token}" }
body = '{"hashes":{contacts},"prev":{prev_contacts},"token":"{discovery_token}"}'
expect = 200
discovery = { batch = 2048, encoding = "sha256-hex16", answer = "/found", check = true, incremental = true, token = "/token" }

[journey.connect]
path = "/v1/ws"
headers = { authorization = "Bearer {token}", "x-surge-region" = "{region}" }
dwell = { median = "60s", p99 = "10m" }
heartbeat = { every = "15s", frame = '{"type":"ping"}', reply = { pointer = "/type", equals = "pong" }, timeout = "10s" }
messages = { per_minute = 2.0, frame = '{"type":"send","id":"{msg_id}","to":"{to}","body":{"sent_at":{sent_at},"region":"{region}"}}' }
ack = { pointer = "/type", equals = "ack", id = "/id" }
error = { pointer = "/type", equals = "error", id = "/id" }
deliver = { pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "5s" }
reconnect = { policy = "backoff", base = "500ms", max = "30s" }
"#;

/// Matrix client-server API: registration with the dummy auth stage (two rounds: the first answers
/// 401 with a `session`, the second completes `m.login.dummy` with it), then one user-directory search
/// per contact (`batch = 1`): the search term is the contact's Matrix username (`surge{user_id}` for a
/// person of the population, `surgen{digits}` for a number that never joins), and the contact counts as
/// found when an answer entry's `user_id` has that localpart. Directory searches match by prefix, so
/// other entries are expected (`strict = false`).
///
/// The connected phase (`connect = true`) is `/sync` long-polling: each poll resumes from the previous
/// answer's `next_batch` (the first one, without `since`, is the `connect` step), and the room invites
/// an answer carries are joined. A message goes to a connected contact as an `m.room.message` in a
/// direct-message room that the sender creates once per contact (`createRoom` with `is_direct` and
/// the contact invited; the server name comes from the registration's `home_server`, which Synapse
/// sends); the receiver's `/sync` returns it in the room's timeline, which is the `deliver` step.
pub(crate) const MATRIX: &str = r#"
[journey]
name = "matrix"

[[journey.steps]]
name = "register"
method = "POST"
path = "/_matrix/client/v3/register"
rounds = [
  { body = '{"username":"surge{user_id}","password":"{password}"}', expect = 401, extract = { session = "/session" } },
  { body = '{"username":"surge{user_id}","password":"{password}","auth":{"type":"m.login.dummy","session":"{session}"}}', expect = 200, extract = { token = "/access_token", server = "/home_server" } },
]

[[journey.steps]]
name = "discover"
method = "POST"
path = "/_matrix/client/v3/user_directory/search"
headers = { authorization = "Bearer {token}" }
body = '{"search_term":"{contact}","limit":50}'
expect = 200
discovery = { batch = 1, encoding = "matrix-localpart", answer = "/results", answer_field = "/user_id", answer_encoding = "matrix-user-id", strict = false }

[journey.connect]
kind = "long-poll"
path = "/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A50%7D%7D%7D"
headers = { authorization = "Bearer {token}" }
dwell = { median = "60s", p99 = "10m" }
poll = { since = "/next_batch", param = "since", events = ["/rooms/join/*/timeline/events"], join = { each = "/rooms/invite", path = "/_matrix/client/v3/join/" }, hold = "20s", hold_param = "timeout" }
messages = { per_minute = 6.0, method = "PUT", path = "/_matrix/client/v3/rooms/{room}/send/m.room.message/{msg_id}", frame = '{"msgtype":"m.text","body":"surge {msg_id}","surge":{"id":"{msg_id}","sent_at":{sent_at},"region":"{region}"}}', room = { path = "/_matrix/client/v3/createRoom", body = '{"is_direct":true,"preset":"trusted_private_chat","invite":["@surge{to_user}:{server}"]}', id = "/room_id" } }
deliver = { pointer = "/type", equals = "m.room.message", id = "/content/surge/id", sent_at = "/content/surge/sent_at", region = "/content/surge/region", deadline = "5s" }
reconnect = { policy = "backoff", base = "500ms", max = "30s" }
"#;

/// Values a built-in extracts only for its connected phase (dropped without `connect = true`, so a
/// server that does not send them still passes the steps).
const CONNECT_ONLY_VALUES: &[&str] = &["server"];

/// One `GET /` expecting 200: the throughput benchmark's journey.
pub(crate) const GET: &str = r#"
[journey]
name = "get"

[[journey.steps]]
name = "get"
method = "GET"
path = "/"
expect = 200
"#;

/// The declarative text of builtin `name`.
pub(crate) fn text(name: &str) -> Option<&'static str> {
    match name {
        "reference" => Some(REFERENCE),
        "matrix" => Some(MATRIX),
        "get" => Some(GET),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Doc {
    journey: RawJourney,
}

/// Builtin `name` validated; `keys` keeps the reference journey's `upload_keys` step, `connect` its
/// connected phase (`[journey.connect]`), `wait_for_code` its wait for the code to land.
pub(crate) fn spec(
    name: &str,
    keys: bool,
    connect: bool,
    wait_for_code: bool,
) -> Option<JourneySpec> {
    let text = text(name)?;
    let doc: Doc = toml::from_str(text).ok()?;
    let span = doc.journey.0.span();
    let RawJourneyKind::Table(mut table) = doc.journey.0.into_inner() else {
        return None;
    };
    if !keys && let Some(steps) = table.steps.as_mut() {
        steps.retain(|s| s.get_ref().name.get_ref() != "upload_keys");
    }
    if !wait_for_code && let Some(steps) = table.steps.as_mut() {
        for s in steps.iter_mut() {
            s.get_mut().code_wait = None;
        }
    }
    if !connect {
        table.connect = None;
        for step in table.steps.iter_mut().flatten() {
            for round in step.get_mut().rounds.iter_mut().flatten() {
                if let Some(x) = round.get_mut().extract.as_mut() {
                    x.retain(|name, _| !CONNECT_ONLY_VALUES.contains(&name.as_str()));
                }
            }
        }
    }
    let file = format!("<builtin journey {name}>");
    let ctx = ValidateCtx {
        file: &file,
        text,
        region_names: &[],
        base_dir: None,
    };
    super::validate::table(&table, &ctx, span).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_validates() {
        for name in NAMES {
            let text = text(name).unwrap_or_default();
            let doc: Doc = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let RawJourneyKind::Table(table) = doc.journey.0.get_ref().clone() else {
                panic!("{name} is not a table");
            };
            let ctx = ValidateCtx {
                file: name,
                text,
                region_names: &[],
                base_dir: None,
            };
            if let Err(e) = super::super::validate::table(&table, &ctx, doc.journey.0.span()) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn reference_steps_and_keys_option() {
        let names = |s: &JourneySpec| s.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        let plain = spec("reference", false, false, false).unwrap_or_else(|| panic!("reference"));
        assert!(plain.connect.is_none());
        let connected =
            spec("reference", false, true, false).unwrap_or_else(|| panic!("connected"));
        let c = connected
            .connect
            .unwrap_or_else(|| panic!("no connect phase"));
        assert!(c.messages.is_some() && c.deliver.is_some() && c.heartbeat.is_some());
        assert_eq!(
            names(&plain),
            ["request_code", "verify_code", "register", "discover"]
        );
        let keys =
            spec("reference", true, false, false).unwrap_or_else(|| panic!("reference+keys"));
        assert_eq!(
            names(&keys),
            [
                "request_code",
                "verify_code",
                "register",
                "upload_keys",
                "discover"
            ]
        );
        assert_eq!(plain.values, ["session_id", "token"]);
        assert!(plain.steps.iter().all(|s| s.code_wait.is_none()));
        let d = plain.steps[3]
            .discovery
            .as_ref()
            .unwrap_or_else(|| panic!("discover"));
        assert!(d.incremental && d.token.as_deref() == Some("/token"));
        let waiting = spec("reference", false, false, true).unwrap_or_else(|| panic!("wait"));
        let w = waiting.steps[0]
            .code_wait
            .as_ref()
            .unwrap_or_else(|| panic!("code_wait"));
        assert_eq!((w.resends, w.metric.as_str()), (2, "code_delay"));
        assert!(spec("nope", false, false, false).is_none());
    }
}
