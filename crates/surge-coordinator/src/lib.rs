//! # surge-coordinator
//!
//! The run: it hands shards to workers (in-process threads for `surge run`, remote processes that joined
//! over HTTP for `surge coordinator`), merges their interval snapshots exactly ([`collect::Collector`]),
//! writes every complete interval through `surge-results` as the run goes, watches the abort guards and
//! SLOs ([`guard`]), declares silent workers lost and moves their shards to the survivors, serves live
//! Prometheus figures ([`live`]) and pushes them by remote write ([`remote_write`]), and writes the summary however the run ends (done, aborted,
//! interrupted). Local and remote workers go through one loop and one interface ([`pool::Pool`]).
//! [`remote::agent`] is the worker process's side. It never renders reports.
//!
//! ```no_run
//! # async fn demo(cfg: surge_coordinator::RunConfig) -> Result<(), surge_coordinator::RunError> {
//! let outcome = surge_coordinator::run_local(cfg, &mut |_p| {}, std::future::pending()).await?;
//! println!("results in {}", outcome.dir.display());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod calibrate;
pub mod capacity;
pub mod collect;
pub mod dashboard;
pub mod guard;
pub mod info;
pub mod live;
pub mod pool;
pub mod remote;
pub mod remote_write;
pub mod run;

pub use dashboard::Dashboard;
pub use guard::Guards;
pub use info::{RunContext, model_name, run_info};
pub use live::LiveMetrics;
pub use remote::agent::{ReportLoop, WorkerConfig, WorkerEnd, WorkerError, run_worker};
pub use remote::{Coordinator, Listener, RemoteConfig, serve_dashboard, serve_metrics};
pub use remote_write::{PushReport, RemoteWrite, RemoteWriteConfig, RemoteWriteError};
pub use run::{Progress, RunConfig, RunOutcome, run_local};

use surge_metrics::Slo;
use surge_plan::Plan;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing results failed: the run stops rather than lose data silently.
    #[error("results")]
    Results(#[from] surge_results::ResultsError),
    /// A worker thread could not be started.
    #[error("could not start a worker thread")]
    Spawn(#[source] std::io::Error),
    /// The coordinator's listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Stopped (Ctrl-C) before every worker had joined: nothing was run.
    #[error(
        "interrupted while waiting for workers ({joined} of {expected} joined): nothing was run"
    )]
    Interrupted {
        /// Workers joined.
        joined: usize,
        /// Workers expected.
        expected: usize,
    },
    /// People are placed by region and the workers that joined cannot take them (nothing was sent).
    #[error("cannot place people by region")]
    Placement(#[source] crate::remote::placement::PlacementError),
    /// The profile does not compile with these overrides.
    #[error("plan")]
    Plan(#[source] surge_plan::PlanError),
    /// A snapshot did not fit the plan's shape.
    #[error("snapshot")]
    Metrics(#[from] surge_metrics::MetricsError),
    /// An SLO names a region or step that the plan does not have.
    #[error("slo `{slo}`: unknown {what} `{name}`")]
    Slo {
        /// The SLO text.
        slo: String,
        /// "region" or "step".
        what: &'static str,
        /// The unknown name.
        name: String,
    },
}

/// Intended arrivals per region during interval `k`, from the plan's curves.
pub fn intended_arrivals(plan: &Plan, k: u64) -> Vec<f64> {
    let from = plan.interval * k as u32;
    let to = from + plan.interval;
    (0..plan.regions.len() as u16)
        .map(|r| plan.intended_count(r, from, to))
        .collect()
}

/// Resolves the profile's SLOs against the plan's region and step names.
pub fn resolve_slos(plan: &Plan) -> Result<Vec<Slo>, RunError> {
    plan.slos
        .iter()
        .map(|s| {
            let region = match &s.region {
                Some(n) => Some(plan.region_index(n).ok_or_else(|| RunError::Slo {
                    slo: s.text.clone(),
                    what: "region",
                    name: n.clone(),
                })?),
                None => None,
            };
            let step = match &s.step {
                Some(n) => Some(plan.step_index(n).ok_or_else(|| RunError::Slo {
                    slo: s.text.clone(),
                    what: "step",
                    name: n.clone(),
                })?),
                None => None,
            };
            Ok(Slo {
                text: s.text.clone(),
                stat: s.stat,
                region,
                step,
                op: s.op,
                threshold: s.threshold,
            })
        })
        .collect()
}
