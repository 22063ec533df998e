//! Encoding snapshots for the wire and for files: histograms as V2+DEFLATE (base64 in JSON), never
//! pre-computed percentiles, so the receiver can merge exactly.

use crate::MetricsError;
use crate::outcome::Outcome;
use crate::snapshot::{Cell, Measure, RegionCounters, Snapshot, new_histogram};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::io::Read as _;

/// Encodes one histogram as V2+DEFLATE bytes.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<Vec<u8>, MetricsError> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| MetricsError::Encode(format!("{e:?}")))?;
    Ok(out)
}

/// Decodes V2 or V2+DEFLATE bytes into a histogram with surge's bounds (values beyond them saturate).
///
/// The bytes come from other processes and from files, so this is surge's own decoder, not
/// `hdrhistogram`'s: that one sizes its buffers and its histogram from the header before reading a byte
/// of payload (a 41-byte input could ask for gigabytes) and negates zero-run lengths unchecked. Here
/// every length is checked against the input, the inflated size and the counts array are bounded, and
/// arithmetic on hostile values is checked; each recorded bucket is added straight into the result.
pub fn decode_histogram(bytes: &[u8]) -> Result<Histogram<u64>, MetricsError> {
    let mut out = new_histogram();
    decode_histogram_into(bytes, &mut out)?;
    Ok(out)
}

/// Decodes V2 or V2+DEFLATE bytes and adds their counts to `into` (saturating at its top). On an
/// error, part of the counts may already have been added: decode into a scratch histogram when that
/// matters.
pub fn decode_histogram_into(bytes: &[u8], into: &mut Histogram<u64>) -> Result<(), MetricsError> {
    let (cookie, rest) = take_u32(bytes, "cookie")?;
    match cookie {
        V2_COOKIE => decode_v2(rest, into),
        V2_DEFLATE_COOKIE => {
            let (len, rest) = take_u32(rest, "compressed length")?;
            let body = rest
                .get(..len as usize)
                .ok_or_else(|| bad(format!("compressed length {len} beyond the input")))?;
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(body)
                .take(MAX_V2_BYTES as u64 + 1)
                .read_to_end(&mut inflated)
                .map_err(|e| bad(format!("deflate: {e}")))?;
            if inflated.len() > MAX_V2_BYTES {
                return Err(bad(format!("inflates beyond {MAX_V2_BYTES} bytes")));
            }
            let (inner, rest) = take_u32(&inflated, "inner cookie")?;
            if inner != V2_COOKIE {
                return Err(bad(format!("inner cookie {inner:#x} is not V2")));
            }
            decode_v2(rest, into)
        }
        other => Err(bad(format!(
            "cookie {other:#x} is neither V2 nor V2+DEFLATE"
        ))),
    }
}

/// `hdrhistogram`'s V2 cookie (with its word-size bits) and the V2+DEFLATE one.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Largest inflated V2 body accepted: the largest counts array accepted, at the 9 bytes a count can take.
const MAX_V2_BYTES: usize = 40 + 9 * MAX_COUNTS;
/// Largest counts array accepted (surge's own: 17,408 entries; `hdrhistogram` at 5 digits over 2^40: ~4.7 M).
const MAX_COUNTS: usize = 1 << 20;

fn bad(msg: String) -> MetricsError {
    MetricsError::Decode(format!("histogram: {msg}"))
}

fn take_u32<'a>(b: &'a [u8], what: &str) -> Result<(u32, &'a [u8]), MetricsError> {
    let (head, rest) = b
        .split_first_chunk::<4>()
        .ok_or_else(|| bad(format!("truncated before the {what}")))?;
    Ok((u32::from_be_bytes(*head), rest))
}

fn take_u64<'a>(b: &'a [u8], what: &str) -> Result<(u64, &'a [u8]), MetricsError> {
    let (head, rest) = b
        .split_first_chunk::<8>()
        .ok_or_else(|| bad(format!("truncated before the {what}")))?;
    Ok((u64::from_be_bytes(*head), rest))
}

/// The V2 body after its cookie: header, then the counts as ZigZag LEB128 numbers, a negative number
/// being a run of that many empty buckets.
fn decode_v2(b: &[u8], into: &mut Histogram<u64>) -> Result<(), MetricsError> {
    let (payload_len, b) = take_u32(b, "payload length")?;
    let (offset, b) = take_u32(b, "normalizing offset")?;
    let (digits, b) = take_u32(b, "significant digits")?;
    let (low, b) = take_u64(b, "lowest value")?;
    let (high, b) = take_u64(b, "highest value")?;
    let (ratio, b) = take_u64(b, "conversion ratio")?;
    if offset != 0 || f64::from_bits(ratio) != 1.0 {
        return Err(bad(
            "normalizing offsets and double histograms are not supported".into(),
        ));
    }
    let layout = Layout::new(low, high, digits)?;
    let payload = b
        .get(..payload_len as usize)
        .ok_or_else(|| bad(format!("payload length {payload_len} beyond the input")))?;
    let mut index: usize = 0;
    let mut p = payload;
    while !p.is_empty() {
        let (zz, rest) = read_varint(p)?;
        p = rest;
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index = index.saturating_add(usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX));
            continue;
        }
        if index >= MAX_COUNTS {
            return Err(bad(format!("more than {MAX_COUNTS} buckets")));
        }
        if n > 0 {
            let value = layout.value_at(index)?;
            // Beyond `into`'s range saturates into its top bucket, as recording there directly does.
            into.saturating_record_n(value, n as u64);
        }
        index += 1;
    }
    Ok(())
}

/// LEB128 as `hdrhistogram` writes it: 7 bits a byte, at most 9 bytes, the ninth carrying 8 bits.
fn read_varint(b: &[u8]) -> Result<(u64, &[u8]), MetricsError> {
    let mut value = 0u64;
    for (i, &byte) in b.iter().enumerate().take(9) {
        if i == 8 {
            return Ok((value | (u64::from(byte) << 56), &b[9..]));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, &b[i + 1..]));
        }
    }
    Err(bad("payload ends inside a number".into()))
}

/// The bucket layout of the encoding histogram, enough to turn a counts index into its value.
struct Layout {
    unit_magnitude: u32,
    half_count_magnitude: u32,
}

impl Layout {
    fn new(low: u64, high: u64, digits: u32) -> Result<Layout, MetricsError> {
        if low == 0 || digits > 5 || high < low.saturating_mul(2) {
            return Err(bad(format!(
                "bounds {low}..{high} at {digits} digits are not a valid histogram"
            )));
        }
        let unit_magnitude = 63 - low.leading_zeros();
        // Smallest power of two holding 2 x 10^digits distinct values per bucket.
        let single_unit = 2 * 10u64.pow(digits);
        let count_magnitude = 64 - (single_unit - 1).leading_zeros();
        let half_count_magnitude = count_magnitude.max(1) - 1;
        if unit_magnitude + half_count_magnitude > 61 {
            return Err(bad(format!(
                "lowest value {low} at {digits} digits overflows"
            )));
        }
        Ok(Layout {
            unit_magnitude,
            half_count_magnitude,
        })
    }

    /// The lowest value counted at `index` (what `hdrhistogram` records there).
    fn value_at(&self, index: usize) -> Result<u64, MetricsError> {
        let half_count = 1u64 << self.half_count_magnitude;
        let index = index as u64;
        let bucket = (index >> self.half_count_magnitude) as u32;
        let mut sub = (index & (half_count - 1)) + half_count;
        let mut bucket = bucket.checked_sub(1);
        if bucket.is_none() {
            sub -= half_count;
            bucket = Some(0);
        }
        let shift = bucket.unwrap_or(0) + self.unit_magnitude;
        if shift >= 64 || sub.leading_zeros() < shift {
            return Err(bad(format!("bucket {index} is beyond any 64-bit value")));
        }
        Ok(sub << shift)
    }
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
