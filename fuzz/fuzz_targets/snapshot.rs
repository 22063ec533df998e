//! Interval snapshots as shipped between processes: the JSON envelope and each histogram (V2+DEFLATE
//! or packed), validated on decode (indexes, lengths, counts) without a panic, decoded dense or
//! straight to the sparse form the coordinator merges, the two merging to the same figures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use surge_metrics::{Accumulator, EncodedSnapshot, Snapshot};

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<EncodedSnapshot>(data) {
        Ok(enc) => {
            let dense = enc.decode();
            let sparse = enc.decode_sparse();
            assert_eq!(
                dense.is_ok(),
                sparse.is_ok(),
                "dense and sparse decoders disagree"
            );
            if let (Ok(snap), Ok(sparse)) = (dense, sparse) {
                // A decoded snapshot merges into one of its own shape, dense or sparse, to the same
                // figures.
                let mut total = Snapshot::new(0, snap.regions, snap.steps);
                let _ = total.merge(&snap);
                let mut from_sparse = Snapshot::new(0, snap.regions, snap.steps);
                let _ = from_sparse.merge_sparse(&sparse);
                assert!(total == from_sparse, "merge_sparse differs from merge");
                let mut acc = Accumulator::new(0, snap.regions, snap.steps);
                let _ = acc.add(&sparse);
                assert!(acc.finish() == total, "the accumulator differs from merge");
            }
        }
        // Not JSON: the bytes are a histogram alone.
        Err(_) => {
            let _ = surge_metrics::codec::decode_histogram(data);
            let _ = surge_metrics::codec::decode_histogram_sparse(data);
        }
    }
});
