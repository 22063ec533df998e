//! The coordinator/worker protocol decoder: every message type, and the snapshot a report carries
//! (V2+DEFLATE histograms), decoded from hostile bytes without a panic, dense and sparse (the form the
//! coordinator merges), and merged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use surge_metrics::{Accumulator, Snapshot};
use surge_wire::{Assignment, Join, Refusal, Reply, Report, decode};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = decode::<Report>(data)
        && let Some(snap) = report.snapshot
    {
        let _ = snap.decode();
        if let Ok(sparse) = snap.decode_sparse() {
            let mut total = Snapshot::new(sparse.interval, sparse.regions, sparse.steps);
            let _ = total.merge_sparse(&sparse);
            let mut acc = Accumulator::new(sparse.interval, sparse.regions, sparse.steps);
            let _ = acc.add(&sparse);
            let _ = acc.finish();
        }
    }
    if let Ok(a) = decode::<Assignment>(data) {
        // A worker compiles the profile text it is sent.
        let _ = surge_profile::parse(&a.profile.text, &a.profile.origin);
    }
    let _ = decode::<Reply>(data);
    let _ = decode::<Join>(data);
    let _ = decode::<Refusal>(data);
});
