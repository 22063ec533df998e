//! The connected phase in `summary.json`: `journeys.<region>.messages` and
//! `journeys.<region>.connections` (the `connect`, `ack`, `deliver` and `reconnect` steps appear
//! under `regions.<region>` like every step).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use surge_metrics::{RegionCounters, Snapshot};

use crate::types::RunInfo;

/// Messages sent by one region's people.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct MessageSummary {
    /// Sent.
    pub sent: u64,
    /// Delivered within the deadline.
    pub delivered: u64,
    /// Delivered after the deadline.
    pub late: u64,
    /// `sent - delivered - late - refused`: not refused, yet never seen delivered (or still in flight
    /// when the receiver closed).
    pub lost: u64,
    /// delivered / sent; `None` when nothing was sent.
    pub completeness: Option<f64>,
    /// Sends the server refused: an error frame, or a long poll's send request that failed or was
    /// still unanswered when the session closed. Never delivered, and not counted lost.
    pub refused: u64,
    /// Deliveries surge could not attribute to a message it sent (counted under the receiver's region).
    pub unknown: u64,
}

/// Connections of one region's people.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ConnectionSummary {
    /// Most connections open at once, across workers, at an interval's end (`opened - closed`
    /// cumulated; a peak within an interval is not seen).
    pub peak: u64,
    /// Connections established.
    pub opened: u64,
    /// Connections re-established after a drop or a refused handshake.
    pub reconnects: u64,
    /// Reconnect time (drop -> re-established) p50, ms; `None` without reconnects.
    pub reconnect_p50_ms: Option<f64>,
    /// Reconnect time p99, ms.
    pub reconnect_p99_ms: Option<f64>,
    /// Heartbeat replies that did not come in time.
    pub heartbeats_missed: u64,
    /// Frames that broke RFC 6455, the limits, or were not JSON.
    pub frames_bad: u64,
    /// Server closes by code (`"1001"`, ..., `"other"`), nonzero only.
    pub closes: BTreeMap<String, u64>,
}

impl MessageSummary {
    /// The figures of `c`, `None` when the connected phase counted nothing.
    pub fn from_counters(c: &RegionCounters) -> Option<MessageSummary> {
        c.has_connections().then(|| MessageSummary {
            sent: c.messages_sent,
            delivered: c.messages_delivered,
            late: c.messages_late,
            lost: c.messages_lost(),
            completeness: (c.messages_sent > 0)
                .then(|| c.messages_delivered as f64 / c.messages_sent as f64),
            refused: c.messages_refused,
            unknown: c.deliveries_unknown,
        })
    }
}

impl ConnectionSummary {
    /// The figures of `c`, `None` when the connected phase counted nothing.
    pub fn from_counters(c: &RegionCounters) -> Option<ConnectionSummary> {
        let closes = c
            .closes()
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        c.has_connections().then_some(ConnectionSummary {
            peak: 0,
            opened: c.connections_opened,
            reconnects: c.reconnects,
            reconnect_p50_ms: None,
            reconnect_p99_ms: None,
            heartbeats_missed: c.heartbeats_missed,
            frames_bad: c.frames_bad,
            closes,
        })
    }

    /// Reconnect percentiles from region `r`'s `reconnect` step in `totals`.
    pub(crate) fn set_reconnect_times(&mut self, info: &RunInfo, totals: &Snapshot, r: u16) {
        let Some(step) = (0..totals.steps).find(|&s| info.step_name(s.into()) == "reconnect")
        else {
            return;
        };
        let Some(cell) = totals.cell(r, step).filter(|c| !c.response.is_empty()) else {
            return;
        };
        let ms = |q: f64| cell.response.value_at_quantile(q) as f64 / 1000.0;
        self.reconnect_p50_ms = Some(ms(0.5));
        self.reconnect_p99_ms = Some(ms(0.99));
    }
}

/// The level of open connections per region at interval ends, across workers: `opened - closed`
/// cumulated over the intervals, and its highest value so far.
#[derive(Debug, Clone, Default)]
pub struct ConnectionLevel {
    level: Vec<i128>,
    peak: Vec<u64>,
}

impl ConnectionLevel {
    /// Adds one merged interval.
    pub fn add(&mut self, snap: &Snapshot) {
        let n = snap.counters.len();
        self.level.resize(n.max(self.level.len()), 0);
        self.peak.resize(n.max(self.peak.len()), 0);
        for (r, c) in snap.counters.iter().enumerate() {
            self.level[r] += i128::from(c.connections_opened) - i128::from(c.connections_closed);
            let now = u64::try_from(self.level[r].max(0)).unwrap_or(u64::MAX);
            self.peak[r] = self.peak[r].max(now);
        }
    }

    /// Raises each region's `connections.peak` in `summary` to the level seen here.
    pub fn raise(&self, info: &RunInfo, summary: &mut crate::Summary) {
        for (r, peak) in self.peak.iter().enumerate() {
            let name = info.region_name(r);
            if let Some(c) = summary
                .journeys
                .get_mut(&name)
                .and_then(|j| j.connections.as_mut())
            {
                c.peak = c.peak.max(*peak);
            }
        }
    }
}
