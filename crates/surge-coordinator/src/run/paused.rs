//! The run loop on tokio's paused clock: the guards, worker-loss detection and the closing of
//! intervals, with time that only moves when every task waits. The loop, its collector, guards and
//! results writer are the real ones; the workers are scripted (each sends, at the end of every
//! interval, the snapshot a real engine thread would), because engine threads run on runtimes of
//! their own whose clocks a test cannot pause.

use super::*;
use std::sync::Mutex;
use surge_metrics::{Outcome, Recorder, SloOp, SloStat, SparseSnapshot, StepRecord};
use tokio::time::Instant;

fn plan() -> Arc<Plan> {
    let profile = surge_profile::parse(
        &surge_testkit::profiles::one_step_text("paused", 200, 10, ""),
        "<paused>",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        Plan::compile(&profile, &surge_plan::Overrides::default())
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

fn config(plan: Arc<Plan>, dir: &std::path::Path, guards: Guards, slos: Vec<Slo>) -> RunConfig {
    RunConfig {
        info: crate::run_info(&plan, &crate::RunContext::default(), 2),
        plan,
        target: "http://127.0.0.1:1".into(),
        workers: 2,
        out_dir: dir.join("run"),
        slos,
        guards,
        max_rps: 0,
        max_in_flight: 100,
        drain: Duration::from_secs(1),
        live: None,
        engine: surge_engine::Engine::new(surge_engine::EngineConfig::default())
            .unwrap_or_else(|e| panic!("{e}")),
        resume: None,
    }
}

/// What the scripted workers and the loop share: when each worker last spoke, and the stop.
#[derive(Default)]
struct Shared {
    last_word: Vec<Option<Instant>>,
    stopped: Option<String>,
    lost: Vec<usize>,
}

/// The loop's side: [`Pool`] over the scripted workers.
struct Scripted(Arc<Mutex<Shared>>);

impl Pool for Scripted {
    fn names(&self) -> Vec<String> {
        vec!["w0".into(), "w1".into()]
    }
    fn silent(&self, limit: Duration) -> Vec<usize> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (0..s.last_word.len())
            .filter(|w| !s.lost.contains(w))
            .filter(|&w| s.last_word[w].is_some_and(|t| t.elapsed() > limit))
            .collect()
    }
    fn lose(&mut self, worker: usize) -> Vec<u32> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .lost
            .push(worker);
        vec![worker as u32]
    }
    fn add_shards(&mut self, _: usize, _: &[u32]) {}
    fn stop_all(&mut self, reason: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).stopped = Some(reason.into());
    }
    async fn finish(self) {}
}

/// One interval of one worker: `people` start and fail at their only step after `response_us`.
fn interval(k: u64, people: u64, response_us: u64) -> SparseSnapshot {
    // The plan's shape: one region, one step.
    let mut r = Recorder::new(1, 1);
    for _ in 0..people {
        r.journey_started(0);
        r.step(StepRecord {
            region: 0,
            step: 0,
            outcome: Outcome::Http5xx,
            response_us,
            service_us: response_us,
            send_lag_us: 0,
        });
        r.journey_ended(0, false);
    }
    let mut s = r.take(k + 1);
    s.interval = k;
    s.to_sparse()
}

/// Worker `w`: reports intervals `0..until` at the end of each (10 people, `response_us`), stopping
/// early when told to; then says it is done (unless it goes silent: `done = false`).
async fn worker(
    w: usize,
    until: u64,
    response_us: u64,
    done: bool,
    shared: Arc<Mutex<Shared>>,
    tx: mpsc::UnboundedSender<WorkerEvent>,
) {
    let t0 = Instant::now();
    for k in 0..until {
        tokio::time::sleep_until(t0 + Duration::from_secs(k + 1)).await;
        let snap = interval(k, 10, response_us);
        let _ = tx.send(WorkerEvent::Snapshot {
            worker: w,
            snap,
            registered: Vec::new(),
        });
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.last_word[w] = Some(Instant::now());
        if s.stopped.is_some() {
            break;
        }
    }
    if done {
        let _ = tx.send(WorkerEvent::Done {
            worker: w,
            error: None,
        });
    }
}

/// Runs the loop over two scripted workers; answers the outcome and, per interval written, when
/// (seconds on the paused clock since the start).
async fn run(
    cfg: RunConfig,
    scripts: [(u64, u64, bool); 2],
) -> (RunOutcome, Vec<f64>, Arc<Mutex<Shared>>) {
    let shared = Arc::new(Mutex::new(Shared {
        last_word: vec![Some(Instant::now()); 2],
        ..Shared::default()
    }));
    let (tx, rx) = mpsc::unbounded_channel();
    for (w, (until, response_us, done)) in scripts.into_iter().enumerate() {
        tokio::spawn(worker(
            w,
            until,
            response_us,
            done,
            shared.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let t0 = Instant::now();
    let mut written = Vec::new();
    let mut progress = |_: &Progress| written.push(t0.elapsed().as_secs_f64());
    let pool = Scripted(shared.clone());
    let out = drive(
        cfg,
        pool,
        rx,
        SystemTime::now(),
        &mut progress,
        std::future::pending(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (out, written, shared)
}

#[tokio::test(start_paused = true)]
async fn the_error_rate_guard_stops_the_run_when_its_window_first_fills() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let guards = Guards {
        abort_on_error_rate: Some((0.5, Duration::from_secs(2))),
        abort_on_fail: false,
    };
    let cfg = config(plan(), tmp.path(), guards, Vec::new());
    let (out, written, shared) = run(cfg, [(10, 100, true), (10, 100, true)]).await;
    assert_eq!(out.summary.status, RunStatus::Aborted);
    let reason = out.summary.reason.clone().unwrap_or_default();
    assert!(reason.contains("--abort-on-error-rate"), "{reason}");
    // A 2 s window of 1 s intervals is full after interval 1, which closes at 2 s: the stop went out
    // then, and the workers' reports of interval 2 (sent with it) were the last.
    let stop = shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .stopped
        .clone();
    assert_eq!(stop.as_deref(), Some(reason.as_str()));
    assert_eq!(written, vec![1.0, 2.0, 3.0], "intervals written, at s");
    assert_eq!(out.summary.intervals, 3);
}

#[tokio::test(start_paused = true)]
async fn abort_on_fail_stops_the_run_as_soon_as_an_slo_cannot_be_met() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let guards = Guards {
        abort_on_error_rate: None,
        abort_on_fail: true,
    };
    // At most 200 people x 1 step = 200 samples: p99 allows 2 over 1 ms. 20 slow samples in the
    // first interval already break it, whatever comes after.
    let slo = Slo {
        text: "p99 of get < 1ms".into(),
        stat: SloStat::Percentile(99.0),
        region: None,
        step: Some(0),
        op: SloOp::Lt,
        threshold: 1.0,
    };
    let cfg = config(plan(), tmp.path(), guards, vec![slo]);
    let (out, written, _) = run(cfg, [(10, 5_000, true), (10, 5_000, true)]).await;
    assert_eq!(out.summary.status, RunStatus::Aborted);
    let reason = out.summary.reason.unwrap_or_default();
    assert!(reason.contains("can no longer be met"), "{reason}");
    assert_eq!(
        written,
        vec![1.0, 2.0],
        "stopped after interval 0 closed at 1 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_worker_holds_its_intervals_open_until_it_is_declared_lost() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cfg = config(plan(), tmp.path(), Guards::default(), Vec::new());
    // Worker 1 reports interval 0 (at 1 s), then goes silent for good; worker 0 runs to the end.
    let (out, written, shared) = run(cfg, [(10, 100, true), (1, 100, false)]).await;
    assert_eq!(
        shared.lock().unwrap_or_else(|p| p.into_inner()).lost,
        vec![1]
    );
    // Interval 0 closed when both had reported it (1 s). Intervals 1-3 waited for worker 1 until it
    // had been silent for more than 3 intervals: the loop's first check after 4 s (every 250 ms)
    // declared it lost at 4.25 s and closed them at once; the rest closed as worker 0 sent them.
    assert_eq!(
        written,
        vec![1.0, 4.25, 4.25, 4.25, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        "intervals written, at s"
    );
    let lost = &out.summary.lost_workers;
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].worker, "w1");
    assert_eq!(lost[0].missing_intervals, vec![1, 2, 3, 4]);
    assert!(
        (lost[0].lost_at_s - 4.25).abs() < 0.01,
        "{}",
        lost[0].lost_at_s
    );
    assert_eq!(out.summary.status, RunStatus::Complete);
}
