//! Holding an open connection: reads through the worker's scratch buffer, heartbeats, Poisson sends,
//! acks and deliveries, until the dwell ends or the connection drops.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use surge_metrics::Outcome;
use surge_plan::journey::connect::{MsgVars, Received};
use surge_ws::{FrameError, Message, Opcode, close, frame};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use super::conn::Ws;
use super::{Ended, SCRATCH_BUF, Session};

/// Sends awaiting their ack at most (older ones are forgotten: their ack then counts as unknown).
const MAX_PENDING: usize = 64;
/// A `sent_at` this far ahead of the receiver's clock is not one surge wrote.
const CLOCK_SLACK_US: u64 = 1_000_000;

/// Per-connection timers and pending acks.
struct State {
    next_beat: Option<Instant>,
    pong_due: Option<Instant>,
    next_msg: Option<Instant>,
    /// Sequence number and send time of messages awaiting their ack.
    pending: Vec<(u64, Instant)>,
    /// The server closed, or the connection broke.
    ended: Option<Ended>,
    /// The session's end has passed: the person left ([`Session::leave`]).
    left: bool,
}

/// What a batch of received frames asks the connection to send back.
#[derive(Default)]
struct Replies {
    out: Vec<u8>,
    close: bool,
}

/// Holds `ws` until the session's end (then closes with 1000) or a drop.
pub(super) async fn hold(s: &Session<'_>, ws: &mut Ws) -> Ended {
    let now = Instant::now();
    let mut st = State {
        next_beat: s.c.heartbeat.as_ref().map(|h| now + h.every),
        pong_due: None,
        next_msg: s.c.sends_messages().then(|| now + s.poisson_gap()),
        pending: Vec::new(),
        ended: None,
        left: false,
    };
    if let Err(e) = on_open(s, ws).await {
        return dropped(s, e);
    }
    // Frames that came with the upgrade answer.
    if !ws.rem.is_empty() {
        let mut replies = Replies::default();
        let mut bytes = std::mem::take(&mut ws.rem);
        let used = decode_all(s, ws, &mut st, &mut bytes, &mut replies);
        ws.rem = bytes.split_off(used);
        if let Some(e) = flush(ws, replies).await.err().or(st.ended) {
            return if e == Ended::Done {
                Ended::Done
            } else {
                dropped(s, e)
            };
        }
    }
    let stop_sending = s.end;
    let close_at = s.close_at();
    loop {
        let now = Instant::now();
        if now >= close_at {
            return close_normally(ws).await;
        }
        let leave = (!st.left).then_some(stop_sending);
        let wake = [
            st.next_beat,
            st.pong_due,
            st.next_msg,
            leave,
            Some(close_at),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(close_at);
        tokio::select! {
            n = read_some(ws) => {
                let mut replies = Replies::default();
                match n {
                    Ok(r) if r.len() > 0 => received(s, ws, &mut st, r, &mut replies),
                    _ => {
                        s.count(s.person.region, |k| k.close(None));
                        return Ended::Dropped;
                    }
                }
                if let Some(e) = flush(ws, replies).await.err().or(st.ended) {
                    return e;
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if let Err(e) = timers(s, ws, &mut st, stop_sending).await {
                    return e;
                }
            }
        }
    }
}

fn dropped(s: &Session<'_>, e: Ended) -> Ended {
    if e == Ended::Dropped {
        s.count(s.person.region, |k| k.close(None));
    }
    e
}

async fn on_open(s: &Session<'_>, ws: &mut Ws) -> Result<(), Ended> {
    let mut out = Vec::new();
    let ctx = s.ctx();
    for i in 0..s.c.on_open_len() {
        let mut text = Vec::new();
        s.c.on_open(i, &ctx, &mut text);
        frame::encode(Opcode::Text, true, &text, Some(mask(s)), &mut out);
    }
    if out.is_empty() {
        return Ok(());
    }
    ws.io.write_all(&out).await.map_err(|_| Ended::Dropped)
}

fn mask(s: &Session<'_>) -> [u8; 4] {
    (s.next_u64() as u32).to_le_bytes()
}

/// Waits until the socket has bytes and reads them: into the worker's scratch buffer after room for
/// the remainder of a partial frame (borrowed only inside each poll; its bytes stay valid until this
/// task next yields), or, when the remainder is already half the scratch buffer (a frame larger than
/// it, which the decoder's limits allow), onto the remainder itself.
async fn read_some(ws: &mut Ws) -> std::io::Result<Read> {
    poll_fn(|cx| {
        if ws.rem.len() >= super::SCRATCH / 2 {
            let mut chunk = [0u8; 4096];
            let mut rb = ReadBuf::new(&mut chunk);
            return match Pin::new(&mut ws.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    ws.rem.extend_from_slice(rb.filled());
                    Poll::Ready(Ok(Read::Remainder(n)))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        SCRATCH_BUF.with_borrow_mut(|buf| {
            let keep = ws.rem.len();
            let mut rb = ReadBuf::new(&mut buf[keep..]);
            match Pin::new(&mut ws.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(Read::Scratch(rb.filled().len()))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

/// Where a read put its bytes.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// `n` bytes in the scratch buffer after `rem.len()` bytes of room.
    Scratch(usize),
    /// `n` bytes appended to the remainder.
    Remainder(usize),
}

impl Read {
    fn len(self) -> usize {
        match self {
            Read::Scratch(n) | Read::Remainder(n) => n,
        }
    }
}

/// Decodes the bytes just read (after the kept remainder) and keeps a new remainder.
fn received(s: &Session<'_>, ws: &mut Ws, st: &mut State, r: Read, replies: &mut Replies) {
    if let Read::Remainder(_) = r {
        let mut bytes = std::mem::take(&mut ws.rem);
        let used = decode_all(s, ws, st, &mut bytes, replies);
        ws.rem = bytes.split_off(used.min(bytes.len()));
        return;
    }
    SCRATCH_BUF.with_borrow_mut(|buf| {
        let keep = ws.rem.len();
        buf[..keep].copy_from_slice(&ws.rem);
        let total = keep + r.len();
        let used = decode_all(s, ws, st, &mut buf[..total], replies);
        if used < total {
            ws.rem.clear();
            ws.rem.extend_from_slice(&buf[used..total]);
        } else {
            // Idle again: hold no buffer.
            ws.rem = Vec::new();
        }
    });
}

/// Decodes every whole frame of `bytes`; returns the bytes used.
fn decode_all(
    s: &Session<'_>,
    ws: &mut Ws,
    st: &mut State,
    bytes: &mut [u8],
    replies: &mut Replies,
) -> usize {
    let mut at = 0;
    while at < bytes.len() && st.ended.is_none() {
        match ws.dec.decode(&mut bytes[at..]) {
            Ok((used, Some(m))) => {
                at += used;
                message(s, st, m, replies);
            }
            Ok((used, None)) => {
                at += used;
                break;
            }
            Err(e) => {
                bad_frame(s, st, e, replies);
                return bytes.len();
            }
        }
    }
    at
}

fn bad_frame(s: &Session<'_>, st: &mut State, e: FrameError, replies: &mut Replies) {
    s.count(s.person.region, |k| k.frames_bad += 1);
    frame::encode_close(e.close_code(), "", Some(mask(s)), &mut replies.out);
    replies.close = true;
    st.ended = Some(Ended::Dropped);
    // Counted as a close of ours, not the server's: `closes_other` keeps the drop visible.
    s.count(s.person.region, |k| k.close(None));
}

fn message(s: &Session<'_>, st: &mut State, m: Message<'_>, replies: &mut Replies) {
    match m {
        Message::Text(t) => text(s, st, t),
        Message::Binary(_) | Message::Pong(_) => {}
        Message::Ping(p) => frame::encode(Opcode::Pong, true, p, Some(mask(s)), &mut replies.out),
        Message::Close(code, _) => {
            s.count(s.person.region, |k| k.close(code));
            let echo = code.unwrap_or(close::NORMAL);
            frame::encode_close(echo, "", Some(mask(s)), &mut replies.out);
            replies.close = true;
            st.ended = Some(Ended::Dropped);
        }
    }
}

fn text(s: &Session<'_>, st: &mut State, t: &str) {
    let region = s.person.region;
    match s.c.classify(t) {
        Received::Pong => st.pong_due = None,
        Received::Ack { id } => {
            let sent = parse_id(&id)
                .filter(|(u, _)| *u == s.person.index)
                .and_then(|(_, seq)| st.pending.iter().position(|(q, _)| *q == seq))
                .map(|i| st.pending.swap_remove(i).1);
            if let Some(sent) = sent {
                s.record(s.c.metrics.ack, region, Outcome::Ok, sent, Instant::now());
            }
            if st.pending.is_empty() {
                st.pending = Vec::new();
            }
        }
        Received::Refused { id } => {
            // Only a refusal of a message this person sent and still awaits counts.
            let sent = parse_id(&id)
                .filter(|(u, _)| *u == s.person.index)
                .and_then(|(_, seq)| st.pending.iter().position(|(q, _)| *q == seq));
            match sent {
                Some(i) => {
                    st.pending.swap_remove(i);
                    s.count(region, |k| k.messages_refused += 1);
                }
                None => s.count(region, |k| k.deliveries_unknown += 1),
            }
        }
        Received::Deliver {
            id,
            sent_at_us,
            region: from,
        } => deliver(s, &id, sent_at_us, from.as_deref()),
        Received::BadDeliver => s.count(region, |k| k.deliveries_unknown += 1),
        Received::Malformed => s.count(region, |k| k.frames_bad += 1),
        Received::Other => {}
    }
}

/// A delivered message: `deliver` from the sender's `sent_at`, under the sender's region. A person's
/// own message coming back (a long poll's conversation shows the sender its own messages) is not a
/// delivery.
pub(super) fn deliver(s: &Session<'_>, id: &str, sent_at_us: u64, from: Option<&str>) {
    let plan = s.p.plan;
    let now_us = s.now_us();
    // The sender must be a person of this run's population (a message from or for anyone else is
    // not one surge sent, whichever worker holds the people).
    let person = parse_id(id).filter(|(u, _)| *u < plan.population);
    if person.is_some_and(|(u, _)| u == s.person.index) {
        return;
    }
    let sender = match from {
        Some(name) => plan.regions.iter().position(|r| r.name == name),
        // Without a region pointer: the sender's region from the id's person.
        None => person.map(|(u, _)| usize::from(plan.person(u).region)),
    };
    let sender = sender.and_then(|r| u16::try_from(r).ok());
    let (Some(r), true) = (
        sender,
        person.is_some() && sent_at_us <= now_us + CLOCK_SLACK_US,
    ) else {
        s.count(s.person.region, |k| k.deliveries_unknown += 1);
        return;
    };
    let us = now_us.saturating_sub(sent_at_us);
    s.p.rec.borrow_mut().step(surge_metrics::StepRecord {
        region: r,
        step: s.c.metrics.deliver,
        outcome: Outcome::Ok,
        response_us: us,
        service_us: us,
        send_lag_us: 0,
    });
    let late = s.c.deadline.is_some_and(|d| Duration::from_micros(us) > d);
    s.count(r, |k| {
        if late {
            k.messages_late += 1;
        } else {
            k.messages_delivered += 1;
        }
    });
}

/// Message ids are `<person index>.<sequence>`.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (u, seq) = id.split_once('.')?;
    Some((u.parse().ok()?, seq.parse().ok()?))
}

/// Sends what the received frames asked for; `Err` ends the connection.
async fn flush(ws: &mut Ws, replies: Replies) -> Result<(), Ended> {
    if !replies.out.is_empty() && ws.io.write_all(&replies.out).await.is_err() {
        return Err(Ended::Dropped);
    }
    if replies.close {
        let _ = ws.io.shutdown().await;
        return Err(Ended::Dropped);
    }
    Ok(())
}

/// Fires the timers that are due.
async fn timers(
    s: &Session<'_>,
    ws: &mut Ws,
    st: &mut State,
    stop_sending: Instant,
) -> Result<(), Ended> {
    let now = Instant::now();
    let mut out = Vec::new();
    if !st.left && now >= stop_sending {
        s.leave();
        st.left = true;
    }
    if st.pong_due.is_some_and(|t| t <= now) {
        s.count(s.person.region, |k| k.heartbeats_missed += 1);
        s.count(s.person.region, |k| k.close(None));
        return Err(Ended::Dropped);
    }
    if let (Some(t), Some(h)) = (st.next_beat, s.c.heartbeat.as_ref())
        && t <= now
    {
        let mut text = Vec::new();
        s.c.heartbeat_frame(&s.ctx(), &mut text);
        frame::encode(Opcode::Text, true, &text, Some(mask(s)), &mut out);
        st.next_beat = Some(now + h.every);
        st.pong_due.get_or_insert(now + h.timeout);
    }
    if st.next_msg.is_some_and(|t| t <= now) {
        if now < stop_sending {
            send_message(s, st, &mut out);
            st.next_msg = Some(now + s.poisson_gap());
        } else {
            st.next_msg = None;
        }
    }
    if !out.is_empty() {
        ws.io.write_all(&out).await.map_err(|_| {
            s.count(s.person.region, |k| k.close(None));
            Ended::Dropped
        })?;
    }
    Ok(())
}

/// Appends one message to a connected contact, if there is one.
fn send_message(s: &Session<'_>, st: &mut State, out: &mut Vec<u8>) {
    let Some((to, to_user)) = s.pick_contact() else {
        return;
    };
    let seq = s.seq.get();
    s.seq.set(seq + 1);
    let id = format!("{}.{seq}", s.person.index);
    let mut text = Vec::new();
    let msg = MsgVars {
        to,
        to_user,
        room: "",
        msg_id: &id,
        sent_at_us: s.now_us(),
    };
    s.c.message_frame(&s.ctx(), &msg, &mut text);
    frame::encode(Opcode::Text, true, &text, Some(mask(s)), out);
    if st.pending.len() >= MAX_PENDING {
        st.pending.remove(0);
    }
    st.pending.push((seq, Instant::now()));
    s.count(s.person.region, |k| k.messages_sent += 1);
}

async fn close_normally(ws: &mut Ws) -> Ended {
    let mut out = Vec::new();
    frame::encode_close(close::NORMAL, "", Some([1, 2, 3, 4]), &mut out);
    let _ = ws.io.write_all(&out).await;
    let _ = ws.io.shutdown().await;
    Ended::Done
}
