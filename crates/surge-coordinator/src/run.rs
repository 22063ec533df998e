//! The run loop, shared by in-process and remote workers: merge, write, guard, detect loss, stop,
//! summarise. [`run_local`] feeds it engine threads of this process; [`crate::remote::Coordinator`]
//! feeds it workers that joined over HTTP. Both go through [`Pool`] and one event channel.

use crate::collect::{Collector, WorkerState};
use crate::guard::{GuardState, Guards};
use crate::live::LiveMetrics;
use crate::pool::{LocalPool, Pool, stripes};
use crate::{RunError, intended_arrivals};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use surge_engine::{
    Registry, ShardSet, Targets, WorkerEvent, WorkerSpec, safety_cap, spawn_worker,
};
use surge_metrics::{Slo, Snapshot};
use surge_plan::{LoadModel, Plan};
use surge_results::{LostWorker, ResultsWriter, RunEnd, RunEvent, RunInfo, RunStatus, Summary};
use tokio::sync::mpsc;

/// A worker silent for this many intervals is declared lost.
pub const LOST_AFTER_INTERVALS: u32 = 3;

/// Everything `surge run` (or `surge coordinator`) decides before starting.
pub struct RunConfig {
    /// The compiled plan.
    pub plan: Arc<Plan>,
    /// Base URL of the target (per-region overrides come from the plan).
    pub target: String,
    /// Workers: in-process threads for [`run_local`], remote processes to wait for in distributed mode.
    pub workers: usize,
    /// run.json content (`workers` is filled with the workers' names).
    pub info: RunInfo,
    /// The results folder itself.
    pub out_dir: PathBuf,
    /// SLOs resolved to indexes.
    pub slos: Vec<Slo>,
    /// Abort guards.
    pub guards: Guards,
    /// `--max-rps` (0 = no cap), for the whole run.
    pub max_rps: u32,
    /// `--max-in-flight`, for the whole run.
    pub max_in_flight: usize,
    /// How long in-flight people may finish after the last arrival.
    pub drain: Duration,
    /// Live figures for `/metrics`, updated after every merged interval (None: not served).
    pub live: Option<Arc<LiveMetrics>>,
    /// The engine settings every worker runs with (remote workers get its config in their assignment).
    pub engine: Arc<surge_engine::Engine>,
    /// Continue a run cut short (`--resume`): its folder is `out_dir`; the workers start from its next
    /// interval and skip the people the first part already started.
    pub resume: Option<surge_results::ResumePoint>,
}

impl RunConfig {
    /// The first interval this run writes (0, or where a resumed run continues).
    pub fn first_interval(&self) -> u64 {
        self.resume.as_ref().map_or(0, |r| r.next_interval)
    }

    /// The run's common start on the wall clock for a run starting its first interval at `now`: a
    /// resumed run's start lies in the past, so that its intervals and arrivals continue where the
    /// first part stopped.
    pub fn common_start(&self, now: SystemTime) -> SystemTime {
        let done = self.plan.interval * u32::try_from(self.first_interval()).unwrap_or(u32::MAX);
        now.checked_sub(done).unwrap_or(now)
    }
}

/// What a finished run hands back.
#[derive(Debug)]
pub struct RunOutcome {
    /// The results folder.
    pub dir: PathBuf,
    /// The summary written to summary.json.
    pub summary: Summary,
    /// What became of the pushes (`--prom-remote-write`), also in events.jsonl.
    pub remote_write: Option<crate::remote_write::PushReport>,
}

/// Live figures for a progress display, updated per interval.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Run time elapsed (merged intervals x interval length).
    pub elapsed: Duration,
    /// Planned arrival time.
    pub total: Duration,
    /// People whose journey started.
    pub started: u64,
    /// Journeys ended (ok or not).
    pub finished: u64,
    /// Steps that ended in an error.
    pub errors: u64,
    /// Journeys started per second in the last interval.
    pub rate: f64,
    /// People in flight.
    pub in_flight: u64,
}

/// Runs `cfg` with in-process workers until the plan ends, a guard trips, or `stop` resolves (Ctrl-C).
/// Results are written interval by interval; the summary at the end, whatever ended the run.
pub async fn run_local(
    cfg: RunConfig,
    progress: &mut (dyn FnMut(&Progress) + Send),
    stop: impl Future<Output = ()>,
) -> Result<RunOutcome, RunError> {
    let plan = cfg.plan.clone();
    // Never more workers than people allowed in flight: each worker holds at least one slot, so the
    // caps add up to exactly --max-in-flight.
    let workers = cfg.workers.max(1).min(cfg.max_in_flight.max(1));
    let (tx, rx) = mpsc::unbounded_channel();
    let registry = Arc::new(Registry::new(plan.population));
    let limiter = safety_cap(cfg.max_rps).map(Arc::new);
    let targets = Arc::new(Targets::new(&cfg.target, &plan));
    let start = cfg.common_start(SystemTime::now() + Duration::from_millis(50));
    let first_interval = cfg.first_interval();
    let (mut handles, mut sets) = (Vec::new(), Vec::new());
    for (i, stripe) in stripes(plan.shards, workers).into_iter().enumerate() {
        let shards = Arc::new(ShardSet::none(plan.shards));
        stripe.iter().for_each(|&s| shards.add(s));
        let spec = WorkerSpec {
            index: i,
            plan: plan.clone(),
            shards: shards.clone(),
            registry: registry.clone(),
            targets: targets.clone(),
            start,
            max_in_flight: cfg.max_in_flight / workers
                + usize::from(i < cfg.max_in_flight % workers),
            concurrency: concurrency_share(&plan, i, workers),
            limiter: limiter.clone(),
            report_registrations: false,
            drain: cfg.drain,
            engine: cfg.engine.clone(),
            first_interval,
            by_region: false,
        };
        handles.push(spawn_worker(spec, tx.clone()).map_err(RunError::Spawn)?);
        sets.push(shards);
    }
    drop(tx);
    let pool = LocalPool::new(handles, sets);
    drive(cfg, pool, rx, start, progress, stop).await
}

/// Worker `i` of `workers`' share of the closed model's concurrency (0 in the open model).
pub fn concurrency_share(plan: &Plan, i: usize, workers: usize) -> u32 {
    let concurrency = match plan.model {
        LoadModel::Closed { concurrency } => concurrency,
        LoadModel::Open => 0,
    };
    concurrency_share_n(concurrency, i, workers)
}

/// Worker `i` of `workers`' share of `total`: the shares differ by at most one and sum to `total`.
pub fn concurrency_share_n(total: u32, i: usize, workers: usize) -> u32 {
    let n = workers.max(1) as u32;
    total / n + u32::from((i as u32) < total % n)
}

/// The loop every run goes through: events from `rx`, commands through `pool`, results to `cfg.out_dir`.
pub(crate) async fn drive<P: Pool>(
    mut cfg: RunConfig,
    mut pool: P,
    mut rx: mpsc::UnboundedReceiver<WorkerEvent>,
    start: SystemTime,
    progress: &mut (dyn FnMut(&Progress) + Send),
    stop: impl Future<Output = ()>,
) -> Result<RunOutcome, RunError> {
    cfg.info.workers = pool.names();
    cfg.info.placement = pool.placement();
    let mut d = Driver::new(&cfg, start, pool.names().len())?;
    d.clock_events(&cfg.info.clocks)?;
    tokio::pin!(stop);
    let tick_every =
        (cfg.plan.interval / 4).clamp(Duration::from_millis(20), Duration::from_millis(500));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => d.on_event(ev)?,
                None => break,
            },
            _ = tick.tick() => d.check_silence(&mut pool)?,
            _ = &mut stop, if !d.stopping => {
                d.stop(RunStatus::Interrupted, "interrupted (Ctrl-C): load stopped, results so far written".into(), &mut pool);
            }
        }
        d.write_ready(&cfg, &mut pool, progress)?;
        if d.collector.finished() {
            break;
        }
    }
    d.clock_checks(pool.clock_checks())?;
    pool.finish().await;
    d.publish();
    let pushed = match &cfg.live {
        Some(live) => live.finish_push().await,
        None => None,
    };
    let outcome = d.finish(&cfg, pushed);
    crate::dashboard::run_ended(cfg.live.as_deref(), &outcome);
    outcome
}

/// The loop's state.
struct Driver {
    plan: Arc<Plan>,
    names: Vec<String>,
    collector: Collector,
    guard: GuardState,
    writer: ResultsWriter,
    /// Seconds from the common start to `clock` (negative before the start).
    since_start_s: f64,
    /// The run's clock: tokio's, so that tests can pause it.
    clock: tokio::time::Instant,
    wall: std::time::Instant,
    status: RunStatus,
    reason: Option<String>,
    stopping: bool,
    lost: Vec<LostWorker>,
    prog: Progress,
    last: Option<Snapshot>,
    live: Option<Arc<LiveMetrics>>,
    slos: Vec<Slo>,
    max_samples: u64,
}

impl Driver {
    // `wall` is the run's real duration for summary.json: std's clock is meant.
    #[allow(clippy::disallowed_methods)]
    fn new(cfg: &RunConfig, start: SystemTime, workers: usize) -> Result<Driver, RunError> {
        // The wall clock and the run's (tokio's) clock read together, before any file is written.
        let (wall_now, clock) = (SystemTime::now(), tokio::time::Instant::now());
        let plan = cfg.plan.clone();
        let mut collector =
            Collector::new(workers, plan.regions.len() as u16, plan.steps.len() as u16);
        let mut writer = match &cfg.resume {
            None => ResultsWriter::create(&cfg.out_dir, &cfg.info)?,
            Some(point) => {
                collector.resume_from(point.next_interval, &point.totals)?;
                // The gap: from the last line the first part wrote to now.
                let gap = std::fs::metadata(cfg.out_dir.join(surge_results::files::HLOG))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .map_or(0.0, |d| d.as_secs_f64());
                ResultsWriter::resume(&cfg.out_dir, point, part_of(&cfg.info, point), gap)?
            }
        };
        writer.write_slo_specs(&cfg.slos)?;
        let d = Driver {
            names: cfg.info.workers.clone(),
            collector,
            guard: GuardState::default(),
            writer,
            since_start_s: match wall_now.duration_since(start) {
                Ok(d) => d.as_secs_f64(),
                Err(e) => -e.duration().as_secs_f64(),
            },
            clock,
            wall: std::time::Instant::now(),
            status: RunStatus::Complete,
            reason: None,
            stopping: false,
            lost: Vec::new(),
            prog: Progress {
                total: plan.run_duration,
                ..Progress::default()
            },
            last: None,
            live: cfg.live.clone(),
            slos: cfg.slos.clone(),
            max_samples: plan
                .population
                .saturating_mul(plan.journey.steps.len() as u64),
            plan,
        };
        d.publish();
        Ok(d)
    }

    /// Seconds since the common start (0 before it), on tokio's clock.
    fn t_s(&self) -> f64 {
        (self.since_start_s + self.clock.elapsed().as_secs_f64()).max(0.0)
    }

    fn name(&self, worker: usize) -> String {
        self.names
            .get(worker)
            .cloned()
            .unwrap_or_else(|| format!("worker-{worker}"))
    }

    fn event(&mut self, kind: &str, worker: Option<usize>, detail: String) -> Result<(), RunError> {
        let ev = RunEvent {
            t_s: self.t_s(),
            kind: kind.into(),
            worker: worker.map(|w| self.name(w)),
            detail,
        };
        Ok(self.writer.event(&ev)?)
    }

    /// One `clock` event per remote worker (its offset, corrected), and a `clock_warning` for an
    /// offset beyond [`surge_wire::clock::WARN_OFFSET_US`].
    fn clock_events(&mut self, clocks: &[surge_results::WorkerClock]) -> Result<(), RunError> {
        for c in clocks {
            let w = self.names.iter().position(|n| *n == c.worker);
            let text = format!(
                "clock offset {:+.3} ms ± {:.3} ms (worker minus coordinator, best of {} exchanges): corrected at its start",
                c.offset_ms, c.bound_ms, c.samples
            );
            self.event("clock", w, text.clone())?;
            if c.offset_ms.abs() * 1000.0 > surge_wire::clock::WARN_OFFSET_US as f64 {
                let warn = format!(
                    "{text}; beyond ±{} ms: is its clock synchronised (NTP)?",
                    surge_wire::clock::WARN_OFFSET_US / 1000
                );
                tracing::warn!(worker = %c.worker, "{warn}");
                self.event("clock_warning", w, warn)?;
            }
        }
        Ok(())
    }

    /// A `clock_check` event per remote worker: how far its corrected clock was from ours over the
    /// run's last exchanges (drift and residual error).
    fn clock_checks(
        &mut self,
        checks: Vec<Option<surge_wire::clock::ClockEstimate>>,
    ) -> Result<(), RunError> {
        for (w, c) in checks.into_iter().enumerate() {
            if let Some(c) = c {
                let detail = format!(
                    "corrected clock at the end: {:+.3} ms ± {:.3} ms from the coordinator's (best of the last {} exchanges)",
                    c.offset_us as f64 / 1000.0,
                    c.bound_us as f64 / 1000.0,
                    c.samples
                );
                self.event("clock_check", Some(w), detail)?;
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ev: WorkerEvent) -> Result<(), RunError> {
        match ev {
            WorkerEvent::Snapshot { worker, snap, .. } => {
                if self.collector.states().get(worker) != Some(&WorkerState::Lost) {
                    self.collector.add(worker, &snap)?;
                }
            }
            // Only remote workers' engines hand registrations on (to their own process, which
            // reports them); in-process workers share one registry.
            WorkerEvent::Registered { .. } => {}
            WorkerEvent::Done { worker, error } => {
                self.collector.done(worker);
                if let Some(e) = error {
                    self.event("worker_error", Some(worker), e)?;
                }
                self.publish();
            }
        }
        Ok(())
    }

    /// Declares lost every live worker silent for [`LOST_AFTER_INTERVALS`] intervals and moves its
    /// shards to the survivors.
    fn check_silence<P: Pool>(&mut self, pool: &mut P) -> Result<(), RunError> {
        let limit = self.plan.interval * LOST_AFTER_INTERVALS;
        for w in pool.silent(limit) {
            if self.collector.states().get(w) != Some(&WorkerState::Live) {
                continue;
            }
            let now_interval = (self.t_s() / self.plan.interval.as_secs_f64().max(1e-9)) as u64;
            let in_flight = self.collector.in_flight_of(w);
            let missing = self.collector.lose(w, now_interval);
            let shards = pool.lose(w);
            let survivors: Vec<usize> = (0..self.names.len())
                .filter(|&s| self.collector.states().get(s) == Some(&WorkerState::Live))
                .collect();
            let (moved, orphaned) = pool.redistribute(&shards, &survivors);
            for (s, list) in &moved {
                pool.add_shards(*s, list);
            }
            let to: Vec<String> = moved
                .iter()
                .map(|(s, l)| format!("{} ({} shards)", self.name(*s), l.len()))
                .collect();
            let lost_people: u64 = in_flight.iter().sum();
            let orphaned = if orphaned.is_empty() {
                String::new()
            } else {
                format!(
                    "; no worker placed in {} survives: their people now leave from workers placed elsewhere",
                    orphaned.join(", ")
                )
            };
            let detail = format!(
                "silent for {:.1} s ({} intervals); intervals {:?} never reported; {} people in flight on it lost with it; its {} shards moved to {}{orphaned}",
                limit.as_secs_f64(),
                LOST_AFTER_INTERVALS,
                missing,
                lost_people,
                shards.len(),
                if to.is_empty() {
                    "nobody (no survivor)".to_string()
                } else {
                    to.join(", ")
                }
            );
            tracing::warn!(worker = %self.name(w), "{detail}");
            self.event("worker_lost", Some(w), detail)?;
            self.lost.push(LostWorker {
                worker: self.name(w),
                lost_at_s: self.t_s(),
                missing_intervals: missing,
                in_flight: in_flight
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .filter_map(|(r, n)| Some((self.plan.regions.get(r)?.name.clone(), *n)))
                    .collect(),
            });
            self.publish();
        }
        Ok(())
    }

    fn stop<P: Pool>(&mut self, status: RunStatus, why: String, pool: &mut P) {
        self.stopping = true;
        self.status = status;
        pool.stop_all(&why);
        self.reason = Some(why);
    }

    /// Writes every complete interval, updates progress and live metrics, and checks the guards.
    fn write_ready<P: Pool>(
        &mut self,
        cfg: &RunConfig,
        pool: &mut P,
        progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<(), RunError> {
        while let Some(snap) = self.collector.pop_ready() {
            self.writer
                .interval(&snap, &intended_arrivals(&self.plan, snap.interval))?;
            update_progress(
                &mut self.prog,
                &snap,
                self.collector.totals(),
                self.plan.interval,
            );
            progress(&self.prog);
            let verdict = if self.stopping {
                None
            } else {
                self.guard.check(
                    &cfg.guards,
                    &snap,
                    self.plan.interval,
                    self.collector.totals(),
                    &cfg.slos,
                    self.max_samples,
                )
            };
            self.last = Some(snap);
            self.publish();
            if let Some(why) = verdict {
                self.event("abort", None, why.clone())?;
                self.stop(RunStatus::Aborted, why, pool);
            }
        }
        Ok(())
    }

    fn publish(&self) {
        if let Some(live) = &self.live {
            live.update(&crate::live::View {
                plan: &self.plan,
                last: self.last.as_ref(),
                totals: self.collector.totals(),
                states: self.collector.states(),
                slos: &self.slos,
                in_flight: self.prog.in_flight,
            });
        }
    }

    fn finish(
        mut self,
        cfg: &RunConfig,
        pushed: Option<crate::remote_write::PushReport>,
    ) -> Result<RunOutcome, RunError> {
        if let Some(p) = &pushed {
            self.event("remote_write", None, p.to_string())?;
        }
        let duration_s = self.wall.elapsed().as_secs_f64();
        let seconds =
            (self.collector.next_interval() as f64 * self.plan.interval.as_secs_f64()).max(1e-9);
        let verdicts = cfg
            .slos
            .iter()
            .map(|s| s.evaluate(self.collector.totals(), seconds))
            .collect();
        let unfinished = self.collector.totals().merged_counters(None).unfinished;
        if self.status == RunStatus::Complete && unfinished > 0 {
            self.status = RunStatus::DrainCut;
            self.reason = Some(format!(
                "drain ended with {unfinished} people in flight: counted as unfinished (outcome `unfinished`, their wait so far recorded); a longer --drain lets them finish"
            ));
        } else if unfinished > 0
            && let Some(r) = &mut self.reason
        {
            r.push_str(&format!(
                "; {unfinished} people in flight counted as unfinished"
            ));
        }
        let end = RunEnd {
            status: self.status,
            duration_s,
            verdicts,
            reason: self.reason.take(),
            lost_workers: std::mem::take(&mut self.lost),
            unknown: cfg
                .resume
                .as_ref()
                .map(|r| r.unknown.clone())
                .unwrap_or_default(),
        };
        let summary = self.writer.finish(self.collector.totals(), &end)?;
        Ok(RunOutcome {
            dir: self.writer.dir().to_path_buf(),
            summary,
            remote_write: pushed,
        })
    }
}

/// The resumed part's entry in run.json: when, where, which surge.
fn part_of(info: &RunInfo, point: &surge_results::ResumePoint) -> surge_results::RunPart {
    let mut part = info.parts.last().cloned().unwrap_or_default();
    part.started_at = surge_results::rfc3339_utc(SystemTime::now());
    part.first_interval = point.next_interval;
    part
}

fn update_progress(p: &mut Progress, snap: &Snapshot, totals: &Snapshot, interval: Duration) {
    let c = totals.merged_counters(None);
    let now = snap.merged_counters(None);
    p.elapsed = interval * (snap.interval as u32 + 1);
    p.started = c.started;
    p.finished = c.succeeded + c.failed;
    p.errors = totals.merged_cell(None, None).errors();
    p.rate = now.started as f64 / interval.as_secs_f64().max(1e-9);
    p.in_flight = snap.in_flight;
}

#[cfg(test)]
mod paused;
