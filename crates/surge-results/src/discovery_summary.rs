//! Contact discovery in `summary.json`: `journeys.<region>.discovery`, the missing contacts split by
//! cause.

use serde::{Deserialize, Serialize};
use surge_metrics::RegionCounters;

/// Why expected contacts were missing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MissingByCause {
    /// The target answered without them: its index had not caught up with their registration.
    pub index_lag: u64,
    /// Their lookup was refused for quota (429) after the client's retries.
    pub quota: u64,
    /// Their lookup failed otherwise (errors, timeouts, wrong answers).
    pub error: u64,
}

/// One region's contact discovery.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DiscoverySummary {
    /// Contacts the tester knew were registered when their lookup was sent (or due).
    pub expected: u64,
    /// Of those, found.
    pub found: u64,
    /// Of those, missing: `index_lag + quota + error`.
    pub missing: u64,
    /// The missing ones by cause.
    pub missing_by_cause: MissingByCause,
}

impl DiscoverySummary {
    /// From a region's counters; `None` when the region looked nothing up.
    pub fn from_counters(c: &RegionCounters) -> Option<DiscoverySummary> {
        (c.contacts_uploaded > 0 || c.contacts_expected > 0).then_some(DiscoverySummary {
            expected: c.contacts_expected,
            found: c.contacts_found,
            missing: c.contacts_missing,
            missing_by_cause: MissingByCause {
                index_lag: c.missing_index_lag,
                quota: c.missing_quota,
                error: c.missing_error,
            },
        })
    }

    /// The cause with the most missing contacts (`index_lag`, `quota` or `error`), `None` when
    /// nothing is missing.
    pub fn dominant_cause(&self) -> Option<&'static str> {
        let m = &self.missing_by_cause;
        [
            ("index_lag", m.index_lag),
            ("quota", m.quota),
            ("error", m.error),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map(|(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_come_from_the_counters_and_the_largest_dominates() {
        let c = RegionCounters {
            contacts_uploaded: 100,
            contacts_expected: 40,
            contacts_found: 30,
            contacts_missing: 10,
            missing_index_lag: 2,
            missing_quota: 7,
            missing_error: 1,
            ..RegionCounters::default()
        };
        let d = DiscoverySummary::from_counters(&c).unwrap();
        assert_eq!(d.missing, 10);
        assert_eq!(d.missing_by_cause.quota, 7);
        assert_eq!(d.dominant_cause(), Some("quota"));
        assert_eq!(
            DiscoverySummary::from_counters(&RegionCounters::default()),
            None
        );
        let none_missing = DiscoverySummary {
            expected: 5,
            found: 5,
            ..DiscoverySummary::default()
        };
        assert_eq!(none_missing.dominant_cause(), None);
    }
}
