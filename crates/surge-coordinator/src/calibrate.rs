//! Calibration: how many journeys per second one worker (one core) sustains for a profile's journey
//! while its SLOs hold, and so how many workers the profile's peak needs per region.
//!
//! The journey runs in the closed model on one worker at doubling concurrency (1, 2, 4, ...), a short
//! step each, each step with a fresh seed so no person registers twice, until an SLO fails or
//! throughput stops growing by more than [`GROWTH`]. The best passing step's journeys per second is
//! the per-worker capacity.

use crate::info::{RunContext, run_info};
use crate::{Guards, RunConfig, RunError, resolve_slos, run_local};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use surge_plan::{LoadModel, Overrides, Plan};
use surge_profile::Profile;

/// A step must beat the one before by this factor for the doubling to go on.
pub const GROWTH: f64 = 1.05;

/// What to calibrate.
pub struct Calibration<'a> {
    /// The profile (each step recompiles it with a fresh seed).
    pub profile: &'a Profile,
    /// The overrides of the run (scale and seed are changed per step).
    pub overrides: Overrides,
    /// `--timeout`, if given.
    pub timeout: Option<Duration>,
    /// Base URL of the target.
    pub target: String,
    /// What run.json says of the run.
    pub context: RunContext,
    /// Length of each step.
    pub step: Duration,
    /// Highest concurrency tried.
    pub max_concurrency: u32,
    /// Drain of each step.
    pub drain: Duration,
    /// The engine settings.
    pub engine: Arc<surge_engine::Engine>,
    /// A scratch folder for the steps' results (removed at the end).
    pub scratch: PathBuf,
}

/// One calibration step's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationStep {
    /// Closed-model concurrency.
    pub concurrency: u32,
    /// Journeys finished per second.
    pub journeys_per_s: f64,
    /// Every SLO held and no step failed.
    pub pass: bool,
}

/// Runs the steps; `on_step` sees each as it ends.
pub async fn calibrate(
    c: Calibration<'_>,
    on_step: &mut dyn FnMut(&CalibrationStep),
) -> Result<Vec<CalibrationStep>, RunError> {
    let base = Plan::compile(c.profile, &c.overrides).map_err(RunError::Plan)?;
    let mut steps: Vec<CalibrationStep> = Vec::new();
    let mut concurrency = 1u32;
    while concurrency <= c.max_concurrency {
        let mut ov = c.overrides.clone();
        ov.seed = Some(base.seed.wrapping_add(1 + steps.len() as u64));
        // Enough people that the closed loop never comes back to someone already registered.
        let grow = (1_000_000.0 / base.population.max(1) as f64).max(1.0);
        ov.scale = Some(base.scale * grow);
        let mut plan = Plan::compile(c.profile, &ov).map_err(RunError::Plan)?;
        plan.model = LoadModel::Closed { concurrency };
        plan.run_duration = c.step;
        if let Some(t) = c.timeout {
            plan.client.timeout = t;
        }
        let slos = resolve_slos(&plan)?;
        let plan = Arc::new(plan);
        let cfg = RunConfig {
            info: run_info(&plan, &c.context, 1),
            plan: plan.clone(),
            target: c.target.clone(),
            workers: 1,
            out_dir: c.scratch.join(format!("c{concurrency}")),
            slos,
            guards: Guards::default(),
            max_rps: 0,
            max_in_flight: concurrency as usize,
            drain: c.drain,
            live: None,
            engine: c.engine.clone(),
            resume: None,
        };
        let outcome = run_local(cfg, &mut |_| {}, std::future::pending()).await?;
        let s = &outcome.summary;
        let finished: u64 = s.journeys.values().map(|j| j.succeeded + j.failed).sum();
        let step = CalibrationStep {
            concurrency,
            journeys_per_s: finished as f64 / c.step.as_secs_f64().max(1e-9),
            pass: s.all_slos_pass && s.totals.errors == 0,
        };
        on_step(&step);
        let stop = !step.pass || !grew(steps.last(), &step);
        steps.push(step);
        if stop {
            break;
        }
        concurrency = concurrency.saturating_mul(2);
    }
    let _ = std::fs::remove_dir_all(&c.scratch);
    Ok(steps)
}

/// Whether `step` grew enough over the step before it (the first step always has).
pub fn grew(before: Option<&CalibrationStep>, step: &CalibrationStep) -> bool {
    before.is_none_or(|p| step.journeys_per_s > p.journeys_per_s * GROWTH)
}

/// The best passing step's journeys per second (0 when none passed).
pub fn capacity(steps: &[CalibrationStep]) -> f64 {
    steps
        .iter()
        .filter(|s| s.pass)
        .map(|s| s.journeys_per_s)
        .fold(0.0, f64::max)
}

/// The verdict: per-worker capacity, and workers needed per region at the profile's peak.
pub fn verdict(plan: &Plan, steps: &[CalibrationStep]) -> String {
    let best = capacity(steps);
    let mut out = String::new();
    if best <= 0.0 {
        out.push_str("no concurrency met the SLOs: one worker cannot sustain this journey at its SLOs against this target\n");
        return out;
    }
    out.push_str(&format!(
        "one worker sustains {best:.1} journeys/s with every SLO met\n\n"
    ));
    out.push_str(&format!(
        "{:<12} {:>14} {:>8}\n",
        "region", "peak /s", "workers"
    ));
    for (i, r) in plan.regions.iter().enumerate() {
        let (peak, _) = plan.region_peak_rate(i as u16);
        out.push_str(&format!(
            "{:<12} {:>14.1} {:>8}\n",
            r.name,
            peak,
            workers_for(peak, best)
        ));
    }
    let (peak, at) = plan.peak_rate();
    out.push_str(&format!(
        "{:<12} {:>14.1} {:>8}   (peak at {} into the run)\n",
        "all",
        peak,
        workers_for(peak, best),
        surge_profile::duration::format(at)
    ));
    out
}

/// Workers needed for `rate` journeys/s when one sustains `per_worker` (at least one).
pub fn workers_for(rate: f64, per_worker: f64) -> u64 {
    if per_worker <= 0.0 || !rate.is_finite() {
        return 1;
    }
    (rate / per_worker).ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(concurrency: u32, journeys_per_s: f64, pass: bool) -> CalibrationStep {
        CalibrationStep {
            concurrency,
            journeys_per_s,
            pass,
        }
    }

    #[test]
    fn doubling_stops_when_growth_stalls_and_the_best_pass_is_the_capacity() {
        assert!(grew(None, &step(1, 10.0, true)));
        assert!(grew(Some(&step(1, 10.0, true)), &step(2, 10.6, true)));
        assert!(!grew(Some(&step(1, 10.0, true)), &step(2, 10.4, true)));
        let steps = [
            step(1, 10.0, true),
            step(2, 19.0, true),
            step(4, 30.0, false),
        ];
        assert_eq!(capacity(&steps), 19.0);
        assert_eq!(capacity(&[step(1, 5.0, false)]), 0.0);
        assert_eq!(workers_for(100.0, 19.0), 6);
        assert_eq!(workers_for(1.0, 19.0), 1);
        assert_eq!(workers_for(1.0, 0.0), 1);
    }
}
