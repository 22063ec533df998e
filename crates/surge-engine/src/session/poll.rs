//! A long-poll connection (`kind = "long-poll"`, e.g. Matrix `/sync`): the phase's path polled again
//! and again, each poll resuming from the token of the previous answer, with Poisson sends as
//! requests of their own.
//!
//! A connection is a chain of polls. Its first poll asks the server not to hold it (`hold_param=0`):
//! its answer is the `connect` step. The following polls may be held up to `hold`; one that fails
//! (network, non-2xx, not JSON, no token) or stays unanswered `hold` + the client timeout drops the
//! connection, and the reconnect policy applies. The token survives reconnects (a client resumes from
//! where it was, so nothing is received twice), and so do the conversations opened with contacts and
//! the ids of the messages received (an event shown again, as Synapse may in a newly joined room's
//! timeline, is not delivered twice).
//!
//! Every event at the `events` pointers is sorted like a WebSocket frame (only `deliver` applies);
//! the conversations an answer offers (`join.each`) are joined before the next poll. A message is a
//! request (`messages.method`, `.path`, body `messages.frame`), to a contact in the conversation
//! opened with them on the first message (`messages.room`); its answer is its `ack` (from the send,
//! the conversation's opening included), and a failed one counts `messages_refused`.

use std::collections::HashSet;
use std::time::Duration;

use surge_metrics::Outcome;
use surge_plan::journey::RequestBuf;
use surge_plan::journey::connect::{MsgVars, PollAnswer, Received};
use tokio::time::Instant;

use super::{Ended, Session};
use crate::h1::Reply;

/// What a long-poll session keeps across its connections.
#[derive(Default)]
pub(super) struct Resume {
    /// The last answer's token: the next poll, and a reconnect's first, resume from it.
    since: Option<String>,
    /// Conversations opened with contacts: (contact's index, id).
    rooms: Vec<(u64, String)>,
    /// Ids of the messages received. Synapse may show a newly joined room's recent timeline again in
    /// a later answer (its `limited` timelines); clients drop what they hold already (by event id),
    /// and a repeat here is not a second delivery.
    seen: HashSet<String>,
}

type Failure = (Outcome, Option<Duration>);

/// A request's buffers.
#[derive(Default)]
struct Exchange {
    req: RequestBuf,
    reply: Reply,
}

impl Exchange {
    /// Sends the built request for `s`'s person, within `timeout`; the outcome of its answer.
    async fn send(&mut self, s: &Session<'_>, timeout: Duration) -> Outcome {
        let sent = s.p.http.send(&s.person, &self.req, false, &mut self.reply);
        match tokio::time::timeout(timeout, sent).await {
            Err(_) => Outcome::Timeout,
            Ok(Err(o)) => o,
            Ok(Ok(())) if (200..300).contains(&self.reply.status) => Outcome::Ok,
            Ok(Ok(())) => Outcome::from_status(self.reply.status),
        }
    }
}

/// A connection's first poll, not held: its answer establishes the connection.
pub(super) async fn first(s: &Session<'_>) -> Result<PollAnswer, Failure> {
    let mut x = Exchange::default();
    poll_once(s, false, &mut x).await
}

/// One poll (held by the server when `held`), read.
async fn poll_once(s: &Session<'_>, held: bool, x: &mut Exchange) -> Result<PollAnswer, Failure> {
    let since = s.resume.borrow().since.clone();
    s.c.poll_request(&s.ctx(), since.as_deref(), held, &mut x.req);
    let limit = match (held, &s.c.long_poll) {
        (true, Some(lp)) => lp.hold + s.p.plan.client.timeout,
        _ => s.p.plan.client.timeout,
    };
    match x.send(s, limit).await {
        Outcome::Ok => {}
        o => return Err((o, crate::person::retry_after(&x.reply))),
    }
    let mut a = PollAnswer::default();
    if !s.c.read_poll(&x.reply.body, &mut a) || a.since.is_none() {
        return Err((Outcome::Extraction, None));
    }
    Ok(a)
}

/// Holds a long-poll connection whose first answer is `first` until the session's end (then
/// [`Ended::Done`]) or a failed poll ([`Ended::Dropped`]). Polls and sends run side by side, so a
/// slow send never holds back the receipt of a poll's answer (which would stretch `deliver`).
pub(super) async fn hold(s: &Session<'_>, first: PollAnswer) -> Ended {
    let mut joins = Exchange::default();
    tracing::debug!(person = s.person.index, now_us = s.now_us(), "connected");
    answered(s, first, &mut joins).await;
    // At the session's end the person leaves at once, even with a send of theirs still in flight.
    let leave = async {
        tokio::time::sleep_until(s.end).await;
        s.leave();
        std::future::pending::<()>().await
    };
    tokio::select! {
        ended = polls(s, s.close_at(), &mut joins) => ended,
        () = sends(s, s.end) => Ended::Done,
        () = leave => Ended::Done,
    }
}

/// Polls until `close_at` or a failed poll.
async fn polls(s: &Session<'_>, close_at: Instant, joins: &mut Exchange) -> Ended {
    let mut polling = Exchange::default();
    loop {
        match tokio::time::timeout_at(close_at, poll_once(s, true, &mut polling)).await {
            Err(_) => {
                tracing::debug!(person = s.person.index, "session closes");
                return Ended::Done;
            }
            Ok(Ok(a)) => answered(s, a, joins).await,
            Ok(Err((o, _))) => {
                tracing::debug!(person = s.person.index, outcome = ?o, "poll failed");
                s.count(s.person.region, |k| k.close(None));
                return Ended::Dropped;
            }
        }
    }
}

/// Sends messages at the phase's Poisson rate until `stop`, then waits (never returns). The times
/// are intended ones, drawn ahead whatever the answers take: a send that waits for the previous
/// one's answer (or its conversation's opening) starts late, and that wait is part of its `ack` and
/// `deliver` (its `sent_at` is the intended time), so a slow server is not measured less often.
async fn sends(s: &Session<'_>, stop: Instant) {
    if s.c.sends_messages() {
        let mut x = Exchange::default();
        let mut next = Instant::now() + s.poisson_gap();
        while next < stop {
            tokio::time::sleep_until(next).await;
            send_message(s, &mut x, next).await;
            next += s.poisson_gap();
        }
    }
    std::future::pending::<()>().await;
}

/// Takes in an answer: its token, its deliveries, and the conversations it offers (joined now).
async fn answered(s: &Session<'_>, a: PollAnswer, x: &mut Exchange) {
    if let Some(t) = a.since {
        s.resume.borrow_mut().since = Some(t);
    }
    for r in a.received {
        match r {
            Received::Deliver {
                id,
                sent_at_us,
                region,
            } => {
                let repeat = !s.resume.borrow_mut().seen.insert(id.clone());
                tracing::debug!(
                    person = s.person.index,
                    id,
                    sent_at_us,
                    now_us = s.now_us(),
                    repeat,
                    "received"
                );
                if !repeat {
                    super::hold::deliver(s, &id, sent_at_us, region.as_deref());
                }
            }
            Received::BadDeliver => s.count(s.person.region, |k| k.deliveries_unknown += 1),
            _ => {}
        }
    }
    for key in a.joins {
        s.c.join_request(&s.ctx(), &key, &mut x.req);
        // A failed join loses that conversation's messages: they count lost.
        let o = x.send(s, s.p.plan.client.timeout).await;
        tracing::debug!(person = s.person.index, room = key, outcome = ?o, status = x.reply.status, "joined");
    }
}

/// A message whose send is in flight: if the session closes before its answer (the future is
/// dropped), its `ack` is recorded [`Outcome::Unfinished`] and it counts refused (never taken), not
/// lost.
struct InFlight<'s, 'a> {
    s: &'s Session<'a>,
    intended: Instant,
    answered: bool,
}

impl Drop for InFlight<'_, '_> {
    fn drop(&mut self) {
        if !self.answered {
            let (s, region) = (self.s, self.s.person.region);
            s.record(
                s.c.metrics.ack,
                region,
                Outcome::Unfinished,
                self.intended,
                Instant::now(),
            );
            s.count(region, |k| k.messages_refused += 1);
        }
    }
}

/// Sends one message, intended at `intended`, to a connected contact (opening the conversation
/// first if needed); the answer is its `ack`. A failed send counts refused.
async fn send_message(s: &Session<'_>, x: &mut Exchange, intended: Instant) {
    let Some((to, to_user)) = s.pick_contact() else {
        return;
    };
    let region = s.person.region;
    let sent_at_us = super::micros(intended.saturating_duration_since(s.p.start));
    let seq = s.seq.get();
    s.seq.set(seq + 1);
    let id = format!("{}.{seq}", s.person.index);
    s.count(region, |k| k.messages_sent += 1);
    let mut guard = InFlight {
        s,
        intended,
        answered: false,
    };
    let timeout = s.p.plan.client.timeout;
    let mut msg = MsgVars {
        to,
        to_user,
        room: "",
        msg_id: &id,
        sent_at_us,
    };
    let known = s
        .resume
        .borrow()
        .rooms
        .iter()
        .find(|(u, _)| *u == to_user)
        .map(|(_, r)| r.clone());
    let room = match known {
        Some(r) => Ok(r),
        None if s.c.opens_rooms() => {
            s.c.room_request(&s.ctx(), &msg, &mut x.req);
            match x.send(s, timeout).await {
                Outcome::Ok => s.c.room_id(&x.reply.body).ok_or(Outcome::Extraction),
                o => Err(o),
            }
            .inspect(|r| s.resume.borrow_mut().rooms.push((to_user, r.clone())))
        }
        None => Ok(String::new()),
    };
    let outcome = match &room {
        Ok(r) => {
            msg.room = r;
            s.c.message_request(&s.ctx(), &msg, &mut x.req);
            x.send(s, timeout).await
        }
        Err(o) => *o,
    };
    guard.answered = true;
    s.record(s.c.metrics.ack, region, outcome, intended, Instant::now());
    tracing::debug!(
        person = s.person.index,
        to = to_user,
        id,
        room = room.as_deref().unwrap_or(""),
        outcome = ?outcome,
        sent_at_us,
        ack_ms = intended.elapsed().as_millis() as u64,
        "sent"
    );
    if outcome != Outcome::Ok {
        s.count(region, |k| k.messages_refused += 1);
    }
}
