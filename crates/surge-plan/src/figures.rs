//! The sourced figures of the real event (`[[figures]]` in the profile) against the compiled curve.

use std::fmt::Write;
use std::time::Duration;

use surge_profile::duration::format as fmt_dur;

use crate::Plan;

/// One sourced figure and what the plan's curve gives at the same event time, both at full event
/// scale (the plan's cumulative arrivals divided by the run's scale).
#[derive(Debug, Clone, PartialEq)]
pub struct FigureCheck {
    /// Event time of the figure.
    pub at: Duration,
    /// Only the window before `at` counts (None: everything since the event start).
    pub window: Option<Duration>,
    /// The region it is about (None: all).
    pub region: Option<String>,
    /// True for a region's share of everyone by `at`; false for a count of people.
    pub is_share: bool,
    /// The published value (people, or a share in 0..=1).
    pub sourced: f64,
    /// The curve's value at `at` (people at full scale, or the share).
    pub plan: f64,
    /// Where the figure was published.
    pub source: String,
}

impl FigureCheck {
    /// `(plan - sourced) / sourced`; 0 when both are 0.
    pub fn relative_error(&self) -> f64 {
        if self.sourced == 0.0 {
            return if self.plan == 0.0 { 0.0 } else { f64::INFINITY };
        }
        (self.plan - self.sourced) / self.sourced
    }
}

impl Plan {
    /// Every sourced figure of the profile against the curve.
    pub fn figure_checks(&self) -> Vec<FigureCheck> {
        let ratio = self.run_duration.as_secs_f64() / self.event_duration.as_secs_f64();
        let scale = if self.scale > 0.0 { self.scale } else { 1.0 };
        self.figures
            .iter()
            .map(|f| {
                let run_t = f.at.as_secs_f64() * ratio;
                let from = f.window.map_or(0.0, |w| (f.at - w).as_secs_f64() * ratio);
                let cum = |r: Option<usize>| {
                    self.table.cumulative(r, run_t) - self.table.cumulative(r, from)
                };
                let total = cum(None);
                let mine = match f.region {
                    Some(r) => cum(Some(r)),
                    None => total,
                };
                let (is_share, sourced, plan) = match (f.people, f.share) {
                    (_, Some(s)) => (true, s, if total > 0.0 { mine / total } else { 0.0 }),
                    (p, None) => (false, p.unwrap_or(0) as f64, mine / scale),
                };
                FigureCheck {
                    at: f.at,
                    window: f.window,
                    region: f.region.map(|r| self.regions[r].name.clone()),
                    is_share,
                    sourced,
                    plan,
                    source: f.source.clone(),
                }
            })
            .collect()
    }

    /// The figures as text for `surge profile show` (empty when the profile has none).
    pub fn figure_table(&self) -> String {
        let checks = self.figure_checks();
        if checks.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sourced figures against the curve (cumulative, or over the window in `at/window`; full event scale):"
        );
        let _ = writeln!(
            out,
            "{:>8} {:>9} {:>12} {:>14} {:>14} {:>8}  source",
            "event", "run", "region", "sourced", "curve", "diff"
        );
        let ratio = self.run_duration.as_secs_f64() / self.event_duration.as_secs_f64();
        for c in &checks {
            let (s, p) = if c.is_share {
                (
                    format!("{:.1}%", c.sourced * 100.0),
                    format!("{:.1}%", c.plan * 100.0),
                )
            } else {
                (count(c.sourced), count(c.plan))
            };
            let diff = if c.is_share {
                format!("{:+.1}pt", (c.plan - c.sourced) * 100.0)
            } else {
                format!("{:+.1}%", c.relative_error() * 100.0)
            };
            let at = match c.window {
                Some(w) => format!("{}/{}", fmt_dur(c.at), fmt_dur(w)),
                None => fmt_dur(c.at),
            };
            let _ = writeln!(
                out,
                "{:>8} {:>9} {:>12} {:>14} {:>14} {:>8}  {}",
                at,
                fmt_dur(c.at.mul_f64(ratio)),
                c.region.as_deref().unwrap_or("all"),
                s,
                p,
                diff,
                c.source
            );
        }
        out
    }
}

fn count(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
