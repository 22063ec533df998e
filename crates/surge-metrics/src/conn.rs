//! Counters of the connected phase (WebSocket sessions): messages, connections, closes by code.
//!
//! Kept per region inside [`crate::RegionCounters`] (`conn`), summed on merge like every counter
//! except [`ConnCounters::connections_peak`], a gauge merged by maximum.

use serde::{Deserialize, Serialize};

/// Per-region counters of connected people. Messages count under the **sender's** region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnCounters {
    /// Messages sent.
    pub messages_sent: u64,
    /// Delivered within the deadline.
    pub messages_delivered: u64,
    /// Delivered after the deadline.
    pub messages_late: u64,
    /// Sends the server refused with an error frame (e.g. `unknown_recipient`).
    pub messages_refused: u64,
    /// Deliveries surge cannot attribute (an id, `sent_at` or region it did not send), counted under
    /// the receiver's region.
    pub deliveries_unknown: u64,
    /// Connections established (handshake answered 101).
    pub connections_opened: u64,
    /// Established connections that ended (any reason, the person's own end included).
    pub connections_closed: u64,
    /// Most connections open at once within the interval on one worker (a gauge: merged by maximum;
    /// the cross-worker level at interval ends is `opened - closed`, cumulated).
    pub connections_peak: u64,
    /// Connections re-established after a drop or a refused handshake.
    pub reconnects: u64,
    /// Heartbeats whose reply did not come within the timeout (the connection is then dropped).
    pub heartbeats_missed: u64,
    /// Frames the server sent that break RFC 6455 or the limits, and text frames that are not JSON.
    pub frames_bad: u64,
    /// Server closes with code 1000.
    pub closes_1000: u64,
    /// Server closes with code 1001 (going away).
    pub closes_1001: u64,
    /// Server closes with code 1008 (policy).
    pub closes_1008: u64,
    /// Server closes with code 1009 (too big).
    pub closes_1009: u64,
    /// Server closes with code 1013 (try again later).
    pub closes_1013: u64,
    /// Server closes with any other code, or none, and connections cut without a close frame.
    pub closes_other: u64,
}

impl ConnCounters {
    /// Column names, in [`ConnCounters::values`] order.
    pub const NAMES: [&'static str; 17] = [
        "messages_sent",
        "messages_delivered",
        "messages_late",
        "messages_refused",
        "deliveries_unknown",
        "connections_opened",
        "connections_closed",
        "connections_peak",
        "reconnects",
        "heartbeats_missed",
        "frames_bad",
        "closes_1000",
        "closes_1001",
        "closes_1008",
        "closes_1009",
        "closes_1013",
        "closes_other",
    ];

    /// The counters in [`ConnCounters::NAMES`] order.
    pub fn values(&self) -> [u64; 17] {
        [
            self.messages_sent,
            self.messages_delivered,
            self.messages_late,
            self.messages_refused,
            self.deliveries_unknown,
            self.connections_opened,
            self.connections_closed,
            self.connections_peak,
            self.reconnects,
            self.heartbeats_missed,
            self.frames_bad,
            self.closes_1000,
            self.closes_1001,
            self.closes_1008,
            self.closes_1009,
            self.closes_1013,
            self.closes_other,
        ]
    }

    /// The counters from [`ConnCounters::values`] order.
    pub fn from_values(v: [u64; 17]) -> ConnCounters {
        let [
            messages_sent,
            messages_delivered,
            messages_late,
            messages_refused,
            deliveries_unknown,
            connections_opened,
            connections_closed,
            connections_peak,
            reconnects,
            heartbeats_missed,
            frames_bad,
            closes_1000,
            closes_1001,
            closes_1008,
            closes_1009,
            closes_1013,
            closes_other,
        ] = v;
        ConnCounters {
            messages_sent,
            messages_delivered,
            messages_late,
            messages_refused,
            deliveries_unknown,
            connections_opened,
            connections_closed,
            connections_peak,
            reconnects,
            heartbeats_missed,
            frames_bad,
            closes_1000,
            closes_1001,
            closes_1008,
            closes_1009,
            closes_1013,
            closes_other,
        }
    }

    /// Adds `o` (saturating); the peak gauge takes the maximum.
    pub fn merge(&mut self, o: &ConnCounters) {
        let peak = self.connections_peak.max(o.connections_peak);
        let mut v = self.values();
        for (a, b) in v.iter_mut().zip(o.values()) {
            *a = a.saturating_add(b);
        }
        *self = ConnCounters::from_values(v);
        self.connections_peak = peak;
    }

    /// Counts a server close with `code` (`None`: no code, or no close frame).
    pub fn close(&mut self, code: Option<u16>) {
        let c = match code {
            Some(1000) => &mut self.closes_1000,
            Some(1001) => &mut self.closes_1001,
            Some(1008) => &mut self.closes_1008,
            Some(1009) => &mut self.closes_1009,
            Some(1013) => &mut self.closes_1013,
            _ => &mut self.closes_other,
        };
        *c = c.saturating_add(1);
    }

    /// `sent - delivered - late` (never negative).
    pub fn lost(&self) -> u64 {
        self.messages_sent
            .saturating_sub(self.messages_delivered)
            .saturating_sub(self.messages_late)
    }

    /// Whether anything was counted (the connected phase ran).
    pub fn is_empty(&self) -> bool {
        self.values().iter().all(|&v| v == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counts_and_keeps_the_highest_peak() {
        let mut a = ConnCounters {
            messages_sent: 3,
            connections_peak: 5,
            ..ConnCounters::default()
        };
        let b = ConnCounters {
            messages_sent: u64::MAX,
            messages_delivered: 2,
            connections_peak: 4,
            ..ConnCounters::default()
        };
        a.merge(&b);
        assert_eq!(
            (a.messages_sent, a.messages_delivered, a.connections_peak),
            (u64::MAX, 2, 5)
        );
        a.close(Some(1001));
        a.close(Some(4000));
        a.close(None);
        assert_eq!((a.closes_1001, a.closes_other), (1, 2));
        assert_eq!(ConnCounters::from_values(a.values()), a);
    }
}
