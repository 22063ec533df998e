//! Interval snapshots as shipped between processes: the JSON envelope and each V2+DEFLATE histogram,
//! validated on decode (indexes, lengths, counts) without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use surge_metrics::EncodedSnapshot;

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<EncodedSnapshot>(data) {
        Ok(enc) => {
            if let Ok(snap) = enc.decode() {
                // A decoded snapshot merges into one of its own shape.
                let mut total = surge_metrics::Snapshot::new(0, snap.regions, snap.steps);
                let _ = total.merge(&snap);
            }
        }
        // Not JSON: the bytes are a histogram alone.
        Err(_) => {
            let _ = surge_metrics::codec::decode_histogram(data);
        }
    }
});
