//! The connected phase's counters (WebSocket sessions), kept in [`RegionCounters`] like every other
//! count (`messages_*`, `deliveries_unknown`, `connections_*`, `reconnects`, `heartbeats_missed`,
//! `frames_bad`, `closes_*`), and what is derived from them. Messages count under the **sender's**
//! region. The open-connection level is not a counter (a gauge cannot add up across intervals): it is
//! `connections_opened - connections_closed`, cumulated over the intervals.

use crate::RegionCounters;

impl RegionCounters {
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

    /// `sent - delivered - late - refused` (never negative): messages the server did not refuse that
    /// never arrived. A refused one is never delivered and counts `refused` only.
    pub fn messages_lost(&self) -> u64 {
        self.messages_sent
            .saturating_sub(self.messages_delivered)
            .saturating_sub(self.messages_late)
            .saturating_sub(self.messages_refused)
    }

    /// Whether the connected phase counted anything.
    pub fn has_connections(&self) -> bool {
        self.messages_sent
            | self.deliveries_unknown
            | self.connections_opened
            | self.connections_closed
            | self.closes_other
            | self.frames_bad
            > 0
    }

    /// Server closes by code (`"1000"`, `"1001"`, `"1008"`, `"1009"`, `"1013"`, `"other"`), nonzero only.
    pub fn closes(&self) -> Vec<(&'static str, u64)> {
        [
            ("1000", self.closes_1000),
            ("1001", self.closes_1001),
            ("1008", self.closes_1008),
            ("1009", self.closes_1009),
            ("1013", self.closes_1013),
            ("other", self.closes_other),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_by_code_and_lost() {
        let mut c = RegionCounters {
            messages_sent: 10,
            messages_delivered: 7,
            messages_late: 1,
            ..RegionCounters::default()
        };
        c.close(Some(1001));
        c.close(Some(4000));
        c.close(None);
        assert_eq!(c.closes(), [("1001", 1), ("other", 2)]);
        assert_eq!(c.messages_lost(), 2);
        c.messages_refused = 1;
        assert_eq!(c.messages_lost(), 1, "a refused message is not lost too");
        assert!(c.has_connections());
        assert!(!RegionCounters::default().has_connections());
    }
}
