//! Clock offsets between a worker and its coordinator, estimated NTP-style.
//!
//! A worker stamps a probe with its clock (`t0`); the coordinator stamps its receipt (`t1`) and its
//! answer (`t2`) with its own; the worker stamps the answer's arrival (`t3`). With the network's two
//! legs taken as equal, the worker's clock minus the coordinator's is
//! `offset = ((t0 - t1) + (t3 - t2)) / 2` (NTP's `((t1 - t0) + (t2 - t3)) / 2` with the sign turned so
//! that a worker whose clock is ahead has a positive offset), and however unequal the legs are the true
//! offset lies within `rtt / 2` of it, `rtt = (t3 - t0) - (t2 - t1)`. Of several exchanges the one with
//! the smallest round trip gives the estimate and its bound.
//!
//! ```
//! use surge_wire::clock::{ClockEstimate, ClockSample};
//! // A worker 300 ms ahead, 2 ms each way, 1 ms in the coordinator.
//! let s = ClockSample { t0_us: 1_300_000, t1_us: 1_002_000, t2_us: 1_003_000, t3_us: 1_305_000 };
//! assert_eq!((s.offset_us(), s.rtt_us()), (300_000, 4_000));
//! let e = ClockEstimate::from_samples(&[s]).unwrap();
//! assert_eq!((e.offset_us, e.bound_us), (300_000, 2_000));
//! ```

use serde::{Deserialize, Serialize};

/// Exchanges a worker makes before it joins.
pub const JOIN_PROBES: usize = 8;
/// A worker whose clock is further than this from the coordinator's gets a warning (terminal and
/// `events.jsonl`). Its offset is corrected all the same; the warning says its clock is not
/// synchronised (NTP), which other measurements on that host may suffer from.
pub const WARN_OFFSET_US: u64 = 1_000_000;

/// A worker's probe: its clock when it sent it (`POST` [`crate::CLOCK_PATH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockProbe {
    /// Sender's protocol version.
    pub version: u32,
    /// The worker's clock at the send, µs since the Unix epoch.
    pub t0_us: i64,
}

/// The coordinator's answer to a probe: the probe's stamp and its own two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEcho {
    /// The probe's `t0`, echoed.
    pub t0_us: i64,
    /// The coordinator's clock when the probe arrived.
    pub t1_us: i64,
    /// The coordinator's clock when it answered.
    pub t2_us: i64,
}

impl ClockEcho {
    /// The complete sample, with the worker's clock at the answer's arrival.
    pub fn sample(self, t3_us: i64) -> ClockSample {
        ClockSample {
            t0_us: self.t0_us,
            t1_us: self.t1_us,
            t2_us: self.t2_us,
            t3_us,
        }
    }
}

/// One exchange: worker send, coordinator receipt, coordinator answer, worker receipt (µs since the
/// Unix epoch, each on its side's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockSample {
    /// Worker, send.
    pub t0_us: i64,
    /// Coordinator, receipt.
    pub t1_us: i64,
    /// Coordinator, answer.
    pub t2_us: i64,
    /// Worker, receipt.
    pub t3_us: i64,
}

impl ClockSample {
    /// The worker's clock minus the coordinator's, as this exchange sees it.
    pub fn offset_us(&self) -> i64 {
        let a = i128::from(self.t0_us) - i128::from(self.t1_us);
        let b = i128::from(self.t3_us) - i128::from(self.t2_us);
        ((a + b) / 2).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The network's share of the exchange (the coordinator's own time taken out); never negative.
    pub fn rtt_us(&self) -> u64 {
        let total = i128::from(self.t3_us) - i128::from(self.t0_us);
        let inside = i128::from(self.t2_us) - i128::from(self.t1_us);
        (total - inside.max(0)).clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Whether the stamps can be an exchange at all (each side's clock ran forward).
    pub fn plausible(&self) -> bool {
        self.t3_us >= self.t0_us && self.t2_us >= self.t1_us
    }
}

/// A worker's clock offset and how far off the estimate can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// The worker's clock minus the coordinator's, µs (positive: the worker's clock is ahead).
    pub offset_us: i64,
    /// The true offset lies within this of `offset_us` (half the smallest round trip), µs.
    pub bound_us: u64,
    /// Exchanges it was estimated from.
    pub samples: u32,
}

impl ClockEstimate {
    /// The estimate of the exchange with the smallest round trip; `None` without a plausible one.
    pub fn from_samples(samples: &[ClockSample]) -> Option<ClockEstimate> {
        let plausible = samples.iter().filter(|s| s.plausible());
        let best = plausible.clone().min_by_key(|s| s.rtt_us())?;
        Some(ClockEstimate {
            offset_us: best.offset_us(),
            bound_us: best.rtt_us().div_ceil(2),
            samples: plausible.count() as u32,
        })
    }

    /// Whether the offset is beyond [`WARN_OFFSET_US`].
    pub fn warns(&self) -> bool {
        self.offset_us.unsigned_abs() > WARN_OFFSET_US
    }
}

impl std::fmt::Display for ClockEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:+.3} ms ± {:.3} ms (best of {} exchanges)",
            self.offset_us as f64 / 1000.0,
            self.bound_us as f64 / 1000.0,
            self.samples
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(offset: i64, out_us: i64, back_us: i64, inside: i64) -> ClockSample {
        // True time 10 s; worker clock = true + offset.
        let t0 = 10_000_000 + offset;
        let t1 = 10_000_000 + out_us;
        let t2 = t1 + inside;
        let t3 = t2 + back_us + offset;
        ClockSample {
            t0_us: t0,
            t1_us: t1,
            t2_us: t2,
            t3_us: t3,
        }
    }

    #[test]
    fn symmetric_legs_give_the_exact_offset() {
        for offset in [-5_000_000, -300_000, 0, 7, 300_000, 86_400_000_000] {
            let s = sample(offset, 150, 150, 40);
            assert_eq!(s.offset_us(), offset);
            assert_eq!(s.rtt_us(), 300);
        }
    }

    #[test]
    fn the_true_offset_lies_within_the_bound_however_unequal_the_legs() {
        for (out, back) in [(1, 999), (999, 1), (500, 500), (0, 2000), (2000, 0)] {
            let s = sample(42_000, out, back, 10);
            let e = ClockEstimate::from_samples(&[s]).unwrap();
            let err = (e.offset_us - 42_000).unsigned_abs();
            assert!(
                err <= e.bound_us,
                "{out}/{back}: err {err} > {}",
                e.bound_us
            );
        }
    }

    #[test]
    fn the_smallest_round_trip_wins_and_nonsense_is_ignored() {
        let slow = sample(1000, 5000, 100, 0);
        let fast = sample(1000, 50, 50, 0);
        let backwards = ClockSample {
            t0_us: 10,
            t1_us: 0,
            t2_us: 0,
            t3_us: 5,
        };
        let e = ClockEstimate::from_samples(&[slow, backwards, fast]).unwrap();
        assert_eq!((e.offset_us, e.bound_us, e.samples), (1000, 50, 2));
        assert!(ClockEstimate::from_samples(&[backwards]).is_none());
        assert!(ClockEstimate::from_samples(&[]).is_none());
    }

    #[test]
    fn extreme_stamps_do_not_overflow() {
        let s = ClockSample {
            t0_us: i64::MIN,
            t1_us: i64::MAX,
            t2_us: i64::MAX,
            t3_us: i64::MAX,
        };
        let _ = (s.offset_us(), s.rtt_us(), ClockEstimate::from_samples(&[s]));
    }

    #[test]
    fn warning_threshold() {
        let e = |o| ClockEstimate {
            offset_us: o,
            bound_us: 1,
            samples: 1,
        };
        assert!(!e(1_000_000).warns() && !e(-999_999).warns());
        assert!(e(1_000_001).warns() && e(-2_000_000).warns());
        assert_eq!(
            e(-1500).to_string(),
            "-1.500 ms ± 0.001 ms (best of 1 exchanges)"
        );
    }
}
