//! The histogram decoder against `hdrhistogram`'s own encoders, and against hostile bytes (among them
//! the inputs the fuzzers found: an allocation blow-up and an overflowing zero run).

mod common;

use common::buckets;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
use proptest::prelude::*;
use surge_metrics::codec::{decode_histogram, encode_histogram};
use surge_metrics::new_histogram;

fn v2(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new().serialize(h, &mut out).unwrap();
    out
}

fn v2_deflate(h: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2DeflateSerializer::new().serialize(h, &mut out).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// surge's own histograms come back bucket for bucket, count for count, in both encodings.
    #[test]
    fn surge_histograms_round_trip(values in prop::collection::vec((1u64..80_000_000, 1u64..1_000), 0..400)) {
        let mut h = new_histogram();
        for (v, n) in &values {
            h.saturating_record_n(*v, *n);
        }
        for bytes in [v2(&h), v2_deflate(&h), encode_histogram(&h).unwrap()] {
            let back = decode_histogram(&bytes).unwrap();
            prop_assert_eq!(back.len(), h.len());
            prop_assert_eq!(buckets(&back), buckets(&h));
            prop_assert_eq!(back.max(), h.max());
        }
    }

    /// A histogram of another shape (other bounds and precision) lands in the same buckets as recording
    /// its values into a surge histogram directly would.
    #[test]
    fn other_shapes_rebucket(values in prop::collection::vec(1_000u64..3_600_000_000, 1..200), digits in 1u8..=5) {
        let mut h = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000, digits).unwrap();
        for v in &values {
            h.record(*v).unwrap();
        }
        let back = decode_histogram(&v2_deflate(&h)).unwrap();
        let mut want = new_histogram();
        for v in h.iter_recorded() {
            let lowest = h.lowest_equivalent(v.value_iterated_to());
            want.saturating_record_n(lowest, v.count_at_value());
        }
        prop_assert_eq!(back.len(), values.len() as u64);
        prop_assert_eq!(buckets(&back), buckets(&want));
    }

    /// Any bytes at all: an error or a histogram, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_histogram(&bytes);
    }

    /// A valid encoding with any byte changed or cut short: an error or a histogram, never a panic.
    #[test]
    fn damaged_encodings_never_panic(at in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let mut h = new_histogram();
        for v in [3u64, 70, 1_500, 90_000, 2_000_000] {
            h.record(v).unwrap();
        }
        for mut bytes in [v2(&h), v2_deflate(&h)] {
            let n = bytes.len();
            bytes[at % n] = byte;
            let _ = decode_histogram(&bytes);
            let _ = decode_histogram(&bytes[..cut % n]);
        }
    }
}

/// The fuzzers' allocation blow-up (`fuzz/artifacts/snapshot/oom-7049...`): a compressed V2 header whose
/// bounds asked `hdrhistogram` for gigabytes. Now a plain error.
#[test]
fn fuzz_oom_input_is_an_error() {
    let bytes = [
        28u8, 132, 147, 20, 0, 0, 0, 33, 120, 156, 147, 105, 153, 44, 204, 193, 192, 192, 204, 0,
        1, 48, 154, 17, 204, 220, 153, 206, 96, 255, 1, 34, 112, 156, 145, 9, 0, 83, 94, 4, 100,
    ];
    assert!(decode_histogram(&bytes).is_err());
}

/// V2 header fields as bytes, for hand-made inputs.
fn header(payload_len: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
    b.extend_from_slice(&payload_len.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&digits.to_be_bytes());
    b.extend_from_slice(&low.to_be_bytes());
    b.extend_from_slice(&high.to_be_bytes());
    b.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    b
}

/// A zero run of i64::MIN (the ZigZag number u64::MAX) overflowed `hdrhistogram`'s negation.
#[test]
fn zero_run_of_i64_min_is_handled() {
    let mut b = header(10, 3, 1, 60_000_000);
    b.extend_from_slice(&[0xff; 9]); // u64::MAX: a run of 2^63 empty buckets
    b.push(2); // then a count of 1, far beyond any bucket
    assert!(decode_histogram(&b).is_err());
}

/// A payload length beyond the input, or a header asking for an absurd counts array, is refused
/// before anything is allocated for it.
#[test]
fn hostile_lengths_and_bounds_are_refused() {
    assert!(decode_histogram(&header(u32::MAX, 3, 1, 60_000_000)).is_err());
    assert!(decode_histogram(&header(0, 9, 1, 60_000_000)).is_err());
    assert!(decode_histogram(&header(0, 3, 0, 60_000_000)).is_err());
    assert!(decode_histogram(&header(0, 5, 1 << 60, u64::MAX)).is_err());
    // An empty histogram of a legal shape is fine.
    assert_eq!(
        decode_histogram(&header(0, 3, 1, 60_000_000))
            .unwrap()
            .len(),
        0
    );
}

/// A zlib bomb (a V2 cookie then 16 MiB of zeros, compressed to a few KiB) is refused once it inflates
/// past the bound, by both decoders, and the decoders still work afterwards.
#[test]
fn deflate_bombs_are_refused() {
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write as _;
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    z.write_all(&0x1c84_9313u32.to_be_bytes()).unwrap();
    z.write_all(&vec![0u8; 16 << 20]).unwrap();
    let body = z.finish().unwrap();
    let mut bytes = 0x1c84_9314u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    let err = decode_histogram(&bytes).unwrap_err().to_string();
    assert!(err.contains("inflates beyond"), "{err}");
    assert!(surge_metrics::codec::decode_histogram_sparse(&bytes).is_err());
    // Cut short, the same stream inflates as far as it goes and is then refused as a histogram.
    assert!(decode_histogram(&bytes[..bytes.len() / 2]).is_err());
    let mut h = new_histogram();
    h.record(1_000).unwrap();
    assert_eq!(decode_histogram(&v2_deflate(&h)).unwrap().len(), 1);
}
