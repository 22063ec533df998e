//! SLO verdicts decide the exit code: a deliberately slow target fails a latency SLO (exit 1), a fast
//! one passes it (exit 0), and `--abort-on-fail` stops a run as soon as the SLO can no longer be met.
//! An SLO with nothing to measure is "no data" and fails the run too.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{profile, read_json, surge};
use std::time::{Duration, Instant};
use surge_testkit::{Fault, FaultServer};

const PROFILE: &str = r#"
name = "slo-check"
journey = "get"
slos = ["p99 < 100ms", "error rate < 1%"]
[event]
population = 150
duration = "3s"
[[regions]]
name = "all"
share = 1.0
[curve]
kind = "ramp"
up = "0s"
hold = "3s"
[client]
timeout = "3s"
"#;

fn run(url: &str, dir: &std::path::Path, extra: &[&str]) -> (i32, serde_json::Value, Duration) {
    let profile = dir.with_extension("toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let mut args = vec![
        "run",
        profile.to_str().unwrap(),
        "--target",
        url,
        "--no-health-check",
        "--no-report",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let t = Instant::now();
    let code = surge(&args);
    (code, read_json(&dir.join("summary.json")), t.elapsed())
}

#[test]
fn a_slow_target_fails_the_latency_slo_and_the_exit_code_says_so() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let slow = rt.block_on(FaultServer::start(Fault::Delay(Duration::from_millis(250))));
    let fast = rt.block_on(FaultServer::start(Fault::Delay(Duration::from_millis(2))));
    let tmp = tempfile::tempdir().unwrap();

    let (code, s, _) = run(&slow.url(), &tmp.path().join("slow"), &[]);
    assert_eq!(code, 1, "slow target: the p99 SLO fails");
    assert_eq!(s["all_slos_pass"], false);
    let p99 = s["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["slo"] == "p99 < 100ms")
        .unwrap();
    assert_eq!(p99["pass"], false);
    assert!(p99["observed"].as_f64().unwrap() >= 250.0, "{p99}");

    let (code, s, _) = run(&fast.url(), &tmp.path().join("fast"), &[]);
    assert_eq!(code, 0, "fast target: every SLO holds: {}", s["slos"]);

    // --abort-on-fail: the run stops well before its 3 s once more than 1% of its samples are slow.
    let (code, s, took) = run(
        &slow.url(),
        &tmp.path().join("abort"),
        &["--abort-on-fail", "--drain", "1s"],
    );
    assert_eq!(code, 1);
    assert_eq!(s["status"], "aborted", "{s}");
    assert!(
        s["reason"].as_str().unwrap_or("").contains("p99 < 100ms"),
        "{}",
        s["reason"]
    );
    assert!(took < Duration::from_secs(4), "abort took {took:?}");
}

/// Issue 13.8: against a port where nothing listens, `register` is never reached. Its SLO is "no
/// data", counts as failed (exit 1), and says so in summary.json, slos.json and every report.
#[test]
fn an_slo_with_no_samples_is_no_data_and_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dead");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--target",
        "http://127.0.0.1:1",
        "--no-health-check",
        "--duration",
        "2s",
        "--scale",
        "0.02",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "no data counts as failed");
    let s = read_json(&dir.join("summary.json"));
    assert_eq!(s["all_slos_pass"], false);
    let register = s["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["slo"] == "p99 of register < 1s")
        .unwrap();
    assert_eq!(register["status"], "no_data", "{register}");
    assert_eq!(register["pass"], false);
    assert!(register["observed"].is_null());
    let specs = read_json(&dir.join("slos.json"));
    let spec = specs
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["text"] == "p99 of register < 1s")
        .unwrap();
    assert_eq!(spec["status"], "no_data", "{spec}");
    let data = surge_results::RunData::read(&dir).unwrap();
    let table = surge_report::terminal_table(&data, false);
    assert!(
        table.contains("NO DATA  p99 of register < 1s"),
        "terminal: {table}"
    );
    assert!(!table.contains("PASS  p99 of register"), "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("americas") && l.contains("register"))
        .unwrap_or_else(|| panic!("americas/register omitted: {table}"));
    assert!(line.ends_with("never reached"), "{line}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("| p99 of register < 1s | **NO DATA** |"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<td class=\"NO_DATA\">NO DATA</td>"));
}
