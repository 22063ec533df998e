//! Live figures, so a team can watch a long run in the Prometheus and Grafana it already has: arrivals
//! intended and achieved, p50/p99 per region and step of the last merged interval, errors by class,
//! people in flight, connections, discovery and delivery completeness, each SLO, workers live, done and
//! lost, and whether the generator is saturated. Built once per update as metric families
//! ([`families`]), served as Prometheus text at `/metrics` ([`text`]) and, with
//! [`LiveMetrics::with_remote_write`], pushed by Prometheus remote write ([`crate::remote_write`]):
//! both carry the same series, named in [`names`].

pub mod families;
pub mod names;
pub mod text;

use crate::collect::WorkerState;
use crate::dashboard::Dashboard;
use crate::remote_write::{PushReport, RemoteWrite};
use std::sync::Arc;
use std::sync::Mutex;
use surge_metrics::{Slo, Snapshot};
use surge_plan::Plan;

/// What `/metrics` serves now, and where the same figures are pushed.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    state: Mutex<State>,
    /// Where the figures are pushed (`--prom-remote-write`); a new pusher per run of a `--repeat`.
    push: Mutex<Option<RemoteWrite>>,
    /// The live page, fed the same view after every merged interval.
    dashboard: Option<Arc<Dashboard>>,
}

#[derive(Debug, Default)]
struct State {
    text: String,
    families: Vec<families::Family>,
    /// The interval last pushed (a push per merged interval, not per worker event).
    pushed: Option<i64>,
}

/// The run as the loop sees it after an interval.
pub(crate) struct View<'a> {
    pub plan: &'a Plan,
    pub last: Option<&'a Snapshot>,
    pub totals: &'a Snapshot,
    pub states: &'a [WorkerState],
    pub slos: &'a [Slo],
    pub in_flight: u64,
}

impl LiveMetrics {
    /// Empty until the run publishes its first figures.
    pub fn new() -> LiveMetrics {
        LiveMetrics::default()
    }

    /// Also pushes the figures of every merged interval through `push` (and a last time when the run
    /// ends).
    pub fn with_remote_write(push: RemoteWrite) -> LiveMetrics {
        LiveMetrics {
            push: Mutex::new(Some(push)),
            ..LiveMetrics::default()
        }
    }

    /// Live figures that also feed the live dashboard.
    pub fn with_dashboard(dashboard: Arc<Dashboard>) -> LiveMetrics {
        LiveMetrics {
            dashboard: Some(dashboard),
            ..LiveMetrics::default()
        }
    }

    /// From now on also pushes through `push` (the dashboard's figures, or the next run of a
    /// `--repeat`: each run gets its own pusher, labelled with its folder).
    pub fn set_remote_write(&self, push: RemoteWrite) {
        *self.push.lock().unwrap_or_else(|p| p.into_inner()) = Some(push);
        self.lock().pushed = None;
    }

    /// The dashboard these figures feed, if any.
    pub fn dashboard(&self) -> Option<&Arc<Dashboard>> {
        self.dashboard.as_ref()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn text(&self) -> String {
        self.lock().text.clone()
    }

    /// The families last published (empty before the first).
    pub fn families(&self) -> Vec<families::Family> {
        self.lock().families.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn update(&self, view: &View<'_>) {
        if let Some(d) = &self.dashboard {
            d.update(view);
        }
        let fams = families::collect(view);
        let text = text::render(&fams);
        let interval = view.last.map_or(-1, |s| s.interval as i64);
        let mut st = self.lock();
        let push = self.push.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(push) = push.as_ref()
            && view.last.is_some()
            && st.pushed != Some(interval)
        {
            push.offer(&fams);
            st.pushed = Some(interval);
        }
        st.text = text;
        st.families = fams;
    }

    /// At the end of the run: pushes the last figures once more (workers done, run ended), waits
    /// (bounded) for the queue to drain and says what was pushed and what failed. `None` without
    /// remote write.
    pub async fn finish_push(&self) -> Option<PushReport> {
        // Taken: the run is over, and a next run of a `--repeat` brings its own pusher.
        let push = self.push.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let fams = self.lock().families.clone();
        if !fams.is_empty() {
            push.offer(&fams);
        }
        Some(push.finish().await)
    }
}

#[cfg(test)]
mod tests;
