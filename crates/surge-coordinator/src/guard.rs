//! Abort guards evaluated after every merged interval: the error-rate guard and SLOs that can no
//! longer be met (k6's abortOnFail, but decided on "cannot recover", not on a momentary breach).

use std::collections::VecDeque;
use std::time::Duration;
use surge_metrics::{Slo, SloStat, Snapshot};

/// What may stop a run early.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    /// Stop when the error rate over the last `window` exceeds `rate` (0..1).
    pub abort_on_error_rate: Option<(f64, Duration)>,
    /// Stop as soon as an SLO cannot be met any more, whatever the rest of the run does.
    pub abort_on_fail: bool,
}

/// Tracks the sliding window for the error-rate guard.
#[derive(Debug, Default)]
pub struct GuardState {
    window: VecDeque<(u64, u64)>,
}

impl GuardState {
    /// Feeds one interval; returns why the run must stop, if it must.
    pub fn check(
        &mut self,
        guards: &Guards,
        interval: &Snapshot,
        interval_len: Duration,
        totals: &Snapshot,
        slos: &[Slo],
        max_samples: u64,
    ) -> Option<String> {
        if let Some((rate, window)) = guards.abort_on_error_rate {
            let all = interval.merged_cell(None, None);
            self.window.push_back((all.count(), all.errors()));
            let keep = (window.as_secs_f64() / interval_len.as_secs_f64().max(1e-3))
                .ceil()
                .max(1.0) as usize;
            while self.window.len() > keep {
                self.window.pop_front();
            }
            let (n, e) = self
                .window
                .iter()
                .fold((0, 0), |(n, e), (a, b)| (n + a, e + b));
            if self.window.len() == keep && n > 0 && e as f64 / n as f64 > rate {
                return Some(format!(
                    "error rate {:.1}% over the last {:.0?} exceeds --abort-on-error-rate {:.1}%",
                    100.0 * e as f64 / n as f64,
                    window,
                    rate * 100.0
                ));
            }
        }
        if guards.abort_on_fail {
            for slo in slos {
                if cannot_recover(slo, totals, max_samples) {
                    return Some(format!(
                        "SLO `{}` can no longer be met (--abort-on-fail)",
                        slo.text
                    ));
                }
            }
        }
        None
    }
}

/// Whether `slo` fails even if every sample still to come were perfect. `max_samples` bounds the
/// number of samples the whole run can produce for one cell selection.
pub fn cannot_recover(slo: &Slo, totals: &Snapshot, max_samples: u64) -> bool {
    use surge_metrics::SloOp::{Le, Lt};
    if !matches!(slo.op, Lt | Le) {
        return false;
    }
    let cell = totals.merged_cell(slo.region, slo.step);
    let total = max_samples.max(cell.count()).max(1) as f64;
    match slo.stat {
        SloStat::Percentile(q) => {
            let threshold_us = (slo.threshold * 1000.0).max(0.0) as u64;
            let above = cell
                .response
                .count_between(threshold_us.saturating_add(1), u64::MAX);
            above as f64 > (1.0 - q / 100.0) * total
        }
        SloStat::ErrorRate => cell.errors() as f64 > slo.threshold * total,
        SloStat::Completeness | SloStat::Rate => false,
    }
}
