//! `--prom-remote-write URL` (for `run` and `coordinator`): the URL checked before anything starts, the
//! pusher started with the run, its counts printed at the end.

use crate::args::RunArgs;
use anyhow::Context as _;
use std::path::Path;
use std::sync::Arc;
use surge_coordinator::{LiveMetrics, PushReport, RemoteWrite, RemoteWriteConfig};

/// Phase 1: the remote-write settings, or why the URL cannot be used (exit 2 before the run).
pub(crate) fn config(a: &RunArgs) -> anyhow::Result<Option<RemoteWriteConfig>> {
    let Some(url) = &a.prom_remote_write else {
        return Ok(None);
    };
    let mut cfg = RemoteWriteConfig::new(url).context("invalid --prom-remote-write")?;
    cfg.tls_ca = a.tls_ca.clone();
    Ok(Some(cfg))
}

/// Live figures that are also pushed, labelled with the results folder `out`'s name.
pub(crate) fn live(cfg: &RemoteWriteConfig, out: &Path) -> anyhow::Result<Arc<LiveMetrics>> {
    Ok(Arc::new(LiveMetrics::with_remote_write(start(cfg, out)?)))
}

/// Also pushes the figures of an existing live view (the dashboard's) for the run writing to `out`.
pub(crate) fn attach(
    live: &LiveMetrics,
    cfg: &RemoteWriteConfig,
    out: &Path,
) -> anyhow::Result<()> {
    live.set_remote_write(start(cfg, out)?);
    Ok(())
}

/// Starts the pusher, its series labelled with the run's folder name.
fn start(cfg: &RemoteWriteConfig, out: &Path) -> anyhow::Result<RemoteWrite> {
    let mut cfg = cfg.clone();
    let run = out
        .file_name()
        .map_or_else(|| out.display().to_string(), |n| n.to_string_lossy().into());
    cfg.labels.push(("run".into(), run));
    let push = RemoteWrite::start(cfg).context("--prom-remote-write")?;
    eprintln!(
        "surge: pushing live figures to {} (Prometheus remote write)",
        push.url()
    );
    Ok(push)
}

/// The end of the run: what became of the pushes, as a warning when any did not land.
pub(crate) fn print(report: Option<&PushReport>, quiet: bool) {
    match report {
        // All landed: news only for a person watching (--quiet prints only what went wrong).
        Some(p) if p.all_pushed() && !quiet => eprintln!("surge: {p}"),
        Some(p) if p.all_pushed() => {}
        Some(p) => eprintln!("surge: warning: {p} (the results folder is complete regardless)"),
        None => {}
    }
}
