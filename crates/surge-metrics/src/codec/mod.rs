//! Encoding snapshots for the wire and for files: histograms as bytes (base64 in JSON), never
//! pre-computed percentiles, so the receiver can merge exactly. [`Snapshot::encode`] writes
//! V2+DEFLATE, what HdrHistogram's tools read (files); [`SparseSnapshot::encode`] writes surge's packed
//! bucket lists ([`packed`]), what a coordinator merges fastest (the wire from workers). Either
//! decodes to a dense [`Snapshot`] ([`EncodedSnapshot::decode`]) or, for merging, straight to a
//! [`SparseSnapshot`] ([`EncodedSnapshot::decode_sparse`]) without building a histogram. Interval
//! logs (`.hlog`) are written and read back line by line through [`HlogWriter`] and
//! [`parse_hlog_line`].

mod histogram;
mod hlog;
pub mod packed;

pub use histogram::{
    decode_histogram, decode_histogram_into, decode_histogram_sparse, encode_histogram,
};
pub use hlog::{HlogInterval, HlogWriter, parse_hlog_line};

use histogram::Inflater;

use crate::MetricsError;
use crate::outcome::Outcome;
use crate::snapshot::{Cell, Measure, RegionCounters, Snapshot, new_histogram};
use crate::sparse::{Buckets, SparseCell, SparseSnapshot};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// The serialisable form of a [`Cell`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncodedCell {
    /// Region index.
    pub region: u16,
    /// Step index.
    pub step: u16,
    /// base64 V2+DEFLATE of the response-time histogram.
    pub response: String,
    /// base64 V2+DEFLATE of the service-time histogram.
    pub service: String,
    /// base64 V2+DEFLATE of the send-lag histogram.
    pub send_lag: String,
    /// Final outcomes, in [`Outcome::ALL`] order.
    pub outcomes: Vec<u64>,
    /// Retried-attempt outcomes, in [`Outcome::ALL`] order.
    pub retries: Vec<u64>,
}

/// The serialisable form of a [`Snapshot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncodedSnapshot {
    /// Interval index.
    pub interval: u64,
    /// Region count.
    pub regions: u16,
    /// Step count.
    pub steps: u16,
    /// Non-empty cells only.
    pub cells: Vec<EncodedCell>,
    /// Per-region counters.
    pub counters: Vec<RegionCounters>,
    /// In-flight gauge.
    pub in_flight: u64,
}

impl Snapshot {
    /// Encodes for the wire or a file.
    pub fn encode(&self) -> Result<EncodedSnapshot, MetricsError> {
        let mut cells = Vec::new();
        for r in 0..self.regions {
            for s in 0..self.steps {
                let Some(c) = self.cell(r, s) else { continue };
                let enc = |m| encode_histogram(c.histogram(m)).map(|b| B64.encode(b));
                cells.push(EncodedCell {
                    region: r,
                    step: s,
                    response: enc(Measure::Response)?,
                    service: enc(Measure::Service)?,
                    send_lag: enc(Measure::SendLag)?,
                    outcomes: c.outcomes.to_vec(),
                    retries: c.retries.to_vec(),
                });
            }
        }
        Ok(EncodedSnapshot {
            interval: self.interval,
            regions: self.regions,
            steps: self.steps,
            cells,
            counters: self.counters.clone(),
            in_flight: self.in_flight,
        })
    }
}

impl SparseSnapshot {
    /// Encodes for the wire, each histogram as surge's packed bucket list ([`packed`]): what a
    /// worker sends its coordinator. Decodes to the same snapshot as [`Snapshot::encode`] of the dense
    /// form would.
    pub fn encode(&self) -> EncodedSnapshot {
        let mut cells: Vec<&crate::sparse::SparseCell> = self.cells.iter().collect();
        cells.sort_by_key(|c| (c.region, c.step));
        let mut bytes = Vec::new();
        let mut enc = |b: &Buckets| {
            bytes.clear();
            packed::encode_buckets(b, &mut bytes);
            B64.encode(&bytes)
        };
        EncodedSnapshot {
            interval: self.interval,
            regions: self.regions,
            steps: self.steps,
            cells: cells
                .into_iter()
                .map(|c| EncodedCell {
                    region: c.region,
                    step: c.step,
                    response: enc(&c.response),
                    service: enc(&c.service),
                    send_lag: enc(&c.send_lag),
                    outcomes: c.outcomes.to_vec(),
                    retries: c.retries.to_vec(),
                })
                .collect(),
            counters: self.counters.clone(),
            in_flight: self.in_flight,
        }
    }
}

/// Largest shape accepted from the outside (defends the decoder against hostile sizes).
const MAX_CELLS: usize = 64 * 1024;

impl EncodedSnapshot {
    /// Decodes, validating every index and length (a cell given twice is refused); never panics on
    /// hostile input.
    pub fn decode(&self) -> Result<Snapshot, MetricsError> {
        self.check_shape()?;
        let mut snap = Snapshot::new(self.interval, self.regions, self.steps);
        snap.counters.clone_from(&self.counters);
        snap.in_flight = self.in_flight;
        let mut scratch = Scratch::default();
        for c in &self.cells {
            let i = self.cell_index(c)?;
            match snap.cells.get_mut(i) {
                Some(slot @ None) => *slot = Some(Box::new(decode_cell(c, &mut scratch)?)),
                _ => return Err(duplicate(c)),
            }
        }
        Ok(snap)
    }

    /// Decodes to the sparse form, for an [`Accumulator`](crate::Accumulator) or
    /// [`Snapshot::merge_sparse`]: the same checks as [`decode`](Self::decode), and merging the result
    /// gives exactly what merging `decode`'s would, without a dense histogram being built. The buckets
    /// come out as [`Snapshot::to_sparse`] makes them (one per surge bucket, ascending), whatever the
    /// layout of the encoded histograms.
    pub fn decode_sparse(&self) -> Result<SparseSnapshot, MetricsError> {
        self.check_shape()?;
        let mut seen = vec![false; self.regions as usize * self.steps as usize];
        let mut scratch = Scratch::default();
        let mut cells = Vec::with_capacity(self.cells.len());
        for c in &self.cells {
            let i = self.cell_index(c)?;
            match seen.get_mut(i) {
                Some(s @ false) => *s = true,
                _ => return Err(duplicate(c)),
            }
            cells.push(decode_sparse_cell(c, &mut scratch)?);
        }
        Ok(SparseSnapshot {
            interval: self.interval,
            regions: self.regions,
            steps: self.steps,
            cells,
            counters: self.counters.clone(),
            in_flight: self.in_flight,
        })
    }

    /// A shape within bounds, with one counters entry per region.
    fn check_shape(&self) -> Result<(), MetricsError> {
        let n = self.regions as usize * self.steps as usize;
        if n == 0 || n > MAX_CELLS {
            return Err(MetricsError::Decode(format!(
                "shape {}x{} out of range",
                self.regions, self.steps
            )));
        }
        if self.counters.len() != self.regions as usize {
            return Err(MetricsError::Decode("counters length != regions".into()));
        }
        Ok(())
    }

    /// Where `c` goes in a snapshot of this shape, or an error when it is outside.
    fn cell_index(&self, c: &EncodedCell) -> Result<usize, MetricsError> {
        if c.region < self.regions && c.step < self.steps {
            Ok(c.region as usize * self.steps as usize + c.step as usize)
        } else {
            Err(MetricsError::Decode(format!(
                "cell ({}, {}) out of range",
                c.region, c.step
            )))
        }
    }
}

fn duplicate(c: &EncodedCell) -> MetricsError {
    MetricsError::Decode(format!("cell ({}, {}) appears twice", c.region, c.step))
}

fn outcome_counts(v: &[u64], what: &str) -> Result<[u64; Outcome::COUNT], MetricsError> {
    v.try_into()
        .map_err(|_| MetricsError::Decode(format!("{what}: want {} counters", Outcome::COUNT)))
}

fn decode_cell(c: &EncodedCell, scratch: &mut Scratch) -> Result<Cell, MetricsError> {
    Ok(Cell {
        response: scratch.histogram(&c.response)?,
        service: scratch.histogram(&c.service)?,
        send_lag: scratch.histogram(&c.send_lag)?,
        outcomes: outcome_counts(&c.outcomes, "outcomes")?,
        retries: outcome_counts(&c.retries, "retries")?,
    })
}

/// Buffers reused from one histogram to the next while decoding a snapshot.
#[derive(Default)]
struct Scratch {
    /// The base64-decoded bytes of the histogram at hand.
    bytes: Vec<u8>,
    /// Its inflater.
    inflater: Inflater,
    /// Its buckets, in decoding.
    buckets: Vec<(u64, u64)>,
}

impl Scratch {
    fn base64(&mut self, b64: &str) -> Result<(), MetricsError> {
        self.bytes.clear();
        B64.decode_vec(b64, &mut self.bytes)
            .map_err(|e| MetricsError::Decode(format!("base64: {e}")))
    }

    fn histogram(&mut self, b64: &str) -> Result<hdrhistogram::Histogram<u64>, MetricsError> {
        self.base64(b64)?;
        let mut h = new_histogram();
        histogram::decode_histogram_with(&self.bytes, &mut h, &mut self.inflater)?;
        Ok(h)
    }

    fn buckets(&mut self, b64: &str) -> Result<Buckets, MetricsError> {
        self.base64(b64)?;
        if let Some(body) = packed::packed_body(&self.bytes) {
            // Already the merge's form: no histogram layout to translate.
            let mut b = Buckets::default();
            packed::decode_buckets(body, &mut b)?;
            return Ok(b);
        }
        histogram::decode_histogram_sparse_with(
            &self.bytes,
            &mut self.inflater,
            &mut self.buckets,
        )?;
        Ok(self.buckets.iter().copied().collect())
    }
}

fn decode_sparse_cell(c: &EncodedCell, scratch: &mut Scratch) -> Result<SparseCell, MetricsError> {
    Ok(SparseCell {
        region: c.region,
        step: c.step,
        response: scratch.buckets(&c.response)?,
        service: scratch.buckets(&c.service)?,
        send_lag: scratch.buckets(&c.send_lag)?,
        outcomes: outcome_counts(&c.outcomes, "outcomes")?,
        retries: outcome_counts(&c.retries, "retries")?,
    })
}
