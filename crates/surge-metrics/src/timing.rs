//! Where a target says an answer's time went: the `net`, `queue` and `svc` metrics of its
//! `Server-Timing` header (W3C Server Timing, durations in milliseconds). The reference backend
//! sends them on every API answer; any backend that does is split the same way.
//!
//! ```
//! use surge_metrics::ServerTiming;
//! let t = ServerTiming::parse(b"net;dur=40.000, queue;dur=1.5, svc;dur=3.25, dc;desc=us");
//! assert_eq!(t, Some(ServerTiming { network_us: 40_000, queue_us: 1_500, service_us: 3_250 }));
//! assert_eq!(ServerTiming::parse(b"cache;desc=hit"), None);
//! ```

use crate::snapshot::HIGHEST_US;

/// The target's own account of one answer (or of several, added up), µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTiming {
    /// `net`: network time between the caller's region and the data centre (the distance).
    pub network_us: u64,
    /// `queue`: time spent waiting for a slot in the data centre (the queueing).
    pub queue_us: u64,
    /// `svc`: service time while holding the slot.
    pub service_us: u64,
}

impl ServerTiming {
    /// Reads `net`, `queue` and `svc` from a `Server-Timing` value; `None` when it has none of them.
    /// Other metrics, and parameters other than `dur`, are skipped; a missing or malformed `dur`
    /// counts as 0 (the header is the target's, never trusted to be well formed).
    pub fn parse(value: &[u8]) -> Option<ServerTiming> {
        let text = std::str::from_utf8(value).ok()?;
        let mut out = ServerTiming::default();
        let mut seen = false;
        for metric in text.split(',') {
            let mut params = metric.split(';');
            let name = params.next().unwrap_or("").trim();
            let field = match name {
                "net" => &mut out.network_us,
                "queue" => &mut out.queue_us,
                "svc" => &mut out.service_us,
                _ => continue,
            };
            seen = true;
            let dur = params.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("dur")).then(|| v.trim().trim_matches('"'))
            });
            *field = dur.map_or(0, ms_to_us);
        }
        seen.then_some(out)
    }

    /// Adds `other` (the rounds of one step), saturating.
    pub fn add(&mut self, other: ServerTiming) {
        self.network_us = self.network_us.saturating_add(other.network_us);
        self.queue_us = self.queue_us.saturating_add(other.queue_us);
        self.service_us = self.service_us.saturating_add(other.service_us);
    }
}

/// Milliseconds as written (a non-negative decimal) to µs, clamped to the histograms' range; anything
/// else is 0.
fn ms_to_us(text: &str) -> u64 {
    match text.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 => ((ms * 1000.0).round() as u64).min(HIGHEST_US),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn metrics_are_found_in_any_order_and_missing_ones_are_zero() {
        let t = ServerTiming::parse(b"svc;dur=2;desc=\"x\",  net;desc=a;dur=\"7.5\"");
        assert_eq!(
            t,
            Some(ServerTiming {
                network_us: 7_500,
                queue_us: 0,
                service_us: 2_000
            })
        );
        let bad = ServerTiming::parse(b"net;dur=-5, queue;dur=NaN, svc;dur=1e300");
        assert_eq!(
            bad,
            Some(ServerTiming {
                network_us: 0,
                queue_us: 0,
                service_us: HIGHEST_US
            })
        );
        assert_eq!(ServerTiming::parse(b"net"), Some(ServerTiming::default()));
        assert_eq!(ServerTiming::parse(b""), None);
        assert_eq!(ServerTiming::parse(b"\xff\xfe"), None);
    }

    proptest! {
        /// Whatever a target sends, parsing never panics and stays in range.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(t) = ServerTiming::parse(&bytes) {
                prop_assert!(t.network_us <= HIGHEST_US && t.queue_us <= HIGHEST_US);
            }
        }
    }
}
