//! `--dashboard ADDR`: the live page, bound before anything is sent (an address in use is an input
//! error, exit 2), fed by the run, kept up `--dashboard-linger` after the end so the page can link to
//! the report.

use crate::args::RunArgs;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use surge_coordinator::{Dashboard, Listener, LiveMetrics, RunConfig};

/// The dashboard of a command, with the listener `--dashboard` asked for (if any).
pub(crate) struct Live {
    pub dashboard: Arc<Dashboard>,
    /// Feeds the dashboard; also what `/metrics` serves.
    pub metrics: Arc<LiveMetrics>,
    server: Option<Listener>,
}

/// A fresh random token: 128 bits from the operating system, in hex.
fn random_token() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| anyhow::anyhow!("cannot draw a dashboard token from /dev/urandom: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The URL to open: with the token when the address is not loopback.
pub(crate) fn url(base: &str, addr: SocketAddr, token: &str) -> String {
    if addr.ip().is_loopback() {
        format!("{base}/")
    } else {
        format!("{base}/?token={token}")
    }
}

/// Creates the dashboard and binds `--dashboard` when given. `run_token` is the run's own token (the
/// coordinator's); without it and without `--dashboard-token`, a random one. `always`: the
/// coordinator has a dashboard on its listener even without `--dashboard`.
pub(crate) async fn start(
    a: &RunArgs,
    run_token: Option<&str>,
    always: bool,
) -> anyhow::Result<Option<Live>> {
    if a.dashboard.is_none() && !always {
        return Ok(None);
    }
    let token = match (&a.dashboard_token, run_token) {
        (Some(t), _) if !t.trim().is_empty() => t.trim().to_string(),
        (Some(_), _) => anyhow::bail!("--dashboard-token must not be empty"),
        (None, Some(t)) => t.to_string(),
        (None, None) => random_token()?,
    };
    let dashboard = Arc::new(Dashboard::new(token.clone()));
    let metrics = Arc::new(LiveMetrics::with_dashboard(dashboard.clone()));
    let server = match a.dashboard {
        Some(addr) => {
            let server = surge_coordinator::serve_dashboard(addr, metrics.clone()).await?;
            let bound = server.local_addr();
            eprintln!(
                "surge: live dashboard at {}",
                url(&server.url(), bound, &token)
            );
            if !bound.ip().is_loopback() {
                eprintln!(
                    "surge: the dashboard is not on loopback: every request needs the token (?token= or Authorization: Bearer)"
                );
            }
            Some(server)
        }
        None => None,
    };
    dashboard.spawn_ticker();
    Ok(Some(Live {
        dashboard,
        metrics,
        server,
    }))
}

impl Live {
    /// The run `cfg` begins (the run loop says when it ends).
    pub(crate) fn begin(&self, cfg: &RunConfig) {
        self.dashboard.begin(&cfg.plan, &cfg.slos, &cfg.out_dir);
    }

    /// The reports of the run in `out` are written (or not, with --no-report).
    pub(crate) fn reported(&self, out: &Path) {
        let html = out.join("report.html");
        if html.is_file() {
            self.dashboard.report_ready(&html);
        }
    }

    /// Keeps the page up for `linger` (Ctrl-C ends it sooner), then stops the listener.
    pub(crate) async fn close(self, linger: Duration) {
        if let Some(server) = self.server {
            if !linger.is_zero() {
                eprintln!(
                    "surge: the dashboard stays up for {} (--dashboard-linger; Ctrl-C to quit now)",
                    surge_profile::duration::format(linger)
                );
                tokio::select! {
                    _ = tokio::time::sleep(linger) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            server.shutdown().await;
        }
    }
}
