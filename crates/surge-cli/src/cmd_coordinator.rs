//! `surge coordinator`: validate everything, find (or start) the target, listen, wait for the workers,
//! run them together through the same loop as `surge run`, and report like `surge run`.

use crate::args::{CoordinatorArgs, RunArgs};
use crate::cmd_run::{Target, capacity_plan, model_name, print_outcome, run_info, start_target};
use crate::progress;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::remote::EngineSettings;
use surge_coordinator::{Coordinator, Guards, RemoteConfig, RunConfig};
use surge_plan::Plan;
use surge_wire::{ProfileSource, WireOverrides};

pub async fn coordinator(c: CoordinatorArgs) -> anyhow::Result<i32> {
    let a = &c.run;
    // Phase 1: everything the user gave us is validated before any socket opens.
    let token = token(c.token.clone())?;
    let workers = a.workers.unwrap_or(1);
    anyhow::ensure!(workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(
        a.repeat == 1,
        "--repeat is not available with coordinator (run it again instead)"
    );
    let text = std::fs::read_to_string(&a.profile)
        .with_context(|| format!("invalid profile: cannot read {}", a.profile.display()))?;
    let (plan, slos) = crate::cmd_run::validated_plan(a)?;
    let capacity = capacity_plan(a, &plan)?;
    let plan = Arc::new(plan);
    // The target's CA: trusted here (health check) and sent, as text, to every worker.
    let target_ca_pem = a
        .tls_ca
        .as_deref()
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("--tls-ca {}", path.display()))
        })
        .transpose()?;
    let origin = a.tls_ca.as_deref().map(|p| p.display().to_string());
    if let Some(pem) = &target_ca_pem {
        let tls = surge_engine::http::tls_config_pem(Some(pem), origin.as_deref().unwrap_or(""))?;
        surge_engine::http::set_run_tls(Some(tls));
    }
    let tls = match (&c.tls_cert, &c.tls_key) {
        (Some(cert), Some(key)) => Some(surge_coordinator::remote::server_tls(cert, key)?),
        _ => None,
    };

    // Phase 2: the target.
    let target = start_target(a, capacity).await?;
    if target.embedded.is_some() && !c.listen.ip().is_loopback() {
        eprintln!(
            "surge: warning: the embedded target listens on {} only; remote workers need --target",
            target.url
        );
    }
    if !a.no_health_check {
        wait_healthy(&target.url, &a.health_check).await?;
    }
    let cfg = run_config(a, &plan, &target, workers, slos);
    let remote = RemoteConfig {
        listen: c.listen,
        token,
        profile: ProfileSource {
            text,
            origin: a.profile.display().to_string(),
        },
        overrides: WireOverrides::new(&crate::overrides(&a.shape), a.timeout),
        engine: EngineSettings {
            pacing: a.pacing,
            http1: a.http1,
            target_ca_pem,
        },
    };

    // Phase 3: listen, wait, run.
    let code = listen_and_run(a, cfg, remote, tls, &target.label).await;
    if let Some(t) = target.embedded {
        t.shutdown().await;
    }
    code
}

fn run_config(
    a: &RunArgs,
    plan: &Arc<Plan>,
    target: &Target,
    workers: usize,
    slos: Vec<surge_metrics::Slo>,
) -> RunConfig {
    let out = a.out.clone().unwrap_or_else(|| {
        surge_results::default_run_dir(std::path::Path::new("results"), &plan.name)
    });
    RunConfig {
        plan: plan.clone(),
        target: target.url.clone(),
        workers,
        info: run_info(a, plan, target, workers),
        out_dir: out,
        slos,
        guards: Guards {
            abort_on_error_rate: a.abort_on_error_rate.map(|r| (r, a.abort_window)),
            abort_on_fail: a.abort_on_fail,
        },
        max_rps: a.max_rps,
        max_in_flight: a.max_in_flight,
        drain: a.drain,
        live: None,
    }
}

async fn listen_and_run(
    a: &RunArgs,
    cfg: RunConfig,
    remote: RemoteConfig,
    tls: Option<surge_coordinator::remote::ServerTls>,
    target: &str,
) -> anyhow::Result<i32> {
    let plan = cfg.plan.clone();
    let workers = cfg.workers;
    let coordinator = Coordinator::bind_with_tls(&cfg, remote, tls).await?;
    let url = coordinator.url();
    let ca = if url.starts_with("https") {
        " --tls-ca CA.pem"
    } else {
        ""
    };
    eprintln!(
        "surge coordinator listening on {url} (metrics: {url}/metrics): {} people over {} ({}), target {target}; waiting for {workers} worker(s): surge worker --join {url}{ca} --token ...",
        progress::thousands(plan.population),
        surge_profile::duration::format(plan.run_duration),
        model_name(&plan),
    );
    let mut on_join =
        |name: &str, n: usize, of: usize| eprintln!("surge: worker {n}/{of} joined: {name}");
    let bar = progress::bar(plan.run_duration.as_secs());
    let bar2 = bar.clone();
    let mut on_progress = move |p: &surge_coordinator::Progress| {
        bar2.set_position(p.elapsed.as_secs().min(p.total.as_secs()));
        bar2.set_message(progress::message(p));
    };
    let outcome = coordinator
        .run(cfg, &mut on_join, &mut on_progress, shutdown_signal())
        .await;
    bar.finish_and_clear();
    print_outcome(a, &outcome?)
}

/// The target's health check, retried for up to 30 s: in docker compose or Kubernetes the coordinator
/// may start before the target listens.
async fn wait_healthy(url: &str, path: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match crate::health::check(url, path, Duration::from_secs(2)).await {
            Ok(status) => {
                anyhow::ensure!(
                    status < 500,
                    "target health check {url}{path} answered {status}"
                );
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!(
                    "target does not answer the health check for 30 s (use --no-health-check to skip): {e}"
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// `--token`, else SURGE_TOKEN; never empty.
pub(crate) fn token(arg: Option<String>) -> anyhow::Result<String> {
    let t = arg
        .or_else(|| std::env::var("SURGE_TOKEN").ok())
        .unwrap_or_default();
    anyhow::ensure!(
        !t.trim().is_empty(),
        "a token is required: --token T or the SURGE_TOKEN environment variable"
    );
    Ok(t.trim().to_string())
}

/// Ctrl-C, or SIGTERM (what docker and Kubernetes send).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
