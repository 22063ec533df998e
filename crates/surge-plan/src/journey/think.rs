//! Think time between steps and periodic discovery re-sync.

use std::time::Duration;

use surge_profile::journey::ThinkSpec;

/// Think time between two steps of a journey, sampled from one uniform number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinkTime {
    spec: ThinkSpec,
}

/// Periodic repeat of the discovery step(s): `times` more uploads, `every` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resync {
    /// Period.
    pub every: Duration,
    /// Number of repeats.
    pub times: u32,
    /// Contacts the address book gains before each re-sync.
    pub added: u32,
}

impl ThinkTime {
    pub(crate) fn new(spec: ThinkSpec) -> ThinkTime {
        ThinkTime { spec }
    }

    /// A think time for `rand01` uniform in [0, 1) (inverse-CDF sampling, so the same number gives
    /// the same time: deterministic under a seeded generator).
    pub fn sample(&self, rand01: f64) -> Duration {
        let u = if rand01.is_finite() {
            rand01.clamp(1e-12, 1.0 - 1e-12)
        } else {
            0.5
        };
        match self.spec {
            ThinkSpec::Fixed(d) => d,
            ThinkSpec::Uniform { min, max } => min + (max - min).mul_f64(u),
            ThinkSpec::LogNormal { median, sigma, max } => {
                let secs = median.as_secs_f64() * (sigma * inverse_normal(u)).exp();
                let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
                max.map_or(d, |m| d.min(m))
            }
        }
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
pub(crate) fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_normal_known_points() {
        assert!(inverse_normal(0.5).abs() < 1e-9);
        assert!((inverse_normal(0.975) - 1.959964).abs() < 1e-5);
        assert!((inverse_normal(0.01) + 2.326348).abs() < 1e-5);
    }

    #[test]
    fn samples_follow_the_distribution() {
        let ms = Duration::from_millis;
        let fixed = ThinkTime::new(ThinkSpec::Fixed(ms(250)));
        assert_eq!(fixed.sample(0.9), ms(250));
        let uni = ThinkTime::new(ThinkSpec::Uniform {
            min: ms(100),
            max: ms(300),
        });
        assert_eq!(uni.sample(0.5), ms(200));
        assert!(uni.sample(f64::NAN) == ms(200));
        let ln = ThinkTime::new(ThinkSpec::LogNormal {
            median: ms(1000),
            sigma: 1.0,
            max: Some(ms(5000)),
        });
        assert_eq!(ln.sample(0.5), ms(1000));
        let hi = ln.sample(0.975).as_secs_f64();
        assert!((hi - 5.0).abs() < 1e-9, "capped at max, got {hi}");
        let lo = ln.sample(0.025).as_secs_f64();
        assert!((lo - (-1.959964f64).exp()).abs() < 1e-4, "got {lo}");
    }
}
