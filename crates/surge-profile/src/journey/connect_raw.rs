//! `[journey.connect]` as written in the profile: serde types with spans, nothing validated yet.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

/// `connect = true` (a built-in's own connected phase) or a `[journey.connect]` table.
#[derive(Debug, Clone)]
pub enum RawConnectField {
    /// `connect = true` / `false` (built-in journeys only).
    On(bool),
    /// The phase spelled out.
    Table(Box<RawConnect>),
}

impl<'de> Deserialize<'de> for RawConnectField {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ConnectVisitor)
    }
}

struct ConnectVisitor;

impl<'de> Visitor<'de> for ConnectVisitor {
    type Value = RawConnectField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true (a built-in's connected phase) or a [journey.connect] table")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(RawConnectField::On(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let t = RawConnect::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(RawConnectField::Table(Box::new(t)))
    }
}

/// `[journey.connect]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnect {
    /// `"websocket"` (the default) or `"long-poll"`.
    pub kind: Option<Spanned<String>>,
    /// Path template (`/v1/ws`), or a whole `ws://` / `wss://` URL; with `kind = "long-poll"` the
    /// poll request's path.
    pub path: Spanned<String>,
    /// How a long poll's answer is read (`kind = "long-poll"` only).
    pub poll: Option<Spanned<RawPoll>>,
    /// Header templates of the upgrade request.
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON frame templates sent right after the handshake.
    #[serde(default)]
    pub on_open: Vec<Spanned<String>>,
    /// How long a person stays connected.
    pub dwell: Spanned<RawDwell>,
    /// Application heartbeats.
    pub heartbeat: Option<Spanned<RawHeartbeat>>,
    /// Messages to connected contacts.
    pub messages: Option<Spanned<RawMessages>>,
    /// How an acknowledgement of a sent message is recognised.
    pub ack: Option<Spanned<RawAck>>,
    /// How a delivered message is recognised.
    pub deliver: Option<Spanned<RawDeliver>>,
    /// How the server's refusal of a sent message (an error frame) is recognised.
    pub error: Option<Spanned<RawAck>>,
    /// What to do when the connection drops.
    pub reconnect: Option<Spanned<RawReconnect>>,
    /// Largest frame or message accepted from the server, in bytes (default 65536).
    pub max_frame: Option<Spanned<i64>>,
}

/// `dwell = { median = "60s", p99 = "10m" }`, `dwell = { fixed = "30s" }` or
/// `dwell = { trace = "traces/dwell.csv" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDwell {
    /// Log-normal median.
    pub median: Option<Spanned<String>>,
    /// Log-normal 99th percentile (also the cap).
    pub p99: Option<Spanned<String>>,
    /// Always this long.
    pub fixed: Option<Spanned<String>>,
    /// Measured session lengths: a CSV file relative to the profile's folder.
    pub trace: Option<Spanned<String>>,
}

/// `heartbeat = { every, frame, reply, timeout }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    /// Period.
    pub every: Spanned<String>,
    /// JSON frame template.
    pub frame: Spanned<String>,
    /// How the reply is recognised.
    pub reply: Spanned<RawMatch>,
    /// How long to wait for the reply (default: `every`).
    pub timeout: Option<Spanned<String>>,
}

/// `{ pointer = "/type", equals = "pong" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    /// JSON pointer into a received frame.
    pub pointer: Spanned<String>,
    /// The string it must equal.
    pub equals: Spanned<String>,
}

/// `messages = { per_minute = 2.0, frame = '...' }`; a long poll's adds `method`, `path` and `room`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMessages {
    /// Poisson rate per connected person.
    pub per_minute: Spanned<f64>,
    /// JSON frame template (`{to}`, `{msg_id}`, `{sent_at}` and the journey's variables); with a
    /// long poll the send request's body.
    pub frame: Spanned<String>,
    /// The send request's method (long poll only; default `POST`).
    pub method: Option<Spanned<String>>,
    /// The send request's path template (long poll only, required there).
    pub path: Option<Spanned<String>>,
    /// A conversation opened once per contact before the first message to it (long poll only).
    pub room: Option<Spanned<RawRoom>>,
}

/// `poll = { since = "/next_batch", param = "since", events = [...], join = {...}, hold = "20s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoll {
    /// JSON pointer to the token the next poll resumes from.
    pub since: Spanned<String>,
    /// Query parameter that carries the token (default `since`).
    pub param: Option<Spanned<String>>,
    /// JSON pointers (`*` matches every member or element) to the arrays of received events.
    pub events: Vec<Spanned<String>>,
    /// Conversations to join when an answer offers them.
    pub join: Option<Spanned<RawJoin>>,
    /// How long the server may hold a poll open (default 20s), sent in milliseconds as `hold_param`.
    pub hold: Option<Spanned<String>>,
    /// Query parameter that carries `hold` (default `timeout`).
    pub hold_param: Option<Spanned<String>>,
}

/// `join = { each = "/rooms/invite", path = "/_matrix/client/v3/join/" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJoin {
    /// JSON pointer (`*` allowed) to an object whose member names are the conversations offered.
    pub each: Spanned<String>,
    /// Path template; the member name is appended, percent-encoded, and POSTed with body `{}`.
    pub path: Spanned<String>,
}

/// `room = { path, body, id }`: a request whose answer names the conversation (`{room}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoom {
    /// Path template (POST).
    pub path: Spanned<String>,
    /// JSON body template (`{to}`, `{to_user}` and the journey's variables).
    pub body: Spanned<String>,
    /// JSON pointer to the conversation's id in the answer.
    pub id: Spanned<String>,
}

/// `ack = { pointer, equals, id }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAck {
    /// JSON pointer that marks an ack.
    pub pointer: Spanned<String>,
    /// Its value.
    pub equals: Spanned<String>,
    /// Pointer to the acknowledged message id.
    pub id: Spanned<String>,
}

/// `deliver = { pointer, equals, id, sent_at, region, deadline }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeliver {
    /// JSON pointer that marks a delivered message.
    pub pointer: Spanned<String>,
    /// Its value.
    pub equals: Spanned<String>,
    /// Pointer to the message id.
    pub id: Spanned<String>,
    /// Pointer to the sender's `{sent_at}` (µs since the run's start).
    pub sent_at: Spanned<String>,
    /// Pointer to the sender's region name.
    pub region: Option<Spanned<String>>,
    /// Delivered later than this after `sent_at` counts as late.
    pub deadline: Spanned<String>,
}

/// `reconnect = { policy = "backoff", base = "500ms", max = "30s" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconnect {
    /// `"immediate"`, `"backoff"` or `"server-hint"`.
    pub policy: Spanned<String>,
    /// First backoff ceiling.
    pub base: Option<Spanned<String>>,
    /// Largest backoff.
    pub max: Option<Spanned<String>>,
}
