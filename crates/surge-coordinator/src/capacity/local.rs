//! [`LocalProber`]: real probes, each an open-model run of the probe's plan with in-process workers
//! against the target, read back for the search.

use super::{Prober, RegionSearch, probe, search};
use crate::info::{RunContext, run_info};
use crate::{Guards, RunConfig, RunError, resolve_slos, run_local};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use surge_plan::{Overrides, Plan};
use surge_profile::Profile;
use surge_results::capacity::Probe;

/// Real probes: open-model runs with in-process workers against the target.
pub struct LocalProber<'a> {
    /// The validated profile.
    pub profile: &'a Profile,
    /// The run's overrides (the interval is kept; seed, scale and length are the probe's).
    pub overrides: Overrides,
    /// `--timeout`, if given.
    pub timeout: Option<Duration>,
    /// Probe length.
    pub length: Duration,
    /// Base URL of the target.
    pub target: String,
    /// run.json's context.
    pub context: RunContext,
    /// Workers (engine threads).
    pub workers: usize,
    /// `--max-rps`.
    pub max_rps: u32,
    /// `--max-in-flight`.
    pub max_in_flight: usize,
    /// Drain after each probe.
    pub drain: Duration,
    /// Abort guards (`--abort-on-fail`...).
    pub guards: Guards,
    /// The engine settings.
    pub engine: Arc<surge_engine::Engine>,
    /// The capacity folder.
    pub out: PathBuf,
    /// Base seed: probe `n` runs with `seed + n` (nobody registers twice).
    pub seed: u64,
    /// Stop (Ctrl-C): becomes true once.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Probes run so far.
    pub count: u64,
}

impl Prober for LocalProber<'_> {
    async fn probe(
        &mut self,
        repeat: u32,
        search: &RegionSearch,
        rates: &[f64],
        name: &str,
    ) -> Result<Option<Probe>, RunError> {
        if self.stopped() {
            return Ok(None);
        }
        self.count += 1;
        let seed = self.seed.wrapping_add(self.count);
        let profile = probe::probe_profile(self.profile, rates, self.length, seed);
        let ov = Overrides {
            seed: Some(seed),
            interval: self.overrides.interval,
            ..Overrides::default()
        };
        let mut plan = Plan::compile(&profile, &ov).map_err(RunError::Plan)?;
        if let Some(t) = self.timeout {
            plan.client.timeout = t;
        }
        let slos = resolve_slos(&plan)?;
        let plan = Arc::new(plan);
        let region_name = plan.regions[usize::from(search.region)].name.clone();
        let dir = self.out.join(name);
        let cfg = RunConfig {
            info: run_info(&plan, &self.context, self.workers),
            plan: plan.clone(),
            target: self.target.clone(),
            workers: self.workers,
            out_dir: dir,
            slos,
            guards: self.guards.clone(),
            max_rps: self.max_rps,
            max_in_flight: self.max_in_flight,
            drain: self.drain,
            live: None,
            engine: self.engine.clone(),
            resume: None,
        };
        let mut stop = self.stop.clone();
        let stop = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let outcome = run_local(cfg, &mut |_| {}, stop).await?;
        if outcome.summary.status == surge_results::RunStatus::Interrupted {
            return Ok(None);
        }
        let data = surge_results::RunData::read(&outcome.dir)?;
        let arrival_intervals =
            (self.length.as_secs_f64() / plan.interval.as_secs_f64().max(1e-9)).ceil() as u64;
        let completed = probe::completed_ratio(&data.region_rows, &region_name, arrival_intervals);
        let facts = probe::ProbeFacts {
            repeat,
            region: &region_name,
            rates: plan
                .regions
                .iter()
                .zip(rates)
                .map(|(r, &v)| (r.name.clone(), search::round_rate(v)))
                .collect(),
            dir: name.to_string(),
            length_s: self.length.as_secs_f64(),
            applies: &search.applies,
            lag_limit_ms: search.lag_limit_ms,
            completed,
        };
        Ok(Some(probe::record(facts, &outcome.summary)))
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}
