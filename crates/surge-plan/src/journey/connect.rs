//! The connected phase, compiled: upgrade request and frame templates, and recognition of what the
//! server sends.
//!
//! The engine's session renders the upgrade with [`Connect::upgrade`], frames with
//! [`Connect::on_open`], [`Connect::heartbeat_frame`] and [`Connect::message_frame`], and sorts every
//! received text frame with [`Connect::classify`].

use std::time::Duration;

use surge_profile::journey::{
    AckSpec, ConnectSpec, DeliverSpec, FrameMatch, LongPollSpec, Method, Part, ReconnectSpec,
    RoomSpec, Var,
};

use super::{Ctx, RequestBuf};
use crate::Phone;
use crate::template::{Batch, Kind, Mode, Template, digits, e164, write_num, write_str};

pub use surge_profile::journey::ReconnectSpec as Reconnect;

/// The phase has no discovery batch.
const NO_BATCH: Batch<'static> = Batch::Raw(surge_profile::journey::ContactEncoding::E164);

/// Metric step names the connected phase records, in the order they are appended to `Plan::steps`.
pub const METRIC_STEPS: [&str; 4] = ["connect", "ack", "deliver", "reconnect"];

/// The compiled `[journey.connect]`.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `ws://host:port` / `wss://host:port` from the profile, else None (the region's base URL).
    pub base: Option<String>,
    path: Template,
    headers: Vec<(String, Template)>,
    on_open: Vec<Template>,
    /// Time connected (reconnects included).
    pub dwell: super::dwell::Dwell,
    /// Heartbeats.
    pub heartbeat: Option<Heartbeat>,
    /// Messages per minute per connected person (0: none).
    pub per_minute: f64,
    message: Option<MessageFrame>,
    ack: Option<AckSpec>,
    error: Option<AckSpec>,
    deliver: Option<DeliverSpec>,
    /// Delivered later than this after `sent_at` is late (None: no deliveries recognised).
    pub deadline: Option<Duration>,
    /// Reconnect policy.
    pub reconnect: ReconnectSpec,
    /// Largest frame or message accepted from the server.
    pub max_frame: usize,
    /// Metric step indexes.
    pub metrics: ConnectMetrics,
    pong: Option<FrameMatch>,
    /// `kind = "long-poll"`: how polls are made and read (None: a WebSocket).
    pub long_poll: Option<LongPoll>,
    /// A long poll's send request: method and path.
    send: Option<(Method, MessageFrame)>,
    /// A long poll's conversation opened per contact.
    room: Option<Room>,
}

/// A long-poll connection: the poll request is the phase's `path` and headers, with the token of
/// the previous answer as a query parameter.
#[derive(Debug, Clone)]
pub struct LongPoll {
    since: String,
    param: String,
    events: Vec<String>,
    join: Option<(String, Template)>,
    /// How long the server may hold a poll (a connection's first poll asks for 0).
    pub hold: Duration,
    hold_param: String,
}

#[derive(Debug, Clone)]
struct Room {
    path: MessageFrame,
    body: MessageFrame,
    id: String,
}

/// What one long poll's answer carried.
#[derive(Debug, Default)]
pub struct PollAnswer {
    /// The token the next poll resumes from.
    pub since: Option<String>,
    /// Each received event, sorted.
    pub received: Vec<Received>,
    /// Conversations offered to join (member names at `join.each`).
    pub joins: Vec<String>,
}

/// Heartbeat settings.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// Period.
    pub every: Duration,
    /// Reply deadline.
    pub timeout: Duration,
    frame: Template,
}

/// Indexes into `Plan::steps` of the phase's metric steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectMetrics {
    /// The handshake, from its intended start.
    pub connect: u16,
    /// Send -> ack.
    pub ack: u16,
    /// Sender's `sent_at` -> receipt, under the sender's region.
    pub deliver: u16,
    /// Drop -> re-established connection.
    pub reconnect: u16,
}

/// The message frame: common template runs and the message variables between them.
#[derive(Debug, Clone)]
struct MessageFrame {
    segs: Vec<MsgSeg>,
}

#[derive(Debug, Clone)]
enum MsgSeg {
    Common(Template),
    Var(Var, Mode),
}

/// The values of one message.
#[derive(Debug, Clone, Copy)]
pub struct MsgVars<'a> {
    /// The contact's number (`{to}`).
    pub to: Phone,
    /// The contact's index in the population (`{to_user}`).
    pub to_user: u64,
    /// The conversation's id (`{room}`; empty before it is known).
    pub room: &'a str,
    /// The message id (`{msg_id}`).
    pub msg_id: &'a str,
    /// µs since the run's start (`{sent_at}`).
    pub sent_at_us: u64,
}

/// What a received text frame is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The heartbeat's reply.
    Pong,
    /// An acknowledgement of message `id`.
    Ack {
        /// The message id.
        id: String,
    },
    /// The server refused message `id` (an error frame).
    Refused {
        /// The message id.
        id: String,
    },
    /// A delivered message.
    Deliver {
        /// The message id.
        id: String,
        /// The sender's `sent_at` (µs since the run's start).
        sent_at_us: u64,
        /// The sender's region name, when the profile points at it.
        region: Option<String>,
    },
    /// A delivery whose id or `sent_at` is missing or not what surge sends.
    BadDeliver,
    /// JSON that matches nothing the profile recognises.
    Other,
    /// Not JSON.
    Malformed,
}

impl Connect {
    /// Compiles `spec`; appends [`METRIC_STEPS`] to `steps_out` (shared when already there).
    pub fn compile(spec: &ConnectSpec, steps_out: &mut Vec<String>) -> Connect {
        let mut idx = |name: &str| {
            let i = match steps_out.iter().position(|m| m == name) {
                Some(i) => i,
                None => {
                    steps_out.push(name.to_string());
                    steps_out.len() - 1
                }
            };
            u16::try_from(i).unwrap_or(u16::MAX)
        };
        let metrics = ConnectMetrics {
            connect: idx("connect"),
            ack: idx("ack"),
            deliver: idx("deliver"),
            reconnect: idx("reconnect"),
        };
        Connect {
            base: spec.base.clone(),
            path: Template::compile(&spec.path, Kind::Path),
            headers: spec
                .headers
                .iter()
                .map(|(n, p)| (n.clone(), Template::compile(p, Kind::Header)))
                .collect(),
            on_open: spec
                .on_open
                .iter()
                .map(|p| Template::compile(p, Kind::Json))
                .collect(),
            dwell: super::dwell::Dwell::new(&spec.dwell),
            heartbeat: spec.heartbeat.as_ref().map(|h| Heartbeat {
                every: h.every,
                timeout: h.timeout,
                frame: Template::compile(&h.frame, Kind::Json),
            }),
            per_minute: spec.messages.as_ref().map_or(0.0, |m| m.per_minute),
            message: spec
                .messages
                .as_ref()
                .map(|m| MessageFrame::compile(&m.frame, Kind::Json)),
            send: spec.messages.as_ref().and_then(|m| {
                m.request
                    .as_ref()
                    .map(|(method, p)| (*method, MessageFrame::compile(p, Kind::Path)))
            }),
            room: spec
                .messages
                .as_ref()
                .and_then(|m| m.room.as_ref())
                .map(Room::compile),
            long_poll: spec.long_poll.as_ref().map(LongPoll::compile),
            ack: spec.ack.clone(),
            error: spec.error.clone(),
            deadline: spec.deliver.as_ref().map(|d| d.deadline),
            deliver: spec.deliver.clone(),
            reconnect: spec.reconnect,
            max_frame: spec.max_frame,
            metrics,
            pong: None,
        }
        .with_reply(spec.heartbeat.as_ref().map(|h| h.reply.clone()))
    }

    fn with_reply(mut self, reply: Option<FrameMatch>) -> Connect {
        self.pong = reply;
        self
    }

    /// Whether any of the phase's templates (path, headers, frames) renders extracted value `slot`:
    /// the values it does not render need not be kept for the whole dwell.
    pub fn uses_value(&self, slot: usize) -> bool {
        let frame = |m: &MessageFrame| {
            m.segs.iter().any(|s| match s {
                MsgSeg::Common(t) => t.uses_value(slot),
                MsgSeg::Var(..) => false,
            })
        };
        // A long poll's requests render values too: its send path, the conversation it opens per
        // contact, and the join of an offered one.
        let message = self.message.as_ref().is_some_and(frame)
            || self.send.as_ref().is_some_and(|(_, p)| frame(p))
            || self
                .room
                .as_ref()
                .is_some_and(|r| frame(&r.path) || frame(&r.body))
            || self
                .long_poll
                .as_ref()
                .and_then(|lp| lp.join.as_ref())
                .is_some_and(|(_, t)| t.uses_value(slot));
        self.path.uses_value(slot)
            || self.headers.iter().any(|(_, t)| t.uses_value(slot))
            || self.on_open.iter().any(|t| t.uses_value(slot))
            || self
                .heartbeat
                .as_ref()
                .is_some_and(|h| h.frame.uses_value(slot))
            || message
    }

    /// Renders the upgrade's path and headers (buffers cleared and reused).
    pub fn upgrade(&self, ctx: &Ctx, path: &mut Vec<u8>, headers: &mut Vec<(String, Vec<u8>)>) {
        path.clear();
        self.path.render(ctx, NO_BATCH, path);
        self.upgrade_headers(ctx, headers);
    }

    fn upgrade_headers(&self, ctx: &Ctx, headers: &mut Vec<(String, Vec<u8>)>) {
        headers.truncate(self.headers.len());
        headers.resize_with(self.headers.len(), Default::default);
        for ((name, t), (on, ov)) in self.headers.iter().zip(headers.iter_mut()) {
            on.clone_from(name);
            ov.clear();
            t.render(ctx, NO_BATCH, ov);
        }
    }

    /// Number of `on_open` frames.
    pub fn on_open_len(&self) -> usize {
        self.on_open.len()
    }

    /// Appends `on_open` frame `i` to `out`.
    pub fn on_open(&self, i: usize, ctx: &Ctx, out: &mut Vec<u8>) {
        if let Some(t) = self.on_open.get(i) {
            t.render(ctx, NO_BATCH, out);
        }
    }

    /// Appends the heartbeat frame to `out` (nothing without heartbeats).
    pub fn heartbeat_frame(&self, ctx: &Ctx, out: &mut Vec<u8>) {
        if let Some(h) = &self.heartbeat {
            h.frame.render(ctx, NO_BATCH, out);
        }
    }

    /// Whether the phase sends messages.
    pub fn sends_messages(&self) -> bool {
        self.message.is_some() && self.per_minute > 0.0
    }

    /// Appends a message frame to `out`.
    pub fn message_frame(&self, ctx: &Ctx, msg: &MsgVars, out: &mut Vec<u8>) {
        if let Some(m) = &self.message {
            m.render(ctx, msg, out);
        }
    }

    /// Whether a long poll's message needs its conversation opened first (`messages.room`).
    pub fn opens_rooms(&self) -> bool {
        self.room.is_some()
    }

    /// Builds a long poll's send request for `msg` (JSON body: the message frame).
    pub fn message_request(&self, ctx: &Ctx, msg: &MsgVars, out: &mut RequestBuf) {
        let Some((method, path)) = &self.send else {
            return;
        };
        self.request(ctx, *method, out);
        path.render(ctx, msg, &mut out.path);
        self.message_frame(ctx, msg, &mut out.body);
        json_body(out);
    }

    /// Builds the request that opens the conversation with `msg`'s contact (`messages.room`).
    pub fn room_request(&self, ctx: &Ctx, msg: &MsgVars, out: &mut RequestBuf) {
        let Some(r) = &self.room else { return };
        self.request(ctx, Method::Post, out);
        r.path.render(ctx, msg, &mut out.path);
        r.body.render(ctx, msg, &mut out.body);
        json_body(out);
    }

    /// The conversation's id in the answer to [`Connect::room_request`].
    pub fn room_id(&self, body: &[u8]) -> Option<String> {
        let r = self.room.as_ref()?;
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        v.pointer(&r.id)?.as_str().map(str::to_string)
    }

    /// Builds a long poll: GET `path`, asking the server to hold it (`held`; else to answer at
    /// once), resuming from `since` when there is one.
    pub fn poll_request(&self, ctx: &Ctx, since: Option<&str>, held: bool, out: &mut RequestBuf) {
        let Some(lp) = &self.long_poll else { return };
        self.request(ctx, Method::Get, out);
        self.path.render(ctx, NO_BATCH, &mut out.path);
        let hold_ms = if held { lp.hold.as_millis() } else { 0 };
        let mut query = |name: &str, value: &[u8]| {
            out.path
                .push(if out.path.contains(&b'?') { b'&' } else { b'?' });
            out.path.extend_from_slice(name.as_bytes());
            out.path.push(b'=');
            write_str(Mode::Url, value, &mut out.path);
        };
        query(&lp.hold_param, hold_ms.to_string().as_bytes());
        if let Some(token) = since {
            query(&lp.param, token.as_bytes());
        }
    }

    /// Builds the request that joins conversation `key` offered in a poll's answer.
    pub fn join_request(&self, ctx: &Ctx, key: &str, out: &mut RequestBuf) {
        let Some((_, path)) = self.long_poll.as_ref().and_then(|lp| lp.join.as_ref()) else {
            return;
        };
        self.request(ctx, Method::Post, out);
        path.render(ctx, NO_BATCH, &mut out.path);
        write_str(Mode::Url, key.as_bytes(), &mut out.path);
        out.body.extend_from_slice(b"{}");
        json_body(out);
    }

    /// Starts a request of the phase: `method`, the phase's headers, empty path and body.
    fn request(&self, ctx: &Ctx, method: Method, out: &mut RequestBuf) {
        out.method = method;
        out.path.clear();
        out.body.clear();
        out.base_url = None;
        self.upgrade_headers(ctx, &mut out.headers);
    }

    /// Reads a long poll's answer into `out` (cleared first). False when it is not JSON.
    pub fn read_poll(&self, body: &[u8], out: &mut PollAnswer) -> bool {
        out.since = None;
        out.received.clear();
        out.joins.clear();
        let Some(lp) = &self.long_poll else {
            return false;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return false;
        };
        out.since = v.pointer(&lp.since).and_then(token_text);
        for p in &lp.events {
            each_at(&v, p, &mut |events| {
                if let Some(list) = events.as_array() {
                    out.received
                        .extend(list.iter().map(|e| self.classify_value(e)));
                }
            });
        }
        if let Some((each, _)) = &lp.join {
            each_at(&v, each, &mut |offers| {
                if let Some(map) = offers.as_object() {
                    out.joins.extend(map.keys().cloned());
                }
            });
        }
        true
    }

    /// Sorts a received text frame.
    pub fn classify(&self, text: &str) -> Received {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return Received::Malformed;
        };
        self.classify_value(&v)
    }

    /// Sorts a received JSON event (a frame, or an event of a long poll's answer).
    pub fn classify_value(&self, v: &serde_json::Value) -> Received {
        let is = |m: &FrameMatch| v.pointer(&m.pointer).and_then(|x| x.as_str()) == Some(&m.equals);
        let string = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
        if self.pong.as_ref().is_some_and(is) {
            return Received::Pong;
        }
        if let Some(a) = self.ack.as_ref().filter(|a| is(&a.is)) {
            return match string(&a.id) {
                Some(id) => Received::Ack { id },
                None => Received::Other,
            };
        }
        if let Some(e) = self.error.as_ref().filter(|e| is(&e.is)) {
            return match string(&e.id) {
                Some(id) => Received::Refused { id },
                None => Received::Other,
            };
        }
        if let Some(d) = self.deliver.as_ref().filter(|d| is(&d.is)) {
            let sent = v.pointer(&d.sent_at).and_then(serde_json::Value::as_u64);
            return match (string(&d.id), sent) {
                (Some(id), Some(sent_at_us)) => Received::Deliver {
                    id,
                    sent_at_us,
                    region: d.region.as_deref().and_then(string),
                },
                _ => Received::BadDeliver,
            };
        }
        Received::Other
    }
}

/// Adds `content-type: application/json` to a request with a body.
fn json_body(out: &mut RequestBuf) {
    out.headers
        .push(("content-type".to_string(), b"application/json".to_vec()));
}

/// A token as text: a string as is, a number in decimal.
fn token_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Calls `f` with every value `pointer` names in `v`; a `*` segment stands for every member of an
/// object or element of an array.
fn each_at<'v>(v: &'v serde_json::Value, pointer: &str, f: &mut dyn FnMut(&'v serde_json::Value)) {
    let Some(rest) = pointer.strip_prefix('/') else {
        if pointer.is_empty() {
            f(v);
        }
        return;
    };
    let (seg, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if seg == "*" {
        match v {
            serde_json::Value::Object(m) => m.values().for_each(|x| each_at(x, tail, f)),
            serde_json::Value::Array(a) => a.iter().for_each(|x| each_at(x, tail, f)),
            _ => {}
        }
        return;
    }
    let key = seg.replace("~1", "/").replace("~0", "~");
    let next = match v {
        serde_json::Value::Object(m) => m.get(&key),
        serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    };
    if let Some(x) = next {
        each_at(x, tail, f);
    }
}

impl LongPoll {
    fn compile(s: &LongPollSpec) -> LongPoll {
        LongPoll {
            since: s.since.clone(),
            param: s.param.clone(),
            events: s.events.clone(),
            join: s
                .join
                .as_ref()
                .map(|(each, p)| (each.clone(), Template::compile(p, Kind::Path))),
            hold: s.hold,
            hold_param: s.hold_param.clone(),
        }
    }
}

impl Room {
    fn compile(s: &RoomSpec) -> Room {
        Room {
            path: MessageFrame::compile(&s.path, Kind::Path),
            body: MessageFrame::compile(&s.body, Kind::Json),
            id: s.id.clone(),
        }
    }
}

impl MessageFrame {
    fn render(&self, ctx: &Ctx, msg: &MsgVars, out: &mut Vec<u8>) {
        let mut buf = [0u8; 24];
        for seg in &self.segs {
            match seg {
                MsgSeg::Common(t) => t.render(ctx, NO_BATCH, out),
                MsgSeg::Var(Var::To, mode) => write_str(*mode, e164(msg.to, &mut buf), out),
                MsgSeg::Var(Var::MsgId, mode) => write_str(*mode, msg.msg_id.as_bytes(), out),
                MsgSeg::Var(Var::Room, mode) => write_str(*mode, msg.room.as_bytes(), out),
                MsgSeg::Var(Var::ToUser, mode) => {
                    write_num(*mode, digits(msg.to_user, &mut buf), out)
                }
                MsgSeg::Var(_, mode) => write_num(*mode, digits(msg.sent_at_us, &mut buf), out),
            }
        }
    }

    fn compile(parts: &[Part], kind: Kind) -> MessageFrame {
        let mut segs = Vec::new();
        let mut run: Vec<Part> = Vec::new();
        for p in parts {
            match p {
                Part::Var {
                    var: var @ (Var::To | Var::ToUser | Var::MsgId | Var::SentAt | Var::Room),
                    in_string,
                } => {
                    if !run.is_empty() {
                        segs.push(MsgSeg::Common(Template::compile(&run, kind)));
                        run.clear();
                    }
                    let mode = match kind {
                        Kind::Path | Kind::Form => Mode::Url,
                        Kind::Header => Mode::Header,
                        Kind::Json if *in_string => Mode::JsonStr,
                        Kind::Json => Mode::JsonVal,
                    };
                    segs.push(MsgSeg::Var(*var, mode));
                }
                other => run.push(other.clone()),
            }
        }
        if !run.is_empty() {
            segs.push(MsgSeg::Common(Template::compile(&run, kind)));
        }
        MessageFrame { segs }
    }
}
