//! `surge coordinator`: validate everything, find (or start) the target, listen, wait for the workers,
//! run them together through the same loop as `surge run`, and report like `surge run`.

use crate::args::{CoordinatorArgs, RunArgs};
use crate::cmd_run::print_outcome;
use crate::output::note;
use crate::prepare;
use crate::progress;
use anyhow::Context as _;
use std::time::Duration;
use surge_coordinator::{Coordinator, Listener, RemoteConfig, RunConfig};
use surge_wire::{ProfileSource, WireOverrides};

pub async fn coordinator(mut c: CoordinatorArgs) -> anyhow::Result<i32> {
    let (resumed, resume) = crate::resume::resolve(c.run.clone())?;
    c.run = resumed;
    let a = &c.run;
    // Phase 1: everything the user gave us is validated before any socket opens.
    let token = token(c.token.clone())?;
    let workers = a.workers.unwrap_or(1);
    anyhow::ensure!(workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(
        a.repeat == 1,
        "--repeat is not available with coordinator (run it again instead)"
    );
    let text = std::fs::read_to_string(a.profile())
        .with_context(|| format!("invalid profile: cannot read {}", a.profile().display()))?;
    // The workers hold the people: their own descriptor budgets apply, not this process's.
    let prep = prepare::prepare(a, false)?;
    let push = crate::push::config(a)?;
    let tls = match (&c.tls_cert, &c.tls_key) {
        (Some(cert), Some(key)) => Some(surge_coordinator::remote::server_tls(cert, key)?),
        _ => None,
    };
    // The page is served on --listen, and on --dashboard when given (bound now: an address in use is
    // an input error).
    let dash = crate::dashboard::start(a, Some(&token), true).await?;

    // Phase 2: the target.
    let target = prepare::start_target(a, &prep).await?;
    if target.embedded.is_some() && !c.listen.ip().is_loopback() {
        eprintln!(
            "surge: warning: the embedded target listens on {} only; remote workers need --target",
            target.url
        );
    }
    if let Err(e) =
        prepare::health_check(a, &target, &prep.engine, Some(Duration::from_secs(30))).await
    {
        target.shutdown().await;
        return Err(e);
    }
    let out = prepare::out_dir(a, &prep.plan);
    let mut cfg = prepare::run_config(a, &prep, &target, workers, &out);
    cfg.resume = resume;
    if let Some(d) = &dash {
        cfg.live = Some(d.metrics.clone());
        d.begin(&cfg);
    }
    if let Some(push) = &push {
        let pushed = match &cfg.live {
            Some(live) => crate::push::attach(live, push, &out).map(|()| live.clone()),
            None => crate::push::live(push, &out),
        };
        match pushed {
            Ok(live) => cfg.live = Some(live),
            Err(e) => {
                target.shutdown().await;
                return Err(e);
            }
        }
    }
    let remote = RemoteConfig {
        listen: c.listen,
        token,
        profile: ProfileSource {
            text,
            origin: a.profile().display().to_string(),
        },
        overrides: WireOverrides::new(&crate::overrides(&a.shape), a.timeout),
        by_region: c.placement == crate::args::Placement::Region,
        probe: None,
        rejoin: false,
    };

    // Phase 3: listen, wait, run.
    let (code, listener) = listen_and_run(a, cfg, remote, tls, &target.label).await;
    target.shutdown().await;
    match dash {
        Some(d) => {
            if code.is_ok() {
                d.reported(&out);
            }
            // The page on --listen goes on serving (with /report.html) while it lingers.
            d.close(a.dashboard_linger, listener).await;
        }
        None => {
            if let Some(l) = listener {
                l.shutdown().await;
            }
        }
    }
    code
}

/// The run's exit code, and its listener when it was bound (kept for the dashboard to linger on).
async fn listen_and_run(
    a: &RunArgs,
    cfg: RunConfig,
    remote: RemoteConfig,
    tls: Option<surge_coordinator::remote::ServerTls>,
    target: &str,
) -> (anyhow::Result<i32>, Option<Listener>) {
    let plan = cfg.plan.clone();
    let workers = cfg.workers;
    let coordinator = match Coordinator::bind_with_tls(&cfg, remote, tls).await {
        Ok(c) => c,
        Err(e) => return (Err(e.into()), None),
    };
    let url = coordinator.url();
    let ca = if url.starts_with("https") {
        " --tls-ca CA.pem"
    } else {
        ""
    };
    if let Some(d) = cfg.live.as_ref().and_then(|l| l.dashboard()) {
        let page = crate::dashboard::url(&url, coordinator.local_addr(), d.token());
        note!(a.output, "surge: live dashboard at {page}");
    }
    note!(
        a.output,
        "surge coordinator listening on {url} (metrics: {url}/metrics): {} people over {} ({}), target {target}; waiting for {workers} worker(s): surge worker --join {url}{ca} --token ...",
        progress::thousands(plan.population),
        surge_profile::duration::format(plan.run_duration),
        surge_coordinator::model_name(&plan),
    );
    let out = a.output;
    let mut on_join =
        |name: &str, n: usize, of: usize| note!(out, "surge: worker {n}/{of} joined: {name}");
    let (bar, mut on_progress) = progress::reporter(plan.run_duration, !out.quiet);
    let (outcome, listener) = coordinator
        .run_and_keep(cfg, &mut on_join, &mut on_progress, shutdown_signal())
        .await;
    bar.finish_and_clear();
    let code = outcome
        .map_err(anyhow::Error::from)
        .and_then(|o| print_outcome(a, &o));
    (code, Some(listener))
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
