//! Live figures in Prometheus text format, so a team can watch a long run in the Grafana it already has:
//! rates and percentiles of the last merged interval per region and step, errors by class, journeys,
//! people in flight, workers live, done and lost. Rendered once per interval, served as is.

use crate::collect::WorkerState;
use crate::dashboard::Dashboard;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use surge_metrics::{Outcome, Snapshot};
use surge_plan::Plan;

/// What `/metrics` serves now.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    text: Mutex<String>,
    /// The live page, fed the same view after every merged interval.
    dashboard: Option<Arc<Dashboard>>,
}

/// The run as the loop sees it after an interval.
pub(crate) struct View<'a> {
    pub plan: &'a Plan,
    pub last: Option<&'a Snapshot>,
    pub totals: &'a Snapshot,
    pub states: &'a [WorkerState],
    pub in_flight: u64,
}

impl LiveMetrics {
    /// Empty until the run publishes its first figures.
    pub fn new() -> LiveMetrics {
        LiveMetrics::default()
    }

    /// Live figures that also feed the live dashboard.
    pub fn with_dashboard(dashboard: Arc<Dashboard>) -> LiveMetrics {
        LiveMetrics {
            dashboard: Some(dashboard),
            ..LiveMetrics::default()
        }
    }

    /// The dashboard these figures feed, if any.
    pub fn dashboard(&self) -> Option<&Arc<Dashboard>> {
        self.dashboard.as_ref()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn text(&self) -> String {
        match self.text.lock() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn update(&self, view: &View<'_>) {
        if let Some(d) = &self.dashboard {
            d.update(view);
        }
        let text = render(view);
        match self.text.lock() {
            Ok(mut t) => *t = text,
            Err(poisoned) => *poisoned.into_inner() = text,
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render(v: &View<'_>) -> String {
    let mut out = String::with_capacity(4096);
    let secs = v.plan.interval.as_secs_f64().max(1e-9);
    header(
        &mut out,
        "surge_interval",
        "gauge",
        "Index of the last merged interval (-1 before the first).",
    );
    let _ = writeln!(
        out,
        "surge_interval {}",
        v.last.map_or(-1, |s| s.interval as i64)
    );
    header(
        &mut out,
        "surge_in_flight",
        "gauge",
        "Simulated people in flight at the end of the last interval.",
    );
    let _ = writeln!(out, "surge_in_flight {}", v.in_flight);
    header(&mut out, "surge_workers", "gauge", "Workers by state.");
    for (state, name) in [
        (WorkerState::Live, "live"),
        (WorkerState::Done, "done"),
        (WorkerState::Lost, "lost"),
    ] {
        let n = v.states.iter().filter(|s| **s == state).count();
        let _ = writeln!(out, "surge_workers{{state=\"{name}\"}} {n}");
    }
    journeys(&mut out, v, secs);
    steps(&mut out, v, secs);
    errors(&mut out, v);
    out
}

fn journeys(out: &mut String, v: &View<'_>, secs: f64) {
    header(
        out,
        "surge_journeys_started_total",
        "counter",
        "Journeys started, per region.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        let c = v.totals.merged_counters(Some(r as u16));
        let _ = writeln!(
            out,
            "surge_journeys_started_total{{region=\"{}\"}} {}",
            esc(&reg.name),
            c.started
        );
    }
    header(
        out,
        "surge_journeys_ended_total",
        "counter",
        "Journeys ended, per region and result.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        let c = v.totals.merged_counters(Some(r as u16));
        let n = esc(&reg.name);
        let _ = writeln!(
            out,
            "surge_journeys_ended_total{{region=\"{n}\",result=\"ok\"}} {}",
            c.succeeded
        );
        let _ = writeln!(
            out,
            "surge_journeys_ended_total{{region=\"{n}\",result=\"failed\"}} {}",
            c.failed
        );
    }
    rates(out, v, secs);
}

/// Arrival rate of the last interval and discovery completeness so far, per region.
fn rates(out: &mut String, v: &View<'_>, secs: f64) {
    header(
        out,
        "surge_arrival_rate",
        "gauge",
        "Journeys started per second in the last interval, per region.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        let started = v
            .last
            .map_or(0, |s| s.merged_counters(Some(r as u16)).started);
        let _ = writeln!(
            out,
            "surge_arrival_rate{{region=\"{}\"}} {}",
            esc(&reg.name),
            started as f64 / secs
        );
    }
    header(
        out,
        "surge_discovery_completeness",
        "gauge",
        "Share of expected contacts found so far, per region.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        if let Some(c) = v.totals.merged_counters(Some(r as u16)).completeness() {
            let _ = writeln!(
                out,
                "surge_discovery_completeness{{region=\"{}\"}} {c}",
                esc(&reg.name)
            );
        }
    }
}

fn steps(out: &mut String, v: &View<'_>, secs: f64) {
    header(
        out,
        "surge_step_rate",
        "gauge",
        "Steps completed per second in the last interval.",
    );
    let mut lat = String::new();
    header(
        &mut lat,
        "surge_step_response_seconds",
        "gauge",
        "Response time from intended start in the last interval, by quantile.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        for (s, step) in v.plan.steps.iter().enumerate() {
            let labels = format!("region=\"{}\",step=\"{}\"", esc(&reg.name), esc(step));
            let cell = v.last.and_then(|snap| snap.cell(r as u16, s as u16));
            let n = cell.map_or(0, |c| c.count());
            let _ = writeln!(out, "surge_step_rate{{{labels}}} {}", n as f64 / secs);
            let Some(c) = cell.filter(|c| c.count() > 0) else {
                continue;
            };
            for q in [0.5, 0.99] {
                let us = c.response.value_at_quantile(q);
                let _ = writeln!(
                    lat,
                    "surge_step_response_seconds{{{labels},quantile=\"{q}\"}} {}",
                    us as f64 / 1e6
                );
            }
        }
    }
    out.push_str(&lat);
}

fn errors(out: &mut String, v: &View<'_>) {
    header(
        out,
        "surge_step_errors_total",
        "counter",
        "Steps that ended in an error, by region, step and class.",
    );
    for (r, reg) in v.plan.regions.iter().enumerate() {
        for (s, step) in v.plan.steps.iter().enumerate() {
            let Some(c) = v.totals.cell(r as u16, s as u16) else {
                continue;
            };
            for o in Outcome::ALL.iter().filter(|o| o.is_error()) {
                let n = c.outcomes[o.index()];
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "surge_step_errors_total{{region=\"{}\",step=\"{}\",class=\"{}\"}} {n}",
                        esc(&reg.name),
                        esc(step),
                        o.as_str()
                    );
                }
            }
        }
    }
}
