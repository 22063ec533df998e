//! `surge worker`: join a coordinator and run what it assigns; exit 0 when the run ended well (for a
//! capacity search through the coordinator: every probe, joining again after each, until released),
//! 2 when the worker was refused, lost, or stopped by its dead-man switch.

use crate::args::WorkerArgs;
use surge_coordinator::{WorkerConfig, WorkerEnd, run_worker};

pub async fn worker(a: WorkerArgs) -> anyhow::Result<i32> {
    let token = crate::cmd_coordinator::token(a.token.clone())?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let name = a.name.clone().unwrap_or_else(crate::host_name);
    let mut cfg = WorkerConfig::new(&a.join, &token, &name, threads);
    cfg.join_timeout = a.join_timeout;
    cfg.regions = a.regions.clone();
    cfg.tls_ca = a.tls_ca.clone();
    if let Some(v) = a.protocol_version {
        cfg.protocol_version = v;
    }
    cfg.test_clock_skew_us = test_clock_skew_us()?;
    // Test-only: the control run of the clock tests, the coordinator's offset ignored.
    cfg.test_clock_uncorrected = std::env::var_os("SURGE_TEST_CLOCK_UNCORRECTED").is_some();
    eprintln!(
        "surge worker {name}: joining {} with {threads} thread(s)",
        a.join
    );
    match run_worker(cfg, crate::cmd_coordinator::shutdown_signal()).await {
        Ok(WorkerEnd::Finished(report_loop)) => {
            // The settings the coordinator sent (`--pacing`, `--http1`), as this process applied them,
            // and how often the report loop woke (a spinning loop shows here).
            eprintln!(
                "surge worker {name}: run finished, every interval acknowledged (pacing {}, http1 {}); \
                 report loop woke {} times in {:.1} s",
                report_loop.pacing.as_str(),
                report_loop.http1.as_str(),
                report_loop.wakes,
                report_loop.millis as f64 / 1000.0
            );
            Ok(crate::EXIT_OK)
        }
        Ok(WorkerEnd::Released { runs, message }) => {
            eprintln!("surge worker {name}: released after {runs} run(s): {message}");
            Ok(crate::EXIT_OK)
        }
        Ok(WorkerEnd::Stopped(why)) => {
            eprintln!("surge worker {name}: stopped: {why}");
            Ok(crate::EXIT_OK)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("surge worker {name}"))),
    }
}

/// Test-only (`SURGE_TEST_CLOCK_OFFSET_MS`, not in `--help`): the worker behaves as if its wall clock
/// were this many ms ahead (negative: behind), to test the coordinator's clock-offset correction.
fn test_clock_skew_us() -> anyhow::Result<i64> {
    const VAR: &str = "SURGE_TEST_CLOCK_OFFSET_MS";
    let Ok(v) = std::env::var(VAR) else {
        return Ok(0);
    };
    let ms: i64 = v
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{VAR}={v:?}: not a whole number of ms ({e})"))?;
    eprintln!("surge worker: TEST ONLY: {VAR}={ms}: this worker's clock reads {ms} ms off");
    Ok(ms.saturating_mul(1000))
}
