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
    url_of(base, addr, token, "/")
}

/// The URL of `path` on the dashboard: with the token when the address is not loopback.
fn url_of(base: &str, addr: SocketAddr, token: &str, path: &str) -> String {
    if addr.ip().is_loopback() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?token={token}")
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

    /// Keeps the page up after the run (on `--dashboard`, and on `also`: the coordinator's own
    /// listener) for `linger` (`--dashboard-linger`; unset: [`DEFAULT_LINGER`] if anyone opened the
    /// page, else not at all), Ctrl-C or SIGTERM ending it sooner; then stops the listeners.
    pub(crate) async fn close(self, linger: Option<Duration>, also: Option<Listener>) {
        // Someone may follow the page's link to the report: a run that ended by itself (not by
        // Ctrl-C, not by an error before or during it) with the page opened.
        let awaited = self.dashboard.watched()
            && self.dashboard.end_status().is_some_and(|s| {
                s != surge_results::RunStatus::Interrupted.as_str() && s != "error"
            });
        let linger = effective_linger(linger, awaited);
        let first = self.server.as_ref().or(also.as_ref());
        if let Some(server) = first
            && !linger.is_zero()
        {
            let report = if self.dashboard.report_path().is_some() {
                let token = self.dashboard.token();
                let at = url_of(&server.url(), server.local_addr(), token, "/report.html");
                format!(", report at {at}")
            } else {
                String::new()
            };
            eprintln!(
                "surge: the dashboard stays up for {}{report} (--dashboard-linger; Ctrl-C to quit now)",
                surge_profile::duration::format(linger)
            );
            tokio::select! {
                _ = tokio::time::sleep(linger) => {}
                _ = crate::cmd_coordinator::shutdown_signal() => {}
            }
        }
        for server in [self.server, also].into_iter().flatten() {
            server.shutdown().await;
        }
    }
}

/// How long the page stays up after the run when `--dashboard-linger` is not given and someone
/// opened it: time to follow its link to the report.
pub(crate) const DEFAULT_LINGER: Duration = Duration::from_secs(300);

/// `--dashboard-linger` as given, else [`DEFAULT_LINGER`] when someone may follow the page's link to
/// the report (`awaited`), else none.
pub(crate) fn effective_linger(given: Option<Duration>, awaited: bool) -> Duration {
    given.unwrap_or(if awaited {
        DEFAULT_LINGER
    } else {
        Duration::ZERO
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lingers_by_default_only_when_someone_may_follow_the_link() {
        assert_eq!(effective_linger(None, true), DEFAULT_LINGER);
        assert_eq!(effective_linger(None, false), Duration::ZERO);
        let ten = Duration::from_secs(10);
        assert_eq!(effective_linger(Some(ten), false), ten, "as asked");
        assert_eq!(effective_linger(Some(Duration::ZERO), true), Duration::ZERO);
    }
}
