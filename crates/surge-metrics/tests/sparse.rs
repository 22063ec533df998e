//! The sparse merge is the dense merge, exactly: `merge_sparse(to_sparse(s))`, an `Accumulator` of
//! `to_sparse(s)`, and `merge_sparse(decode_sparse(encode(s)))` leave every bucket, count, minimum,
//! maximum and counter where `merge(s)` does, and hostile sparse input is refused whole or decoded
//! without a panic.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::buckets;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
use proptest::prelude::*;
use surge_metrics::codec::{decode_histogram, decode_histogram_sparse};
use surge_metrics::{
    Accumulator, Measure, MetricsError, Outcome, Recorder, Snapshot, SparseSnapshot, StepRecord,
    new_histogram,
};

const REGIONS: u16 = 3;
const STEPS: u16 = 4;

/// What a worker may do in an interval: finish a step, retry an attempt, start or end a journey.
#[derive(Debug, Clone)]
enum Event {
    Step(u16, u16, usize, u64, u64, u64),
    Retry(u16, u16, usize),
    Journey(u16, bool),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (0..REGIONS, 0..STEPS, 0..Outcome::COUNT, 0u64..120_000_000, 0u64..5_000_000, 0u64..100_000)
            .prop_map(|(r, s, o, a, b, c)| Event::Step(r, s, o, a, b, c)),
        1 => (0..REGIONS, 0..STEPS, 0..Outcome::COUNT).prop_map(|(r, s, o)| Event::Retry(r, s, o)),
        1 => (0..REGIONS, any::<bool>()).prop_map(|(r, ok)| Event::Journey(r, ok)),
    ]
}

/// One worker interval made of `events`.
fn interval(events: &[Event], k: u64) -> Snapshot {
    let mut rec = Recorder::new(REGIONS, STEPS);
    for e in events {
        match *e {
            Event::Step(region, step, o, response_us, service_us, send_lag_us) => {
                rec.step(StepRecord {
                    region,
                    step,
                    outcome: Outcome::ALL[o],
                    response_us,
                    service_us,
                    send_lag_us,
                })
            }
            Event::Retry(r, s, o) => rec.retry(r, s, Outcome::ALL[o]),
            Event::Journey(r, ok) => {
                rec.journey_started(r);
                rec.journey_ended(r, ok);
                rec.discovery(r, 5, 3, 2, u64::from(ok));
            }
        }
    }
    let mut snap = rec.take(k + 1);
    snap.in_flight = events.len() as u64;
    snap
}

/// `a == b`, said cell by cell and figure by figure so that a failure names what differs.
fn assert_same(a: &Snapshot, b: &Snapshot) -> Result<(), TestCaseError> {
    prop_assert_eq!((a.regions, a.steps), (b.regions, b.steps));
    for r in 0..a.regions {
        for s in 0..a.steps {
            let (x, y) = (a.cell(r, s), b.cell(r, s));
            prop_assert_eq!(x.is_some(), y.is_some(), "cell ({}, {}) present", r, s);
            let (Some(x), Some(y)) = (x, y) else { continue };
            for m in Measure::ALL {
                let (hx, hy) = (x.histogram(m), y.histogram(m));
                prop_assert_eq!(buckets(hx), buckets(hy), "({}, {}) {:?} buckets", r, s, m);
                prop_assert_eq!(hx.len(), hy.len());
                prop_assert_eq!(
                    (hx.min(), hx.min_nz(), hx.max()),
                    (hy.min(), hy.min_nz(), hy.max())
                );
            }
            prop_assert_eq!(x.outcomes, y.outcomes);
            prop_assert_eq!(x.retries, y.retries);
        }
    }
    prop_assert_eq!(&a.counters, &b.counters);
    prop_assert_eq!(a.in_flight, b.in_flight);
    // And the derived equality, which compares every counter of every histogram.
    prop_assert!(a == b);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Merging workers' intervals sparse, into a snapshot that already holds figures or through an
    /// accumulator, equals merging them dense.
    #[test]
    fn merge_sparse_equals_merge(workers in prop::collection::vec(prop::collection::vec(event(), 0..120), 1..5)) {
        let snaps: Vec<Snapshot> = workers.iter().map(|e| interval(e, 2)).collect();
        let mut dense = Snapshot::new(2, REGIONS, STEPS);
        let mut sparse = Snapshot::new(2, REGIONS, STEPS);
        let mut acc = Accumulator::new(2, REGIONS, STEPS);
        for s in &snaps {
            dense.merge(s).unwrap();
            sparse.merge_sparse(&s.to_sparse()).unwrap();
            acc.add(&s.to_sparse()).unwrap();
            assert_same(&sparse, &dense)?;
            assert_same(&acc.clone().finish(), &dense)?;
        }
    }

    /// The packed wire form (what workers send) decodes to the same sparse and dense snapshots as the
    /// V2+DEFLATE form, through JSON.
    #[test]
    fn packed_encoding_decodes_as_v2_does(events in prop::collection::vec(event(), 0..150)) {
        let snap = interval(&events, 4);
        let enc = snap.to_sparse().encode();
        let json = serde_json::to_vec(&enc).unwrap();
        let back: surge_metrics::EncodedSnapshot = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&back.decode_sparse().unwrap(), &snap.to_sparse());
        assert_same(&back.decode().unwrap(), &snap)?;
        for c in &back.cells {
            let bytes = B64.decode(&c.response).unwrap();
            prop_assert!(decode_histogram(&bytes).unwrap() == snap.cell(c.region, c.step).unwrap().response);
        }
    }

    /// Arbitrary bytes after the packed cookie, and damaged packed histograms, are refused or
    /// decoded without a panic, and whatever decodes stays inside surge's layout.
    #[test]
    fn hostile_packed_bytes_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..64),
        events in prop::collection::vec(event(), 1..40),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut raw = 0x5347_4231u32.to_be_bytes().to_vec();
        raw.extend_from_slice(&tail);
        if let Ok(h) = decode_histogram(&raw) {
            prop_assert!(h.max() <= new_histogram().high());
        }
        let _ = decode_histogram_sparse(&raw);
        let snap = interval(&events, 1);
        let enc = snap.to_sparse().encode();
        prop_assume!(!enc.cells.is_empty());
        let bytes = B64.decode(&enc.cells[0].response).unwrap();
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_histogram(short).is_err());
        let mut damaged = bytes.clone();
        let i = flip.index(damaged.len());
        damaged[i] = byte;
        let _ = decode_histogram(&damaged);
        let mut enc2 = enc.clone();
        enc2.cells[0].response = B64.encode(&damaged);
        let _ = enc2.decode_sparse();
        let _ = enc2.decode();
    }

    /// A snapshot's wire form decodes straight to its sparse form, and merging that into an empty
    /// snapshot gives the snapshot back.
    #[test]
    fn decode_sparse_of_encode_merges_back(events in prop::collection::vec(event(), 0..150)) {
        let snap = interval(&events, 7);
        let enc = snap.encode().unwrap();
        let json = serde_json::to_vec(&enc).unwrap();
        let back: surge_metrics::EncodedSnapshot = serde_json::from_slice(&json).unwrap();
        let sparse = back.decode_sparse().unwrap();
        prop_assert_eq!(&sparse, &snap.to_sparse());
        let mut merged = Snapshot::new(snap.interval, REGIONS, STEPS);
        merged.merge_sparse(&sparse).unwrap();
        assert_same(&merged, &snap)?;
        let mut acc = Accumulator::new(snap.interval, REGIONS, STEPS);
        acc.add(&sparse).unwrap();
        assert_same(&acc.finish(), &snap)?;
    }

    /// A histogram of another layout (other bounds and precision, values beyond surge's range) decodes
    /// to surge's buckets, one entry each, ascending; recording them gives what the dense decoder gives.
    #[test]
    fn foreign_layouts_rebucket(values in prop::collection::vec((1_000u64..3_600_000_000, 1u64..1_000), 1..300), digits in 1u8..=5) {
        let mut h = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000, digits).unwrap();
        for (v, n) in &values {
            h.record_n(*v, *n).unwrap();
        }
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(&h, &mut bytes).unwrap();
        let entries = decode_histogram_sparse(&bytes).unwrap();
        prop_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "ascending, one per bucket");
        let mut from_sparse = new_histogram();
        for &(v, n) in &entries {
            prop_assert_eq!(from_sparse.lowest_equivalent(v), v);
            from_sparse.saturating_record_n(v, n);
        }
        let dense = decode_histogram(&bytes).unwrap();
        prop_assert!(from_sparse == dense);
        prop_assert_eq!(from_sparse.len(), values.iter().map(|v| v.1).sum::<u64>());
    }

    /// Any bytes, or a valid encoding damaged anywhere: the sparse and dense decoders agree (both refuse,
    /// or both give the same buckets), and neither panics.
    #[test]
    fn damaged_encodings_decode_alike(at in 0usize..200, byte in any::<u8>(), cut in 0usize..200, noise in prop::collection::vec(any::<u8>(), 0..128)) {
        let mut h = new_histogram();
        for v in [3u64, 70, 1_500, 90_000, 2_000_000, 59_999_999] {
            h.record(v).unwrap();
        }
        let mut inputs = vec![noise];
        for ser in [0, 1] {
            let mut bytes = Vec::new();
            if ser == 0 {
                V2Serializer::new().serialize(&h, &mut bytes).unwrap();
            } else {
                V2DeflateSerializer::new().serialize(&h, &mut bytes).unwrap();
            }
            let n = bytes.len();
            inputs.push(bytes[..cut % n].to_vec());
            bytes[at % n] = byte;
            inputs.push(bytes);
        }
        for bytes in &inputs {
            match (decode_histogram_sparse(bytes), decode_histogram(bytes)) {
                (Ok(entries), Ok(dense)) => {
                    let mut from_sparse = new_histogram();
                    for &(v, n) in &entries {
                        from_sparse.saturating_record_n(v, n);
                    }
                    prop_assert!(from_sparse == dense);
                }
                (Err(_), Err(_)) => {}
                (s, d) => prop_assert!(false, "sparse {:?} but dense {:?}", s.map(|e| e.len()), d.map(|h| h.len())),
            }
        }
    }
}

/// A cell recorded only as retries (no finished step) is still a cell after the sparse merge.
#[test]
fn retry_only_cells_survive() {
    let mut rec = Recorder::new(1, 2);
    rec.retry(0, 1, Outcome::Timeout);
    let snap = rec.take(1);
    let mut total = Snapshot::new(0, 1, 2);
    total.merge_sparse(&snap.to_sparse()).unwrap();
    let cell = total.cell(0, 1).expect("the retried cell");
    assert_eq!(cell.retries[Outcome::Timeout.index()], 1);
    assert!(cell.response.is_empty());
    assert!(total.cell(0, 0).is_none());
}

fn one_sample() -> SparseSnapshot {
    let mut rec = Recorder::new(2, 2);
    rec.step(StepRecord {
        region: 1,
        step: 1,
        outcome: Outcome::Ok,
        response_us: 1_000,
        service_us: 10,
        send_lag_us: 1,
    });
    rec.take(1).to_sparse()
}

/// A sparse snapshot that contradicts itself or the target's shape is refused whole: the target is
/// left as it was.
#[test]
fn malformed_sparse_snapshots_are_refused_whole() {
    let mut total = Snapshot::new(0, 2, 2);
    total.merge_sparse(&one_sample()).unwrap();
    let before = total.clone();

    let mut other_shape = one_sample();
    other_shape.steps = 3;
    assert!(matches!(
        total.merge_sparse(&other_shape),
        Err(MetricsError::Shape { .. })
    ));

    let mut outside = one_sample();
    let mut extra = outside.cells[0].clone();
    extra.region = 2;
    outside.cells.push(extra);
    assert!(matches!(
        total.merge_sparse(&outside),
        Err(MetricsError::Malformed(_))
    ));

    let mut short = one_sample();
    short.counters.pop();
    assert!(matches!(
        total.merge_sparse(&short),
        Err(MetricsError::Malformed(_))
    ));
    assert_eq!(total, before, "nothing of a refused snapshot was merged");
    let mut acc = Accumulator::new(0, 2, 2);
    acc.add(&one_sample()).unwrap();
    for bad in [&other_shape, &outside, &short] {
        assert!(acc.add(bad).is_err());
    }
    assert_eq!(acc.finish(), before, "nor added to an accumulator");

    // A zero count moves nothing, not even the maximum.
    let mut zero = one_sample();
    zero.cells[0].response.push(50_000_000, 0);
    total.merge_sparse(&zero).unwrap();
    let mut want = before;
    want.merge_sparse(&one_sample()).unwrap();
    assert_eq!(total, want);
}

/// The wire form's hostile cases are refused by `decode_sparse` as by `decode`, duplicates included.
#[test]
fn hostile_encoded_snapshots_are_refused_sparse() {
    let mut rec = Recorder::new(2, 2);
    rec.step(StepRecord {
        region: 1,
        step: 1,
        outcome: Outcome::Ok,
        response_us: 1_000,
        service_us: 10,
        send_lag_us: 1,
    });
    let good = rec.take(0).encode().unwrap();
    assert!(good.decode_sparse().is_ok());
    let mut cases = Vec::new();
    let mut bad = good.clone();
    bad.cells[0].region = 9;
    cases.push(bad);
    let mut bad = good.clone();
    bad.cells[0].response = "!!!not base64".into();
    cases.push(bad);
    let mut bad = good.clone();
    bad.cells[0].retries.push(1);
    cases.push(bad);
    let mut bad = good.clone();
    bad.regions = u16::MAX;
    bad.steps = u16::MAX;
    cases.push(bad);
    let mut bad = good.clone();
    bad.counters.clear();
    cases.push(bad);
    let mut bad = good.clone();
    bad.cells[0].send_lag = "AAAA".into();
    cases.push(bad);
    let mut bad = good.clone();
    bad.cells.push(bad.cells[0].clone());
    cases.push(bad);
    for (i, bad) in cases.iter().enumerate() {
        assert!(bad.decode_sparse().is_err(), "case {i} decodes sparse");
        assert!(bad.decode().is_err(), "case {i} decodes dense");
    }
}

/// Values above surge's counts array fall back into its top bucket, below values that still fit: the
/// decoder keeps its entries ascending and one per bucket even then.
#[test]
fn values_beyond_range_join_the_top_bucket() {
    let mut h = Histogram::<u64>::new_with_bounds(1, 1 << 40, 3).unwrap();
    for (v, n) in [
        (59_000_000u64, 1u64),
        (60_000_000, 2),
        (65_000_000, 4),
        (100_000_000, 8),
        (1 << 39, 16),
    ] {
        h.record_n(v, n).unwrap();
    }
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(&h, &mut bytes).unwrap();
    let entries = decode_histogram_sparse(&bytes).unwrap();
    let surge = new_histogram();
    let top = surge.lowest_equivalent(60_000_000);
    assert_eq!(
        entries,
        vec![
            (surge.lowest_equivalent(59_000_000), 1),
            (top, 2 + 8 + 16),
            (surge.lowest_equivalent(65_000_000), 4),
        ]
    );
    assert!(
        decode_histogram(&bytes).unwrap() == {
            let mut want = new_histogram();
            entries
                .iter()
                .for_each(|&(v, n)| want.saturating_record_n(v, n));
            want
        }
    );
}

/// Counts beyond 16 bits travel in the wide list, and counts beyond 32 bits are carried out of the
/// accumulator's counters; both merge as exactly as the others.
#[test]
fn counts_beyond_32_bits_merge_exactly() {
    let mut snap = Snapshot::new(0, 1, 1);
    let cell = snap.cell_mut(0, 0).unwrap();
    cell.response.saturating_record_n(1_500, 5_000_000_000);
    cell.response.saturating_record_n(90_000, 7);
    cell.outcomes[Outcome::Ok.index()] = 5_000_000_007;
    let sparse = snap.to_sparse();
    let b = &sparse.cells[0].response;
    assert_eq!((b.len(), b.wide_len()), (2, 1));
    assert_eq!(
        b.iter().collect::<Vec<_>>(),
        vec![
            (new_histogram().lowest_equivalent(90_000), 7),
            (new_histogram().lowest_equivalent(1_500), 5_000_000_000)
        ]
    );
    assert_eq!(b.samples(), 5_000_000_007);
    let mut twice = snap.clone();
    twice.merge(&snap).unwrap();
    let mut total = Snapshot::new(0, 1, 1);
    let mut acc = Accumulator::new(0, 1, 1);
    for _ in 0..2 {
        total.merge_sparse(&sparse).unwrap();
        acc.add(&sparse).unwrap();
    }
    assert_eq!(total, twice);
    assert_eq!(acc.finish(), twice);
    assert_eq!(snap.encode().unwrap().decode_sparse().unwrap(), sparse);
}

/// The accumulator's 32-bit counters carry out what would overflow them, whether the count came
/// packed (16 bits) or wide: the finished histogram counts every sample.
#[test]
fn accumulator_counters_carry_past_32_bits() {
    let one = |n: u64| {
        let mut snap = Snapshot::new(0, 1, 1);
        let cell = snap.cell_mut(0, 0).unwrap();
        cell.response.saturating_record_n(2_000, n);
        cell.outcomes[Outcome::Ok.index()] = n;
        snap.to_sparse()
    };
    let (big, small) = (one(4_294_000_000), one(65_535));
    assert_eq!(big.cells[0].response.wide_len(), 1);
    assert_eq!(small.cells[0].response.wide_len(), 0);
    let mut acc = Accumulator::new(0, 1, 1);
    acc.add(&big).unwrap();
    for _ in 0..20 {
        acc.add(&small).unwrap();
    }
    acc.add(&big).unwrap();
    let merged = acc.finish();
    let h = &merged.cell(0, 0).unwrap().response;
    let want = 2 * 4_294_000_000 + 20 * 65_535;
    assert_eq!(h.len(), want);
    assert_eq!(h.count_at(2_000), want);
    assert_eq!(h.min(), new_histogram().lowest_equivalent(2_000));
}

/// Packed histograms that break the format's rules are refused, each with the rule named.
#[test]
fn malformed_packed_histograms_are_refused() {
    // LEB128, written here apart from surge's own writer.
    fn leb(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            if v < 0x80 {
                out.push(v as u8);
                return out;
            }
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
    }
    let layout = new_histogram().distinct_values() as u64;
    let make = |layout: u64, pairs: &[(u64, u64)], extra: &[u8]| {
        let mut b = 0x5347_4231u32.to_be_bytes().to_vec();
        b.extend(leb(layout));
        b.extend(leb(pairs.len() as u64));
        for &(d, n) in pairs {
            b.extend(leb(d));
            b.extend(leb(n));
        }
        b.extend_from_slice(extra);
        b
    };
    let good = make(layout, &[(3, 1), (1, 2), (100, 70_000)], &[]);
    let h = decode_histogram(&good).unwrap();
    assert_eq!(h.len(), 70_003);
    let cases: [(&str, Vec<u8>); 6] = [
        ("layout", make(layout - 1, &[(3, 1)], &[])),
        ("twice", make(layout, &[(3, 1), (0, 1)], &[])),
        ("beyond", make(layout, &[(layout, 1)], &[])),
        ("count of 0", make(layout, &[(3, 0)], &[])),
        ("after the last", make(layout, &[(3, 1)], &[0])),
        ("buckets in", {
            let mut b = make(layout, &[(3, 1)], &[]);
            b.truncate(b.len() - 2);
            b
        }),
    ];
    for (want, bytes) in cases {
        let e = decode_histogram(&bytes).unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
        assert!(decode_histogram_sparse(&bytes).is_err(), "{want}");
    }
    // An entry count far beyond the input is refused before anything is sized from it.
    let mut huge = 0x5347_4231u32.to_be_bytes().to_vec();
    huge.extend(leb(layout));
    huge.extend(leb(u64::MAX));
    assert!(
        decode_histogram(&huge)
            .unwrap_err()
            .to_string()
            .contains("buckets in")
    );
}

/// Buckets pushed out of order or twice still encode to a valid packed histogram: sorted, each
/// bucket once with its counts added.
#[test]
fn packed_encoding_sorts_and_adds_repeated_buckets() {
    let mut b = surge_metrics::Buckets::default();
    b.push(90_000, 2);
    b.push(1_500, 1);
    b.push(90_000, 70_000);
    b.push(1_500, 4);
    let bytes = surge_metrics::codec::packed::encode_packed(&b);
    let h = decode_histogram(&bytes).unwrap();
    assert_eq!(h.len(), 70_007);
    assert_eq!(h.count_at(1_500), 5);
    assert_eq!(h.count_at(90_000), 70_002);
}
