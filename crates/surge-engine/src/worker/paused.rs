//! The open-model scheduler and the interval boundaries on tokio's paused clock: a whole worker run
//! (scheduler, pacer, ticker, drain) whose clock only moves when every task waits, so that where each
//! person starts and which interval counts it are exact, whatever the machine's load.

use super::*;
use crate::{EngineConfig, Pacing};
use surge_metrics::Snapshot;
use surge_plan::Overrides;

/// 60 people over 3 s, flat, 1 s intervals; one step against a port nobody listens on (each journey
/// fails at once: what is tested is when people start, not what they get).
fn profile() -> String {
    surge_testkit::profiles::one_step_text("paused", 60, 3, "")
}

fn spec(plan: Arc<Plan>, pacing: Pacing) -> WorkerSpec {
    let engine = crate::Engine::new(EngineConfig {
        pacing,
        ..EngineConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    WorkerSpec {
        index: 0,
        shards: Arc::new(crate::ShardSet::all(plan.shards)),
        registry: Arc::new(Registry::new(plan.population)),
        targets: Arc::new(Targets::new("http://127.0.0.1:1", &plan)),
        // Unused: the test hands its paused clock's start to `run_from`.
        start: SystemTime::now(),
        max_in_flight: 1_000,
        concurrency: 0,
        limiter: None,
        report_registrations: false,
        drain: Duration::from_secs(2),
        engine,
        first_interval: 0,
        by_region: false,
        plan,
    }
}

/// Runs a whole worker on the paused clock from "now"; answers each interval's snapshot, in order.
async fn run_paused(pacing: Pacing) -> (Arc<Plan>, Vec<Snapshot>) {
    let profile = surge_profile::parse(&profile(), "<paused>").unwrap_or_else(|e| panic!("{e}"));
    let plan =
        Arc::new(Plan::compile(&profile, &Overrides::default()).unwrap_or_else(|e| panic!("{e}")));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (_stop, stop_rx) = watch::channel(false);
    let start = Instant::now();
    LocalSet::new()
        .run_until(run_from(spec(plan.clone(), pacing), start, tx, stop_rx))
        .await;
    let shape = (plan.regions.len() as u16, plan.steps.len() as u16);
    let mut snaps = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let WorkerEvent::Snapshot { snap, .. } = ev {
            let mut s = Snapshot::new(snap.interval, shape.0, shape.1);
            s.merge_sparse(&snap).unwrap_or_else(|e| panic!("{e}"));
            snaps.push(s);
        }
    }
    (plan, snaps)
}

/// People whose intended start falls in interval `k` by the plan alone.
fn intended_in(plan: &Plan, k: u32) -> u64 {
    let (from, to) = (plan.interval * k, plan.interval * (k + 1));
    (0..plan.population)
        .filter(|&u| (from..to).contains(&plan.arrival_offset(u)))
        .count() as u64
}

#[tokio::test(start_paused = true)]
async fn each_interval_counts_exactly_the_people_intended_in_it_and_none_starts_late() {
    let (plan, snaps) = run_paused(Pacing::Coarse).await;
    // tokio's timer wakes on whole milliseconds: a person intended in the last millisecond of an
    // interval (or on its end) wakes together with the interval's end, on either side of it. This
    // plan has nobody there, so the split below is exact.
    for u in 0..plan.population {
        let ms = plan.arrival_offset(u).as_secs_f64() * 1e3;
        assert!(
            ms == 0.0 || !(ms.ceil() as u64).is_multiple_of(1_000),
            "person {u} at {ms} ms"
        );
    }
    let started: Vec<u64> = snaps
        .iter()
        .map(|s| s.merged_counters(None).started)
        .collect();
    let intended: Vec<u64> = (0..3).map(|k| intended_in(&plan, k)).collect();
    assert_eq!(&started[..3], &intended[..], "people started per interval");
    assert_eq!(started.iter().sum::<u64>(), plan.population);
    assert!(intended.iter().all(|&n| n > 0), "{intended:?}");
    // Each interval's snapshot carries its own index, in order, with nothing skipped.
    let order: Vec<u64> = snaps.iter().map(|s| s.interval).collect();
    assert_eq!(order, (0..snaps.len() as u64).collect::<Vec<_>>());
    // Every person's first send left within tokio's 1 ms tick of the intended start.
    let mut all = Snapshot::new(0, 1, plan.steps.len() as u16);
    snaps
        .iter()
        .for_each(|s| all.merge(s).unwrap_or_else(|e| panic!("{e}")));
    let lag = all.merged_cell(None, None).send_lag;
    assert!(lag.len() >= plan.population, "{} sends", lag.len());
    assert!(lag.max() < 1_000, "a send lag of {} µs", lag.max());
    // And every person is accounted for.
    let c = all.merged_counters(None);
    assert_eq!(
        c.succeeded + c.failed + c.unfinished,
        plan.population,
        "{c:?}"
    );
}
