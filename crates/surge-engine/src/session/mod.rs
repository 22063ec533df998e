//! The connected phase of a person's journey (`[journey.connect]`): a WebSocket held for the dwell
//! time, with heartbeats, Poisson messages to connected contacts, and reconnects by the profile's
//! policy.
//!
//! [`run`] is called once at the end of a person's journey when the plan has a connected phase. It
//! loops: connect ([`conn`]: TCP, optional TLS, the RFC 6455 upgrade), hold ([`hold`]: until the dwell
//! ends, the run ends, or the connection drops), and on a drop wait as the reconnect policy says.
//! A long-poll phase (`kind = "long-poll"`, e.g. Matrix `/sync`) is the same loop with [`poll`]: its
//! connection is a chain of polls through the worker's HTTP clients, its messages are requests, and
//! the counters and steps below are the same.
//!
//! # What is measured
//! | step | from | to | region |
//! |---|---|---|---|
//! | `connect` | the intended start (end of the journey, or of the reconnect wait) | 101 answered | the person's |
//! | `reconnect` | the drop (or the first refused handshake after one) | re-established | the person's |
//! | `ack` | the send | the ack frame | the sender's |
//! | `deliver` | the sender's `sent_at` (µs since the run's common start, placed by each worker process on the coordinator's time: see `surge_coordinator`'s clock offsets) | receipt | the sender's |
//!
//! A `connect` whose upgrade answer (the 101 or a refusal) carries the target's `Server-Timing` also
//! counts in the region's distance against queueing (`Recorder::timed`, as an HTTP step's answer
//! does); the header is read once from the answer's head, never from frames.
//!
//! Counters (in [`surge_metrics::RegionCounters`]): messages sent, delivered within the deadline or
//! late, connections opened and closed (their difference is the open level), reconnects, missed heartbeats, bad frames, and
//! server closes by code.
//!
//! # Bad input
//! Nothing a server sends panics or stops the run: a refused upgrade is the `connect` step's outcome
//! (HTTP classes; TLS failure `tls`; a malformed answer `protocol`), a close frame is counted by code,
//! a malformed or oversized frame counts `frames_bad` and is answered with close 1002/1007/1009, a
//! missing heartbeat reply counts `heartbeats_missed`; each of these drops the connection and the
//! reconnect policy applies. A permanent refusal (4xx other than 429) ends the phase. A delivery
//! surge cannot attribute (an id or `sent_at` it did not send, an unknown region) counts
//! `deliveries_unknown`.
//!
//! # In flight
//! A connected person is still in flight (the worker's drain waits for them, `--max-in-flight` caps
//! them), and their journey ends, ok unless a permanent refusal ended the phase, when the dwell or
//! the run ends. Then a person leaves: they stop sending and no one picks them as a receiver, but
//! they stay connected three delivery deadlines more (within `--drain`, less a second) to receive what
//! was sent to them before, so that a message on its way counts late if it is late, not lost because
//! its receiver had gone; what does not arrive by then counts lost.
//!
//! # Memory
//! A held connection owns its socket, its [`surge_ws::Decoder`] (empty between frames), the remainder
//! of a partial frame (usually none) and its extracted values; reads go through one scratch buffer per
//! worker thread. The person's HTTP scratch buffers are back in the worker's pool before [`run`]
//! starts, one idle HTTP connection of the person's origin is closed, and the futures of the HTTP
//! steps and of each handshake are boxed apart and freed when they end, so the person's task keeps
//! only the holding loop's state (`person::tests::the_held_task_is_small` prints the sizes;
//! `bench/ws-hold.sh` measures RSS per held connection). What the signup phase leaves behind (idle
//! scratch sets, the allocator's free pages) is given back once signups are over
//! ([`crate::memory`], `PersonCtx::trim_idle`).

mod conn;
mod hold;
mod poll;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use surge_metrics::{Outcome, Recorder, RegionCounters, StepRecord};
use surge_plan::journey::connect::{Connect, Reconnect};
use surge_plan::{Person, Plan};
use tokio::time::Instant;

use crate::Targets;
use crate::registry::Registry;

pub use conn::WsUrl;

/// Size of the per-worker read buffer (frames larger than this are assembled across reads).
const SCRATCH: usize = 64 * 1024;
/// How long after the run's end connections stay open when the phase recognises no deliveries (else
/// [`LATE_PATIENCE`] deadlines after any session's end).
const END_GRACE: Duration = Duration::from_secs(5);
/// At the run's end, connections stay open this many delivery deadlines (within the drain) so that a
/// message sent just before the end can still be seen late rather than counted lost.
const LATE_PATIENCE: u32 = 3;
/// What the end's grace leaves of the drain for the journey to end before the worker stops.
const DRAIN_MARGIN: Duration = Duration::from_secs(1);

/// What a session needs from its worker.
pub(crate) struct Parts<'a> {
    pub(crate) plan: &'a Arc<Plan>,
    pub(crate) rec: &'a Rc<RefCell<Recorder>>,
    pub(crate) registry: &'a Arc<Registry>,
    pub(crate) targets: &'a Arc<Targets>,
    /// The run's common start on this worker's clock.
    pub(crate) start: Instant,
    /// How long people in flight may finish after the run's end (`--drain`).
    pub(crate) drain: Duration,
    /// TLS for `wss://` (the run's roots and `--tls-ca`, ALPN `http/1.1`).
    pub(crate) tls: &'a Arc<rustls::ClientConfig>,
    /// The engine whose `--source-addresses` connections bind to in turn (`None`: the system's).
    pub(crate) sources: Option<&'a crate::Engine>,
    /// The worker's HTTP clients (a long poll's requests).
    pub(crate) http: &'a crate::person::PersonCtx,
}

thread_local! {
    /// The worker thread's read buffer, borrowed only between a read and the decoding of its bytes.
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// Bytes of an open WebSocket's own state (socket handle, decoder, remainder), for the size test.
#[cfg(test)]
pub(crate) fn open_ws_size() -> usize {
    std::mem::size_of::<conn::Ws>()
}

/// A person's session state that outlives one connection.
struct Session<'a> {
    p: &'a Parts<'a>,
    c: &'a Connect,
    person: Person,
    values: Vec<Option<String>>,
    rng: Cell<u64>,
    /// Messages sent so far (the id's sequence number).
    seq: Cell<u64>,
    /// When to stop sending and close.
    end: Instant,
    /// A long poll's token and conversations, kept across its connections.
    resume: RefCell<poll::Resume>,
}

/// An established connection.
enum Link {
    Ws(conn::Ws),
    /// A long poll's first answer.
    Poll(Box<surge_plan::journey::connect::PollAnswer>),
}

/// Why a held connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The dwell (or the run) is over; the client closed.
    Done,
    /// The server or the network ended it (or surge did, on bad input or a missing heartbeat).
    Dropped,
}

/// Runs the connected phase of `person` (whose journey's extracted values are `values`). Returns
/// false when it ended on a permanent refusal.
pub(crate) async fn run(p: Parts<'_>, person: Person, values: Vec<Option<String>>) -> bool {
    let Some(c) = p.plan.journey.connect.as_ref() else {
        return true;
    };
    let seed = p.plan.seed ^ person.index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED_C0DE;
    let s = Session {
        p: &p,
        c,
        person,
        values,
        rng: Cell::new(seed),
        seq: Cell::new(0),
        end: Instant::now(),
        resume: RefCell::default(),
    };
    let now = Instant::now();
    let dwell = c.dwell.sample(s.rand01());
    let run_end = p.start + p.plan.run_duration;
    let s = Session {
        end: (now + dwell).min(run_end.max(now)),
        ..s
    };
    s.connect_loop(now).await
}

impl Session<'_> {
    async fn connect_loop(&self, first: Instant) -> bool {
        let mut intended = first;
        let mut dropped_at: Option<Instant> = None;
        let mut attempt = 0u32;
        while Instant::now() < self.end {
            let hint = match self.connect_once(intended).await {
                Ok(link) => {
                    let now = Instant::now();
                    if let Some(d) = dropped_at.take() {
                        self.record(
                            self.c.metrics.reconnect,
                            self.person.region,
                            Outcome::Ok,
                            d,
                            now,
                        );
                        self.count(self.person.region, |k| k.reconnects += 1);
                    }
                    attempt = 0;
                    self.opened();
                    let ended = match link {
                        Link::Ws(mut ws) => hold::hold(self, &mut ws).await,
                        // Boxed: a long poll's requests (HTTP sends beside the poll) would
                        // otherwise size every held WebSocket's task too.
                        Link::Poll(first) => Box::pin(poll::hold(self, *first)).await,
                    };
                    self.closed();
                    if ended == Ended::Done {
                        return true;
                    }
                    dropped_at = Some(Instant::now());
                    None
                }
                Err((outcome, retry_after)) => {
                    if !outcome.is_transient() {
                        return false;
                    }
                    dropped_at.get_or_insert(intended);
                    retry_after
                }
            };
            let wait = self.backoff(attempt, hint);
            attempt = attempt.saturating_add(1);
            let until = (Instant::now() + wait).min(self.end);
            tokio::time::sleep_until(until).await;
            intended = until;
        }
        true
    }

    /// One connection attempt (a WebSocket upgrade, or a long poll's first poll), recorded as a
    /// `connect` sample; a WebSocket upgrade's answer with `Server-Timing` (the 101 or a refusal)
    /// also counts in the region's distance against queueing, as an HTTP step's does.
    async fn connect_once(&self, intended: Instant) -> Result<Link, (Outcome, Option<Duration>)> {
        let timeout = self.p.plan.client.timeout;
        let open = async {
            let mut timing = None;
            let r = if self.c.long_poll.is_some() {
                poll::first(self).await.map(|a| Link::Poll(Box::new(a)))
            } else {
                conn::open(self, &mut timing).await.map(Link::Ws)
            };
            (r, timing)
        };
        // Boxed: the handshake's state (TCP, TLS, the upgrade; kilobytes with TLS) is freed once the
        // connection is open instead of sizing the task of every held connection.
        let (r, timing) = match Box::pin(tokio::time::timeout(timeout, open)).await {
            Ok(answer) => answer,
            Err(_) => (Err((Outcome::Timeout, None)), None),
        };
        let outcome = r.as_ref().err().map_or(Outcome::Ok, |e| e.0);
        let region = self.person.region;
        let us = self.record(
            self.c.metrics.connect,
            region,
            outcome,
            intended,
            Instant::now(),
        );
        if let Some(t) = timing {
            self.p.rec.borrow_mut().timed(region, us, t);
        }
        r
    }

    /// The wait before the next attempt.
    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        let jitter = |base: Duration, max: Duration| {
            let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(max);
            ceiling.mul_f64(self.rand01())
        };
        match self.c.reconnect {
            Reconnect::Immediate => Duration::ZERO,
            Reconnect::Backoff { base, max } => jitter(base, max),
            Reconnect::ServerHint { base, max } => hint.unwrap_or_else(|| jitter(base, max)),
        }
    }

    fn opened(&self) {
        let r = self.person.region;
        self.p.registry.set_connected(self.person.index, true);
        self.count(r, |k| k.connections_opened += 1);
    }

    fn closed(&self) {
        let r = self.person.region;
        self.p.registry.set_connected(self.person.index, false);
        self.count(r, |k| k.connections_closed += 1);
    }

    /// Adds to region `r`'s connected-phase counters.
    fn count(&self, r: u16, f: impl FnOnce(&mut RegionCounters)) {
        if let Some(k) = self.p.rec.borrow_mut().conn(r) {
            f(k);
        }
    }

    /// Records one sample of metric step `step` from `from` to `to`; returns its time, µs.
    fn record(&self, step: u16, region: u16, outcome: Outcome, from: Instant, to: Instant) -> u64 {
        let us = micros(to.saturating_duration_since(from));
        self.p.rec.borrow_mut().step(StepRecord {
            region,
            step,
            outcome,
            response_us: us,
            service_us: us,
            send_lag_us: 0,
        });
        us
    }

    /// When to close: [`LATE_PATIENCE`] delivery deadlines after the session's end (within the
    /// drain, less [`DRAIN_MARGIN`]). At its end a person leaves (stops sending, and no one picks
    /// them any more: [`Session::leave`]) but stays connected that long to receive what was sent to
    /// them before: a message on its way then counts late when it is late, not lost because its
    /// receiver had gone.
    /// Without deliveries to wait for (no `deliver`), a session closes at its end, or [`END_GRACE`]
    /// after the run's end.
    fn close_at(&self) -> Instant {
        let at_run_end = self.end >= self.p.start + self.p.plan.run_duration;
        let patience = match self.c.deadline {
            Some(d) => d.saturating_mul(LATE_PATIENCE),
            None if at_run_end => END_GRACE,
            None => Duration::ZERO,
        };
        self.end + patience.min(self.p.drain.saturating_sub(DRAIN_MARGIN))
    }

    /// The person leaves at the session's end: no one picks them as a receiver any more.
    fn leave(&self) {
        self.p.registry.set_connected(self.person.index, false);
    }

    /// µs since the run's common start.
    fn now_us(&self) -> u64 {
        micros(Instant::now().saturating_duration_since(self.p.start))
    }

    /// A uniform number in [0, 1) (splitmix64, per session).
    fn rand01(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next_u64(&self) -> u64 {
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn ctx(&self) -> surge_plan::journey::Ctx<'_> {
        let plan = self.p.plan;
        surge_plan::journey::Ctx {
            plan_secret: &plan.secret,
            person: &self.person,
            region_name: plan
                .regions
                .get(usize::from(self.person.region))
                .map_or("", |r| r.name.as_str()),
            code: "",
            values: &self.values,
            batch: &[],
        }
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

impl Session<'_> {
    /// The time to the next message: exponential with the phase's rate.
    fn poisson_gap(&self) -> Duration {
        let per_s = self.c.per_minute / 60.0;
        let u = self.rand01();
        let secs = -(1.0 - u).ln() / per_s.max(1e-9);
        Duration::try_from_secs_f64(secs.min(86_400.0)).unwrap_or(Duration::from_secs(86_400))
    }

    /// A random contact of the person's address book that the tester saw register and that holds a
    /// connection right now: their number and index in the population.
    fn pick_contact(&self) -> Option<(surge_plan::Phone, u64)> {
        thread_local! {
            static BOOK: RefCell<Vec<surge_plan::Contact>> = const { RefCell::new(Vec::new()) };
        }
        let registry = self.p.registry;
        BOOK.with_borrow_mut(|book| {
            self.p.plan.contacts(self.person.index, book);
            let online = |c: &&surge_plan::Contact| {
                c.user
                    .is_some_and(|u| u != self.person.index && registry.is_connected(u))
            };
            let n = book.iter().filter(online).count();
            if n == 0 {
                return None;
            }
            let k = ((self.rand01() * n as f64) as usize).min(n - 1);
            book.iter()
                .filter(online)
                .nth(k)
                .and_then(|c| Some((c.phone, c.user?)))
        })
    }
}
