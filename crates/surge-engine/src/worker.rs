//! A worker: one OS thread with a current-thread tokio runtime, scheduling the people of its shards at
//! their intended start times, one lightweight task per person in flight, recording into one
//! thread-local [`Recorder`] and handing a [`SparseSnapshot`] over at every interval boundary (made
//! sparse here, in the worker's thread, so that the coordinator's merge costs only what was recorded).

use crate::pacing::Pacer;
use crate::person::{self, PersonCtx};
use crate::registry::Registry;
use crate::{Limiter, ShardSet, Targets};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use surge_metrics::{Recorder, SparseSnapshot};
use surge_plan::{LoadModel, Plan};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::LocalSet;
use tokio::time::Instant;

/// Everything a worker needs to run its part of a plan.
#[derive(Clone)]
pub struct WorkerSpec {
    /// Index of this worker among the run's workers (used in events).
    pub index: usize,
    /// The compiled plan (shared, read-only).
    pub plan: Arc<Plan>,
    /// The shards this worker runs; the coordinator may add shards of a lost worker mid-run.
    pub shards: Arc<ShardSet>,
    /// People seen registered (shared by in-process workers; fed by the coordinator's union remotely).
    pub registry: Arc<Registry>,
    /// Where requests go.
    pub targets: Arc<Targets>,
    /// The run's common start (wall clock, so separate processes agree).
    pub start: SystemTime,
    /// Hard cap on this worker's people in flight; arrivals beyond it wait (and the wait shows as latency).
    pub max_in_flight: usize,
    /// For the closed model: this worker's share of the concurrency.
    pub concurrency: u32,
    /// Safety cap on requests per second (shared by all workers of a process).
    pub limiter: Option<Arc<Limiter>>,
    /// Collect the indexes of people registered since the last snapshot (for remote coordinators).
    pub report_registrations: bool,
    /// How long in-flight people may take to finish after the last arrival.
    pub drain: Duration,
    /// The run's engine settings (pacing, HTTP/1.1 client, TLS, source addresses).
    pub engine: Arc<crate::Engine>,
    /// The first interval this worker records (0; or where a resumed run continues: the people whose
    /// arrival falls before it were started by the run's first part and are skipped).
    pub first_interval: u64,
    /// Placement by region: `shards` holds units `region x plan.shards + shard`
    /// ([`surge_plan::Plan::unit_of`]), so this worker runs only the regions placed on it.
    pub by_region: bool,
}

/// How often a worker hands on its new registrations between snapshots (remote runs only).
pub const REGISTRATION_FLUSH: Duration = Duration::from_millis(100);

/// What a worker tells its coordinator.
#[derive(Debug)]
pub enum WorkerEvent {
    /// One interval ended.
    Snapshot {
        /// Worker index.
        worker: usize,
        /// The interval's figures, in the sparse form the coordinator merges.
        snap: SparseSnapshot,
        /// People registered during the interval (only when `report_registrations`).
        registered: Vec<u64>,
    },
    /// People registered since the last event, sent between snapshots (every
    /// [`REGISTRATION_FLUSH`], only when `report_registrations`), so that other workers' discovery
    /// checks learn of them within a fraction of an interval.
    Registered {
        /// Worker index.
        worker: usize,
        /// The people's indexes.
        users: Vec<u64>,
    },
    /// The worker finished (its last snapshot was sent before this).
    Done {
        /// Worker index.
        worker: usize,
        /// Why it stopped early, if it did.
        error: Option<String>,
    },
}

/// Controls a running worker thread.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    /// Asks the worker to stop sending now: no new request starts after this, in-flight ones are dropped,
    /// and a final snapshot is sent.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for the thread to end.
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts a worker on its own thread.
pub fn spawn_worker(
    spec: WorkerSpec,
    events: mpsc::UnboundedSender<WorkerEvent>,
) -> std::io::Result<WorkerHandle> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let name = format!("surge-worker-{}", spec.index);
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let index = spec.index;
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = events.send(WorkerEvent::Done {
                    worker: index,
                    error: Some(format!("runtime: {e}")),
                });
                return;
            }
        };
        let local = LocalSet::new();
        local.block_on(&rt, run(spec, events.clone(), stop_rx));
        let _ = events.send(WorkerEvent::Done {
            worker: index,
            error: None,
        });
    })?;
    Ok(WorkerHandle {
        stop: stop_tx,
        thread: Some(thread),
    })
}

/// Converts the wall-clock start into this runtime's clock.
fn start_instant(start: SystemTime) -> Instant {
    let now_i = Instant::now();
    match start.duration_since(SystemTime::now()) {
        Ok(ahead) => now_i + ahead,
        Err(behind) => now_i.checked_sub(behind.duration()).unwrap_or(now_i),
    }
}

async fn run(
    spec: WorkerSpec,
    events: mpsc::UnboundedSender<WorkerEvent>,
    stop: watch::Receiver<bool>,
) {
    let start = start_instant(spec.start);
    run_from(spec, start, events, stop).await;
}

/// The worker's run from `start` on this runtime's clock (tests hand a paused clock's instant).
async fn run_from(
    spec: WorkerSpec,
    start: Instant,
    events: mpsc::UnboundedSender<WorkerEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let plan = spec.plan.clone();
    let mut recorder = Recorder::new(plan.regions.len() as u16, plan.steps.len() as u16);
    if spec.first_interval > 0 {
        recorder.take(spec.first_interval);
    }
    let rec = Rc::new(RefCell::new(recorder));
    let ctx = Rc::new(PersonCtx::new(&spec, rec.clone(), start));
    let ticker = tokio::task::spawn_local(tick(
        spec.index,
        plan.interval,
        start,
        rec.clone(),
        ctx.clone(),
        events.clone(),
    ));
    let end = start + plan.run_duration;
    // Arrivals still waiting for a slot (--max-in-flight) when the drain ends are not started: a run
    // never outlives its plan plus the drain.
    let cutoff = end + spec.drain;
    let stopped = tokio::select! {
        _ = schedule(&spec, ctx.clone(), start) => false,
        _ = wait_stop(&mut stop) => true,
        _ = tokio::time::sleep_until(cutoff) => true,
    };
    if !stopped {
        // Let the people in flight finish, bounded by the drain time.
        let deadline = end.max(Instant::now()) + spec.drain;
        tokio::select! {
            _ = drained(&rec, deadline) => {},
            _ = wait_stop(&mut stop) => {},
        }
    }
    ticker.abort();
    // Everyone still in flight is accounted for: unfinished, with the wait of the step they were in.
    ctx.record_unfinished(Instant::now());
    let next = rec.borrow().interval() + 1;
    let snap = rec.borrow_mut().take(next);
    let registered = ctx.take_registrations();
    let _ = events.send(WorkerEvent::Snapshot {
        worker: spec.index,
        snap: snap.to_sparse(),
        registered,
    });
}

async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            // The handle is gone: nobody can stop us any more, so stop now.
            return;
        }
    }
}

async fn drained(rec: &Rc<RefCell<Recorder>>, deadline: Instant) {
    while rec.borrow().in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn tick(
    worker: usize,
    interval: Duration,
    start: Instant,
    rec: Rc<RefCell<Recorder>>,
    ctx: Rc<PersonCtx>,
    events: mpsc::UnboundedSender<WorkerEvent>,
) {
    let interval = interval.max(Duration::from_millis(10));
    let flush = ctx.report_registrations.then_some(REGISTRATION_FLUSH);
    loop {
        let k = rec.borrow().interval();
        let due = start + interval * (k as u32 + 1);
        if let Some(every) = flush {
            while Instant::now() + every < due {
                tokio::time::sleep(every).await;
                let users = ctx.take_registrations();
                if !users.is_empty()
                    && events
                        .send(WorkerEvent::Registered { worker, users })
                        .is_err()
                {
                    return;
                }
            }
        }
        tokio::time::sleep_until(due).await;
        ctx.trim_idle();
        let snap = rec.borrow_mut().take(k + 1);
        let registered = ctx.take_registrations();
        if events
            .send(WorkerEvent::Snapshot {
                worker,
                snap: snap.to_sparse(),
                registered,
            })
            .is_err()
        {
            return;
        }
    }
}

async fn schedule(spec: &WorkerSpec, ctx: Rc<PersonCtx>, start: Instant) {
    match spec.plan.model {
        LoadModel::Open => schedule_open(spec, ctx, start).await,
        LoadModel::Closed { .. } => schedule_closed(spec, ctx, start).await,
    }
}

/// Open model: person u starts at `start + arrival_offset(u)`, whatever happened to earlier people.
async fn schedule_open(spec: &WorkerSpec, ctx: Rc<PersonCtx>, start: Instant) {
    let plan = &spec.plan;
    let slots = Arc::new(Semaphore::new(spec.max_in_flight.max(1)));
    let mut pacer = Pacer::new(spec.engine.config().pacing, start);
    let unstarted = Rc::new(std::cell::Cell::new(0u64));
    let mut without_wait = 0u32;
    // A resumed run: people arriving before its first interval belong to the part that was cut short.
    let resumed_at = plan.interval * u32::try_from(spec.first_interval).unwrap_or(u32::MAX);
    for u in 0..plan.population {
        if !spec.shards.owns(plan.unit_of(u, spec.by_region)) {
            continue;
        }
        if spec.first_interval > 0 && plan.arrival_offset(u) < resumed_at {
            continue;
        }
        let intended = start + plan.arrival_offset(u);
        if intended > Instant::now() {
            pacer.wait_until(intended).await;
            without_wait = 0;
        } else {
            // Behind schedule: let the people in flight (and the snapshot ticker) run between starts,
            // or a generator that falls behind would starve its own I/O and hide its lateness.
            without_wait += 1;
            if without_wait.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (ctx, unstarted) = (ctx.clone(), unstarted.clone());
        unstarted.set(unstarted.get() + 1);
        tokio::task::spawn_local(async move {
            unstarted.set(unstarted.get() - 1);
            person::run(&ctx, u, intended).await;
            drop(permit);
        });
    }
    // People spawned a moment ago count as in flight only once polled: let them start, so that the
    // drain that follows waits for them instead of dropping them unseen.
    while unstarted.get() > 0 {
        tokio::task::yield_now().await;
    }
}

/// Closed model: a fixed number of people loop their journey back to back until the run ends.
async fn schedule_closed(spec: &WorkerSpec, ctx: Rc<PersonCtx>, start: Instant) {
    let plan = spec.plan.clone();
    let end = start + plan.run_duration;
    if start > Instant::now() {
        tokio::time::sleep_until(start).await;
    }
    let next = Rc::new(std::cell::Cell::new(0u64));
    let mut loops = Vec::new();
    for _ in 0..spec.concurrency.max(1) {
        let (ctx, next, plan, shards, by_region) = (
            ctx.clone(),
            next.clone(),
            plan.clone(),
            spec.shards.clone(),
            spec.by_region,
        );
        loops.push(tokio::task::spawn_local(async move {
            while Instant::now() < end {
                let Some(u) = next_owned(&plan, &shards, by_region, &next) else {
                    return;
                };
                person::run(&ctx, u, Instant::now()).await;
            }
        }));
    }
    for l in loops {
        let _ = l.await;
    }
}

/// The next person of this worker's shards, cycling through the population.
fn next_owned(
    plan: &Plan,
    shards: &ShardSet,
    by_region: bool,
    next: &std::cell::Cell<u64>,
) -> Option<u64> {
    let n = plan.population.max(1);
    for _ in 0..n.min(1 << 20) {
        let u = next.get() % n;
        next.set(u + 1);
        if shards.owns(plan.unit_of(u, by_region)) {
            return Some(u);
        }
    }
    None
}

#[cfg(test)]
mod paused;
