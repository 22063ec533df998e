//! One data centre's connection side at run time: the connection count against `max_connections`,
//! the accept-rate limiter, the delivery slots with their fan-out queue, the fault state (down
//! until, and a watch that tells every session of the DC to close with 1001), and its counters.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, watch};
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
    delivery: Arc<Semaphore>,
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
        WsDc {
            max_connections: plan.max_connections as usize,
            connections: AtomicUsize::new(0),
            peak_connections: AtomicUsize::new(0),
            accept: RateLimiter::direct(quota),
            handshake: plan.handshake,
            delivery: Arc::new(Semaphore::new(plan.delivery_slots as usize)),
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

    /// Joins the fan-out queue of data centre `dc`, unless `delivery_queue_limit` messages
    /// already wait there. The place in the (FIFO) queue is taken now, so messages start delivery
    /// in the order they were sent, whichever delivery task runs first.
    pub fn enqueue(backend: &Arc<crate::backend::Backend>, dc: usize) -> Option<Queued> {
        let this = &backend.ws[dc];
        let before = this.delivery_waiting.fetch_add(1, Ordering::Relaxed);
        let mut slot: SlotFuture = Box::pin(Arc::clone(&this.delivery).acquire_owned());
        // Polling once registers the waiter in the semaphore's queue (or takes a free slot).
        let mut cx = Context::from_waker(Waker::noop());
        let ready = match slot.as_mut().poll(&mut cx) {
            Poll::Ready(permit) => Some(permit),
            Poll::Pending => None,
        };
        let queued = Queued {
            backend: Arc::clone(backend),
            dc,
            slot,
            ready,
        };
        (before < this.delivery_queue_limit).then_some(queued)
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

/// A message in a data centre's fan-out queue (counted in the queue depth until it gets its slot
/// or is dropped).
pub(crate) struct Queued {
    backend: Arc<crate::backend::Backend>,
    dc: usize,
    slot: SlotFuture,
    ready: Option<Result<OwnedSemaphorePermit, AcquireError>>,
}

type SlotFuture = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

impl Queued {
    /// Waits for a delivery slot, holds it for the `deliver` service time at quantile `z`, then
    /// hands `message` to `recipient`'s connections or mailbox and counts the outcome.
    pub async fn deliver(mut self, z: f64, recipient: u64, message: Utf8Bytes) {
        let backend = Arc::clone(&self.backend);
        let dc = &backend.ws[self.dc];
        let acquired = match self.ready.take() {
            Some(ready) => ready,
            None => self.slot.as_mut().await,
        };
        let Ok(permit) = acquired else {
            dc.count(Outcome::Dropped, 1);
            return;
        };
        drop(self);
        backend.timer.sleep(dc.deliver.at(z)).await;
        match backend.hub.deliver(recipient, message) {
            Handed::Delivered(n) => dc.count(Outcome::Delivered, n),
            Handed::Queued => dc.count(Outcome::Queued, 1),
            Handed::Dropped => dc.count(Outcome::Dropped, 1),
        }
        drop(permit);
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.backend.ws[self.dc]
            .delivery_waiting
            .fetch_sub(1, Ordering::Relaxed);
    }
}
