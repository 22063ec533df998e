//! Merging many sparse snapshots of one interval: the coordinator's hot path.
//!
//! [`Snapshot::merge_sparse`] adds each bucket with `Histogram::saturating_record_n`, which also keeps
//! the histogram's total, minimum and maximum up to date: some 4 ns a bucket, over 90 ms for the
//! 23 million buckets of a thousand workers' intervals before any memory is touched. An [`Accumulator`]
//! only adds counts into plain per-bucket counters laid out as surge's histograms are, and builds the
//! histograms once, when the interval is complete ([`Accumulator::finish`]). The result is exactly the
//! dense merge: same buckets, counts, minimum and maximum.
//!
//! ```
//! use surge_metrics::{Accumulator, Outcome, Recorder, Snapshot, StepRecord};
//! let mut acc = Accumulator::new(0, 1, 1);
//! let mut dense = Snapshot::new(0, 1, 1);
//! for us in [900, 1_800, 250_000] {
//!     let mut rec = Recorder::new(1, 1);
//!     rec.step(StepRecord { region: 0, step: 0, outcome: Outcome::Ok,
//!                           response_us: us, service_us: us, send_lag_us: 3 });
//!     let snap = rec.take(1);
//!     acc.add(&snap.to_sparse()).unwrap();
//!     dense.merge(&snap).unwrap();
//! }
//! assert_eq!(acc.finish(), dense);
//! ```

use crate::MetricsError;
use crate::layout::SurgeLayout;
use crate::outcome::Outcome;
use crate::snapshot::{Cell, Measure, RegionCounters, Snapshot};
use crate::sparse::{Buckets, SparseCell, SparseSnapshot, add_counts};

/// The merge of many [`SparseSnapshot`]s of one shape, kept as plain counters until
/// [`finish`](Self::finish) turns it into a [`Snapshot`]. As large as a dense snapshot of the same
/// cells (one counter per bucket).
#[derive(Debug, Clone)]
pub struct Accumulator {
    interval: u64,
    regions: u16,
    steps: u16,
    /// By `region * steps + step`; `None` until something is added there.
    cells: Vec<Option<Box<CellCounts>>>,
    counters: Vec<RegionCounters>,
    in_flight: u64,
}

/// One cell's counters: the three measures' buckets one after another, then the outcome counts.
#[derive(Debug, Clone)]
struct CellCounts {
    /// `len` counters per measure, in [`Measure::ALL`] order.
    buckets: Vec<u64>,
    outcomes: [u64; Outcome::COUNT],
    retries: [u64; Outcome::COUNT],
}

impl Accumulator {
    /// An empty merge for interval `interval` of `regions x steps` cells.
    pub fn new(interval: u64, regions: u16, steps: u16) -> Accumulator {
        Accumulator {
            interval,
            regions,
            steps,
            cells: (0..regions as usize * steps as usize)
                .map(|_| None)
                .collect(),
            counters: vec![RegionCounters::default(); regions as usize],
            in_flight: 0,
        }
    }

    /// The interval this merge is for.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// Adds `o` exactly, in time proportional to its non-empty buckets. `o` is checked whole first
    /// (shape, counters, cell indexes, as [`Snapshot::merge_sparse`] checks it); when it is refused,
    /// nothing of it is added. Its interval is not checked: that is the caller's filing.
    pub fn add(&mut self, o: &SparseSnapshot) -> Result<(), MetricsError> {
        o.check((self.regions, self.steps))?;
        let layout = SurgeLayout::get();
        for c in &o.cells {
            let i = c.region as usize * self.steps as usize + c.step as usize;
            // Always found: `check` kept the cell inside this shape.
            if let Some(slot) = self.cells.get_mut(i) {
                slot.get_or_insert_with(|| Box::new(CellCounts::new(layout)))
                    .add(c, layout);
            }
        }
        for (mine, theirs) in self.counters.iter_mut().zip(&o.counters) {
            mine.merge(theirs);
        }
        self.in_flight = self.in_flight.saturating_add(o.in_flight);
        Ok(())
    }

    /// The merged snapshot: every non-empty counter recorded once into surge's histograms.
    pub fn finish(self) -> Snapshot {
        let layout = SurgeLayout::get();
        let mut snap = Snapshot::new(self.interval, self.regions, self.steps);
        for (slot, counts) in snap.cells.iter_mut().zip(self.cells) {
            if let Some(counts) = counts {
                *slot = Some(Box::new(counts.into_cell(layout)));
            }
        }
        snap.counters = self.counters;
        snap.in_flight = self.in_flight;
        snap
    }
}

impl CellCounts {
    fn new(layout: &SurgeLayout) -> CellCounts {
        CellCounts {
            buckets: vec![0; layout.len * Measure::ALL.len()],
            outcomes: [0; Outcome::COUNT],
            retries: [0; Outcome::COUNT],
        }
    }

    fn add(&mut self, c: &SparseCell, layout: &SurgeLayout) {
        for (counts, m) in self.buckets.chunks_exact_mut(layout.len).zip(Measure::ALL) {
            add_buckets(counts, c.buckets(m), layout);
        }
        add_counts(&mut self.outcomes, &c.outcomes);
        add_counts(&mut self.retries, &c.retries);
    }

    fn into_cell(self, layout: &SurgeLayout) -> Cell {
        let mut cell = Cell {
            outcomes: self.outcomes,
            retries: self.retries,
            ..Cell::default()
        };
        for (counts, m) in self.buckets.chunks_exact(layout.len).zip(Measure::ALL) {
            let h = cell.histogram_mut(m);
            for (i, &n) in counts.iter().enumerate() {
                if n > 0 {
                    // The bucket's lowest value is counted at `i` again: the same bucket, minimum and
                    // maximum as the dense merge.
                    h.saturating_record_n(layout.value_at(i), n);
                }
            }
        }
        cell
    }
}

/// Adds `b`'s counts to one measure's counters (`layout.len` of them).
fn add_buckets(counts: &mut [u64], b: &Buckets, layout: &SurgeLayout) {
    for &(value, n) in &b.small {
        // The hot loop of the coordinator: values beyond the counts array (none from surge's own
        // encoders) take the branch that clamps them.
        let i = layout
            .index_within(u64::from(value))
            .unwrap_or_else(|| layout.saturated());
        if let Some(c) = counts.get_mut(i) {
            *c = c.saturating_add(u64::from(n));
        }
    }
    for &(value, n) in &b.large {
        if let Some(c) = counts.get_mut(layout.index_of(value)) {
            *c = c.saturating_add(n);
        }
    }
}
