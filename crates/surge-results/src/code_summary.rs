//! Verification codes in `summary.json`: `journeys.<region>.codes`, how many people waited for a code
//! whose delivery the target announced, asked again because it was late, and gave up waiting. The
//! delay itself (from the first request to the code usable) is the `code_delay` step's figures in
//! `regions.<region>.code_delay`.

use serde::{Deserialize, Serialize};
use surge_metrics::RegionCounters;

/// One region's waits for verification codes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct CodeSummary {
    /// People who waited for a code.
    pub awaited: u64,
    /// Code requests sent again because the code was late.
    pub resent: u64,
    /// People who gave up waiting (their code was still late after their last request).
    pub gave_up: u64,
    /// `gave_up / awaited`.
    pub gave_up_share: f64,
}

impl CodeSummary {
    /// From a region's counters; `None` when nobody in the region waited for a code.
    pub fn from_counters(c: &RegionCounters) -> Option<CodeSummary> {
        (c.codes_awaited > 0).then(|| CodeSummary {
            awaited: c.codes_awaited,
            resent: c.codes_resent,
            gave_up: c.codes_gave_up,
            gave_up_share: c.codes_gave_up as f64 / c.codes_awaited as f64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_of_people_who_gave_up() {
        let c = RegionCounters {
            codes_awaited: 40,
            codes_resent: 25,
            codes_gave_up: 10,
            ..RegionCounters::default()
        };
        let s = CodeSummary::from_counters(&c).unwrap_or_default();
        assert_eq!((s.awaited, s.resent, s.gave_up), (40, 25, 10));
        assert!((s.gave_up_share - 0.25).abs() < 1e-12);
        assert_eq!(CodeSummary::from_counters(&RegionCounters::default()), None);
    }
}
