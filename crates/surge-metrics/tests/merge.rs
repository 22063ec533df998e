//! Merge is exact and associative: recording samples split across workers then merging equals recording
//! them all in one place; encoding round-trips.

use proptest::prelude::*;
use surge_metrics::{Outcome, Recorder, Snapshot, StepRecord};

fn sample() -> impl Strategy<Value = (u16, u16, usize, u64, u64, u64)> {
    (
        0u16..3,
        0u16..4,
        0usize..Outcome::COUNT,
        0u64..120_000_000,
        0u64..5_000_000,
        0u64..100_000,
    )
}

fn record(rec: &mut Recorder, s: &(u16, u16, usize, u64, u64, u64)) {
    rec.step(StepRecord {
        region: s.0,
        step: s.1,
        outcome: Outcome::ALL[s.2],
        response_us: s.3,
        service_us: s.4,
        send_lag_us: s.5,
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn split_then_merge_equals_one_recorder(samples in prop::collection::vec(sample(), 0..200), cut1 in 0usize..200, cut2 in 0usize..200) {
        let (a, b) = (cut1.min(samples.len()), cut2.min(samples.len()));
        let (lo, hi) = (a.min(b), a.max(b));
        let mut whole = Recorder::new(3, 4);
        let mut parts = [Recorder::new(3, 4), Recorder::new(3, 4), Recorder::new(3, 4)];
        for (i, s) in samples.iter().enumerate() {
            record(&mut whole, s);
            let p = if i < lo { 0 } else if i < hi { 1 } else { 2 };
            record(&mut parts[p], s);
        }
        let whole = whole.take(1);
        let [p0, p1, p2] = parts.map(|mut p| p.take(1));
        // (p0 + p1) + p2
        let mut left = p0.clone();
        left.merge(&p1).unwrap();
        left.merge(&p2).unwrap();
        // p0 + (p1 + p2)
        let mut right_inner = p1.clone();
        right_inner.merge(&p2).unwrap();
        let mut right = p0.clone();
        right.merge(&right_inner).unwrap();
        for r in 0..3 { for s in 0..4 {
            let w = whole.cell(r, s).map(|c| (c.response.clone(), c.service.clone(), c.send_lag.clone(), c.outcomes));
            let l = left.cell(r, s).map(|c| (c.response.clone(), c.service.clone(), c.send_lag.clone(), c.outcomes));
            let rr = right.cell(r, s).map(|c| (c.response.clone(), c.service.clone(), c.send_lag.clone(), c.outcomes));
            prop_assert_eq!(&w, &l);
            prop_assert_eq!(&l, &rr);
            if let Some(c) = whole.cell(r, s) {
                prop_assert_eq!(c.response.len(), c.count());
            }
        }}
    }

    #[test]
    fn encode_round_trips(samples in prop::collection::vec(sample(), 0..100)) {
        let mut rec = Recorder::new(3, 4);
        for s in &samples { record(&mut rec, s); }
        rec.discovery(1, 10, 7, 6, 1);
        let snap = rec.take(5);
        let back = snap.encode().unwrap().decode().unwrap();
        prop_assert_eq!(back, snap);
    }
}

#[test]
fn hostile_encoded_snapshots_are_refused() {
    let mut rec = Recorder::new(2, 2);
    record(&mut rec, &(1, 1, 0, 1000, 10, 1));
    let good = rec.take(0).encode().unwrap();
    let mut bad = good.clone();
    bad.cells[0].region = 9;
    assert!(bad.decode().is_err());
    let mut bad = good.clone();
    bad.cells[0].response = "!!!not base64".into();
    assert!(bad.decode().is_err());
    let mut bad = good.clone();
    bad.cells[0].outcomes.pop();
    assert!(bad.decode().is_err());
    let mut bad = good.clone();
    bad.regions = u16::MAX;
    bad.steps = u16::MAX;
    assert!(bad.decode().is_err());
    let mut bad = good;
    bad.cells[0].service = "AAAA".into();
    assert!(bad.decode().is_err());
    let _ = Snapshot::new(0, 1, 1);
}
