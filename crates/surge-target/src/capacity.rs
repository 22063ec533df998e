//! Data centres as queues: a `tokio::sync::Semaphore` of `slots`, a count of waiting requests, and
//! a service time slept while a slot is held.
//!
//! A request first tries to take a slot. If none is free it joins the queue, unless `queue_limit`
//! requests already wait, in which case the plan's `when_full` decides: shed with 429, reject with
//! 503, or queue anyway. The semaphore is fair (FIFO), so waiting time emerges from contention
//! exactly as in an M/G/c queue. Holding a slot costs no CPU, so one small machine can stand in for
//! a large cluster.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::plan::{DcPlan, Endpoint, ServiceTime, WhenFull};
use crate::timer::Timer;

/// One data centre at run time.
pub(crate) struct DataCentre {
    pub name: String,
    slots: Semaphore,
    slot_count: usize,
    waiting: AtomicUsize,
    in_service: AtomicUsize,
    peak_waiting: AtomicUsize,
    queue_limit: usize,
    when_full: WhenFull,
    index_lag_base: Duration,
    index_lag_per_queued: Duration,
    service: [ServiceTime; 5],
    /// Milliseconds since the server started until which the data centre is down (a `down` fault).
    down_until_ms: AtomicU64,
}

/// A request that found the queue full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// Answer 429 with `Retry-After: 1`.
    Shed429,
    /// Answer 503.
    Reject503,
}

/// A held slot; releases it (and the in-service count) when dropped.
pub(crate) struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    in_service: &'a AtomicUsize,
    /// How long the request waited in the queue for this slot.
    pub waited: Duration,
    /// The service time drawn and slept while holding it.
    pub service: Duration,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.in_service.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Decrements the waiting count even when the waiting request is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DataCentre {
    pub fn new(plan: &DcPlan) -> DataCentre {
        DataCentre {
            name: plan.name.clone(),
            slots: Semaphore::new(plan.slots as usize),
            slot_count: plan.slots as usize,
            waiting: AtomicUsize::new(0),
            in_service: AtomicUsize::new(0),
            peak_waiting: AtomicUsize::new(0),
            queue_limit: plan.queue_limit,
            when_full: plan.when_full,
            index_lag_base: plan.index_lag_base,
            index_lag_per_queued: plan.index_lag_per_queued,
            service: plan.service,
            down_until_ms: AtomicU64::new(0),
        }
    }

    /// Marks the data centre down from `now_ms` for `down_for` (a `down` fault).
    pub fn set_down(&self, now_ms: u64, down_for: Duration) {
        let ms = u64::try_from(down_for.as_millis()).unwrap_or(u64::MAX);
        self.down_until_ms
            .store(now_ms.saturating_add(ms), Ordering::Relaxed);
    }

    /// Whether the data centre is down at `now_ms`.
    pub fn is_down(&self, now_ms: u64) -> bool {
        self.down_until_ms.load(Ordering::Relaxed) > now_ms
    }

    /// Waits for a slot (or is refused when the queue is full), then sleeps the endpoint's service
    /// time at standard-normal quantile `z` while holding it. The caller does the request's work
    /// while it still holds the returned slot.
    pub async fn serve(&self, endpoint: Endpoint, z: f64, timer: &Timer) -> Result<Slot<'_>, Full> {
        self.serve_for(self.service[endpoint.index()], z, timer)
            .await
    }

    /// [`DataCentre::serve`] with another service-time distribution (a WebSocket handshake's).
    pub async fn serve_for(
        &self,
        service: ServiceTime,
        z: f64,
        timer: &Timer,
    ) -> Result<Slot<'_>, Full> {
        let (permit, waited) = match self.slots.try_acquire() {
            Ok(permit) => (permit, Duration::ZERO),
            Err(_) => {
                let arrived = tokio::time::Instant::now();
                let permit = self.queue().await?;
                (permit, arrived.elapsed())
            }
        };
        self.in_service.fetch_add(1, Ordering::Relaxed);
        let service = service.at(z);
        let slot = Slot {
            _permit: permit,
            in_service: &self.in_service,
            waited,
            service,
        };
        timer.sleep(service).await;
        Ok(slot)
    }

    async fn queue(&self) -> Result<SemaphorePermit<'_>, Full> {
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        if before >= self.queue_limit {
            match self.when_full {
                WhenFull::Shed429 => return Err(Full::Shed429),
                WhenFull::Reject503 => return Err(Full::Reject503),
                WhenFull::Queue => {}
            }
        }
        self.peak_waiting.fetch_max(before + 1, Ordering::Relaxed);
        // The semaphore is never closed, so acquiring only fails if it were; treat that as a shed.
        let permit = self.slots.acquire().await.map_err(|_| Full::Reject503)?;
        drop(waiting);
        Ok(permit)
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Requests holding a slot now.
    pub fn in_service(&self) -> usize {
        self.in_service.load(Ordering::Relaxed)
    }

    /// The most requests that ever waited at once.
    pub fn peak_waiting(&self) -> usize {
        self.peak_waiting.load(Ordering::Relaxed)
    }

    /// Slots of this data centre.
    pub fn slots(&self) -> usize {
        self.slot_count
    }

    /// The discovery index lag now: base plus the per-queued lag times the requests waiting.
    pub fn index_lag(&self) -> Duration {
        let waiting = u32::try_from(self.waiting()).unwrap_or(u32::MAX);
        self.index_lag_base
            .saturating_add(self.index_lag_per_queued.saturating_mul(waiting))
    }
}
