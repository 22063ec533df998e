//! A worker process's engine threads: they run the assigned shards, and their snapshots are merged per
//! interval (exactly, with the same [`Collector`] the coordinator uses) into the one snapshot per
//! interval the process reports.

use crate::collect::Collector;
use crate::pool::stripes;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use surge_engine::{
    Registry, ShardSet, Targets, WorkerEvent, WorkerHandle, WorkerSpec, safety_cap, spawn_worker,
};
use surge_metrics::Snapshot;
use surge_plan::Plan;
use surge_wire::Assignment;
use tokio::sync::mpsc;

/// The engine threads of one worker process and the merge of their figures.
pub(crate) struct Crew {
    handles: Vec<WorkerHandle>,
    sets: Vec<Arc<ShardSet>>,
    owned: BTreeSet<u32>,
    next_thread: usize,
    pub registry: Arc<Registry>,
    pub rx: mpsc::UnboundedReceiver<WorkerEvent>,
    pub collector: Collector,
    /// Registrations seen since the last report.
    pub registered: Vec<u64>,
    /// The first error a thread ended with.
    pub error: Option<String>,
    pub shards_version: u64,
}

impl Crew {
    /// Starts `threads` engine threads on the assignment's shards (striped over the threads), with the
    /// common start `start` on this host's clock (the assignment's, corrected by the clock offset).
    pub fn spawn(
        a: &Assignment,
        plan: Arc<Plan>,
        threads: usize,
        engine: Arc<surge_engine::Engine>,
        start: SystemTime,
    ) -> std::io::Result<Crew> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::unbounded_channel();
        let registry = Arc::new(Registry::with_presence_journal(plan.population));
        let limiter = safety_cap(a.max_rps).map(Arc::new);
        let targets = Arc::new(Targets::new(&a.target, &plan));
        let drain = Duration::from_millis(a.drain_ms);
        // Other workers need this worker's registrations only to check discovery answers: a journey
        // without a discovery step (a plain GET, say) reports none.
        let report_registrations = plan.journey.steps.iter().any(|s| s.discovery.is_some());
        let (mut handles, mut sets) = (Vec::new(), Vec::new());
        for (i, part) in stripes(a.shards.len() as u32, threads)
            .into_iter()
            .enumerate()
        {
            let set = Arc::new(ShardSet::none(plan.units(a.by_region)));
            part.iter()
                .filter_map(|&k| a.shards.get(k as usize))
                .for_each(|&s| set.add(s));
            let spec = WorkerSpec {
                index: i,
                plan: plan.clone(),
                shards: set.clone(),
                registry: registry.clone(),
                targets: targets.clone(),
                start,
                max_in_flight: (a.max_in_flight as usize / threads).max(1),
                concurrency: crate::run::concurrency_share_n(a.concurrency, i, threads),
                limiter: limiter.clone(),
                report_registrations,
                drain,
                engine: engine.clone(),
                first_interval: a.first_interval,
                by_region: a.by_region,
            };
            handles.push(spawn_worker(spec, tx.clone())?);
            sets.push(set);
        }
        let (regions, steps) = (plan.regions.len() as u16, plan.steps.len() as u16);
        let mut collector = Collector::new(threads, regions, steps);
        if a.first_interval > 0 {
            // A resumed run: this process's intervals start where the run continues.
            let _ = collector.resume_from(a.first_interval, &Snapshot::new(0, regions, steps));
        }
        Ok(Crew {
            handles,
            sets,
            owned: a.shards.iter().copied().collect(),
            next_thread: 0,
            registry,
            rx,
            collector,
            registered: Vec::new(),
            error: None,
            shards_version: a.shards_version,
        })
    }

    /// Takes one engine event into the merge.
    pub fn on_event(&mut self, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Snapshot {
                worker,
                snap,
                registered,
            } => {
                self.registered.extend_from_slice(&registered);
                if let Err(e) = self.collector.add(worker, &snap) {
                    tracing::warn!(thread = worker, "snapshot of another shape dropped: {e}");
                }
            }
            WorkerEvent::Registered { users, .. } => self.registered.extend_from_slice(&users),
            WorkerEvent::Done { worker, error } => {
                if self.error.is_none() {
                    self.error = error;
                }
                self.collector.done(worker);
            }
        }
    }

    /// The next merged interval, if every thread has reported it.
    pub fn pop_ready(&mut self) -> Option<Snapshot> {
        self.collector.pop_ready()
    }

    /// Runs the shards of `list` that are new here, dealt round-robin over the threads.
    pub fn set_shards(&mut self, list: &[u32], version: u64) {
        for &s in list {
            if self.owned.insert(s) {
                if let Some(set) = self.sets.get(self.next_thread % self.sets.len().max(1)) {
                    set.add(s);
                }
                self.next_thread += 1;
            }
        }
        self.shards_version = version;
    }

    /// Stops all load now (each thread sends its last snapshot).
    pub fn stop_all(&self) {
        self.handles.iter().for_each(|h| h.stop());
    }

    /// Waits (bounded) for the threads to end.
    pub async fn join(self, limit: Duration) {
        let handles = self.handles;
        let _ = tokio::time::timeout(
            limit,
            tokio::task::spawn_blocking(move || handles.into_iter().for_each(|h| h.join())),
        )
        .await;
    }
}
