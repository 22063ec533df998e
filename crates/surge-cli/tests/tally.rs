//! Every person accounted for, whichever way a run ends: per region, `started = succeeded + failed +
//! unfinished + lost_with_worker + unknown`. Complete and drain-cut runs here; guard abort and worker
//! loss in `guards.rs` and `distributed.rs`, Ctrl-C and SIGKILL in `recovery.rs`.

mod common;

use common::{assert_tally, outcome, profile, serial, step, surge};
use surge_testkit::{Fault, FaultServer};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_complete_run_accounts_for_everyone_and_nobody_is_unfinished() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--scale",
        "0.05",
        "--duration",
        "3s",
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert_eq!(code, 0);
    let s = assert_tally(&out);
    assert_eq!(s["status"], "complete");
    for (region, j) in s["journeys"].as_object().unwrap() {
        assert_eq!(j["unfinished"], 0, "{region}");
        assert!(j["succeeded"].as_u64().unwrap() > 0, "{region}");
    }
}

/// The case, scaled down: a target that accepts and never answers, a timeout longer than the
/// run plus its drain. Nobody finishes; everybody is counted as unfinished, their step carries the
/// outcome `unfinished` with the wait so far (at least the drain), and the status says so.
#[test]
fn a_drain_that_ends_with_people_in_flight_counts_them_as_unfinished() {
    let _g = serial();
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::NeverAnswer));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--target",
        &server.url(),
        "--no-health-check",
        "--scale",
        "0.02",
        "--duration",
        "2s",
        "--timeout",
        "20s",
        "--drain",
        "1s",
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert_eq!(
        code, 1,
        "the error-rate SLO fails: unfinished counts as an error"
    );
    let s = assert_tally(&out);
    assert_eq!(s["status"], "drain_cut");
    let reason = s["reason"].as_str().unwrap();
    assert!(reason.starts_with("drain ended with "), "{reason}");
    let mut unfinished = 0;
    for (region, j) in s["journeys"].as_object().unwrap() {
        let started = j["started"].as_u64().unwrap();
        assert!(started > 0, "{region}");
        assert_eq!(j["unfinished"].as_u64().unwrap(), started, "{region}: {j}");
        let stuck = step(&s, region, "request_code");
        assert_eq!(outcome(stuck, "unfinished"), started, "{region}: {stuck}");
        // Waiting since their intended start, through the drain: at least the drain's second.
        assert!(stuck["max_ms"].as_f64().unwrap() >= 1000.0, "{stuck}");
        unfinished += started;
    }
    assert!(reason.contains(&unfinished.to_string()), "{reason}");
    drop(server);
}
