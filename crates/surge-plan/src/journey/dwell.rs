//! The connected phase's dwell, compiled: sampled per person by inverse CDF (the same uniform number
//! gives the same time), and its survival function `P(dwell > t)` for the plan's estimate of the
//! connections held at once ([`crate::Plan::peak_connections`]).

use std::time::Duration;

use surge_profile::journey::{DwellSpec, ThinkSpec};

use super::ThinkTime;

/// How long a person stays connected.
#[derive(Debug, Clone, PartialEq)]
pub enum Dwell {
    /// Fixed or log-normal.
    Dist(ThinkSpec),
    /// Measured session lengths: row `i` spreads its weight over `[secs_i, secs_i+1)`, the last row
    /// sits at its length.
    Trace {
        /// Session lengths, s, increasing.
        secs: Vec<f64>,
        /// Cumulative weights, normalised: `cum[i]` is the share of rows before `i`; `cum.len() ==
        /// secs.len() + 1`, `cum[last] == 1`.
        cum: Vec<f64>,
    },
}

impl Dwell {
    /// Compiles the profile's dwell.
    pub fn new(spec: &DwellSpec) -> Dwell {
        match spec {
            DwellSpec::Dist(t) => Dwell::Dist(*t),
            DwellSpec::Trace(t) => {
                let total: f64 = t.weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
                let mut cum = Vec::with_capacity(t.weights.len() + 1);
                let mut acc = 0.0;
                cum.push(0.0);
                for w in &t.weights {
                    acc += w / total;
                    cum.push(acc.min(1.0));
                }
                if let Some(last) = cum.last_mut() {
                    *last = 1.0;
                }
                Dwell::Trace {
                    secs: t.secs.clone(),
                    cum,
                }
            }
        }
    }

    /// A dwell for `rand01` uniform in [0, 1).
    pub fn sample(&self, rand01: f64) -> Duration {
        match self {
            Dwell::Dist(t) => ThinkTime::new(*t).sample(rand01),
            Dwell::Trace { secs, cum } => {
                let u = if rand01.is_finite() {
                    rand01.clamp(0.0, 1.0 - 1e-12)
                } else {
                    0.5
                };
                // The row whose share holds u: cum[i] <= u < cum[i + 1].
                let i = cum.partition_point(|c| *c <= u).saturating_sub(1);
                let i = i.min(secs.len().saturating_sub(1));
                let lo = secs.get(i).copied().unwrap_or(0.0);
                let s = match secs.get(i + 1) {
                    Some(hi) => {
                        let width = (cum[i + 1] - cum[i]).max(f64::MIN_POSITIVE);
                        lo + (hi - lo) * ((u - cum[i]) / width).clamp(0.0, 1.0)
                    }
                    None => lo,
                };
                Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
            }
        }
    }

    /// `P(dwell > t)`, `t` in seconds.
    pub fn survival(&self, t: f64) -> f64 {
        match self {
            Dwell::Dist(ThinkSpec::Fixed(d)) => f64::from(u8::from(d.as_secs_f64() > t)),
            Dwell::Dist(ThinkSpec::Uniform { min, max }) => {
                let (a, b) = (min.as_secs_f64(), max.as_secs_f64());
                if t < a {
                    1.0
                } else if t >= b {
                    0.0
                } else {
                    (b - t) / (b - a)
                }
            }
            Dwell::Dist(ThinkSpec::LogNormal { median, sigma, max }) => {
                if max.is_some_and(|m| t >= m.as_secs_f64()) {
                    return 0.0;
                }
                if t <= 0.0 {
                    return 1.0;
                }
                let z = (t / median.as_secs_f64()).ln() / sigma.max(1e-9);
                1.0 - normal_cdf(z)
            }
            Dwell::Trace { secs, cum } => {
                let mut above = 0.0;
                for (i, lo) in secs.iter().enumerate() {
                    let w = cum[i + 1] - cum[i];
                    above += match secs.get(i + 1) {
                        Some(_) if t < *lo => w,
                        Some(hi) if t < *hi => w * (hi - t) / (hi - lo),
                        Some(_) => 0.0,
                        None => w * f64::from(u8::from(*lo > t)),
                    };
                }
                above.clamp(0.0, 1.0)
            }
        }
    }
}

/// The standard normal CDF (Abramowitz and Stegun 7.1.26 for erf, error < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use surge_profile::journey::DwellTrace;

    #[test]
    fn a_trace_samples_within_its_rows_and_its_survival_matches() {
        let d = Dwell::new(&DwellSpec::Trace(DwellTrace {
            file: "t.csv".into(),
            secs: vec![0.0, 10.0, 60.0],
            weights: vec![1.0, 1.0, 2.0],
        }));
        assert_eq!(d.sample(0.0), Duration::ZERO);
        assert_eq!(d.sample(0.125), Duration::from_secs(5));
        assert_eq!(d.sample(0.375), Duration::from_secs(35));
        assert_eq!(d.sample(0.9), Duration::from_secs(60));
        assert!((d.survival(5.0) - 0.875).abs() < 1e-9);
        assert!((d.survival(35.0) - 0.625).abs() < 1e-9);
        assert!((d.survival(59.0) - 0.505).abs() < 1e-9);
        assert_eq!(d.survival(60.0), 0.0);
        // Inverse CDF and survival agree: P(dwell > sample(u)) = 1 - u inside the spread rows.
        for u in [0.05, 0.2, 0.3, 0.45] {
            let s = d.sample(u).as_secs_f64();
            assert!((d.survival(s) - (1.0 - u)).abs() < 1e-6, "{u}");
        }
    }

    #[test]
    fn log_normal_survival_is_half_at_the_median_and_zero_at_the_cap() {
        let d = Dwell::Dist(ThinkSpec::LogNormal {
            median: Duration::from_secs(60),
            sigma: 1.0,
            max: Some(Duration::from_secs(600)),
        });
        assert!((d.survival(60.0) - 0.5).abs() < 1e-6);
        assert!((d.survival(60.0 * 1f64.exp()) - 0.158_655).abs() < 1e-5);
        assert_eq!(d.survival(600.0), 0.0);
        assert_eq!(
            Dwell::Dist(ThinkSpec::Fixed(Duration::from_secs(5))).survival(4.9),
            1.0
        );
    }
}
