//! `surge calibrate`: how many people per second one worker (one core) sustains for this profile's
//! journey while its SLOs hold, and so how many workers the profile's peak needs per region (the
//! doubling and its rules live in `surge_coordinator::calibrate`).

use crate::args::CalibrateArgs;
use crate::prepare;
use surge_coordinator::calibrate::{Calibration, calibrate as run_steps, verdict};

pub async fn calibrate(a: CalibrateArgs) -> anyhow::Result<i32> {
    let run = &a.run;
    anyhow::ensure!(
        !run.output.json && !run.output.quiet,
        "calibrate prints a verdict, not a run summary: --json and --quiet are for run, coordinator and report"
    );
    crate::prepare::refuse_live_outlets(
        "calibrate",
        run,
        "its steps are short closed-model measurements of one worker, not a surge to watch or \
         export (push or watch the `surge run` that follows)",
    )?;
    let profile =
        surge_profile::load(run.profile()).map_err(|e| anyhow::anyhow!("invalid profile: {e}"))?;
    let prep = prepare::prepare(run, true)?;
    let target = prepare::start_target(run, &prep).await?;
    eprintln!(
        "calibrating {} against {} ({} per step)",
        prep.plan.name,
        target.label,
        surge_profile::duration::format(a.step)
    );
    let scratch = std::env::temp_dir().join(format!("surge-calibrate-{}", std::process::id()));
    let cal = Calibration {
        profile: &profile,
        overrides: crate::overrides(&run.shape),
        timeout: run.timeout,
        target: target.url.clone(),
        context: prepare::context(run, &target),
        step: a.step,
        max_concurrency: a.max_concurrency.min(prep.max_in_flight as u32),
        drain: run.drain,
        engine: prep.engine.clone(),
        scratch,
    };
    let steps = run_steps(cal, &mut |s| {
        eprintln!(
            "  concurrency {:>4}: {:>8.1} journeys/s, SLOs {}",
            s.concurrency,
            s.journeys_per_s,
            if s.pass { "pass" } else { "FAIL" }
        )
    })
    .await;
    target.shutdown().await;
    print!("{}", verdict(&prep.plan, &steps?));
    println!("{}", descriptor_line(prep.max_in_flight));
    Ok(crate::EXIT_OK)
}

/// The descriptor limit and what it allows in flight per process.
fn descriptor_line(max_in_flight: usize) -> String {
    match surge_engine::limits::raise_nofile() {
        Some(l) => format!(
            "\nopen files: {} allowed per process (hard limit {}): at most {} people in flight per worker process here",
            crate::progress::thousands(l.soft),
            crate::progress::thousands(l.hard),
            crate::progress::thousands(max_in_flight as u64)
        ),
        None => String::new(),
    }
}
