//! `[journey.connect]`: the connected phase a person enters after the journey's steps, validated.
//!
//! ```toml
//! [journey.connect]
//! path = "/v1/ws"                    # or "ws://host:port/path", "wss://..."; default base: the region's base_url
//! headers = { authorization = "Bearer {token}", "x-surge-region" = "{region}" }
//! on_open = []                       # JSON frames sent right after the handshake
//! dwell = { median = "60s", p99 = "10m" }            # or { fixed = "30s" }
//! heartbeat = { every = "15s", frame = '{"type":"ping"}', reply = { pointer = "/type", equals = "pong" }, timeout = "10s" }
//! messages = { per_minute = 2.0, frame = '{"type":"send","id":"{msg_id}","to":"{to}","body":{"sent_at":{sent_at},"region":"{region}"}}' }
//! ack = { pointer = "/type", equals = "ack", id = "/id" }
//! error = { pointer = "/type", equals = "error", id = "/id" }
//! deliver = { pointer = "/type", equals = "message", id = "/id", sent_at = "/body/sent_at", region = "/body/region", deadline = "5s" }
//! reconnect = { policy = "backoff", base = "500ms", max = "30s" }
//! max_frame = 65536
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `path` | path template of the upgrade (`/...`, sent to the person's region's base URL with `http` -> `ws`, `https` -> `wss`), or a whole `ws://` / `wss://` URL whose path part may hold holes |
//! | `headers` | upgrade request header templates (as a step's `headers`); the journey's `headers` are not added |
//! | `on_open` | JSON frame templates sent in order right after the handshake (and after every reconnect) |
//! | `dwell` | how long the person stays connected, reconnects included: log-normal `{ median, p99 }` (sigma = ln(p99/median)/2.326, capped at 4 x p99), `{ fixed }`, or `{ trace = "traces/file.csv" }`: measured session lengths (see [`super::dwell`]) |
//! | `heartbeat` | `{ every, frame, reply = { pointer, equals }, timeout }`: `frame` is sent every `every`; a received frame whose `pointer` equals `equals` is the reply; none within `timeout` (default `every`) counts a missing heartbeat and drops the connection (then `reconnect` applies) |
//! | `messages` | `{ per_minute, frame }`: Poisson sends at `per_minute` per connected person, each to a contact the tester saw register and currently connected; none connected: no send |
//! | `ack` | `{ pointer, equals, id }`: a frame whose `pointer` equals `equals` acknowledges the message whose id is at `id`; the `ack` step measures send -> ack |
//! | `error` | `{ pointer, equals, id }`: a frame whose `pointer` equals `equals` is the server's refusal of the sent message whose id is at `id` (counted `messages_refused` under the sender's region; a refused message is never delivered; it does not count lost too) |
//! | `deliver` | `{ pointer, equals, id, sent_at, region, deadline }`: a frame that is a delivered message; `sent_at` points at the sender's `{sent_at}`, `region` at its region name; the `deliver` step measures `sent_at` -> receipt under the sender's region; later than `deadline` counts late |
//! | `reconnect` | `{ policy, base, max }`: `"immediate"`, `"backoff"` (full jitter: uniform in [0, min(max, base x 2^n)]) or `"server-hint"` (a refusal's `Retry-After`, else as `backoff`); default `backoff`, 500ms, 30s |
//! | `max_frame` | largest frame or message accepted from the server, bytes (default 65536, 125..=16 MiB) |
//!
//! ## A long poll instead of a WebSocket
//!
//! `kind = "long-poll"` makes the connection a chain of HTTP long polls (Matrix `/sync`, for
//! example; the built-in `matrix` journey's phase is one):
//!
//! ```toml
//! [journey.connect]
//! kind = "long-poll"
//! path = "/_matrix/client/v3/sync"   # GET, to the region's base URL, with `headers`
//! headers = { authorization = "Bearer {token}" }
//! dwell = { median = "60s", p99 = "10m" }
//! poll = { since = "/next_batch", param = "since", events = ["/rooms/join/*/timeline/events"], join = { each = "/rooms/invite", path = "/_matrix/client/v3/join/" }, hold = "20s", hold_param = "timeout" }
//! messages = { per_minute = 6.0, method = "PUT", path = "/_matrix/client/v3/rooms/{room}/send/m.room.message/{msg_id}", frame = '{"msgtype":"m.text","body":"hi","surge":{"id":"{msg_id}","sent_at":{sent_at}}}', room = { path = "/_matrix/client/v3/createRoom", body = '{"is_direct":true,"invite":["@surge{to_user}:{server}"]}', id = "/room_id" } }
//! deliver = { pointer = "/type", equals = "m.room.message", id = "/content/surge/id", sent_at = "/content/surge/sent_at", deadline = "5s" }
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `kind` | `"websocket"` (default) or `"long-poll"` |
//! | `poll.since` | pointer to the token in an answer; the next poll sends it as `param` (default `since`); a reconnect resumes from it too, so nothing is received twice |
//! | `poll.events` | pointers to arrays of received events (`*` stands for every member of an object or element of an array); each event is matched by `deliver` like a frame |
//! | `poll.join` | `{ each, path }`: every member name of the object at `each` (an invitation) is appended percent-encoded to `path` and POSTed with `{}` before the next poll |
//! | `poll.hold` | how long the server may hold a poll, sent in ms as `hold_param` (default `timeout`, 20s); a connection's first poll asks 0 and is the `connect` step; a poll unanswered `hold` + the client timeout, failed, not JSON or without a token drops the connection |
//! | `messages.method`, `messages.path` | the send request (default POST); `frame` is its JSON body; its answer is the `ack` (a failure counts `messages_refused`) |
//! | `messages.room` | `{ path, body, id }`: POSTed once per contact before the first message to them; the string at `id` in its answer is `{room}` |
//!
//! `heartbeat`, `on_open`, `ack`, `error` and `max_frame` are a WebSocket's and refused here.
//!
//! Frame templates are JSON like step bodies. `messages.frame` alone also knows `{to}` (the contact's
//! E.164), `{to_user}` (the contact's index in the population), `{msg_id}` (unique in the run),
//! `{sent_at}` (µs since the run's common start, a number) and, with `messages.room`, `{room}`.
//! Every value extracted by a step is known (the phase runs after the last step). `ack`, `error` and
//! `deliver` need `messages.frame` to carry `{msg_id}`; `deliver` also `{sent_at}`.

use std::time::Duration;

use toml::Spanned;

use super::connect_raw::{RawConnect, RawDeliver, RawMatch, RawReconnect};
use super::dwell::{DwellSpec, dwell};
use super::fields::{check_header_name, check_pointer, duration};
use super::holes::{Kind, templ};
use super::template::{Part, Var};
use super::validate::{Ck, Pos, Scope};
use crate::error::ProfileError;
use crate::journey::Method;

/// The connected phase, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSpec {
    /// `kind = "long-poll"`: the connection is a chain of long polls (None: a WebSocket).
    pub long_poll: Option<LongPollSpec>,
    /// `ws://host:port` or `wss://host:port` when `path` named a whole URL; else the region's base.
    pub base: Option<String>,
    /// Path (and query) template.
    pub path: Vec<Part>,
    /// Upgrade request headers (lowercase names) and value templates.
    pub headers: Vec<(String, Vec<Part>)>,
    /// JSON frame templates sent after each handshake.
    pub on_open: Vec<Vec<Part>>,
    /// Time connected.
    pub dwell: DwellSpec,
    /// Application heartbeats.
    pub heartbeat: Option<HeartbeatSpec>,
    /// Messages to connected contacts.
    pub messages: Option<MessagesSpec>,
    /// Acknowledgement recognition.
    pub ack: Option<AckSpec>,
    /// Delivery recognition.
    pub deliver: Option<DeliverSpec>,
    /// Error-frame recognition: the server refused a sent message (same shape as an ack).
    pub error: Option<AckSpec>,
    /// Reconnect policy.
    pub reconnect: ReconnectSpec,
    /// Largest frame or message accepted, bytes.
    pub max_frame: usize,
}

/// A received frame matches when the string at `pointer` equals `equals`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameMatch {
    /// JSON pointer.
    pub pointer: String,
    /// Expected string.
    pub equals: String,
}

/// Application heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSpec {
    /// Period.
    pub every: Duration,
    /// Frame template.
    pub frame: Vec<Part>,
    /// The reply.
    pub reply: FrameMatch,
    /// Reply deadline.
    pub timeout: Duration,
}

/// Poisson messages.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesSpec {
    /// Rate per connected person.
    pub per_minute: f64,
    /// Frame template (a long poll's: the send request's JSON body).
    pub frame: Vec<Part>,
    /// A long poll's send request: method and path template.
    pub request: Option<(Method, Vec<Part>)>,
    /// A long poll's conversation opened once per contact before the first message to it.
    pub room: Option<RoomSpec>,
}

/// A long-poll connection (`kind = "long-poll"`): `path` is polled with GET again and again, each poll
/// resuming from the token the previous answer carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongPollSpec {
    /// Pointer to the next token in an answer.
    pub since: String,
    /// Query parameter that carries it.
    pub param: String,
    /// Pointers (`*`: every member or element) to arrays of received events.
    pub events: Vec<String>,
    /// Conversations to join: pointer to an object whose member names are appended to `path`.
    pub join: Option<(String, Vec<Part>)>,
    /// How long the server may hold a poll (the first poll of a connection asks for 0).
    pub hold: Duration,
    /// Query parameter that carries `hold` in milliseconds.
    pub hold_param: String,
}

/// A conversation opened with a contact (POST `path` with `body`; its id at `id` is `{room}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSpec {
    /// Path template.
    pub path: Vec<Part>,
    /// JSON body template.
    pub body: Vec<Part>,
    /// Pointer to the id in the answer.
    pub id: String,
}

/// Ack recognition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckSpec {
    /// What marks an ack.
    pub is: FrameMatch,
    /// Pointer to the message id.
    pub id: String,
}

/// Delivery recognition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverSpec {
    /// What marks a delivered message.
    pub is: FrameMatch,
    /// Pointer to the message id.
    pub id: String,
    /// Pointer to the sender's `sent_at`.
    pub sent_at: String,
    /// Pointer to the sender's region name.
    pub region: Option<String>,
    /// Later is late.
    pub deadline: Duration,
}

/// What to do when a connection drops or a handshake is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectSpec {
    /// At once.
    Immediate,
    /// Full-jitter exponential backoff.
    Backoff {
        /// First ceiling.
        base: Duration,
        /// Largest ceiling.
        max: Duration,
    },
    /// The server's `Retry-After`, else like `Backoff`.
    ServerHint {
        /// First ceiling.
        base: Duration,
        /// Largest ceiling.
        max: Duration,
    },
}

/// Names of the variables only `messages.frame` knows.
pub(super) const MESSAGE_VARS: &[(&str, Var)] = &[
    ("to", Var::To),
    ("to_user", Var::ToUser),
    ("msg_id", Var::MsgId),
    ("sent_at", Var::SentAt),
    ("room", Var::Room),
];

const F: &str = "journey.connect";

/// Validates `[journey.connect]`; `values` are the journey's extracted value names (all in scope).
pub(super) fn spec(
    ck: &Ck,
    raw: &Spanned<RawConnect>,
    values: &[String],
) -> Result<ConnectSpec, ProfileError> {
    let r = raw.get_ref();
    let long = match r.kind.as_ref().map(|k| (k, k.get_ref().as_str())) {
        None | Some((_, "websocket")) => false,
        Some((_, "long-poll")) => true,
        Some((k, other)) => {
            let rule = "expected \"websocket\" or \"long-poll\"";
            return Err(ck.err(k.span(), &format!("{F}.kind"), other, rule));
        }
    };
    let scope: Scope = values
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), ((0, 0), u16::try_from(i).unwrap_or(u16::MAX))))
        .collect();
    let at = Pos {
        step: usize::MAX,
        round: 0,
        discovery: None,
        message_vars: false,
    };
    let (base, path) = url(ck, &r.path, &at, &scope)?;
    if long {
        long_poll_only_fields(ck, r)?;
    } else {
        websocket_only_fields(ck, r)?;
    }
    if long && base.is_some() {
        let rule = "a long poll's path is a path (`/...`): it goes to the region's base URL";
        return Err(ck.err(r.path.span(), &format!("{F}.path"), r.path.get_ref(), rule));
    }
    let long_poll = match (&r.poll, long) {
        (Some(p), true) => Some(poll(ck, p, &at, &scope)?),
        _ => None,
    };
    let mut headers = Vec::with_capacity(r.headers.len());
    for (name, value) in &r.headers {
        let f = format!("{F}.headers.{name}");
        let lower = name.to_ascii_lowercase();
        check_header_name(ck, &lower, value, &f)?;
        if lower.starts_with("sec-websocket-") || lower == "upgrade" {
            return Err(ck.err(value.span(), &f, name, "this header is the client's"));
        }
        headers.push((lower, templ(ck, value, &f, Kind::Header, &at, &scope)?));
    }
    let mut on_open = Vec::with_capacity(r.on_open.len());
    for (i, frame) in r.on_open.iter().enumerate() {
        let f = format!("{F}.on_open[{i}]");
        on_open.push(templ(ck, frame, &f, Kind::Json, &at, &scope)?);
    }
    let heartbeat = match &r.heartbeat {
        Some(h) => Some(heartbeat(ck, h, &at, &scope)?),
        None => None,
    };
    let messages = match &r.messages {
        Some(m) => Some(messages(ck, m, &scope, long)?),
        None => None,
    };
    let uses = |v: Var| {
        messages.as_ref().is_some_and(|m| {
            m.frame
                .iter()
                .any(|p| matches!(p, Part::Var { var, .. } if *var == v))
        })
    };
    let ack = match &r.ack {
        Some(a) => {
            need_var(ck, a.span(), "ack", uses(Var::MsgId), "{msg_id}")?;
            let a = a.get_ref();
            let is = matcher(ck, &a.pointer, &a.equals, "ack")?;
            check_pointer(ck, &a.id, &format!("{F}.ack.id"))?;
            Some(AckSpec {
                is,
                id: a.id.get_ref().clone(),
            })
        }
        None => None,
    };
    let error = match &r.error {
        Some(a) => {
            need_var(ck, a.span(), "error", uses(Var::MsgId), "{msg_id}")?;
            let a = a.get_ref();
            let is = matcher(ck, &a.pointer, &a.equals, "error")?;
            check_pointer(ck, &a.id, &format!("{F}.error.id"))?;
            Some(AckSpec {
                is,
                id: a.id.get_ref().clone(),
            })
        }
        None => None,
    };
    let deliver = match &r.deliver {
        Some(d) => {
            need_var(ck, d.span(), "deliver", uses(Var::MsgId), "{msg_id}")?;
            need_var(ck, d.span(), "deliver", uses(Var::SentAt), "{sent_at}")?;
            Some(deliver(ck, d.get_ref())?)
        }
        None => None,
    };
    Ok(ConnectSpec {
        long_poll,
        base,
        path,
        headers,
        on_open,
        dwell: dwell(ck, &r.dwell)?,
        heartbeat,
        messages,
        ack,
        deliver,
        error,
        reconnect: reconnect(ck, r.reconnect.as_ref())?,
        max_frame: max_frame(ck, r.max_frame.as_ref())?,
    })
}

fn need_var(
    ck: &Ck,
    span: std::ops::Range<usize>,
    what: &str,
    ok: bool,
    var: &str,
) -> Result<(), ProfileError> {
    if ok {
        return Ok(());
    }
    let rule = format!("`{what}` needs `messages.frame` to send `{var}`");
    Err(ck.err(span, &format!("{F}.{what}"), "", rule))
}

/// A path template, or a `ws://` / `wss://` URL split into its base and path template.
fn url(
    ck: &Ck,
    p: &Spanned<String>,
    at: &Pos,
    scope: &Scope,
) -> Result<(Option<String>, Vec<Part>), ProfileError> {
    let f = format!("{F}.path");
    let v = p.get_ref();
    let Some(rest) = v.strip_prefix("ws://").or_else(|| v.strip_prefix("wss://")) else {
        return Ok((None, templ(ck, p, &f, Kind::Path, at, scope)?));
    };
    let scheme_len = v.len() - rest.len();
    let host_len = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_len];
    if host.is_empty() || host.contains('{') || !host.bytes().all(|b| b.is_ascii_graphic()) {
        let rule = "a ws:// or wss:// URL needs a literal host[:port]";
        return Err(ck.err(p.span(), &f, v, rule));
    }
    let split = scheme_len + host_len;
    let path = if split == v.len() { "/" } else { &v[split..] };
    // The path part, as its own spanned string (errors point at the whole URL).
    let path = Spanned::new(p.span(), path.to_string());
    let parts = templ(ck, &path, &f, Kind::Path, at, scope)?;
    Ok((Some(v[..split].to_string()), parts))
}

fn heartbeat(
    ck: &Ck,
    h: &Spanned<super::connect_raw::RawHeartbeat>,
    at: &Pos,
    scope: &Scope,
) -> Result<HeartbeatSpec, ProfileError> {
    let r = h.get_ref();
    let every = positive(ck, &r.every, &format!("{F}.heartbeat.every"))?;
    let timeout = match &r.timeout {
        Some(t) => positive(ck, t, &format!("{F}.heartbeat.timeout"))?,
        None => every,
    };
    let frame = templ(
        ck,
        &r.frame,
        &format!("{F}.heartbeat.frame"),
        Kind::Json,
        at,
        scope,
    )?;
    let m: &RawMatch = r.reply.get_ref();
    Ok(HeartbeatSpec {
        every,
        frame,
        reply: matcher(ck, &m.pointer, &m.equals, "heartbeat.reply")?,
        timeout,
    })
}

fn messages(
    ck: &Ck,
    m: &Spanned<super::connect_raw::RawMessages>,
    scope: &Scope,
    long: bool,
) -> Result<MessagesSpec, ProfileError> {
    let r = m.get_ref();
    let rate = *r.per_minute.get_ref();
    if !(rate.is_finite() && rate > 0.0 && rate <= 60_000.0) {
        let f = format!("{F}.messages.per_minute");
        let rule = "a rate is > 0 and at most 60000 per minute";
        return Err(ck.err(r.per_minute.span(), &f, &rate.to_string(), rule));
    }
    let at = Pos {
        step: usize::MAX,
        round: 0,
        discovery: None,
        message_vars: true,
    };
    let f = format!("{F}.messages.frame");
    let frame = templ(ck, &r.frame, &f, Kind::Json, &at, scope)?;
    let room = match &r.room {
        Some(room) => Some(room_spec(ck, room, &at, scope)?),
        None => None,
    };
    let request = match (&r.path, long) {
        (Some(p), true) => {
            let method = match &r.method {
                Some(m) => Method::parse(m.get_ref()).ok_or_else(|| {
                    let rule = "expected GET, POST, PUT, PATCH or DELETE";
                    ck.err(m.span(), &format!("{F}.messages.method"), m.get_ref(), rule)
                })?,
                None => Method::Post,
            };
            let path = templ(ck, p, &format!("{F}.messages.path"), Kind::Path, &at, scope)?;
            Some((method, path))
        }
        (None, true) => {
            let rule = "a long poll's messages are requests: `path` (and `method`) are required";
            return Err(ck.err(m.span(), &format!("{F}.messages.path"), "", rule));
        }
        _ => None,
    };
    let uses_room = |parts: &[Part]| {
        parts
            .iter()
            .any(|p| matches!(p, Part::Var { var: Var::Room, .. }))
    };
    let in_path = request.as_ref().is_some_and(|(_, p)| uses_room(p));
    if room.is_none() && (uses_room(&frame) || in_path) {
        let rule = "`{room}` needs `messages.room` (the request that opens the conversation)";
        return Err(ck.err(m.span(), &format!("{F}.messages"), "{room}", rule));
    }
    Ok(MessagesSpec {
        per_minute: rate,
        frame,
        request,
        room,
    })
}

fn room_spec(
    ck: &Ck,
    room: &Spanned<super::connect_raw::RawRoom>,
    at: &Pos,
    scope: &Scope,
) -> Result<RoomSpec, ProfileError> {
    let r = room.get_ref();
    let f = format!("{F}.messages.room");
    let path = templ(ck, &r.path, &format!("{f}.path"), Kind::Path, at, scope)?;
    let body = templ(ck, &r.body, &format!("{f}.body"), Kind::Json, at, scope)?;
    let own = |parts: &[Part]| {
        parts.iter().any(|p| {
            matches!(
                p,
                Part::Var {
                    var: Var::Room | Var::MsgId | Var::SentAt,
                    ..
                }
            )
        })
    };
    if own(&path) || own(&body) {
        let rule = "the room request knows `{to}` and `{to_user}`, not `{room}`, `{msg_id}` or `{sent_at}`";
        return Err(ck.err(room.span(), &f, "", rule));
    }
    check_pointer(ck, &r.id, &format!("{f}.id"))?;
    Ok(RoomSpec {
        path,
        body,
        id: r.id.get_ref().clone(),
    })
}

fn poll(
    ck: &Ck,
    p: &Spanned<super::connect_raw::RawPoll>,
    at: &Pos,
    scope: &Scope,
) -> Result<LongPollSpec, ProfileError> {
    let r = p.get_ref();
    let f = format!("{F}.poll");
    check_pointer(ck, &r.since, &format!("{f}.since"))?;
    let param = query_param(ck, r.param.as_ref(), &format!("{f}.param"), "since")?;
    let hold_param = query_param(
        ck,
        r.hold_param.as_ref(),
        &format!("{f}.hold_param"),
        "timeout",
    )?;
    if r.events.is_empty() {
        let rule = "name at least one pointer to an array of received events";
        return Err(ck.err(p.span(), &format!("{f}.events"), "[]", rule));
    }
    for (i, e) in r.events.iter().enumerate() {
        check_pointer(ck, e, &format!("{f}.events[{i}]"))?;
    }
    let join = match &r.join {
        Some(j) => {
            let j = j.get_ref();
            check_pointer(ck, &j.each, &format!("{f}.join.each"))?;
            let path = templ(
                ck,
                &j.path,
                &format!("{f}.join.path"),
                Kind::Path,
                at,
                scope,
            )?;
            Some((j.each.get_ref().clone(), path))
        }
        None => None,
    };
    let hold = match &r.hold {
        Some(t) => duration(ck, t, &format!("{f}.hold"))?,
        None => Duration::from_secs(20),
    };
    if hold > Duration::from_secs(3600) {
        let rule = "a poll is held at most 1h";
        let h = r.hold.as_ref().map_or(p.span(), |h| h.span());
        return Err(ck.err(h, &format!("{f}.hold"), "", rule));
    }
    if param == hold_param {
        let rule = "`param` and `hold_param` name the same query parameter";
        return Err(ck.err(p.span(), &format!("{f}.hold_param"), &param, rule));
    }
    Ok(LongPollSpec {
        since: r.since.get_ref().clone(),
        param,
        events: r.events.iter().map(|e| e.get_ref().clone()).collect(),
        join,
        hold,
        hold_param,
    })
}

/// A query parameter name (letters, digits, `-`, `_`, `.`), or `default`.
fn query_param(
    ck: &Ck,
    q: Option<&Spanned<String>>,
    field: &str,
    default: &str,
) -> Result<String, ProfileError> {
    let Some(q) = q else {
        return Ok(default.to_string());
    };
    let v = q.get_ref();
    if v.is_empty()
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        let rule = "a query parameter name is letters, digits, `-`, `_` or `.`";
        return Err(ck.err(q.span(), field, v, rule));
    }
    Ok(v.clone())
}

/// A long poll has no frames of its own: heartbeats, `on_open`, ack and error frames are the
/// WebSocket's (a sent message's ack is its request's answer); `poll` and `messages.path` are required.
fn long_poll_only_fields(ck: &Ck, r: &RawConnect) -> Result<(), ProfileError> {
    let rule =
        |what: &str| format!("`{what}` is a WebSocket's: a long poll has no frames of its own");
    let span = |s: Option<std::ops::Range<usize>>| s.unwrap_or_else(|| r.path.span());
    for (name, s) in [
        ("heartbeat", r.heartbeat.as_ref().map(|h| h.span())),
        ("ack", r.ack.as_ref().map(|a| a.span())),
        ("error", r.error.as_ref().map(|a| a.span())),
        ("max_frame", r.max_frame.as_ref().map(|m| m.span())),
    ] {
        if s.is_some() {
            return Err(ck.err(span(s), &format!("{F}.{name}"), "", rule(name)));
        }
    }
    if let Some(o) = r.on_open.first() {
        return Err(ck.err(o.span(), &format!("{F}.on_open"), "", rule("on_open")));
    }
    if r.poll.is_none() {
        let rule = "a long poll needs `poll = { since, events }`";
        return Err(ck.err(r.path.span(), &format!("{F}.poll"), "", rule));
    }
    Ok(())
}

/// `poll` and the request fields of `messages` belong to a long poll.
fn websocket_only_fields(ck: &Ck, r: &RawConnect) -> Result<(), ProfileError> {
    let rule = "only `kind = \"long-poll\"` knows this field";
    if let Some(p) = &r.poll {
        return Err(ck.err(p.span(), &format!("{F}.poll"), "", rule));
    }
    if let Some(m) = &r.messages {
        let mr = m.get_ref();
        for (name, set) in [
            ("method", mr.method.is_some()),
            ("path", mr.path.is_some()),
            ("room", mr.room.is_some()),
        ] {
            if set {
                return Err(ck.err(m.span(), &format!("{F}.messages.{name}"), "", rule));
            }
        }
    }
    Ok(())
}

fn matcher(
    ck: &Ck,
    pointer: &Spanned<String>,
    equals: &Spanned<String>,
    what: &str,
) -> Result<FrameMatch, ProfileError> {
    check_pointer(ck, pointer, &format!("{F}.{what}.pointer"))?;
    Ok(FrameMatch {
        pointer: pointer.get_ref().clone(),
        equals: equals.get_ref().clone(),
    })
}

fn deliver(ck: &Ck, d: &RawDeliver) -> Result<DeliverSpec, ProfileError> {
    check_pointer(ck, &d.id, &format!("{F}.deliver.id"))?;
    check_pointer(ck, &d.sent_at, &format!("{F}.deliver.sent_at"))?;
    if let Some(r) = &d.region {
        check_pointer(ck, r, &format!("{F}.deliver.region"))?;
    }
    Ok(DeliverSpec {
        is: matcher(ck, &d.pointer, &d.equals, "deliver")?,
        id: d.id.get_ref().clone(),
        sent_at: d.sent_at.get_ref().clone(),
        region: d.region.as_ref().map(|r| r.get_ref().clone()),
        deadline: positive(ck, &d.deadline, &format!("{F}.deliver.deadline"))?,
    })
}

pub(super) fn positive(
    ck: &Ck,
    s: &Spanned<String>,
    field: &str,
) -> Result<Duration, ProfileError> {
    let d = duration(ck, s, field)?;
    if d.is_zero() {
        return Err(ck.err(s.span(), field, s.get_ref(), "must be > 0"));
    }
    Ok(d)
}

fn reconnect(ck: &Ck, r: Option<&Spanned<RawReconnect>>) -> Result<ReconnectSpec, ProfileError> {
    let dflt = (Duration::from_millis(500), Duration::from_secs(30));
    let Some(r) = r else {
        return Ok(ReconnectSpec::Backoff {
            base: dflt.0,
            max: dflt.1,
        });
    };
    let raw = r.get_ref();
    let f = format!("{F}.reconnect");
    let base = match &raw.base {
        Some(b) => positive(ck, b, &format!("{f}.base"))?,
        None => dflt.0,
    };
    let max = match &raw.max {
        Some(m) => duration(ck, m, &format!("{f}.max"))?,
        None => dflt.1.max(base),
    };
    if max < base {
        return Err(ck.err(
            r.span(),
            &format!("{f}.max"),
            "",
            "max must not be below base",
        ));
    }
    match raw.policy.get_ref().as_str() {
        "immediate" => Ok(ReconnectSpec::Immediate),
        "backoff" => Ok(ReconnectSpec::Backoff { base, max }),
        "server-hint" => Ok(ReconnectSpec::ServerHint { base, max }),
        other => Err(ck.err(
            raw.policy.span(),
            &format!("{f}.policy"),
            other,
            "expected \"immediate\", \"backoff\" or \"server-hint\"",
        )),
    }
}

fn max_frame(ck: &Ck, m: Option<&Spanned<i64>>) -> Result<usize, ProfileError> {
    let Some(m) = m else { return Ok(64 * 1024) };
    match usize::try_from(*m.get_ref()) {
        Ok(v) if (125..=16 << 20).contains(&v) => Ok(v),
        _ => Err(ck.err(
            m.span(),
            &format!("{F}.max_frame"),
            &m.get_ref().to_string(),
            "max_frame is 125..=16777216 bytes",
        )),
    }
}
