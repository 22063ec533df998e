//! Distributed mode: the coordinator's listener and run ([`Coordinator`]), and the worker process's
//! side of the conversation ([`agent::run_worker`]). The messages are `surge-wire`'s; the transport is
//! HTTP/1.1 (hyper) with JSON bodies and the run's token on every request, over plain TCP or TLS
//! ([`tls`]: the coordinator's certificate from PEM files, workers trusting `--tls-ca`).

pub mod agent;
mod clock;
mod crew;
mod deadman;
pub(crate) mod link;
pub mod placement;
pub(crate) mod server;
pub(crate) mod state;
pub mod tls;

use crate::RunError;
use crate::live::LiveMetrics;
use crate::run::{Progress, RunConfig, RunOutcome, drive};
use server::{Routes, Server};
use state::{RemotePool, RemoteState};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use surge_engine::WorkerEvent;
use surge_wire::{Assignment, PROTOCOL_VERSION, PlanFingerprint, ProfileSource, WireOverrides};
use tokio::sync::mpsc;

pub use deadman::LinkFailure;
pub use link::{JoinUrlError, LinkError};
pub use server::{Server as Listener, serve_dashboard, serve_metrics};
pub use tls::{ServerTls, TlsFileError, server_tls};

/// How far ahead of "every worker joined" the common start is set, so every worker has compiled its
/// plan and spawned its threads before the first arrival.
pub const START_LEAD: Duration = Duration::from_millis(800);

/// What distributed mode adds to a [`RunConfig`].
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Where to listen (127.0.0.1 unless told otherwise).
    pub listen: SocketAddr,
    /// The shared token every worker request must carry.
    pub token: String,
    /// The profile text, sent to workers so they need no files.
    pub profile: ProfileSource,
    /// The overrides the plan was compiled with.
    pub overrides: WireOverrides,
    /// Placement by region (`--placement region`): each region's people are sent only from the
    /// workers that joined with `--region` naming it (see [`placement`]).
    pub by_region: bool,
    /// A capacity search's probe: the workers compile this steady probe of the profile.
    pub probe: Option<surge_wire::SteadyProbe>,
    /// More runs follow on the same address (a capacity search): the workers join again after this
    /// one, until [`farewell`] tells them the series is over.
    pub rejoin: bool,
}

/// A coordinator listening for its workers.
pub struct Coordinator {
    server: Server,
    state: Arc<RemoteState>,
    rx: mpsc::UnboundedReceiver<WorkerEvent>,
    live: Arc<LiveMetrics>,
    remote: RemoteConfig,
}

impl Coordinator {
    /// Binds the listener for the run `cfg` describes (`cfg.workers` remote workers are expected).
    pub async fn bind(cfg: &RunConfig, remote: RemoteConfig) -> Result<Coordinator, RunError> {
        Coordinator::bind_with_tls(cfg, remote, None).await
    }

    /// As [`Coordinator::bind`]; with `Some(tls)` (from [`server_tls`]) the listener speaks HTTPS only.
    pub async fn bind_with_tls(
        cfg: &RunConfig,
        remote: RemoteConfig,
        tls: Option<ServerTls>,
    ) -> Result<Coordinator, RunError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let plan = &cfg.plan;
        let horizon = plan.run_duration + cfg.drain + Duration::from_secs(60);
        let max_interval =
            (horizon.as_secs_f64() / plan.interval.as_secs_f64().max(1e-3)) as u64 + 8;
        let mut state = RemoteState::new(
            remote.token.clone(),
            cfg.workers.max(1),
            &cfg.plan,
            remote.by_region,
            max_interval,
            tx,
        );
        state.series = remote.rejoin;
        let state = Arc::new(state);
        let live = cfg.live.clone().unwrap_or_default();
        let routes = Arc::new(Routes {
            dashboard: crate::dashboard::Served::on(&live, remote.listen),
            live: live.clone(),
            remote: Some(state.clone()),
            farewell: None,
        });
        let server = server::bind(remote.listen, routes, tls).await?;
        Ok(Coordinator {
            server,
            state,
            rx,
            live,
            remote,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The URL workers join: `https://ADDR` with TLS, else `http://ADDR`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Waits for every worker (`on_join(name, joined, expected)` after each), starts them together,
    /// and runs the same loop as [`crate::run_local`] until the plan ends, a guard trips, or `stop`
    /// resolves (then every worker is told to stop and the results so far are written).
    pub async fn run(
        self,
        cfg: RunConfig,
        on_join: &mut (dyn FnMut(&str, usize, usize) + Send),
        progress: &mut (dyn FnMut(&Progress) + Send),
        stop: impl Future<Output = ()>,
    ) -> Result<RunOutcome, RunError> {
        let (outcome, server) = self.run_and_keep(cfg, on_join, progress, stop).await;
        server.shutdown().await;
        outcome
    }

    /// As [`Coordinator::run`], but the listener is handed back instead of closed: it goes on serving
    /// `/metrics` and the live page (with `/report.html` once written) while the caller lingers;
    /// workers that report after the end are told to stop.
    pub async fn run_and_keep(
        self,
        mut cfg: RunConfig,
        on_join: &mut (dyn FnMut(&str, usize, usize) + Send),
        progress: &mut (dyn FnMut(&Progress) + Send),
        stop: impl Future<Output = ()>,
    ) -> (Result<RunOutcome, RunError>, Listener) {
        let Coordinator {
            server,
            state,
            rx,
            live,
            remote,
        } = self;
        tokio::pin!(stop);
        let expected = cfg.workers.max(1);
        if let Err(e) = wait_for_workers(&state, expected, on_join, stop.as_mut()).await {
            return (Err(e), server);
        }
        let units = match state.initial_units() {
            Ok(units) => units,
            Err(e) => {
                // Nothing was sent: the waiting workers are answered with the reason, then we stop.
                state.refuse(&format!("{e}"));
                tokio::time::sleep(Duration::from_millis(300)).await;
                return (Err(RunError::Placement(e)), server);
            }
        };
        cfg.info.clocks = state
            .clocks_at_join()
            .into_iter()
            .filter_map(|(worker, c)| {
                c.map(|c| surge_results::WorkerClock {
                    worker,
                    offset_ms: c.offset_us as f64 / 1000.0,
                    bound_ms: c.bound_us as f64 / 1000.0,
                    samples: c.samples,
                })
            })
            .collect();
        let start = cfg.common_start(SystemTime::now() + START_LEAD);
        state.start(assignment(&cfg, &remote, start, expected), units);
        cfg.live = Some(live);
        let pool = RemotePool {
            state: state.clone(),
        };
        let outcome = drive(cfg, pool, rx, start, progress, stop).await;
        // Later reports hear "stop"; replies in flight get a moment to reach their workers.
        state.set_stop("the run has ended");
        tokio::time::sleep(Duration::from_millis(300)).await;
        (outcome, server)
    }
}

/// The end of a series of runs on `listen` (a capacity search's probes): a listener that tells each
/// worker joining again that the series is over (`410 Gone` with `reason`; `surge worker` then exits
/// 0), until `workers` of them have been told or `limit` has passed.
pub async fn farewell(
    listen: SocketAddr,
    token: &str,
    tls: Option<ServerTls>,
    reason: &str,
    workers: usize,
    limit: Duration,
) -> Result<usize, RunError> {
    let (told, mut count) = tokio::sync::watch::channel(0usize);
    let routes = Arc::new(Routes {
        live: Arc::default(),
        remote: None,
        dashboard: None,
        farewell: Some(Arc::new(server::Farewell {
            token: token.to_string(),
            reason: reason.to_string(),
            told,
        })),
    });
    let server = server::bind(listen, routes, tls).await?;
    let _ = tokio::time::timeout(limit, count.wait_for(|n| *n >= workers)).await;
    let n = *count.borrow();
    // The last answers get a moment to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shutdown().await;
    Ok(n)
}

async fn wait_for_workers(
    state: &RemoteState,
    expected: usize,
    on_join: &mut (dyn FnMut(&str, usize, usize) + Send),
    mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(), RunError> {
    let mut joined = state.joined();
    let mut seen = 0;
    loop {
        let n = *joined.borrow_and_update();
        let names = state.names();
        for name in names.iter().take(n).skip(seen) {
            seen += 1;
            on_join(name, seen, expected);
        }
        if n >= expected {
            return Ok(());
        }
        tokio::select! {
            r = joined.changed() => if r.is_err() { return Err(RunError::Interrupted { joined: n, expected }) },
            _ = stop.as_mut() => return Err(RunError::Interrupted { joined: n, expected }),
        }
    }
}

fn assignment(
    cfg: &RunConfig,
    remote: &RemoteConfig,
    start: SystemTime,
    workers: usize,
) -> Assignment {
    let plan = &cfg.plan;
    let n = workers.max(1);
    let total_concurrency = match plan.model {
        surge_plan::LoadModel::Closed { concurrency } => concurrency,
        surge_plan::LoadModel::Open => 0,
    };
    Assignment {
        version: PROTOCOL_VERSION,
        worker: 0,
        workers: n as u32,
        profile: remote.profile.clone(),
        overrides: remote.overrides.clone(),
        fingerprint: PlanFingerprint::of(plan),
        target: cfg.target.clone(),
        shards: Vec::new(),
        shards_version: 0,
        start_unix_ms: start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        max_in_flight: (cfg.max_in_flight / n).max(1) as u64,
        max_rps: if cfg.max_rps == 0 {
            0
        } else {
            (cfg.max_rps / n as u32).max(1)
        },
        concurrency: total_concurrency,
        drain_ms: cfg.drain.as_millis() as u64,
        engine: cfg.engine.config().clone(),
        first_interval: cfg.first_interval(),
        by_region: remote.by_region,
        clock: None,
        probe: remote.probe.clone(),
        rejoin: remote.rejoin,
    }
}
