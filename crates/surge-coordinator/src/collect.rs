//! Merging worker snapshots interval by interval, exactly, and handing each complete interval to the
//! results writer. Shared by in-process and remote workers: both arrive as [`WorkerEvent`]s.
//!
//! Workers send their intervals in sparse form ([`SparseSnapshot`]: only the buckets they recorded
//! into), so the merge here, serial and once per worker per interval, costs what was recorded rather
//! than every counter of every histogram. Each interval waits for its workers in an [`Accumulator`]
//! (dense counters, no per-bucket histogram bookkeeping); it becomes a [`Snapshot`] and is added to the
//! totals once, when it is handed out.
//!
//! [`WorkerEvent`]: surge_engine::WorkerEvent

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use surge_metrics::{Accumulator, MetricsError, RegionCounters, Snapshot, SparseSnapshot};

/// State of one worker as the collector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Reporting.
    Live,
    /// Finished and said so.
    Done,
    /// Declared lost (silent too long, or its connection died).
    Lost,
}

/// Merges snapshots per interval; an interval is complete when every live worker has reported it (or a
/// later one). Snapshots are merged exactly: histograms added, counters summed.
#[derive(Debug)]
pub struct Collector {
    regions: u16,
    steps: u16,
    state: Vec<WorkerState>,
    /// Highest interval each worker has reported (None before its first report).
    reported: Vec<Option<u64>>,
    /// Intervals received but not yet written.
    pending: BTreeMap<u64, Accumulator>,
    /// Next interval to hand out.
    next: u64,
    /// Everything merged so far (all handed-out intervals).
    totals: Snapshot,
    /// Intervals each worker never reported (filled when it is lost).
    missing: Vec<Vec<u64>>,
    /// Each worker's journey counters so far, per region: who it started and who ended, so that the
    /// people in flight on a worker that is lost can be counted as lost with it.
    per_worker: Vec<Vec<RegionCounters>>,
}

impl Collector {
    /// A collector for `workers` workers of a plan with `regions x steps` cells.
    pub fn new(workers: usize, regions: u16, steps: u16) -> Collector {
        Collector {
            regions,
            steps,
            state: vec![WorkerState::Live; workers],
            reported: vec![None; workers],
            pending: BTreeMap::new(),
            next: 0,
            totals: Snapshot::new(0, regions, steps),
            missing: vec![Vec::new(); workers],
            per_worker: vec![vec![RegionCounters::default(); regions as usize]; workers],
        }
    }

    /// Continues a run cut short: `totals` is what its first part merged, `next` its first interval.
    pub fn resume_from(&mut self, next: u64, totals: &Snapshot) -> Result<(), MetricsError> {
        self.totals.merge(totals)?;
        self.next = next;
        Ok(())
    }

    /// Adds one worker snapshot. Snapshots of an interval already handed out are merged into the
    /// totals directly (late, but not lost) and reported back as `late = true`. A snapshot of another
    /// shape (or malformed) is refused whole and does not count as the worker's report.
    pub fn add(&mut self, worker: usize, snap: &SparseSnapshot) -> Result<bool, MetricsError> {
        let late = snap.interval < self.next;
        if late {
            self.totals.merge_sparse(snap)?;
        } else {
            let (regions, steps) = (self.regions, self.steps);
            match self.pending.entry(snap.interval) {
                Entry::Occupied(mut slot) => slot.get_mut().add(snap)?,
                Entry::Vacant(slot) => {
                    let mut fresh = Accumulator::new(snap.interval, regions, steps);
                    fresh.add(snap)?;
                    slot.insert(fresh);
                }
            }
        }
        if let Some(r) = self.reported.get_mut(worker) {
            *r = Some(r.map_or(snap.interval, |x| x.max(snap.interval)));
        }
        if let Some(mine) = self.per_worker.get_mut(worker) {
            for (m, c) in mine.iter_mut().zip(&snap.counters) {
                m.merge(c);
            }
        }
        Ok(late)
    }

    /// Marks a worker done: it will send nothing more.
    pub fn done(&mut self, worker: usize) {
        if let Some(s) = self.state.get_mut(worker)
            && *s == WorkerState::Live
        {
            *s = WorkerState::Done;
        }
    }

    /// People a worker has in flight by what it reported, per region: started and not (yet) reported
    /// ended. When it is lost, these are lost with it.
    pub fn in_flight_of(&self, worker: usize) -> Vec<u64> {
        self.per_worker
            .get(worker)
            .map_or_else(Vec::new, |regions| {
                regions
                    .iter()
                    .map(|c| {
                        c.started
                            .saturating_sub(c.succeeded + c.failed + c.unfinished)
                    })
                    .collect()
            })
    }

    /// Marks a worker lost at interval `at` (the first interval it did not report): the intervals from its
    /// last report up to `at` are recorded as missing.
    pub fn lose(&mut self, worker: usize, at: u64) -> Vec<u64> {
        let Some(s) = self.state.get_mut(worker) else {
            return Vec::new();
        };
        *s = WorkerState::Lost;
        let from = self.reported[worker].map_or(0, |r| r + 1);
        let missing: Vec<u64> = (from..=at.max(from)).collect();
        self.missing[worker].clone_from(&missing);
        missing
    }

    /// The state of each worker.
    pub fn states(&self) -> &[WorkerState] {
        &self.state
    }

    /// Highest interval reported by a worker.
    pub fn last_reported(&self, worker: usize) -> Option<u64> {
        self.reported.get(worker).copied().flatten()
    }

    /// Whether every worker is done or lost.
    pub fn finished(&self) -> bool {
        self.state.iter().all(|s| *s != WorkerState::Live)
    }

    /// The next complete interval, if any: every live worker has reported it or a later one. When all
    /// workers are finished, every pending interval is complete.
    pub fn pop_ready(&mut self) -> Option<Snapshot> {
        let all_done = self.finished();
        let ready = all_done
            || self
                .state
                .iter()
                .zip(&self.reported)
                .all(|(s, r)| *s != WorkerState::Live || r.is_some_and(|r| r >= self.next));
        if !ready {
            return None;
        }
        let snap = match self.pending.remove(&self.next) {
            Some(acc) => acc.finish(),
            None if all_done && self.pending.is_empty() => return None,
            None => Snapshot::new(self.next, self.regions, self.steps),
        };
        self.next += 1;
        // Same shape by construction.
        let _ = self.totals.merge(&snap);
        Some(snap)
    }

    /// Everything handed out so far (plus late arrivals), merged.
    pub fn totals(&self) -> &Snapshot {
        &self.totals
    }

    /// The next interval index to be handed out.
    pub fn next_interval(&self) -> u64 {
        self.next
    }

    /// Intervals a lost worker never reported.
    pub fn missing(&self, worker: usize) -> &[u64] {
        self.missing.get(worker).map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use surge_metrics::{Outcome, Recorder, StepRecord};

    fn snap(interval: u64, n: u64) -> SparseSnapshot {
        let mut r = Recorder::new(1, 1);
        for i in 0..n {
            r.step(StepRecord {
                region: 0,
                step: 0,
                outcome: Outcome::Ok,
                response_us: 100 + i,
                service_us: 1,
                send_lag_us: 1,
            });
        }
        let mut s = r.take(interval + 1);
        s.interval = interval;
        s.to_sparse()
    }

    #[test]
    fn waits_for_every_live_worker_then_merges_exactly() {
        let mut c = Collector::new(2, 1, 1);
        c.add(0, &snap(0, 3)).unwrap();
        assert!(
            c.pop_ready().is_none(),
            "worker 1 has not reported interval 0"
        );
        c.add(1, &snap(0, 4)).unwrap();
        let s = c.pop_ready().unwrap();
        assert_eq!(s.cell(0, 0).unwrap().count(), 7);
        c.add(1, &snap(1, 1)).unwrap();
        c.lose(0, 2);
        assert_eq!(c.missing(0), &[1, 2]);
        assert_eq!(c.pop_ready().unwrap().cell(0, 0).unwrap().count(), 1);
        c.done(1);
        assert!(c.pop_ready().is_none());
        assert_eq!(c.totals().cell(0, 0).unwrap().count(), 8);
    }
}
