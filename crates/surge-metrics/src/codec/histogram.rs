//! One histogram's bytes: V2+DEFLATE out, V2, V2+DEFLATE or surge's packed buckets
//! ([`packed`](super::packed)) in through surge's own checked decoder, into a histogram or straight
//! into the non-empty buckets of a [`SparseCell`](crate::SparseCell).

use super::packed::{PACKED_COOKIE, walk_packed};
use crate::MetricsError;
use crate::layout::{Layout, SurgeLayout};
use crate::snapshot::new_histogram;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

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
    decode_histogram_with(bytes, into, &mut Inflater::default())
}

/// [`decode_histogram_into`] inflating with `inflater`.
pub(super) fn decode_histogram_with(
    bytes: &[u8],
    into: &mut Histogram<u64>,
    inflater: &mut Inflater,
) -> Result<(), MetricsError> {
    walk_histogram(bytes, inflater, |value, count| {
        // Beyond `into`'s range saturates into its top bucket, as recording there directly does.
        into.saturating_record_n(value, count);
    })
}

/// Decodes V2 or V2+DEFLATE bytes into their non-empty buckets: `(value, count)` in ascending order of
/// value, one entry per bucket of surge's layout, the value the lowest of its bucket (the form of
/// [`Buckets`](crate::Buckets)). Recording every entry into a surge histogram gives exactly what
/// [`decode_histogram`] gives.
///
/// The result is bounded by surge's own bucket count whatever the input: buckets of another layout that
/// fall into one surge bucket are added together, and values beyond surge's range are taken as its
/// highest trackable value, as recording them would.
pub fn decode_histogram_sparse(bytes: &[u8]) -> Result<Vec<(u64, u64)>, MetricsError> {
    let mut out = Vec::new();
    decode_histogram_sparse_with(bytes, &mut Inflater::default(), &mut out)?;
    Ok(out)
}

/// [`decode_histogram_sparse`] into `out` (cleared first), inflating with `inflater`.
pub(super) fn decode_histogram_sparse_with(
    bytes: &[u8],
    inflater: &mut Inflater,
    out: &mut Vec<(u64, u64)>,
) -> Result<(), MetricsError> {
    out.clear();
    let layout = SurgeLayout::get();
    walk_histogram(bytes, inflater, |value, count| {
        let lowest = layout.lowest_equivalent(value);
        match out.last_mut() {
            None => out.push((lowest, count)),
            // Ascending input: the buckets of one surge bucket arrive one after another...
            Some((last, n)) if *last == lowest => *n = n.saturating_add(count),
            Some((last, _)) if *last < lowest => out.push((lowest, count)),
            // ...except values beyond surge's range, which fall back into its top bucket.
            Some(_) => match out.binary_search_by_key(&lowest, |e| e.0) {
                Ok(i) => out[i].1 = out[i].1.saturating_add(count),
                Err(i) => out.insert(i, (lowest, count)),
            },
        }
    })
}

/// Decodes V2, V2+DEFLATE or packed bytes, calling `each(value, count)` for every non-empty bucket, in
/// ascending order of value, with the lowest value of the bucket in the encoding histogram's layout.
/// Every length is checked before use and nothing is sized from the header alone; on an error, `each`
/// may already have been called for part of the buckets.
fn walk_histogram(
    bytes: &[u8],
    inflater: &mut Inflater,
    each: impl FnMut(u64, u64),
) -> Result<(), MetricsError> {
    let (cookie, rest) = take_u32(bytes, "cookie")?;
    match cookie {
        V2_COOKIE => walk_v2(rest, each),
        PACKED_COOKIE => {
            let layout = SurgeLayout::get();
            let mut each = each;
            walk_packed(rest, |i, n| each(layout.value_at(i), n))
        }
        V2_DEFLATE_COOKIE => {
            let (len, rest) = take_u32(rest, "compressed length")?;
            let body = rest
                .get(..len as usize)
                .ok_or_else(|| bad(format!("compressed length {len} beyond the input")))?;
            let inflated = inflater.inflate(body)?;
            let (inner, rest) = take_u32(inflated, "inner cookie")?;
            if inner != V2_COOKIE {
                return Err(bad(format!("inner cookie {inner:#x} is not V2")));
            }
            walk_v2(rest, each)
        }
        other => Err(bad(format!(
            "cookie {other:#x} is neither V2, V2+DEFLATE nor surge's packed buckets"
        ))),
    }
}

/// A zlib inflater and its output buffer, kept from one histogram to the next: setting up an inflater
/// costs more than inflating one of surge's histograms.
pub(super) struct Inflater {
    z: flate2::Decompress,
    out: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Inflater {
        Inflater {
            z: flate2::Decompress::new(true),
            out: Vec::new(),
        }
    }
}

impl Inflater {
    /// Inflates `body` (a zlib stream) up to its end, or as far as it goes when it is cut short, and
    /// refuses it when that is more than [`MAX_V2_BYTES`]: never more than one byte beyond is inflated.
    fn inflate(&mut self, body: &[u8]) -> Result<&[u8], MetricsError> {
        self.z.reset(true);
        self.out.clear();
        loop {
            if self.out.len() == self.out.capacity() {
                let room = (MAX_V2_BYTES + 1)
                    .saturating_sub(self.out.len())
                    .min(self.out.len().max(4096));
                if room == 0 {
                    break;
                }
                self.out.reserve_exact(room);
            }
            let (read, written) = (self.z.total_in(), self.z.total_out());
            let input = usize::try_from(read)
                .ok()
                .and_then(|r| body.get(r..))
                .unwrap_or_default();
            let status = self
                .z
                .decompress_vec(input, &mut self.out, flate2::FlushDecompress::None)
                .map_err(|e| bad(format!("deflate: {e}")))?;
            let stuck = self.z.total_in() == read && self.z.total_out() == written;
            if status == flate2::Status::StreamEnd || stuck {
                break;
            }
        }
        if self.out.len() > MAX_V2_BYTES {
            return Err(bad(format!("inflates beyond {MAX_V2_BYTES} bytes")));
        }
        Ok(&self.out)
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

pub(super) fn take_u32<'a>(b: &'a [u8], what: &str) -> Result<(u32, &'a [u8]), MetricsError> {
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
/// being a run of that many empty buckets. Calls `each(value, count)` for every non-empty bucket.
fn walk_v2(b: &[u8], mut each: impl FnMut(u64, u64)) -> Result<(), MetricsError> {
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
            each(layout.value_at(index)?, n as u64);
        }
        index += 1;
    }
    Ok(())
}

/// LEB128 as `hdrhistogram` writes it: 7 bits a byte, at most 9 bytes, the ninth carrying 8 bits.
pub(super) fn read_varint(b: &[u8]) -> Result<(u64, &[u8]), MetricsError> {
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
