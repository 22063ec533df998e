//! The set of people the tester has seen register successfully: one bit per person of the population,
//! set without locks, read by discovery checks. 10 million people cost 1.25 MB. Next to it, the presence
//! set of the connected phase: one bit per person currently holding a connection (another 1.25 MB per
//! 10 million), read when a person picks a contact to message. Presence is per process: a distributed
//! run's senders pick among the contacts connected to their own process.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-size concurrent bitset over person indexes.
#[derive(Debug)]
pub struct Registry {
    words: Box<[AtomicU64]>,
    connected: Box<[AtomicU64]>,
    len: u64,
}

impl Registry {
    /// An empty registry for `population` people.
    pub fn new(population: u64) -> Registry {
        let n = population.div_ceil(64) as usize;
        Registry {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            connected: (0..n).map(|_| AtomicU64::new(0)).collect(),
            len: population,
        }
    }

    /// Marks person `u` registered; returns whether it was new. Out-of-range indexes are ignored.
    pub fn insert(&self, u: u64) -> bool {
        if u >= self.len {
            return false;
        }
        let bit = 1u64 << (u % 64);
        let old = self.words[(u / 64) as usize].fetch_or(bit, Ordering::Relaxed);
        old & bit == 0
    }

    /// Whether person `u` is known registered.
    pub fn contains(&self, u: u64) -> bool {
        u < self.len
            && self.words[(u / 64) as usize].load(Ordering::Relaxed) & (1u64 << (u % 64)) != 0
    }

    /// Number of registered people (a full scan; for reports, not the hot path).
    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as u64)
            .sum()
    }

    /// Marks person `u` connected (`true`) or not. Out-of-range indexes are ignored.
    pub fn set_connected(&self, u: u64, on: bool) {
        if u >= self.len {
            return;
        }
        let bit = 1u64 << (u % 64);
        let w = &self.connected[(u / 64) as usize];
        if on {
            w.fetch_or(bit, Ordering::Relaxed);
        } else {
            w.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Whether person `u` holds a connection right now.
    pub fn is_connected(&self, u: u64) -> bool {
        u < self.len
            && self.connected[(u / 64) as usize].load(Ordering::Relaxed) & (1u64 << (u % 64)) != 0
    }

    /// Capacity in people.
    pub fn population(&self) -> u64 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_count() {
        let r = Registry::new(130);
        assert!(r.insert(0));
        assert!(!r.insert(0));
        assert!(r.insert(129));
        assert!(!r.insert(130), "out of range is ignored");
        assert!(r.contains(0) && r.contains(129) && !r.contains(64) && !r.contains(1000));
        assert_eq!(r.count(), 2);
        r.set_connected(129, true);
        r.set_connected(500, true);
        assert!(r.is_connected(129) && !r.is_connected(0) && !r.is_connected(500));
        r.set_connected(129, false);
        assert!(!r.is_connected(129));
        assert_eq!(r.count(), 2, "presence is apart from registration");
    }
}
