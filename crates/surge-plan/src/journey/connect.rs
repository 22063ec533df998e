//! The connected phase, compiled: upgrade request and frame templates, and recognition of what the
//! server sends.
//!
//! The engine's session renders the upgrade with [`Connect::upgrade`], frames with
//! [`Connect::on_open`], [`Connect::heartbeat_frame`] and [`Connect::message_frame`], and sorts every
//! received text frame with [`Connect::classify`].

use std::time::Duration;

use surge_profile::journey::{
    AckSpec, ConnectSpec, DeliverSpec, FrameMatch, Part, ReconnectSpec, Var,
};

use super::Ctx;
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
                .map(|m| MessageFrame::compile(&m.frame)),
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
        let message = self.message.iter().flat_map(|m| &m.segs).any(|s| match s {
            MsgSeg::Common(t) => t.uses_value(slot),
            MsgSeg::Var(..) => false,
        });
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
        let Some(m) = &self.message else { return };
        let mut buf = [0u8; 24];
        for seg in &m.segs {
            match seg {
                MsgSeg::Common(t) => t.render(ctx, NO_BATCH, out),
                MsgSeg::Var(Var::To, mode) => write_str(*mode, e164(msg.to, &mut buf), out),
                MsgSeg::Var(Var::MsgId, mode) => write_str(*mode, msg.msg_id.as_bytes(), out),
                MsgSeg::Var(_, mode) => write_num(*mode, digits(msg.sent_at_us, &mut buf), out),
            }
        }
    }

    /// Sorts a received text frame.
    pub fn classify(&self, text: &str) -> Received {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return Received::Malformed;
        };
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

impl MessageFrame {
    fn compile(parts: &[Part]) -> MessageFrame {
        let mut segs = Vec::new();
        let mut run: Vec<Part> = Vec::new();
        for p in parts {
            match p {
                Part::Var {
                    var: var @ (Var::To | Var::MsgId | Var::SentAt),
                    in_string,
                } => {
                    if !run.is_empty() {
                        segs.push(MsgSeg::Common(Template::compile(&run, Kind::Json)));
                        run.clear();
                    }
                    let mode = if *in_string {
                        Mode::JsonStr
                    } else {
                        Mode::JsonVal
                    };
                    segs.push(MsgSeg::Var(*var, mode));
                }
                other => run.push(other.clone()),
            }
        }
        if !run.is_empty() {
            segs.push(MsgSeg::Common(Template::compile(&run, Kind::Json)));
        }
        MessageFrame { segs }
    }
}
