//! Encoding snapshots for the wire and for files: histograms as V2+DEFLATE (base64 in JSON), never
//! pre-computed percentiles, so the receiver can merge exactly.

use crate::MetricsError;
use crate::outcome::Outcome;
use crate::snapshot::{Cell, Measure, RegionCounters, Snapshot, new_histogram};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// Encodes one histogram as V2+DEFLATE bytes.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<Vec<u8>, MetricsError> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| MetricsError::Encode(format!("{e:?}")))?;
    Ok(out)
}

/// Decodes V2 or V2+DEFLATE bytes into a histogram with surge's bounds (values beyond them saturate).
pub fn decode_histogram(bytes: &[u8]) -> Result<Histogram<u64>, MetricsError> {
    let mut cursor = bytes;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut cursor)
        .map_err(|e| MetricsError::Decode(format!("histogram: {e:?}")))?;
    let mut out = new_histogram();
    for v in h.iter_recorded() {
        let value = v
            .value_iterated_to()
            .clamp(crate::LOWEST_US, crate::HIGHEST_US);
        out.saturating_record_n(value, v.count_at_value());
    }
    Ok(out)
}

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

/// Largest shape accepted from the outside (defends the decoder against hostile sizes).
const MAX_CELLS: usize = 64 * 1024;

impl EncodedSnapshot {
    /// Decodes, validating every index and length; never panics on hostile input.
    pub fn decode(&self) -> Result<Snapshot, MetricsError> {
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
        let mut snap = Snapshot::new(self.interval, self.regions, self.steps);
        snap.counters.clone_from(&self.counters);
        snap.in_flight = self.in_flight;
        for c in &self.cells {
            let Some(i) = snap.cell_index(c.region, c.step) else {
                return Err(MetricsError::Decode(format!(
                    "cell ({}, {}) out of range",
                    c.region, c.step
                )));
            };
            snap.cells[i] = Some(Box::new(decode_cell(c)?));
        }
        Ok(snap)
    }
}

fn decode_cell(c: &EncodedCell) -> Result<Cell, MetricsError> {
    let hist = |s: &str| {
        let bytes = B64
            .decode(s)
            .map_err(|e| MetricsError::Decode(format!("base64: {e}")))?;
        decode_histogram(&bytes)
    };
    let counts = |v: &[u64], what: &str| -> Result<[u64; Outcome::COUNT], MetricsError> {
        v.try_into()
            .map_err(|_| MetricsError::Decode(format!("{what}: want {} counters", Outcome::COUNT)))
    };
    Ok(Cell {
        response: hist(&c.response)?,
        service: hist(&c.service)?,
        send_lag: hist(&c.send_lag)?,
        outcomes: counts(&c.outcomes, "outcomes")?,
        retries: counts(&c.retries, "retries")?,
    })
}
