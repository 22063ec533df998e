//! One data centre's connection side at run time: the connection count against `max_connections`,
//! the accept-rate limiter, the delivery slots with their fan-out queue, the fault state (down
//! until, and a watch that tells every session of the DC to close with 1001), and its counters.
//!
//! # The fan-out loop
//! Each data centre delivers through one task ([`fan_out`], started with its first message): it
//! takes messages from the queue in the order they were sent while fewer than `delivery_slots` are
//! in delivery, and keeps those in one `FuturesUnordered`, each sleeping its `deliver` service time
//! before it is handed to the recipient. A timer wake-up completes every delivery that is due and
//! refills their slots in the same poll. (Before, each message was a task of its own that waited
//! for a semaphore permit and handed it to the next waiter on leaving: two task wake-ups per
//! message, each a scheduling delay on a busy host, so 64 slots of 1 ms delivered ~2,800 messages
//! a second there with 23,000 waiting, `bench/ws-hold.sh --flow`.)

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::hub::Handed;
use crate::plan::{ServiceTime, WsPlan};

/// Why a handshake was refused, or that it was accepted: the `result` label of
/// `surge_target_ws_handshakes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Accepted,
    /// 400: not a WebSocket upgrade request.
    BadRequest,
    /// 401: unknown or missing token.
    Unauthorized,
    /// 503: the data centre is down (a `restart` fault).
    Down,
    /// 503: over the accept rate.
    RateLimited,
    /// 503: at `max_connections`.
    OverCapacity,
    /// 503: the data centre's slot queue is full.
    Overloaded,
}

impl Handshake {
    pub const ALL: [Handshake; 7] = [
        Handshake::Accepted,
        Handshake::BadRequest,
        Handshake::Unauthorized,
        Handshake::Down,
        Handshake::RateLimited,
        Handshake::OverCapacity,
        Handshake::Overloaded,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Handshake::Accepted => "accepted",
            Handshake::BadRequest => "bad_request",
            Handshake::Unauthorized => "unauthorized",
            Handshake::Down => "down",
            Handshake::RateLimited => "rate_limited",
            Handshake::OverCapacity => "over_capacity",
            Handshake::Overloaded => "overloaded",
        }
    }
}

/// What happened to messages: the `outcome` label of `surge_target_ws_messages_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A `send` accepted for delivery (acknowledged).
    Routed,
    /// Handed to a live connection of the recipient.
    Delivered,
    /// Put in the offline recipient's mailbox.
    Queued,
    /// Lost: mailbox full, recipient's outbox full, or the fan-out queue full.
    Dropped,
    /// A `send` to a number without an account.
    UnknownRecipient,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Routed,
        Outcome::Delivered,
        Outcome::Queued,
        Outcome::Dropped,
        Outcome::UnknownRecipient,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::Delivered => "delivered",
            Outcome::Queued => "queued",
            Outcome::Dropped => "dropped",
            Outcome::UnknownRecipient => "unknown_recipient",
        }
    }
}

/// The connection side of one data centre.
pub(crate) struct WsDc {
    max_connections: usize,
    connections: AtomicUsize,
    peak_connections: AtomicUsize,
    accept: DefaultDirectRateLimiter,
    pub handshake: ServiceTime,
    delivery_slots: usize,
    /// The fan-out queue: its sending side, and its receiving side until the loop takes it.
    queue: mpsc::UnboundedSender<Job>,
    queue_rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    delivery_waiting: AtomicUsize,
    delivery_queue_limit: usize,
    pub deliver: ServiceTime,
    down_until_ms: AtomicU64,
    drops: watch::Sender<u64>,
    handshakes: [AtomicU64; Handshake::ALL.len()],
    messages: [AtomicU64; Outcome::ALL.len()],
    faults: AtomicU64,
}

/// A connection counted against `max_connections`; uncounted when dropped.
pub(crate) struct Held {
    backend: Arc<crate::backend::Backend>,
    dc: usize,
}

impl Held {
    pub fn dc(&self) -> usize {
        self.dc
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.backend.ws[self.dc]
            .connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl WsDc {
    pub fn new(plan: &WsPlan) -> WsDc {
        let burst = NonZeroU32::new(plan.accept_burst).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / plan.accept_rate_per_s.max(1e-6));
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let (queue, queue_rx) = mpsc::unbounded_channel();
        WsDc {
            max_connections: plan.max_connections as usize,
            connections: AtomicUsize::new(0),
            peak_connections: AtomicUsize::new(0),
            accept: RateLimiter::direct(quota),
            handshake: plan.handshake,
            delivery_slots: (plan.delivery_slots as usize).max(1),
            queue,
            queue_rx: Mutex::new(Some(queue_rx)),
            delivery_waiting: AtomicUsize::new(0),
            delivery_queue_limit: plan.delivery_queue_limit,
            deliver: plan.deliver,
            down_until_ms: AtomicU64::new(0),
            drops: watch::channel(0).0,
            handshakes: Default::default(),
            messages: Default::default(),
            faults: AtomicU64::new(0),
        }
    }

    /// Milliseconds the data centre stays down after `now_ms`, if it is down.
    pub fn down_for(&self, now_ms: u64) -> Option<u64> {
        let until = self.down_until_ms.load(Ordering::Relaxed);
        (until > now_ms).then(|| until - now_ms)
    }

    /// Takes one handshake from the accept-rate limiter, or says how long until one is possible.
    pub fn try_accept(&self) -> Result<(), Duration> {
        self.accept
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.accept.clock().now()))
    }

    /// Counts a connection against `max_connections`; `None` when the data centre is full.
    pub fn hold(backend: &Arc<crate::backend::Backend>, dc: usize) -> Option<Held> {
        let this = &backend.ws[dc];
        let before = this.connections.fetch_add(1, Ordering::Relaxed);
        let held = Held {
            backend: Arc::clone(backend),
            dc,
        };
        if before >= this.max_connections {
            return None;
        }
        this.peak_connections
            .fetch_max(before + 1, Ordering::Relaxed);
        Some(held)
    }

    /// Puts `message` for `recipient` in the fan-out queue of data centre `dc`, to be delivered
    /// with the service time at quantile `z`, unless `delivery_queue_limit` messages already wait
    /// there (false: not queued). Starts the data centre's fan-out loop with its first message.
    pub fn enqueue(
        backend: &Arc<crate::backend::Backend>,
        dc: usize,
        z: f64,
        recipient: u64,
        message: Utf8Bytes,
    ) -> bool {
        let this = &backend.ws[dc];
        if this.delivery_waiting.load(Ordering::Relaxed) >= this.delivery_queue_limit {
            return false;
        }
        if let Some(rx) = this.queue_rx.lock().take() {
            tokio::spawn(fan_out(Arc::downgrade(backend), dc, rx));
        }
        this.delivery_waiting.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            z,
            recipient,
            message,
        };
        if this.queue.send(job).is_err() {
            this.delivery_waiting.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Closes every connection of the data centre with 1001; with `down_for`, refuses handshakes
    /// until then.
    pub fn fault(&self, now_ms: u64, down_for: Option<Duration>) {
        if let Some(down_for) = down_for {
            let ms = u64::try_from(down_for.as_millis()).unwrap_or(u64::MAX);
            self.down_until_ms
                .store(now_ms.saturating_add(ms), Ordering::Relaxed);
        }
        self.faults.fetch_add(1, Ordering::Relaxed);
        self.close_all();
    }

    /// Closes every connection of the data centre with 1001 (a fault, or the server stopping).
    pub fn close_all(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    /// A receiver that changes when the data centre drops its connections.
    pub fn drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    pub fn count_handshake(&self, result: Handshake) {
        self.handshakes[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self, outcome: Outcome, n: u64) {
        self.messages[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn handshakes(&self, result: Handshake) -> u64 {
        self.handshakes[result as usize].load(Ordering::Relaxed)
    }

    pub fn messages(&self, outcome: Outcome) -> u64 {
        self.messages[outcome as usize].load(Ordering::Relaxed)
    }

    /// Connections held now (handshakes in progress included).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn peak_connections(&self) -> usize {
        self.peak_connections.load(Ordering::Relaxed)
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Messages waiting for a delivery slot now.
    pub fn delivery_queue_depth(&self) -> usize {
        self.delivery_waiting.load(Ordering::Relaxed)
    }

    /// Faults applied so far.
    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }
}

/// A message in a data centre's fan-out queue.
pub(crate) struct Job {
    /// The quantile of its delivery time.
    z: f64,
    recipient: u64,
    message: Utf8Bytes,
}

/// The fan-out loop of data centre `dc` (see the module's docs): runs until the backend is gone.
async fn fan_out(
    backend: Weak<crate::backend::Backend>,
    dc: usize,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let Some(slots) = backend.upgrade().map(|b| b.ws[dc].delivery_slots) else {
        return;
    };
    let mut busy = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(()) = busy.next(), if !busy.is_empty() => {}
            job = queue.recv(), if busy.len() < slots => {
                let (Some(job), Some(b)) = (job, backend.upgrade()) else {
                    break;
                };
                b.ws[dc].delivery_waiting.fetch_sub(1, Ordering::Relaxed);
                busy.push(deliver(b, dc, job));
            }
        }
    }
    while busy.next().await.is_some() {}
}

/// Holds a delivery slot for the `deliver` service time, then hands the message to the recipient's
/// connections or mailbox and counts the outcome.
async fn deliver(backend: Arc<crate::backend::Backend>, dc: usize, job: Job) {
    let this = &backend.ws[dc];
    backend.timer.sleep(this.deliver.at(job.z)).await;
    match backend.hub.deliver(job.recipient, job.message) {
        Handed::Delivered(n) => this.count(Outcome::Delivered, n),
        Handed::Queued => this.count(Outcome::Queued, 1),
        Handed::Dropped => this.count(Outcome::Dropped, 1),
    }
}
