//! `surge run`: validate everything, start (or find) the target, check it answers, run, report.

use crate::args::RunArgs;
use crate::output::{self, note};
use crate::prepare::{self, Prepared, Target};
use crate::progress;
use anyhow::Context as _;
use std::path::Path;
use std::sync::Arc;
use surge_coordinator::run_local;
use surge_results::RunStatus;

pub async fn run(a: RunArgs) -> anyhow::Result<i32> {
    // Phase 1: everything the user gave us is validated before any socket opens.
    let (a, resume) = crate::resume::resolve(a)?;
    anyhow::ensure!(
        !(a.output.json && a.repeat > 1),
        "--json prints one run's summary: with --repeat {}, read each OUT/repeat-N/summary.json",
        a.repeat
    );
    let prep = prepare::prepare(&a, true)?;
    let push = crate::push::config(&a)?;
    // The dashboard's address is part of the input: bound (or refused) before anything is sent.
    let dash = crate::dashboard::start(&a, None, false).await?;

    // Phase 2: the target.
    let target = prepare::start_target(&a, &prep).await?;
    let live = dash.as_ref();
    if let Err(e) = prepare::health_check(&a, &target, &prep.engine, None).await {
        target.shutdown().await;
        return Err(e);
    }
    let workers = prepare::local_worker_count(&a);
    let plan = &prep.plan;
    note!(
        a.output,
        "surge: {} people over {} ({}), target {}, {} worker(s), {}, max-rps {}",
        progress::thousands(plan.population),
        surge_profile::duration::format(plan.run_duration),
        surge_coordinator::model_name(plan),
        target.label,
        workers,
        prepare::in_flight_text(&prep),
        if a.max_rps == 0 {
            "none".to_string()
        } else {
            progress::thousands(a.max_rps as u64)
        },
    );
    if let Some(floor) = &prep.floor_note {
        note!(a.output, "{floor}");
    }

    if let Some(p) = &resume {
        note!(
            a.output,
            "surge: resuming {} at interval {} ({} people in flight at the crash counted as unknown)",
            p.data.dir.display(),
            p.next_interval,
            progress::thousands(p.unknown.values().sum())
        );
    }

    // Phase 3: run (and repeat).
    let base_out = prepare::out_dir(&a, plan);
    let mut worst = crate::EXIT_OK;
    for i in 1..=a.repeat {
        let out = if a.repeat == 1 {
            base_out.clone()
        } else {
            base_out.join(format!("repeat-{i}"))
        };
        match one_run(
            &a,
            &prep,
            &target,
            workers,
            &out,
            resume.clone(),
            Outlets {
                dashboard: live,
                push: push.as_ref(),
            },
        )
        .await
        {
            Ok(code) => worst = worst.max(code),
            Err(e) => {
                target.shutdown().await;
                return Err(e);
            }
        }
    }
    target.shutdown().await;
    if let Some(d) = dash {
        d.close(a.dashboard_linger, None).await;
    }
    Ok(worst)
}

/// Where a run's live figures go besides its results folder.
#[derive(Clone, Copy)]
struct Outlets<'a> {
    /// `--dashboard`: the live page (it outlives the repeats).
    dashboard: Option<&'a crate::dashboard::Live>,
    /// `--prom-remote-write`: a push per run (labelled with its folder).
    push: Option<&'a surge_coordinator::RemoteWriteConfig>,
}

async fn one_run(
    a: &RunArgs,
    prep: &Prepared,
    target: &Target,
    workers: usize,
    out: &Path,
    resume: Option<surge_results::ResumePoint>,
    outlets: Outlets<'_>,
) -> anyhow::Result<i32> {
    let Outlets { dashboard, push } = outlets;
    let (live, metrics_server) =
        live_metrics(a, dashboard.map(|d| d.metrics.clone()), push, out).await?;
    let mut cfg = prepare::run_config(a, prep, target, workers, out);
    cfg.live = live;
    if let Some(d) = dashboard {
        d.begin(&cfg);
    }
    cfg.resume = resume;
    let (bar, mut on_progress) = progress::reporter(prep.plan.run_duration, !a.output.quiet);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = run_local(cfg, &mut on_progress, stop).await?;
    if let Some(server) = metrics_server {
        server.shutdown().await;
    }
    bar.finish_and_clear();
    let code = print_outcome(a, &outcome);
    if let Some(d) = dashboard {
        d.reported(out);
    }
    code
}

/// Prints the table (and writes the reports) of a finished run; its exit code.
pub(crate) fn print_outcome(
    a: &RunArgs,
    outcome: &surge_coordinator::RunOutcome,
) -> anyhow::Result<i32> {
    let data = surge_results::RunData::read(&outcome.dir)
        .with_context(|| format!("reading back {}", outcome.dir.display()))?;
    let human = a.output.human();
    if human {
        let table = surge_report::terminal_table(&data, progress::color_wanted());
        println!("{table}");
    }
    if !a.no_report {
        let (html, md) = surge_report::write_reports(&data)?;
        if human {
            println!("report: {}\n        {}", html.display(), md.display());
        }
    }
    if human {
        println!("results: {}", outcome.dir.display());
    } else if a.output.json {
        output::print_summary_json(&data)?;
    }
    crate::push::print(outcome.remote_write.as_ref(), a.output.quiet);
    if let Some(r) = &outcome.summary.reason {
        eprintln!("surge: {r}");
    }
    for p in data.tally_problems() {
        eprintln!("surge: warning: the tally does not hold: {p}");
    }
    let failed = !outcome.summary.all_slos_pass || outcome.summary.status == RunStatus::Aborted;
    Ok(if failed {
        crate::EXIT_SLO_FAILED
    } else {
        crate::EXIT_OK
    })
}

/// `--metrics-listen`: serves live figures while the run goes (`existing`: the dashboard's);
/// `--prom-remote-write`: pushes them.
async fn live_metrics(
    a: &RunArgs,
    existing: Option<Arc<surge_coordinator::LiveMetrics>>,
    push: Option<&surge_coordinator::RemoteWriteConfig>,
    out: &Path,
) -> anyhow::Result<(
    Option<Arc<surge_coordinator::LiveMetrics>>,
    Option<surge_coordinator::Listener>,
)> {
    let live = match (existing, push) {
        (Some(live), Some(cfg)) => {
            crate::push::attach(&live, cfg, out)?;
            Some(live)
        }
        (live, None) => live,
        (None, Some(cfg)) => Some(crate::push::live(cfg, out)?),
    };
    let Some(addr) = a.metrics_listen else {
        return Ok((live, None));
    };
    let live = live.unwrap_or_else(|| Arc::new(surge_coordinator::LiveMetrics::new()));
    let server = surge_coordinator::serve_metrics(addr, live.clone()).await?;
    note!(
        a.output,
        "surge: live metrics at http://{}/metrics",
        server.local_addr()
    );
    Ok((Some(live), Some(server)))
}
