//! Writes the seed corpora of the `snapshot` and `wire` targets (run from `fuzz/`):
//! `cargo run --bin seeds` (no fuzzing toolchain needed). The `profile` corpus is plain files.

use std::path::Path;
use surge_metrics::{Outcome, Recorder, StepRecord};
use surge_wire::{Join, PROTOCOL_VERSION, Reply, Report, encode};

fn write(dir: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(Path::new(dir).join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, (regions, steps, n)) in [(1u16, 1u16, 1u64), (3, 4, 200), (2, 2, 0)]
        .into_iter()
        .enumerate()
    {
        let mut rec = Recorder::new(regions, steps);
        for k in 0..n {
            let outcome = Outcome::ALL[(k as usize) % Outcome::COUNT];
            let (region, step) = ((k % regions as u64) as u16, (k % steps as u64) as u16);
            rec.journey_started(region);
            rec.step(StepRecord {
                region,
                step,
                outcome,
                response_us: 100 + k * 997,
                service_us: 50 + k,
                send_lag_us: k % 7,
            });
            rec.journey_ended(region, outcome == Outcome::Ok);
        }
        let snap = rec.take(1);
        if let Some(cell) = snap.cell(0, 0) {
            let bytes = surge_metrics::codec::encode_histogram(&cell.response)?;
            write("corpus/snapshot", &format!("histogram-{i}.bin"), &bytes)?;
        }
        let sparse = snap.to_sparse();
        if let Some(cell) = sparse.cells.first() {
            let bytes = surge_metrics::codec::packed::encode_packed(&cell.response);
            write("corpus/snapshot", &format!("packed-{i}.bin"), &bytes)?;
        }
        write(
            "corpus/snapshot",
            &format!("snapshot-{i}.json"),
            &serde_json::to_vec(&snap.encode()?)?,
        )?;
        // What workers send (protocol 2): packed bucket lists.
        let enc = sparse.encode();
        write(
            "corpus/snapshot",
            &format!("packed-{i}.json"),
            &serde_json::to_vec(&enc)?,
        )?;
        let report = Report {
            version: PROTOCOL_VERSION,
            worker: i as u32,
            seq: i as u64,
            snapshot: Some(enc),
            registered: vec![1, 5, 9],
            registry_cursor: 3,
            shards_version: 1,
            done: i == 2,
            error: None,
        };
        write(
            "corpus/wire",
            &format!("report-{i}.json"),
            &encode(&report)?,
        )?;
    }
    let join = Join {
        version: PROTOCOL_VERSION,
        name: "worker-a".into(),
        threads: 2,
    };
    write("corpus/wire", "join.json", &encode(&join)?)?;
    let reply = Reply {
        version: PROTOCOL_VERSION,
        registered: vec![3, 4],
        registry_cursor: 2,
        shards_version: 2,
        shards: Some(vec![0, 2, 4]),
        stop: false,
        stop_reason: None,
    };
    write("corpus/wire", "reply.json", &encode(&reply)?)?;
    Ok(())
}
