//! The coordinator's merge is exact: per-worker snapshots, shipped over the wire (V2+DEFLATE) and merged
//! interval by interval, hold exactly what one recorder that saw every sample would hold.

use surge_coordinator::collect::Collector;
use surge_metrics::{EncodedSnapshot, Outcome, Recorder, Snapshot, SparseSnapshot, StepRecord};

const REGIONS: u16 = 3;
const STEPS: u16 = 4;

/// A deterministic spread of samples (1 µs .. ~40 s) and outcomes.
fn sample(i: u64) -> StepRecord {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    let outcome = match z % 17 {
        0 => Outcome::Timeout,
        1 => Outcome::Http429,
        2 => Outcome::Http5xx,
        _ => Outcome::Ok,
    };
    StepRecord {
        region: (z % REGIONS as u64) as u16,
        step: ((z >> 8) % STEPS as u64) as u16,
        outcome,
        response_us: 1 + (z >> 20) % 40_000_000,
        service_us: 1 + (z >> 24) % 1_000_000,
        send_lag_us: 1 + (z >> 30) % 5_000,
    }
}

/// A snapshot as the coordinator takes it from a remote worker: encoded, through JSON, decoded sparse.
fn wire(s: &Snapshot) -> SparseSnapshot {
    let enc = s.encode().unwrap();
    let json = serde_json::to_vec(&enc).unwrap();
    let back: EncodedSnapshot = serde_json::from_slice(&json).unwrap();
    back.decode_sparse().unwrap()
}

#[test]
fn merged_workers_equal_one_recorder_of_all_samples() {
    let workers = 3usize;
    let intervals = 5u64;
    let mut per_worker: Vec<Recorder> = (0..workers)
        .map(|_| Recorder::new(REGIONS, STEPS))
        .collect();
    let mut all = Recorder::new(REGIONS, STEPS);
    let mut collector = Collector::new(workers, REGIONS, STEPS);
    let mut merged_intervals = Vec::new();
    let mut i = 0u64;
    for k in 0..intervals {
        for (w, rec) in per_worker.iter_mut().enumerate() {
            for _ in 0..(500 + 137 * w as u64) {
                let s = sample(i);
                i += 1;
                rec.step(s);
                all.step(s);
            }
        }
        for (w, rec) in per_worker.iter_mut().enumerate() {
            let snap = rec.take(k + 1);
            assert_eq!(snap.interval, k);
            collector.add(w, &wire(&snap)).unwrap();
        }
        while let Some(s) = collector.pop_ready() {
            merged_intervals.push(s);
        }
    }
    let single = all.take(intervals);
    let totals = collector.totals();
    assert_eq!(merged_intervals.len() as u64, intervals);
    for r in 0..REGIONS {
        for s in 0..STEPS {
            let (a, b) = (totals.cell(r, s).unwrap(), single.cell(r, s).unwrap());
            assert!(
                a.response == b.response,
                "response histogram of ({r},{s}) differs"
            );
            assert!(
                a.service == b.service && a.send_lag == b.send_lag,
                "({r},{s})"
            );
            assert_eq!(a.outcomes, b.outcomes, "({r},{s})");
            assert_eq!(
                a.response.value_at_quantile(0.999),
                b.response.value_at_quantile(0.999)
            );
            // The interval lines add up to the totals too.
            let sum: u64 = merged_intervals
                .iter()
                .filter_map(|m| m.cell(r, s))
                .map(|c| c.response.len())
                .sum();
            assert_eq!(sum, a.response.len());
        }
    }
    assert_eq!(totals.merged_cell(None, None).count(), i);
}

#[test]
fn a_lost_worker_does_not_hold_back_the_others() {
    let mut c = Collector::new(3, REGIONS, STEPS);
    let mut recs: Vec<Recorder> = (0..3).map(|_| Recorder::new(REGIONS, STEPS)).collect();
    let mut i = 0;
    for k in 0..2u64 {
        for (w, rec) in recs.iter_mut().enumerate() {
            rec.step(sample(i));
            i += 1;
            c.add(w, &rec.take(k + 1).to_sparse()).unwrap();
        }
    }
    assert_eq!(c.pop_ready().map(|s| s.interval), Some(0));
    assert_eq!(c.pop_ready().map(|s| s.interval), Some(1));
    // Worker 1 goes silent after interval 1; the others report 2 and 3.
    for k in 2..4u64 {
        for w in [0, 2] {
            recs[w].step(sample(i));
            i += 1;
            c.add(w, &recs[w].take(k + 1).to_sparse()).unwrap();
        }
    }
    assert!(
        c.pop_ready().is_none(),
        "interval 2 waits for worker 1 while it is live"
    );
    assert_eq!(c.lose(1, 3), vec![2, 3], "the intervals it never reported");
    assert_eq!(c.pop_ready().map(|s| s.interval), Some(2));
    assert_eq!(c.pop_ready().map(|s| s.interval), Some(3));
    assert_eq!(c.totals().merged_cell(None, None).count(), i);
}
