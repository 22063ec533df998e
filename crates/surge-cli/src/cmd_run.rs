//! `surge run`: validate everything, start (or find) the target, check it answers, run, report.

use crate::args::RunArgs;
use crate::progress;
use anyhow::Context as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::{Guards, RunConfig, resolve_slos, run_local};
use surge_plan::{LoadModel, Plan};
use surge_results::{RunInfo, RunStatus};

/// Where the surge goes: an external URL, or the embedded backend we started.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) label: String,
    pub(crate) plan: Option<String>,
    pub(crate) embedded: Option<surge_target::Listening>,
}

pub async fn run(a: RunArgs) -> anyhow::Result<i32> {
    // Phase 1: everything the user gave us is validated before any socket opens.
    let (plan, slos) = validated_plan(&a)?;
    anyhow::ensure!(a.repeat >= 1, "--repeat must be at least 1");
    let tls = a
        .tls_ca
        .as_deref()
        .map(|ca| surge_engine::http::tls_config(Some(ca)))
        .transpose()?;
    surge_engine::http::set_run_tls(tls);
    let capacity = capacity_plan(&a, &plan)?;
    let plan = Arc::new(plan);

    // Phase 2: the target.
    let target = start_target(&a, capacity).await?;
    if !a.no_health_check {
        let status = crate::health::check(&target.url, &a.health_check, Duration::from_secs(5))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "target does not answer the health check (use --no-health-check to skip): {e}"
                )
            })?;
        anyhow::ensure!(
            status < 500,
            "target health check {}{} answered {status}",
            target.url,
            a.health_check
        );
    }
    let workers = a
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    eprintln!(
        "surge: {} people over {} ({}), target {}, {} worker(s), max {} in flight, max-rps {}",
        progress::thousands(plan.population),
        surge_profile::duration::format(plan.run_duration),
        model_name(&plan),
        target.label,
        workers,
        progress::thousands(a.max_in_flight as u64),
        if a.max_rps == 0 {
            "none".to_string()
        } else {
            progress::thousands(a.max_rps as u64)
        },
    );

    let base_out = a
        .out
        .clone()
        .unwrap_or_else(|| surge_results::default_run_dir(Path::new("results"), &plan.name));
    let mut worst = crate::EXIT_OK;
    for i in 1..=a.repeat {
        let out = if a.repeat == 1 {
            base_out.clone()
        } else {
            base_out.join(format!("repeat-{i}"))
        };
        let code = one_run(&a, &plan, &slos, &target, workers, &out).await?;
        worst = worst.max(code);
    }
    if let Some(t) = target.embedded {
        t.shutdown().await;
    }
    Ok(worst)
}

async fn one_run(
    a: &RunArgs,
    plan: &Arc<Plan>,
    slos: &[surge_metrics::Slo],
    target: &Target,
    workers: usize,
    out: &Path,
) -> anyhow::Result<i32> {
    let (live, metrics_server) = live_metrics(a).await?;
    let cfg = RunConfig {
        plan: plan.clone(),
        target: target.url.clone(),
        workers,
        info: run_info(a, plan, target, workers),
        out_dir: out.to_path_buf(),
        slos: slos.to_vec(),
        guards: Guards {
            abort_on_error_rate: a.abort_on_error_rate.map(|r| (r, a.abort_window)),
            abort_on_fail: a.abort_on_fail,
        },
        max_rps: a.max_rps,
        max_in_flight: a.max_in_flight,
        drain: a.drain,
        live,
    };
    let bar = progress::bar(plan.run_duration.as_secs());
    let bar2 = bar.clone();
    let mut on_progress = move |p: &surge_coordinator::Progress| {
        bar2.set_position(p.elapsed.as_secs().min(p.total.as_secs()));
        bar2.set_message(progress::message(p));
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = run_local(cfg, &mut on_progress, stop).await?;
    if let Some(server) = metrics_server {
        server.shutdown().await;
    }
    bar.finish_and_clear();
    print_outcome(a, &outcome)
}

/// Prints the table (and writes the reports) of a finished run; its exit code.
pub(crate) fn print_outcome(
    a: &RunArgs,
    outcome: &surge_coordinator::RunOutcome,
) -> anyhow::Result<i32> {
    let data = surge_results::RunData::read(&outcome.dir)
        .with_context(|| format!("reading back {}", outcome.dir.display()))?;
    println!(
        "{}",
        surge_report::terminal_table(&data, progress::color_wanted())
    );
    if !a.no_report {
        let (html, md) = surge_report::write_reports(&data)?;
        println!("report: {}\n        {}", html.display(), md.display());
    }
    println!("results: {}", outcome.dir.display());
    if let Some(r) = &outcome.summary.reason {
        eprintln!("surge: {r}");
    }
    let failed = !outcome.summary.all_slos_pass || outcome.summary.status == RunStatus::Aborted;
    Ok(if failed {
        crate::EXIT_SLO_FAILED
    } else {
        crate::EXIT_OK
    })
}

/// The profile compiled with the run's overrides (and `--timeout`), its SLOs resolved, and the guard
/// flags checked: phase 1 of `run` and `coordinator`, before any socket opens.
pub(crate) fn validated_plan(a: &RunArgs) -> anyhow::Result<(Plan, Vec<surge_metrics::Slo>)> {
    let mut plan = crate::load_plan(&a.profile, &a.shape)?;
    if let Some(t) = a.timeout {
        plan.client.timeout = t;
    }
    let slos = resolve_slos(&plan)
        .map_err(|e| anyhow::anyhow!("invalid profile {}: {e}", a.profile.display()))?;
    if let Some(r) = a.abort_on_error_rate {
        anyhow::ensure!(
            r.is_finite() && (0.0..=1.0).contains(&r),
            "--abort-on-error-rate must be a ratio in 0..1, got {r}"
        );
    }
    Ok((plan, slos))
}

/// The capacity plan for the embedded backend: --plan, else the profile's, else baseline.
pub(crate) fn capacity_plan(
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

pub(crate) async fn start_target(
    a: &RunArgs,
    capacity: Option<(surge_target::CapacityPlan, String)>,
) -> anyhow::Result<Target> {
    let Some((cp, plan_name)) = capacity else {
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

pub(crate) fn model_name(plan: &Plan) -> String {
    match plan.model {
        LoadModel::Open => "open model".into(),
        LoadModel::Closed { concurrency } => format!("closed model, {concurrency} concurrent"),
    }
}

pub(crate) fn run_info(a: &RunArgs, plan: &Plan, target: &Target, workers: usize) -> RunInfo {
    let mut versions = BTreeMap::new();
    versions.insert("surge".to_string(), env!("CARGO_PKG_VERSION").to_string());
    for kv in env!("SURGE_DEP_VERSIONS")
        .split(';')
        .filter(|s| !s.is_empty())
    {
        if let Some((k, v)) = kv.split_once('=') {
            versions.insert(k.to_string(), v.to_string());
        }
    }
    RunInfo {
        schema_version: 1,
        name: plan.name.clone(),
        profile_path: a.profile.display().to_string(),
        started_at: String::new(),
        args: redact(std::env::args()),
        seed: plan.seed,
        scale: plan.scale,
        population: plan.population,
        run_duration_s: plan.run_duration.as_secs_f64(),
        interval_s: plan.interval.as_secs_f64(),
        target: target.label.clone(),
        plan: target.plan.clone(),
        workers: (0..workers).map(|i| format!("local-{i}")).collect(),
        regions: plan.regions.iter().map(|r| r.name.clone()).collect(),
        steps: plan.steps.clone(),
        slos: plan.slos.iter().map(|s| s.text.clone()).collect(),
        versions,
        model: match plan.model {
            LoadModel::Open => "open".into(),
            LoadModel::Closed { concurrency } => format!("closed({concurrency})"),
        },
    }
}

/// The command line with secrets blanked: no token ever reaches run.json.
pub fn redact(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
        } else if a == "--token" {
            hide_next = true;
            out.push(a);
        } else if a.starts_with("--token=") {
            out.push("--token=<redacted>".into());
        } else {
            out.push(a);
        }
    }
    out
}

/// `--metrics-listen`: serves live figures while the run goes.
async fn live_metrics(
    a: &RunArgs,
) -> anyhow::Result<(
    Option<Arc<surge_coordinator::LiveMetrics>>,
    Option<surge_coordinator::Listener>,
)> {
    let Some(addr) = a.metrics_listen else {
        return Ok((None, None));
    };
    let live = Arc::new(surge_coordinator::LiveMetrics::new());
    let server = surge_coordinator::serve_metrics(addr, live.clone()).await?;
    eprintln!(
        "surge: live metrics at http://{}/metrics",
        server.local_addr()
    );
    Ok((Some(live), Some(server)))
}
