//! The coordinator's merge (issue 9, item 5): 1,000 interval snapshots of 30 region x step cells
//! (6 regions x 5 steps, 3 histograms each) merged into one, as decoded snapshots and from their
//! V2+DEFLATE wire form. Goal: under 100 ms for the whole merge.
//!
//! The dense merges (`merge`, `decode + merge`) are kept for comparison. The coordinator takes the
//! sparse form, which the worker makes in its own thread (`to_sparse`, measured apart), and merges it
//! as its `Collector` does: into an `Accumulator`, finished into one snapshot (`merge_sparse`,
//! `decode_sparse + merge_sparse`). `Snapshot::merge_sparse` (one `record_n` a bucket: the path of a
//! late snapshot) is measured too. Since protocol 2 workers send packed bucket lists
//! (`SparseSnapshot::encode`); `decode_sparse + merge_sparse 1000 packed` is the coordinator's whole
//! path for them, from the wire form to the merged interval.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use surge_metrics::{
    Accumulator, EncodedSnapshot, Outcome, Recorder, Snapshot, SparseSnapshot, StepRecord,
};

/// Snapshots merged (1,000; `SURGE_BENCH_SNAPSHOTS` makes the smoke run small).
fn snapshots() -> usize {
    std::env::var("SURGE_BENCH_SNAPSHOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}
const REGIONS: u16 = 6;
const STEPS: u16 = 5;

/// One worker interval: 300 recorded steps per cell, spread like real latencies (200 µs .. 2 s).
fn snapshot(seed: u64) -> Snapshot {
    let mut rec = Recorder::new(REGIONS, STEPS);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for region in 0..REGIONS {
        for step in 0..STEPS {
            for _ in 0..300 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let us = 200 + (x % 4096) * (x % 4096) / 8;
                rec.step(StepRecord {
                    region,
                    step,
                    outcome: if x.is_multiple_of(97) {
                        Outcome::Http5xx
                    } else {
                        Outcome::Ok
                    },
                    response_us: us,
                    service_us: us * 9 / 10,
                    send_lag_us: x % 300,
                });
            }
        }
    }
    rec.take(1)
}

fn merge(c: &mut Criterion) {
    let n = snapshots();
    let snaps: Vec<Snapshot> = (0..n as u64).map(snapshot).collect();
    let encoded: Vec<_> = snaps.iter().filter_map(|s| s.encode().ok()).collect();
    assert_eq!(encoded.len(), n, "every snapshot encodes");
    // As the workers send them: made sparse beforehand, in their own threads.
    let sparse: Vec<SparseSnapshot> = snaps.iter().map(Snapshot::to_sparse).collect();
    // What is measured is the same merge: the sparse way gives the dense way's snapshot, exactly.
    let mut dense = Snapshot::new(0, REGIONS, STEPS);
    let mut acc = Accumulator::new(0, REGIONS, STEPS);
    for (d, s) in snaps.iter().zip(&sparse) {
        let _ = dense.merge(d);
        let _ = acc.add(s);
    }
    assert!(
        acc.finish() == dense,
        "the sparse merge equals the dense one"
    );
    // As the workers send them since protocol 2: packed bucket lists (base64 in JSON).
    let packed: Vec<EncodedSnapshot> = sparse.iter().map(SparseSnapshot::encode).collect();
    let size = |e: &[EncodedSnapshot]| -> usize {
        e.iter()
            .flat_map(|s| &s.cells)
            .map(|c| c.response.len() + c.service.len() + c.send_lag.len())
            .sum()
    };
    eprintln!(
        "histogram bytes on the wire (base64) for {n} snapshots: V2+DEFLATE {} KiB, packed {} KiB",
        size(&encoded) / 1024,
        size(&packed) / 1024
    );
    let mut back = Accumulator::new(0, REGIONS, STEPS);
    for e in &packed {
        let _ = back.add(&e.decode_sparse().expect("packed decodes"));
    }
    assert!(
        back.finish() == dense,
        "the packed wire form merges to the dense merge"
    );
    let mut g = c.benchmark_group("coordinator");
    g.sample_size(10);
    g.bench_function("merge 1000 snapshots x 30 cells", |b| {
        b.iter(|| {
            let mut total = Snapshot::new(0, REGIONS, STEPS);
            for s in &snaps {
                let _ = total.merge(black_box(s));
            }
            total
        })
    });
    g.bench_function("decode + merge 1000 encoded snapshots x 30 cells", |b| {
        b.iter(|| {
            let mut total = Snapshot::new(0, REGIONS, STEPS);
            for e in &encoded {
                if let Ok(s) = black_box(e).decode() {
                    let _ = total.merge(&s);
                }
            }
            total
        })
    });
    g.bench_function("merge_sparse 1000 snapshots x 30 cells", |b| {
        b.iter(|| {
            let mut acc = Accumulator::new(0, REGIONS, STEPS);
            for s in &sparse {
                let _ = acc.add(black_box(s));
            }
            acc.finish()
        })
    });
    g.bench_function("decode_sparse + merge_sparse 1000 encoded", |b| {
        b.iter(|| {
            let mut acc = Accumulator::new(0, REGIONS, STEPS);
            for e in &encoded {
                if let Ok(s) = black_box(e).decode_sparse() {
                    let _ = acc.add(&s);
                }
            }
            acc.finish()
        })
    });
    // The coordinator's whole path for remote workers: packed wire form in, one merged interval out.
    g.bench_function("decode_sparse + merge_sparse 1000 packed", |b| {
        b.iter(|| {
            let mut acc = Accumulator::new(0, REGIONS, STEPS);
            for e in &packed {
                if let Ok(s) = black_box(e).decode_sparse() {
                    let _ = acc.add(&s);
                }
            }
            acc.finish()
        })
    });
    g.bench_function("Snapshot::merge_sparse 1000 snapshots x 30 cells", |b| {
        b.iter(|| {
            let mut total = Snapshot::new(0, REGIONS, STEPS);
            for s in &sparse {
                let _ = total.merge_sparse(black_box(s));
            }
            total
        })
    });
    // The workers' side, spread over their threads in a run: 1,000 conversions.
    g.bench_function("to_sparse 1000 snapshots x 30 cells", |b| {
        b.iter(|| {
            snaps
                .iter()
                .map(|s| black_box(s).to_sparse().count())
                .sum::<u64>()
        })
    });
    g.bench_function("to_sparse + encode packed 1000 snapshots x 30 cells", |b| {
        b.iter(|| {
            snaps
                .iter()
                .map(|s| black_box(s).to_sparse().encode().cells.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
