//! The set of people the tester has seen register successfully: one bit per person of the population,
//! set without locks, read by discovery checks. 10 million people cost 1.25 MB. Next to it, the presence
//! set of the connected phase: one bit per person currently holding a connection (another 1.25 MB per
//! 10 million), read when a person picks a contact to message. In a distributed run each worker process
//! keeps a journal of its own people's presence changes ([`Registry::with_presence_journal`]), reports
//! it, and applies the other workers' ([`Registry::set_connected_elsewhere`]) as the coordinator hands
//! them on: senders pick among contacts connected anywhere in the run (as of a report ago).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-size concurrent bitset over person indexes.
#[derive(Debug)]
pub struct Registry {
    words: Box<[AtomicU64]>,
    connected: Box<[AtomicU64]>,
    len: u64,
    /// This process's people's presence changes not yet reported (remote workers only).
    journal: Option<Mutex<Vec<(u64, bool)>>>,
}

impl Registry {
    /// An empty registry for `population` people.
    pub fn new(population: u64) -> Registry {
        let n = population.div_ceil(64) as usize;
        Registry {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            connected: (0..n).map(|_| AtomicU64::new(0)).collect(),
            len: population,
            journal: None,
        }
    }

    /// As [`Registry::new`], journaling presence changes for [`Registry::take_presence`].
    pub fn with_presence_journal(population: u64) -> Registry {
        Registry {
            journal: Some(Mutex::new(Vec::new())),
            ..Registry::new(population)
        }
    }

    /// The presence changes of this process's people since the last call (empty without a journal).
    pub fn take_presence(&self) -> Vec<(u64, bool)> {
        match &self.journal {
            Some(j) => std::mem::take(&mut *j.lock().unwrap_or_else(|p| p.into_inner())),
            None => Vec::new(),
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

    /// Marks person `u` (held by this process) connected (`true`) or not, journaled when the registry
    /// keeps a journal. Out-of-range indexes are ignored.
    pub fn set_connected(&self, u: u64, on: bool) {
        if u >= self.len {
            return;
        }
        if let Some(j) = &self.journal {
            j.lock().unwrap_or_else(|p| p.into_inner()).push((u, on));
        }
        self.set_connected_elsewhere(u, on);
    }

    /// Marks person `u`, held by another worker process, connected or not (never journaled).
    pub fn set_connected_elsewhere(&self, u: u64, on: bool) {
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

    #[test]
    fn only_own_presence_changes_are_journaled() {
        let r = Registry::with_presence_journal(100);
        r.set_connected(3, true);
        r.set_connected_elsewhere(4, true);
        r.set_connected(3, false);
        r.set_connected(200, true);
        assert!(r.is_connected(4) && !r.is_connected(3));
        assert_eq!(r.take_presence(), vec![(3, true), (3, false)]);
        assert!(r.take_presence().is_empty());
        assert!(Registry::new(10).take_presence().is_empty());
    }
}
