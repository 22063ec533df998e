//! The sparse form of a [`Snapshot`], for carrying one worker's interval to the coordinator.
//!
//! A surge histogram holds ~17,400 counters (1 µs to 60 s at 3 digits) of which an interval's few
//! hundred samples fill a few hundred. [`Snapshot::merge`] adds histograms counter by counter, so a
//! coordinator merging a thousand worker snapshots would walk 17,400 counters for each of their
//! histograms. A [`SparseSnapshot`] keeps only the non-empty buckets, so merging it costs what was
//! recorded, not what could have been: into a snapshot with [`Snapshot::merge_sparse`], or, a whole
//! interval's worth, into an [`Accumulator`](crate::Accumulator) (the coordinator's way). The worker
//! pays for [`Snapshot::to_sparse`] in its own thread; a remote snapshot is decoded straight to this
//! form by [`EncodedSnapshot::decode_sparse`](crate::EncodedSnapshot::decode_sparse).
//!
//! The merge stays exact: every bucket, count, minimum, maximum and counter comes out as
//! [`Snapshot::merge`] of the dense snapshot would make it.
//!
//! ```
//! use surge_metrics::{Outcome, Recorder, Snapshot, StepRecord};
//! let mut rec = Recorder::new(2, 3);
//! rec.step(StepRecord { region: 1, step: 2, outcome: Outcome::Ok,
//!                       response_us: 1_800, service_us: 1_200, send_lag_us: 40 });
//! let snap = rec.take(1);
//! let sparse = snap.to_sparse();            // in the worker
//! let mut total = Snapshot::new(0, 2, 3);   // in the coordinator
//! total.merge_sparse(&sparse).unwrap();
//! let mut dense = Snapshot::new(0, 2, 3);
//! dense.merge(&snap).unwrap();
//! assert_eq!(total, dense);
//! ```

use crate::MetricsError;
use crate::layout::SurgeLayout;
use crate::outcome::Outcome;
use crate::snapshot::{Cell, Measure, RegionCounters, Snapshot};
use hdrhistogram::Histogram;

/// One histogram's non-empty buckets, each as its index in surge's bucket layout and its count,
/// ascending by index, one entry per bucket.
///
/// Kept in 4 bytes a bucket: surge's layout has fewer than 2^16 buckets, and an interval's bucket
/// rarely counts more than 65,535 samples; a larger count goes to a second, wide list. A coordinator
/// merging a thousand snapshots streams every entry through memory once, so their size is much of
/// the merge's cost, and with the index ready it adds a count without computing where it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buckets {
    /// The buckets whose count fits 16 bits: `index << 16 | count`, ascending by index.
    packed: Vec<u32>,
    /// The others: `(index, count)`, ascending by index. Empty in practice.
    wide: Vec<(u32, u64)>,
}

impl Buckets {
    /// Appends the bucket that recording `value` counts in, with `count` samples (none when
    /// `count` is 0). Values beyond surge's range go to its highest bucket, as recording them would.
    pub fn push(&mut self, value: u64, count: u64) {
        self.push_index(SurgeLayout::get().index_of(value), count);
    }

    /// Appends bucket `index` of surge's layout (below its length) with `count` samples.
    #[inline]
    pub(crate) fn push_index(&mut self, index: usize, count: u64) {
        if count == 0 {
            return;
        }
        match (u16::try_from(index), u16::try_from(count)) {
            (Ok(i), Ok(n)) => self.packed.push(u32::from(i) << 16 | u32::from(n)),
            // The layout's length was checked to fit 32 bits.
            _ => self.wide.push((index as u32, count)),
        }
    }

    /// Makes room for `n` more buckets.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.packed.reserve(n);
    }

    /// Removes every bucket, keeping the room.
    pub(crate) fn clear(&mut self) {
        self.packed.clear();
        self.wide.clear();
    }

    /// Every bucket as `(index, count)`: the packed ones, then the wide ones.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let packed = self
            .packed
            .iter()
            .map(|&e| ((e >> 16) as usize, u64::from(e & 0xFFFF)));
        packed.chain(self.wide.iter().map(|&(i, n)| (i as usize, n)))
    }

    /// The packed buckets (`index << 16 | count`) and the wide ones (`(index, count)`).
    pub(crate) fn parts(&self) -> (&[u32], &[(u32, u64)]) {
        (&self.packed, &self.wide)
    }

    /// Every bucket as `(value, count)`, the value the lowest its bucket holds: the packed ones,
    /// then the wide ones.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let layout = SurgeLayout::get();
        self.indexed().map(|(i, n)| (layout.value_at(i), n))
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.packed.len() + self.wide.len()
    }

    /// Number of buckets whose count needed more than 16 bits.
    pub fn wide_len(&self) -> usize {
        self.wide.len()
    }

    /// Whether there is no bucket.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty() && self.wide.is_empty()
    }

    /// Samples in all buckets (saturating).
    pub fn samples(&self) -> u64 {
        self.indexed().fold(0, |a, (_, n)| a.saturating_add(n))
    }
}

impl FromIterator<(u64, u64)> for Buckets {
    /// Buckets from `(value, count)` pairs ascending by bucket, one pair per bucket.
    fn from_iter<I: IntoIterator<Item = (u64, u64)>>(iter: I) -> Buckets {
        let iter = iter.into_iter();
        let mut b = Buckets {
            packed: Vec::with_capacity(iter.size_hint().0),
            wide: Vec::new(),
        };
        iter.for_each(|(v, n)| b.push(v, n));
        b
    }
}

/// A [`Cell`] as its non-empty buckets and its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseCell {
    /// Region index.
    pub region: u16,
    /// Step index.
    pub step: u16,
    /// Response-time buckets.
    pub response: Buckets,
    /// Service-time buckets.
    pub service: Buckets,
    /// Send-lag buckets.
    pub send_lag: Buckets,
    /// Final outcomes, indexed by [`Outcome::index`].
    pub outcomes: [u64; Outcome::COUNT],
    /// Retried-attempt outcomes, indexed by [`Outcome::index`].
    pub retries: [u64; Outcome::COUNT],
}

impl SparseCell {
    /// The sparse form of `cell`, found at (`region`, `step`).
    pub fn from_cell(region: u16, step: u16, cell: &Cell) -> SparseCell {
        SparseCell {
            region,
            step,
            response: buckets(&cell.response),
            service: buckets(&cell.service),
            send_lag: buckets(&cell.send_lag),
            outcomes: cell.outcomes,
            retries: cell.retries,
        }
    }

    /// The buckets of `m`.
    pub fn buckets(&self, m: Measure) -> &Buckets {
        match m {
            Measure::Response => &self.response,
            Measure::Service => &self.service,
            Measure::SendLag => &self.send_lag,
        }
    }

    /// Finished steps (all outcomes).
    pub fn count(&self) -> u64 {
        self.outcomes.iter().fold(0, |a, &b| a.saturating_add(b))
    }
}

/// The non-empty buckets of `h`.
fn buckets(h: &Histogram<u64>) -> Buckets {
    if h.is_empty() {
        return Buckets::default();
    }
    let layout = SurgeLayout::get();
    let mut b = Buckets::default();
    h.iter_recorded()
        .for_each(|v| b.push_index(layout.index_of(v.value_iterated_to()), v.count_at_value()));
    b
}

/// A [`Snapshot`] with only its non-empty cells, each as its non-empty buckets. Made by
/// [`Snapshot::to_sparse`] or decoded by
/// [`EncodedSnapshot::decode_sparse`](crate::EncodedSnapshot::decode_sparse); added into a dense
/// snapshot by [`Snapshot::merge_sparse`] or into an [`Accumulator`](crate::Accumulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparseSnapshot {
    /// Interval index from the run's start.
    pub interval: u64,
    /// Number of regions.
    pub regions: u16,
    /// Number of metric steps.
    pub steps: u16,
    /// The cells recorded into, in no required order. Surge makes and accepts each (region, step) once;
    /// a merge would add repeats.
    pub cells: Vec<SparseCell>,
    /// Per region: `regions` entries.
    pub counters: Vec<RegionCounters>,
    /// People in flight at the end of the interval.
    pub in_flight: u64,
}

impl SparseSnapshot {
    /// Finished steps in all cells.
    pub fn count(&self) -> u64 {
        self.cells
            .iter()
            .fold(0, |a, c| a.saturating_add(c.count()))
    }

    /// Checks what [`Snapshot::merge_sparse`] relies on: `(regions, steps)` is `want`, one counters
    /// entry per region, every cell inside the shape.
    pub(crate) fn check(&self, want: (u16, u16)) -> Result<(), MetricsError> {
        if (self.regions, self.steps) != want {
            return Err(MetricsError::Shape {
                want,
                got: (self.regions, self.steps),
            });
        }
        if self.counters.len() != self.regions as usize {
            return Err(MetricsError::Malformed(format!(
                "{} region counters for {} regions",
                self.counters.len(),
                self.regions
            )));
        }
        if let Some(c) = self
            .cells
            .iter()
            .find(|c| c.region >= self.regions || c.step >= self.steps)
        {
            return Err(MetricsError::Malformed(format!(
                "cell ({}, {}) outside {}x{} regions x steps",
                c.region, c.step, self.regions, self.steps
            )));
        }
        Ok(())
    }
}

impl Snapshot {
    /// The sparse form: only the cells recorded into, each histogram as its non-empty buckets. Walks
    /// every counter once; meant for the worker, before it hands its interval over.
    pub fn to_sparse(&self) -> SparseSnapshot {
        let mut cells = Vec::new();
        for r in 0..self.regions {
            for s in 0..self.steps {
                if let Some(c) = self.cell(r, s) {
                    cells.push(SparseCell::from_cell(r, s, c));
                }
            }
        }
        SparseSnapshot {
            interval: self.interval,
            regions: self.regions,
            steps: self.steps,
            cells,
            counters: self.counters.clone(),
            in_flight: self.in_flight,
        }
    }

    /// Adds `o` into `self` exactly, as [`Snapshot::merge`] of its dense form would, in time
    /// proportional to its non-empty buckets (one `record_n` each). `o` is checked whole first (shape,
    /// counters, cell indexes); when it is refused, `self` is left untouched. To merge many snapshots
    /// of one interval, an [`Accumulator`](crate::Accumulator) is faster still.
    pub fn merge_sparse(&mut self, o: &SparseSnapshot) -> Result<(), MetricsError> {
        o.check((self.regions, self.steps))?;
        for c in &o.cells {
            let slot = self
                .cell_index(c.region, c.step)
                .and_then(|i| self.cells.get_mut(i));
            // Always found: `check` kept the cell inside this shape.
            if let Some(slot) = slot {
                slot.get_or_insert_with(Box::default).merge_sparse(c);
            }
        }
        for (mine, theirs) in self.counters.iter_mut().zip(&o.counters) {
            mine.merge(theirs);
        }
        self.in_flight = self.in_flight.saturating_add(o.in_flight);
        Ok(())
    }
}

impl Cell {
    /// Adds `o` into `self` exactly: each bucket's count recorded at its value, counters summed.
    pub fn merge_sparse(&mut self, o: &SparseCell) {
        for m in Measure::ALL {
            let h = self.histogram_mut(m);
            // No bucket has a zero count (that would move min and max, and the dense merge skips
            // empty buckets).
            for (value, count) in o.buckets(m).iter() {
                h.saturating_record_n(value, count);
            }
        }
        add_counts(&mut self.outcomes, &o.outcomes);
        add_counts(&mut self.retries, &o.retries);
    }
}

/// `into[i] += from[i]`, saturating.
pub(crate) fn add_counts(into: &mut [u64; Outcome::COUNT], from: &[u64; Outcome::COUNT]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}
