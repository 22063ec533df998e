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
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            SloOp::Lt => "<",
            SloOp::Le => "<=",
            SloOp::Gt => ">",
            SloOp::Ge => ">=",
        }
    }

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

/// What an SLO's evaluation found: three values, because an SLO with nothing to measure has not
/// been met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// The observed value meets the threshold.
    Pass,
    /// The observed value breaks the threshold.
    Fail,
    /// Nothing was measured (no sample of that region and step): counts as failed.
    NoData,
}

impl VerdictStatus {
    /// `pass`, `fail` or `no_data`, as in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictStatus::Pass => "pass",
            VerdictStatus::Fail => "fail",
            VerdictStatus::NoData => "no_data",
        }
    }

    /// `PASS`, `FAIL` or `NO DATA`, as people read it.
    pub fn label(self) -> &'static str {
        match self {
            VerdictStatus::Pass => "PASS",
            VerdictStatus::Fail => "FAIL",
            VerdictStatus::NoData => "NO DATA",
        }
    }
}

/// The result of evaluating one SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredVerdict")]
pub struct Verdict {
    /// The SLO's text.
    pub slo: String,
    /// Whether it held: `true` only for [`VerdictStatus::Pass`] (an SLO with no data did not hold).
    pub pass: bool,
    /// Pass, fail or no data.
    pub status: VerdictStatus,
    /// The observed value (same unit as the threshold); `None` when there was nothing to measure.
    pub observed: Option<f64>,
    /// The threshold.
    pub threshold: f64,
}

impl Verdict {
    /// A verdict from an observation: no data when `observed` is `None`.
    pub fn new(slo: String, op: SloOp, observed: Option<f64>, threshold: f64) -> Verdict {
        let status = match observed {
            None => VerdictStatus::NoData,
            Some(v) if op.holds(v, threshold) => VerdictStatus::Pass,
            Some(_) => VerdictStatus::Fail,
        };
        Verdict {
            slo,
            pass: status == VerdictStatus::Pass,
            status,
            observed,
            threshold,
        }
    }
}

/// A verdict as stored; files written before `status` existed derive it from `pass` and `observed`
/// (their vacuous passes, with nothing observed, read back as no data).
#[derive(Deserialize)]
struct StoredVerdict {
    slo: String,
    pass: bool,
    #[serde(default)]
    status: Option<VerdictStatus>,
    observed: Option<f64>,
    threshold: f64,
}

impl From<StoredVerdict> for Verdict {
    fn from(s: StoredVerdict) -> Verdict {
        let status = s.status.unwrap_or(match (s.observed, s.pass) {
            (None, _) => VerdictStatus::NoData,
            (Some(_), true) => VerdictStatus::Pass,
            (Some(_), false) => VerdictStatus::Fail,
        });
        Verdict {
            slo: s.slo,
            pass: status == VerdictStatus::Pass,
            status,
            observed: s.observed,
            threshold: s.threshold,
        }
    }
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
        Verdict::new(self.text.clone(), self.op, observed, self.threshold)
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
        let v = other_region.evaluate(&snap, 1.0);
        assert!(v.observed.is_none());
        assert_eq!(
            v.status,
            VerdictStatus::NoData,
            "nothing measured is no data"
        );
        assert!(!v.pass, "no data does not pass");
    }

    #[test]
    fn verdicts_round_trip_and_old_files_read_vacuous_passes_as_no_data() {
        let v = Verdict::new("p99 < 1s".into(), SloOp::Lt, None, 1000.0);
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["status"], "no_data");
        assert_eq!(json["pass"], false);
        let back: Verdict = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, v);
        let old = serde_json::json!({"slo": "x", "pass": true, "observed": null, "threshold": 1.0});
        let old: Verdict = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((old.status, old.pass), (VerdictStatus::NoData, false));
        let old = serde_json::json!({"slo": "x", "pass": true, "observed": 0.5, "threshold": 1.0});
        let old: Verdict = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.status, VerdictStatus::Pass);
    }
}
