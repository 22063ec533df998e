//! Service-level objectives, evaluated once here for both the live abort guard and the reports.

use crate::snapshot::Snapshot;
use serde::{Deserialize, Serialize};

/// The statistic an SLO constrains.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloStat {
    /// A response-time percentile (e.g. 99.0), compared in milliseconds.
    Percentile(f64),
    /// Share of finished steps with an error outcome, 0..1.
    ErrorRate,
    /// Discovery completeness: found / expected contacts, 0..1.
    Completeness,
    /// Finished steps per second.
    Rate,
}

/// The comparison an SLO makes: `observed OP threshold` must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SloOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl SloOp {
    /// Whether `observed OP threshold` holds.
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            SloOp::Lt => observed < threshold,
            SloOp::Le => observed <= threshold,
            SloOp::Gt => observed > threshold,
            SloOp::Ge => observed >= threshold,
        }
    }
}

/// One SLO with its selectors resolved to indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// As the profile wrote it, e.g. `p99 of register in americas < 800ms`.
    pub text: String,
    /// What is measured.
    pub stat: SloStat,
    /// Region index, or all regions.
    pub region: Option<u16>,
    /// Step index, or all steps.
    pub step: Option<u16>,
    /// Comparison.
    pub op: SloOp,
    /// Threshold: ms for percentiles, a 0..1 ratio for rates of errors and completeness, per second for rate.
    pub threshold: f64,
}

/// The result of evaluating one SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The SLO's text.
    pub slo: String,
    /// Whether it held. An SLO with nothing to measure passes vacuously and says so in `observed`.
    pub pass: bool,
    /// The observed value (same unit as the threshold); `None` when there was nothing to measure.
    pub observed: Option<f64>,
    /// The threshold.
    pub threshold: f64,
}

impl Slo {
    /// The observed value over `totals` (a merged snapshot covering `seconds` of run time).
    pub fn observe(&self, totals: &Snapshot, seconds: f64) -> Option<f64> {
        match self.stat {
            SloStat::Percentile(q) => {
                let c = totals.merged_cell(self.region, self.step);
                (!c.response.is_empty())
                    .then(|| c.response.value_at_quantile(q / 100.0) as f64 / 1000.0)
            }
            SloStat::ErrorRate => {
                let c = totals.merged_cell(self.region, self.step);
                let n = c.count();
                (n > 0).then(|| c.errors() as f64 / n as f64)
            }
            SloStat::Completeness => totals.merged_counters(self.region).completeness(),
            SloStat::Rate => {
                let c = totals.merged_cell(self.region, self.step);
                (seconds > 0.0).then(|| c.count() as f64 / seconds)
            }
        }
    }

    /// Evaluates against `totals`.
    pub fn evaluate(&self, totals: &Snapshot, seconds: f64) -> Verdict {
        let observed = self.observe(totals, seconds);
        Verdict {
            slo: self.text.clone(),
            pass: observed.is_none_or(|v| self.op.holds(v, self.threshold)),
            observed,
            threshold: self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use crate::recorder::{Recorder, StepRecord};

    #[test]
    fn percentile_and_error_rate_slos() {
        let mut r = Recorder::new(2, 1);
        for i in 0..100u64 {
            let outcome = if i < 5 { Outcome::Http429 } else { Outcome::Ok };
            r.step(StepRecord {
                region: 0,
                step: 0,
                outcome,
                response_us: (i + 1) * 10_000,
                service_us: 1,
                send_lag_us: 1,
            });
        }
        let snap = r.take(1);
        let p99 = Slo {
            text: "p99 < 800ms".into(),
            stat: SloStat::Percentile(99.0),
            region: Some(0),
            step: None,
            op: SloOp::Lt,
            threshold: 800.0,
        };
        let v = p99.evaluate(&snap, 1.0);
        assert!(!v.pass, "p99 is ~990ms: {v:?}");
        let err = Slo {
            text: "error rate < 10%".into(),
            stat: SloStat::ErrorRate,
            region: None,
            step: Some(0),
            op: SloOp::Lt,
            threshold: 0.1,
        };
        let v = err.evaluate(&snap, 1.0);
        assert!(
            v.pass && (v.observed.unwrap_or(1.0) - 0.05).abs() < 1e-9,
            "{v:?}"
        );
        let other_region = Slo {
            region: Some(1),
            ..p99
        };
        assert!(other_region.evaluate(&snap, 1.0).observed.is_none());
    }
}
