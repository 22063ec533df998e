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
    /// `len` counters per measure, in [`Measure::ALL`] order. 32 bits, so that a cell's counters
    /// (some 200 KiB) stay in a core's cache while a merge adds into them; what would overflow one
    /// goes to [`carried`](Self::carried).
    buckets: Vec<u32>,
    /// `(position in buckets, count)` taken out of a counter that was about to overflow; summed back
    /// in by `into_cell`. Empty unless a bucket counts over 4 billion samples in one interval.
    carried: Vec<(usize, u64)>,
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
            carried: Vec::new(),
            outcomes: [0; Outcome::COUNT],
            retries: [0; Outcome::COUNT],
        }
    }

    fn add(&mut self, c: &SparseCell, layout: &SurgeLayout) {
        for (k, m) in Measure::ALL.into_iter().enumerate() {
            let base = k * layout.len;
            if let Some(counts) = self.buckets.get_mut(base..base + layout.len) {
                add_buckets(counts, base, &mut self.carried, c.buckets(m));
            }
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
        let mut wide: Vec<u64> = self.buckets.iter().map(|&n| u64::from(n)).collect();
        for (at, n) in self.carried {
            if let Some(c) = wide.get_mut(at) {
                *c = c.saturating_add(n);
            }
        }
        for (counts, m) in wide.chunks_exact(layout.len).zip(Measure::ALL) {
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

/// Adds `b`'s counts to one measure's counters (`counts`, which start at `base` in the cell's), a
/// counter about to overflow being carried out to `carried`.
fn add_buckets(counts: &mut [u32], base: usize, carried: &mut Vec<(usize, u64)>, b: &Buckets) {
    let (packed, wide) = b.parts();
    // The hot loop of the coordinator: one load, one add, one store a bucket.
    for &e in packed {
        let i = (e >> 16) as usize;
        if let Some(c) = counts.get_mut(i) {
            add_one(c, u64::from(e & 0xFFFF), base + i, carried);
        }
    }
    for &(i, n) in wide {
        if let Some(c) = counts.get_mut(i as usize) {
            add_one(c, n, base + i as usize, carried);
        }
    }
}

/// `*c += n`, or, when the sum does not fit 32 bits, the sum carried out (at `at`) and `*c` zeroed.
#[inline(always)]
fn add_one(c: &mut u32, n: u64, at: usize, carried: &mut Vec<(usize, u64)>) {
    match u32::try_from(n).ok().and_then(|n| c.checked_add(n)) {
        Some(sum) => *c = sum,
        None => {
            carried.push((at, u64::from(*c).saturating_add(n)));
            *c = 0;
        }
    }
}
