//! Distance against queueing in `summary.json`: `journeys.<region>.latency_split`, where one
//! region's step time went by the target's own account (`Server-Timing`: `net`, `queue`, `svc`).
//!
//! Means over the steps whose answers carried the header, and each part's share of their mean
//! response time (from intended start). `other` is what the target does not account for: the
//! generator's send lag, retries and their back-off, connection set-up and local transfer.

use serde::{Deserialize, Serialize};
use surge_metrics::RegionCounters;

/// One region's response time split into distance, queueing, service and the rest.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct LatencySplit {
    /// Finished steps whose answers carried `Server-Timing`: the figures below cover these.
    pub steps: u64,
    /// Their mean response time (from intended start), ms.
    pub response_mean_ms: f64,
    /// Mean network time between the region and the data centre that served it, ms: distance.
    pub distance_mean_ms: f64,
    /// Mean wait for a slot in the target's queue, ms: queueing.
    pub queueing_mean_ms: f64,
    /// Mean service time while holding the slot, ms.
    pub service_mean_ms: f64,
    /// Mean of the rest (response minus the three, at least 0), ms.
    pub other_mean_ms: f64,
    /// Distance's share of the mean response time, 0..1.
    pub distance_share: f64,
    /// Queueing's share, 0..1.
    pub queueing_share: f64,
    /// Service's share, 0..1.
    pub service_share: f64,
    /// The rest's share, 0..1.
    pub other_share: f64,
}

impl LatencySplit {
    /// From a region's counters; `None` when no answer carried `Server-Timing`.
    pub fn from_counters(c: &RegionCounters) -> Option<LatencySplit> {
        if c.timed_steps == 0 {
            return None;
        }
        let n = c.timed_steps as f64;
        let mean = |us: u64| us as f64 / n / 1000.0;
        let response = mean(c.timed_response_us);
        let (distance, queueing, service) =
            (mean(c.distance_us), mean(c.queueing_us), mean(c.serving_us));
        let other = (response - distance - queueing - service).max(0.0);
        // Shares of the larger of the response and the parts' sum, so they add up to at most 1.
        let whole = response.max(distance + queueing + service);
        let share = |ms: f64| if whole > 0.0 { ms / whole } else { 0.0 };
        Some(LatencySplit {
            steps: c.timed_steps,
            response_mean_ms: response,
            distance_mean_ms: distance,
            queueing_mean_ms: queueing,
            service_mean_ms: service,
            other_mean_ms: other,
            distance_share: share(distance),
            queueing_share: share(queueing),
            service_share: share(service),
            other_share: share(other),
        })
    }

    /// Which part dominates the target's side, `distance` or `queueing` (or `service`).
    pub fn dominant(&self) -> &'static str {
        let parts = [
            ("distance", self.distance_mean_ms),
            ("queueing", self.queueing_mean_ms),
            ("service", self.service_mean_ms),
        ];
        parts
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or("distance", |(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_and_shares_come_from_the_sums() {
        let c = RegionCounters {
            timed_steps: 4,
            timed_response_us: 4 * 200_000,
            distance_us: 4 * 120_000,
            queueing_us: 4 * 50_000,
            serving_us: 4 * 10_000,
            ..RegionCounters::default()
        };
        let s = LatencySplit::from_counters(&c).unwrap();
        assert_eq!(s.steps, 4);
        assert!((s.response_mean_ms - 200.0).abs() < 1e-9);
        assert!((s.distance_mean_ms - 120.0).abs() < 1e-9);
        assert!((s.other_mean_ms - 20.0).abs() < 1e-9);
        assert!((s.distance_share - 0.6).abs() < 1e-9);
        assert!((s.queueing_share - 0.25).abs() < 1e-9);
        let sum = s.distance_share + s.queueing_share + s.service_share + s.other_share;
        assert!((sum - 1.0).abs() < 1e-9);
        assert_eq!(s.dominant(), "distance");
        assert_eq!(
            LatencySplit::from_counters(&RegionCounters::default()),
            None
        );
        // A target reporting more than the response took: shares still add up to 1, other is 0.
        let over = RegionCounters {
            timed_steps: 1,
            timed_response_us: 10_000,
            distance_us: 20_000,
            ..RegionCounters::default()
        };
        let s = LatencySplit::from_counters(&over).unwrap();
        assert_eq!((s.other_mean_ms, s.distance_share), (0.0, 1.0));
    }
}
