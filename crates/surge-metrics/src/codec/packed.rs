//! Surge's own histogram format for the wire between workers and coordinator: a histogram's non-empty
//! buckets as a list, in surge's bucket layout, with no compression to undo.
//!
//! V2+DEFLATE (what files and HdrHistogram's tools read) costs the coordinator an inflate and a walk
//! over every counter, empty runs included, for each of the 90 histograms of every worker's interval:
//! over a second for a thousand workers. This format is what the merge wants already: bucket indexes
//! and counts, ascending. Its bytes, all numbers LEB128 as in V2:
//!
//! ```text
//! cookie    4 bytes, big-endian 0x5347_4231 ("SGB1")
//! layout    number of buckets in surge's layout (17,408): a decoder with another layout refuses it
//! entries   number of (index, count) pairs that follow, at most `layout`
//! pairs     index as the distance from the previous index (the first from 0; 1 or more after the
//!           first), count (1 or more)
//! ```
//!
//! A typical bucket takes 2 to 3 bytes, fewer than V2+DEFLATE gives surge's histograms.

use super::histogram::{read_varint, take_u32};
use crate::MetricsError;
use crate::layout::SurgeLayout;
use crate::sparse::Buckets;

/// The format's cookie.
pub(crate) const PACKED_COOKIE: u32 = 0x5347_4231;

/// `b` in the packed format.
pub fn encode_packed(b: &Buckets) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 3 * b.len());
    encode_buckets(b, &mut out);
    out
}

/// Appends `b` to `out` in the packed format.
pub(crate) fn encode_buckets(b: &Buckets, out: &mut Vec<u8>) {
    let layout = SurgeLayout::get();
    out.extend_from_slice(&PACKED_COOKIE.to_be_bytes());
    write_varint(out, layout.len as u64);
    // `indexed` gives the packed buckets, then the wide ones: sort them back together by index (and
    // add up any bucket given twice, which surge's own makers never do).
    let mut all: Vec<(usize, u64)> = b.indexed().collect();
    if !all.is_sorted_by(|a, b| a.0 < b.0) {
        all.sort_by_key(|&(i, _)| i);
        all.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = kept.1.saturating_add(later.1);
            }
            same
        });
    }
    write_varint(out, all.len() as u64);
    let mut last = 0usize;
    for (i, n) in all {
        write_varint(out, (i - last) as u64);
        write_varint(out, n);
        last = i;
    }
}

/// Decodes the packed format (after its cookie) into `into`, which is cleared first. Every number is
/// checked: the layout, the entry count against the layout and the input, indexes strictly ascending
/// and inside the layout, counts of 1 or more, nothing left over.
pub(crate) fn decode_buckets(body: &[u8], into: &mut Buckets) -> Result<(), MetricsError> {
    into.clear();
    let (entries, pairs) = header(body)?;
    into.reserve(entries);
    walk_pairs(entries, pairs, |i, n| into.push_index(i, n))
}

/// The packed body after its cookie: calls `each(index, count)` for every bucket, ascending.
pub(crate) fn walk_packed(body: &[u8], each: impl FnMut(usize, u64)) -> Result<(), MetricsError> {
    let (entries, pairs) = header(body)?;
    walk_pairs(entries, pairs, each)
}

/// The layout and entry count at the start of a packed body, checked; the entry count and the pairs.
fn header(body: &[u8]) -> Result<(usize, &[u8]), MetricsError> {
    let layout = SurgeLayout::get();
    let (len, b) = read_varint(body)?;
    if len != layout.len as u64 {
        return Err(bad(format!(
            "a layout of {len} buckets, not surge's {}",
            layout.len
        )));
    }
    let (entries, b) = read_varint(b)?;
    // Each entry takes 2 bytes at least: a count beyond what the input holds is refused before use.
    if entries > len || entries > b.len() as u64 / 2 {
        return Err(bad(format!(
            "{entries} buckets in {} bytes of a {len}-bucket layout",
            b.len()
        )));
    }
    // At most the layout's length: fits.
    Ok((entries as usize, b))
}

/// The `entries` pairs of a packed body: calls `each(index, count)` for every bucket, ascending.
fn walk_pairs(
    entries: usize,
    mut b: &[u8],
    mut each: impl FnMut(usize, u64),
) -> Result<(), MetricsError> {
    let len = SurgeLayout::get().len as u64;
    let mut index: u64 = 0;
    for k in 0..entries {
        let (delta, rest) = varint(b)?;
        let (count, rest) = varint(rest)?;
        b = rest;
        if k > 0 && delta == 0 {
            return Err(bad(format!("bucket {index} given twice")));
        }
        index = index.saturating_add(delta);
        if index >= len {
            return Err(bad(format!("bucket {index} beyond the layout's {len}")));
        }
        if count == 0 {
            return Err(bad(format!("bucket {index} with a count of 0")));
        }
        each(index as usize, count);
    }
    if !b.is_empty() {
        return Err(bad(format!("{} bytes after the last bucket", b.len())));
    }
    Ok(())
}

/// The body after the cookie when `bytes` are in the packed format.
pub(crate) fn packed_body(bytes: &[u8]) -> Option<&[u8]> {
    take_u32(bytes, "cookie")
        .ok()
        .filter(|&(c, _)| c == PACKED_COOKIE)
        .map(|(_, body)| body)
}

/// [`read_varint`], with the one-byte numbers most of a packed histogram is made of read inline.
#[inline(always)]
fn varint(b: &[u8]) -> Result<(u64, &[u8]), MetricsError> {
    match b.split_first() {
        Some((&byte, rest)) if byte < 0x80 => Ok((u64::from(byte), rest)),
        _ => read_varint(b),
    }
}

/// LEB128 as [`read_varint`] reads it: 7 bits a byte, the ninth byte (if reached) carrying 8.
fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bad(msg: String) -> MetricsError {
    MetricsError::Decode(format!("packed histogram: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every number round-trips through the writer and `read_varint`, in the fewest bytes up to 9.
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let (back, rest) = read_varint(&out).unwrap();
            prop_assert_eq!(back, v);
            prop_assert!(rest.is_empty());
            prop_assert!(out.len() <= 9);
        }
    }
}
