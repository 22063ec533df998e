//! [`LocalProber`]: real probes, each an open-model run of the probe's plan against the target, with
//! in-process workers or, with [`RemoteProbes`], through the coordinator with remote worker processes
//! that take part in every probe of the search; each probe read back for the search.

use super::{Prober, RegionSearch, probe, search};
use crate::info::{RunContext, run_info};
use crate::remote::{Coordinator, RemoteConfig, ServerTls};
use crate::{Guards, RunConfig, RunError, RunOutcome, resolve_slos, run_local};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use surge_plan::{Overrides, Plan};
use surge_profile::Profile;
use surge_results::capacity::Probe;
use surge_wire::{ProfileSource, SteadyProbe, WireOverrides};

/// Real probes: open-model runs against the target, with in-process workers unless [`Self::remote`].
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
    /// Workers (engine threads; with [`Self::remote`], the remote worker processes to wait for).
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
    /// Through the coordinator: every probe is a distributed run with remote worker processes.
    pub remote: Option<RemoteProbes>,
}

/// Told as workers join: name, joined, expected.
pub type OnJoin = Box<dyn FnMut(&str, usize, usize) + Send>;

/// A capacity search through the coordinator: each probe binds the listener (the same address every
/// time), waits for the workers (who join again after each probe), runs, and closes it; at the end,
/// [`RemoteProbes::release`] tells the workers the search is over.
pub struct RemoteProbes {
    /// Where to listen (port 0: any free port, then the same one for every probe).
    pub listen: SocketAddr,
    /// The run's token.
    pub token: String,
    /// HTTPS for the workers.
    pub tls: Option<ServerTls>,
    /// Placement by region.
    pub by_region: bool,
    /// The profile text sent to the workers (they compile each probe of it themselves).
    pub profile: ProfileSource,
    /// Called with the listener's URL once bound for the first probe (to tell the workers).
    pub on_listen: Box<dyn FnMut(&str) + Send>,
    /// Called as workers join: name, joined, expected.
    pub on_join: OnJoin,
    /// Whether the first bind happened (the URL is announced once).
    bound: bool,
}

impl RemoteProbes {
    /// Probes through a coordinator listening on `listen` with `token`.
    pub fn new(listen: SocketAddr, token: String, profile: ProfileSource) -> RemoteProbes {
        RemoteProbes {
            listen,
            token,
            tls: None,
            by_region: false,
            profile,
            on_listen: Box::new(|_| {}),
            on_join: Box::new(|_, _, _| {}),
            bound: false,
        }
    }

    async fn run(
        &mut self,
        cfg: RunConfig,
        probe: SteadyProbe,
        overrides: WireOverrides,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<RunOutcome, RunError> {
        let remote = RemoteConfig {
            listen: self.listen,
            token: self.token.clone(),
            profile: self.profile.clone(),
            overrides,
            by_region: self.by_region,
            probe: Some(probe),
            rejoin: true,
        };
        let coordinator = Coordinator::bind_with_tls(&cfg, remote, self.tls.clone()).await?;
        if !self.bound {
            // Port 0 becomes a real port: every later probe listens on that one.
            self.listen = coordinator.local_addr();
            self.bound = true;
            (self.on_listen)(&coordinator.url());
        }
        coordinator
            .run(cfg, &mut *self.on_join, &mut |_| {}, stop)
            .await
    }

    /// The search is over: tells each worker that joins again so (`surge worker` exits 0), waiting
    /// until all `workers` were told or 15 s passed; returns how many were told.
    pub async fn release(&self, workers: usize, reason: &str) -> Result<usize, RunError> {
        if !self.bound {
            return Ok(0);
        }
        crate::remote::farewell(
            self.listen,
            &self.token,
            self.tls.clone(),
            reason,
            workers,
            Duration::from_secs(15),
        )
        .await
    }
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
        let outcome = match &mut self.remote {
            None => run_local(cfg, &mut |_| {}, stop).await?,
            Some(remote) => {
                let shape = SteadyProbe {
                    rates: rates.to_vec(),
                    length_ms: u64::try_from(self.length.as_millis()).unwrap_or(u64::MAX),
                    seed,
                };
                remote
                    .run(cfg, shape, WireOverrides::new(&ov, self.timeout), stop)
                    .await?
            }
        };
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
