//! `surge calibrate`: how many people per second one worker (one core) sustains for this profile's
//! journey while its SLOs hold, and so how many workers the profile's peak needs per region.
//!
//! It runs the journey in the closed model on one worker at doubling concurrency (1, 2, 4, ...), a
//! short step each, each step with a fresh seed so no person registers twice, until an SLO fails or
//! throughput stops growing. The best passing step's journeys per second is the per-worker capacity.

use crate::args::CalibrateArgs;
use crate::cmd_run::{capacity_plan, run_info, start_target};
use std::sync::Arc;
use surge_coordinator::{Guards, RunConfig, resolve_slos, run_local};
use surge_plan::{LoadModel, Plan};

/// One calibration step's figures.
struct Step {
    concurrency: u32,
    journeys_per_s: f64,
    pass: bool,
}

pub async fn calibrate(a: CalibrateArgs) -> anyhow::Result<i32> {
    let run = &a.run;
    let profile =
        surge_profile::load(&run.profile).map_err(|e| anyhow::anyhow!("invalid profile: {e}"))?;
    let base = crate::load_plan(&run.profile, &run.shape)?;
    let capacity = capacity_plan(run, &base)?;
    let target = start_target(run, capacity).await?;
    eprintln!(
        "calibrating {} against {} ({} per step)",
        base.name,
        target.label,
        surge_profile::duration::format(a.step)
    );
    let scratch = tempfile_dir()?;
    let mut steps: Vec<Step> = Vec::new();
    let mut concurrency = 1u32;
    while concurrency <= a.max_concurrency {
        let mut ov = crate::overrides(&run.shape);
        ov.seed = Some(base.seed.wrapping_add(1 + steps.len() as u64));
        // Enough people that the closed loop never comes back to someone already registered.
        let grow = (1_000_000.0 / base.population.max(1) as f64).max(1.0);
        ov.scale = Some(base.scale * grow);
        let mut plan = Plan::compile(&profile, &ov).map_err(|e| anyhow::anyhow!("{e}"))?;
        plan.model = LoadModel::Closed { concurrency };
        plan.run_duration = a.step;
        if let Some(t) = run.timeout {
            plan.client.timeout = t;
        }
        let slos = resolve_slos(&plan).map_err(|e| anyhow::anyhow!("{e}"))?;
        let plan = Arc::new(plan);
        let out = scratch.join(format!("c{concurrency}"));
        let cfg = RunConfig {
            info: run_info(run, &plan, &target, 1),
            plan: plan.clone(),
            target: target.url.clone(),
            workers: 1,
            out_dir: out,
            slos,
            guards: Guards::default(),
            max_rps: 0,
            max_in_flight: concurrency as usize,
            drain: run.drain,
            live: None,
        };
        let outcome = run_local(cfg, &mut |_| {}, std::future::pending()).await?;
        let s = &outcome.summary;
        let finished: u64 = s.journeys.values().map(|j| j.succeeded + j.failed).sum();
        let step = Step {
            concurrency,
            journeys_per_s: finished as f64 / a.step.as_secs_f64().max(1e-9),
            pass: s.all_slos_pass && s.totals.errors == 0,
        };
        eprintln!(
            "  concurrency {:>4}: {:>8.1} journeys/s, SLOs {}",
            step.concurrency,
            step.journeys_per_s,
            if step.pass { "pass" } else { "FAIL" }
        );
        let grew = steps
            .last()
            .is_none_or(|p| step.journeys_per_s > p.journeys_per_s * 1.05);
        let (pass, stop) = (step.pass, !step.pass || !grew);
        steps.push(step);
        if stop || !pass {
            break;
        }
        concurrency *= 2;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some(t) = target.embedded {
        t.shutdown().await;
    }
    print!("{}", verdict(&base, &steps));
    Ok(crate::EXIT_OK)
}

/// The table: per-worker capacity, and workers needed per region at the profile's peak.
fn verdict(plan: &Plan, steps: &[Step]) -> String {
    let best = steps
        .iter()
        .filter(|s| s.pass)
        .map(|s| s.journeys_per_s)
        .fold(0.0, f64::max);
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
            (peak / best).ceil().max(1.0)
        ));
    }
    let (peak, at) = plan.peak_rate();
    out.push_str(&format!(
        "{:<12} {:>14.1} {:>8}   (peak at {} into the run)\n",
        "all",
        peak,
        (peak / best).ceil().max(1.0),
        surge_profile::duration::format(at)
    ));
    out
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("surge-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
