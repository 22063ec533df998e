//! What `surge run`, `surge coordinator` and `surge calibrate` share: phase 1 (everything the user gave
//! us validated and resolved, before any socket opens: the plan, its SLOs, the engine settings, the
//! descriptor budget), phase 2 (the target found or started, and its health check), the run's
//! configuration and the progress line.

use crate::args::RunArgs;
use crate::progress;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::{Guards, RunConfig, RunContext, resolve_slos};
use surge_engine::{Engine, EngineConfig};
use surge_plan::Plan;

/// Default `--max-in-flight`.
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 50_000;

/// `calibrate` and `capacity` take every `run` flag (one flattened [`RunArgs`]), but the live outlets
/// of one long run (`--dashboard`, `--metrics-listen`, `--prom-remote-write`) do not fit their series
/// of short steps or probes: given, they are refused by name before anything starts (exit 2), never
/// silently ignored. `why` says what to do instead.
pub(crate) fn refuse_live_outlets(cmd: &str, a: &RunArgs, why: &str) -> anyhow::Result<()> {
    let given: Vec<&str> = [
        ("--dashboard", a.dashboard.is_some()),
        ("--metrics-listen", a.metrics_listen.is_some()),
        ("--prom-remote-write", a.prom_remote_write.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, on)| on.then_some(flag))
    .collect();
    anyhow::ensure!(
        given.is_empty(),
        "{} {} not available with {cmd}: {why}",
        given.join(", "),
        if given.len() == 1 { "is" } else { "are" }
    );
    Ok(())
}

/// A run's input, validated and resolved.
pub(crate) struct Prepared {
    pub(crate) plan: Arc<Plan>,
    pub(crate) slos: Vec<surge_metrics::Slo>,
    pub(crate) engine: Arc<Engine>,
    pub(crate) capacity: Option<(surge_target::CapacityPlan, String)>,
    /// The in-flight cap this process can hold (the flag's, lowered to the descriptor budget).
    pub(crate) max_in_flight: usize,
    /// What the descriptor limit allowed, for the start line.
    pub(crate) fd_note: Option<String>,
    /// This host's timer floor, measured before sending (`--pacing fine`, open model, people sent from
    /// this process); run.json and the summary keep it.
    pub(crate) timer_floor: Option<surge_results::TimerFloor>,
    /// What the floor means for this run when the host is the limit, said after the start line.
    pub(crate) floor_note: Option<String>,
}

/// Phase 1 of every run: the profile compiled with the overrides (and `--timeout`), its SLOs resolved,
/// the guard flags checked, the engine settings built (CA file read, source addresses checked), the
/// capacity plan loaded, and `--max-in-flight` held to what this process's descriptors allow.
/// `local_workers`: whether this process runs the people itself (its descriptor budget applies).
pub(crate) fn prepare(a: &RunArgs, local_workers: bool) -> anyhow::Result<Prepared> {
    let mut plan = crate::load_plan(a.profile(), &a.shape)?;
    if let Some(t) = a.timeout {
        plan.client.timeout = t;
    }
    let slos = resolve_slos(&plan)
        .with_context(|| format!("invalid profile {}", a.profile().display()))?;
    if let Some(r) = a.abort_on_error_rate {
        anyhow::ensure!(
            r.is_finite() && (0.0..=1.0).contains(&r),
            "--abort-on-error-rate must be a ratio in 0..1, got {r}"
        );
    }
    anyhow::ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let engine = Engine::new(engine_config(a)?)?;
    let capacity = capacity_plan(a, &plan)?;
    let asked = a.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT).max(1);
    let (max_in_flight, fd_note) = if local_workers {
        held_connections_fit(&plan, capacity.is_some())?;
        fd_budget(asked, a.max_in_flight.is_some(), capacity.is_some())
    } else {
        (asked, None)
    };
    let (timer_floor, floor_note) = if local_workers {
        timer_floor(a, &plan)
    } else {
        (None, None)
    };
    Ok(Prepared {
        plan: Arc::new(plan),
        slos,
        engine,
        capacity,
        max_in_flight,
        fd_note,
        timer_floor,
        floor_note,
    })
}

/// How many in-process workers `surge run` starts: `--workers`, else one per core.
pub(crate) fn local_worker_count(a: &RunArgs) -> usize {
    a.workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// With `--pacing fine` and an open model, a short probe of this host's timers before anything is
/// sent ([`surge_engine::floor::preflight`], 150 ms at one worker's wake-up rate at the profile's
/// peak): when the host cannot wake a thread on time as fine pacing needs, the run says so at start, and
/// run.json and the summary keep the figures either way, so that a late send lag is read against
/// what the host allowed.
fn timer_floor(a: &RunArgs, plan: &Plan) -> (Option<surge_results::TimerFloor>, Option<String>) {
    use surge_engine::floor::{
        FLOOR_BUDGET, PREFLIGHT, preflight, preflight_rate, preflight_verdict,
    };
    if a.pacing != surge_engine::pacing::Pacing::Fine
        || !matches!(plan.model, surge_plan::LoadModel::Open)
    {
        return (None, None);
    }
    let rate = plan.peak_rate().0 / local_worker_count(a) as f64;
    match preflight(rate) {
        Ok(f) => {
            let note = preflight_verdict(&f, rate).map(|why| format!("surge: warning: {why}"));
            let floor = surge_results::TimerFloor {
                probe_ms: PREFLIGHT.as_secs_f64() * 1e3,
                rate_per_s: preflight_rate(rate),
                wakeups: f.wakeups,
                p50_us: f.p50_us,
                p99_us: f.p99_us,
                p999_us: f.p999_us,
                max_us: f.max_us,
                budget_us: FLOOR_BUDGET.as_secs_f64() * 1e6,
                cpu_us_per_wakeup: Some(f.cpu_us_per_wakeup),
            };
            (Some(floor), note)
        }
        Err(e) => (
            None,
            Some(format!(
                "surge: warning: could not measure this host's timer floor ({e}); send lag is recorded as always"
            )),
        ),
    }
}

/// The engine settings of the flags: pacing, HTTP/1.1 client, `--tls-ca` (read here: a missing file is
/// an error naming it), `--source-addresses`.
fn engine_config(a: &RunArgs) -> anyhow::Result<EngineConfig> {
    let tls_ca_pem = a
        .tls_ca
        .as_deref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("--tls-ca {}", path.display()))
        })
        .transpose()?;
    let source_addresses = a
        .source_addresses
        .as_deref()
        .map(surge_engine::config::parse_source_addresses)
        .transpose()?
        .unwrap_or_default();
    Ok(EngineConfig {
        pacing: a.pacing,
        http1: a.http1,
        tls_ca_pem,
        tls_ca_origin: a
            .tls_ca
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        source_addresses,
    })
}

/// Raises the soft descriptor limit to the hard one and holds `asked` people in flight to what it
/// allows: lowered, with a warning giving the numbers and the fix when the user asked for it, and
/// said on the start line either way.
fn fd_budget(asked: usize, explicit: bool, embedded: bool) -> (usize, Option<String>) {
    let Some(limit) = surge_engine::limits::raise_nofile() else {
        return (asked, None);
    };
    let budget = surge_engine::limits::FdBudget::new(limit.soft, embedded);
    match budget.shortfall(asked as u64) {
        None => (asked, None),
        Some(why) => {
            if explicit {
                eprintln!("surge: warning: {why}");
            }
            let cap = usize::try_from(budget.max_in_flight).unwrap_or(usize::MAX);
            (
                cap,
                Some(format!(
                    "{} open files allowed",
                    progress::thousands(limit.soft)
                )),
            )
        }
    }
}

/// A run with a connected phase holds a descriptor per WebSocket (two with the embedded target) for
/// each person's dwell: refused before anything is sent when the plan's peak of connections held at
/// once cannot fit in this process's descriptor limit.
fn held_connections_fit(plan: &Plan, embedded: bool) -> anyhow::Result<()> {
    let (Some((peak, at)), Some(limit)) = (
        plan.peak_connections(),
        surge_engine::limits::raise_nofile(),
    ) else {
        return Ok(());
    };
    let budget = surge_engine::limits::FdBudget::new(limit.soft, embedded);
    match budget.connections_shortfall(peak.ceil() as u64, at.as_secs_f64()) {
        Some(why) => anyhow::bail!(why),
        None => Ok(()),
    }
}

/// The capacity plan for the embedded backend: --plan, else the profile's, else baseline. `None` when
/// the run goes to an external target.
fn capacity_plan(
    a: &RunArgs,
    plan: &Plan,
) -> anyhow::Result<Option<(surge_target::CapacityPlan, String)>> {
    if a.target.is_some() || (plan.target.is_some() && a.plan.is_none()) {
        return Ok(None);
    }
    let path: Option<PathBuf> = a.plan.clone().or_else(|| plan.target_plan.clone());
    match path {
        Some(p) => {
            let cp = surge_target::CapacityPlan::load(&p).context("invalid capacity plan")?;
            Ok(Some((cp, p.display().to_string())))
        }
        None => Ok(Some((
            surge_target::CapacityPlan::baseline(),
            "baseline (built in)".into(),
        ))),
    }
}

/// Where the surge goes: an external URL, or the embedded backend we started.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) label: String,
    pub(crate) plan: Option<String>,
    pub(crate) embedded: Option<surge_target::Listening>,
}

impl Target {
    /// Stops the embedded backend, if we started one.
    pub(crate) async fn shutdown(self) {
        if let Some(t) = self.embedded {
            t.shutdown().await;
        }
    }
}

/// Phase 2: the external target, or the embedded reference backend started on 127.0.0.1:0.
pub(crate) async fn start_target(a: &RunArgs, prep: &Prepared) -> anyhow::Result<Target> {
    let Some((cp, plan_name)) = prep.capacity.clone() else {
        let url = a.target.clone().unwrap_or_default();
        return Ok(Target {
            label: url.clone(),
            url,
            plan: None,
            embedded: None,
        });
    };
    let addr = "127.0.0.1:0".parse().context("loopback address")?;
    let l = surge_target::serve(addr, cp)
        .await
        .context("embedded target")?;
    let url = l.url();
    Ok(Target {
        label: format!("embedded reference backend ({url}, plan {plan_name})"),
        url,
        plan: Some(plan_name),
        embedded: Some(l),
    })
}

/// The health check (unless `--no-health-check`): one probe with a 5 s timeout, or, with `retry_for`,
/// 2 s probes until one answers or that time has passed (in docker compose or Kubernetes the coordinator
/// may start before the target listens). A run never starts against a target that does not answer.
pub(crate) async fn health_check(
    a: &RunArgs,
    target: &Target,
    engine: &Engine,
    retry_for: Option<Duration>,
) -> anyhow::Result<()> {
    if a.no_health_check {
        return Ok(());
    }
    let (url, path) = (&target.url, &a.health_check);
    let deadline = tokio::time::Instant::now() + retry_for.unwrap_or_default();
    let probe = if retry_for.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    loop {
        match crate::health::check(url, path, probe, engine).await {
            Ok(status) => {
                anyhow::ensure!(
                    status < 500,
                    "target health check {url}{path} answered {status}"
                );
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() >= deadline => anyhow::bail!(
                "target does not answer the health check (use --no-health-check to skip): {e:#}"
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// What run.json says of a run of these flags against `target`.
pub(crate) fn context(a: &RunArgs, target: &Target) -> RunContext {
    let cfg = prep_settings(a);
    RunContext {
        profile_path: a.profile().display().to_string(),
        profile_sha256: std::fs::read(a.profile())
            .map(|b| surge_results::sha256_hex(&b))
            .unwrap_or_default(),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        args: std::env::args().collect(),
        target_label: target.label.clone(),
        capacity_plan: target.plan.clone(),
        versions: crate::versions(),
        settings: cfg,
        host: crate::host_name(),
    }
}

/// The engine settings of the flags, by name, for run.json.
fn prep_settings(a: &RunArgs) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    m.insert("pacing".into(), a.pacing.as_str().into());
    m.insert("http1".into(), a.http1.as_str().into());
    if let Some(s) = &a.source_addresses {
        m.insert("source_addresses".into(), s.clone());
    }
    if let Some(ca) = &a.tls_ca {
        m.insert("tls_ca".into(), ca.display().to_string());
    }
    m.insert("drain".into(), surge_profile::duration::format(a.drain));
    m
}

/// The run's configuration, the same for `run` and `coordinator`.
pub(crate) fn run_config(
    a: &RunArgs,
    prep: &Prepared,
    target: &Target,
    workers: usize,
    out: &Path,
) -> RunConfig {
    RunConfig {
        plan: prep.plan.clone(),
        target: target.url.clone(),
        workers,
        info: surge_results::RunInfo {
            timer_floor: prep.timer_floor.clone(),
            ..surge_coordinator::run_info(&prep.plan, &context(a, target), workers)
        },
        out_dir: out.to_path_buf(),
        slos: prep.slos.clone(),
        guards: Guards {
            abort_on_error_rate: a.abort_on_error_rate.map(|r| (r, a.abort_window)),
            abort_on_fail: a.abort_on_fail,
        },
        max_rps: a.max_rps,
        max_in_flight: prep.max_in_flight,
        drain: a.drain,
        live: None,
        engine: prep.engine.clone(),
        resume: None,
    }
}

/// The results folder: `--out`, else results/<UTC time>-<profile name>.
pub(crate) fn out_dir(a: &RunArgs, plan: &Plan) -> PathBuf {
    a.out
        .clone()
        .unwrap_or_else(|| surge_results::default_run_dir(Path::new("results"), &plan.name))
}

/// The start line's "max N in flight" with what limited it.
pub(crate) fn in_flight_text(prep: &Prepared) -> String {
    match &prep.fd_note {
        Some(note) => format!(
            "max {} in flight ({note})",
            progress::thousands(prep.max_in_flight as u64)
        ),
        None => format!(
            "max {} in flight",
            progress::thousands(prep.max_in_flight as u64)
        ),
    }
}
