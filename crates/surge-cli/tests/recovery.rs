//! Nothing lost: the real `surge` binary killed with SIGKILL leaves a results folder that `surge report`
//! renders up to the last interval, saying the run was cut short; Ctrl-C (SIGINT) stops the load within
//! a second, measured at the target, and still writes the final files.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{profile, read_json, surge};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use surge_testkit::{Fault, FaultServer, process, profiles};

fn complete_intervals(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("latency.hlog"))
        .map(|t| t.matches("# surge interval complete").count())
        .unwrap_or(0)
}

fn wait_for(mut cond: impl FnMut() -> bool, limit: Duration) -> bool {
    let t = Instant::now();
    while !cond() {
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn a_run_killed_with_sigkill_is_reported_as_cut_short_up_to_its_last_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &profile("quickstart.toml"),
            "--out",
            &out.display().to_string(),
            "--no-report",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // About 4 s into the 30 s surge, with at least 3 intervals flushed.
    let started = wait_for(|| complete_intervals(&out) >= 3, Duration::from_secs(15));
    process::signal(&child, process::SIGKILL).unwrap();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(5)).unwrap();
    assert!(started, "no interval flushed within 15 s");
    assert_eq!(ended.signal, Some(process::SIGKILL));
    assert!(
        !out.join("summary.json").exists(),
        "a killed run wrote no summary"
    );
    let flushed = complete_intervals(&out);

    // The folder reads back: every flushed interval, and nothing past it.
    let data = surge_results::RunData::read(&out).unwrap();
    assert!(data.is_cut_short());
    let last = data.last_interval().expect("intervals before the kill");
    assert_eq!(
        last as usize + 1,
        flushed,
        "every flushed interval is read back"
    );
    let counted: u64 = (0..data.totals.regions)
        .flat_map(|r| (0..data.totals.steps).map(move |s| (r, s)))
        .filter_map(|(r, s)| data.totals.cell(r, s).map(|c| c.count()))
        .sum();
    assert!(counted > 50, "requests before the kill are kept: {counted}");
    // Every person is accounted for: those in flight at the kill are `unknown`.
    let summary = common::assert_tally(&out);
    let unknown: u64 = summary["journeys"]
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["unknown"].as_u64().unwrap())
        .sum();
    eprintln!("SIGKILL: {unknown} people in flight at the kill counted as unknown");

    // `surge report` renders it and says so.
    assert_eq!(surge(&["report", &out.display().to_string()]), 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("cut short"), "{md}");
    assert!(md.contains(&format!("data up to interval {last}")), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("cut short"));
}

#[test]
fn ctrl_c_stops_the_load_within_a_second_and_writes_the_final_files() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(FaultServer::start(Fault::Fixed(200, "{}")));
    let tmp = tempfile::tempdir().unwrap();
    // 200 arrivals/s for 20 s: far from over when Ctrl-C comes.
    let p = profiles::get(tmp.path(), "interrupted", 4_000, 20);
    let out = tmp.path().join("interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &p.display().to_string(),
            "--target",
            &server.url(),
            "--no-health-check",
        ])
        .args(["--out", &out.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let loaded = wait_for(|| server.requests() > 300, Duration::from_secs(15));
    let sent = Instant::now();
    process::signal(&child, process::SIGINT).unwrap();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(15)).unwrap();
    let exited = sent.elapsed();
    assert!(loaded, "the load never started");
    let before = server.requests();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.requests(), before, "requests after surge exited");
    let last = server.last_request_at().expect("requests");
    let tail = last.saturating_duration_since(sent);
    assert!(
        tail < Duration::from_secs(1),
        "load went on for {tail:?} after Ctrl-C"
    );
    assert!(
        ended.code.is_some(),
        "surge exits by itself on Ctrl-C, not by the signal: {ended:?}"
    );
    assert!(
        exited < Duration::from_secs(10),
        "took {exited:?} to exit after Ctrl-C"
    );

    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    common::assert_tally(&out);
    assert!(
        summary["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Ctrl-C")
    );
    assert!(
        summary["journeys"]["interrupted"].is_null(),
        "journeys are per region"
    );
    let started = summary["journeys"]["lab"]["started"].as_u64().unwrap_or(0);
    assert!(
        (300..4_000).contains(&started),
        "{started} people started before the interrupt"
    );
    for f in ["report.html", "report.md", "timeseries.csv", "latency.hlog"] {
        assert!(out.join(f).is_file(), "{f} missing after Ctrl-C");
    }
    eprintln!(
        "Ctrl-C: last request {tail:?} after SIGINT, exit after {exited:?}, {started} people started"
    );
}

/// A run SIGKILLed mid-way and resumed with `surge run --resume DIR` ends with every region's `started`
/// equal to that region's population, the tally holding (those in flight at the kill are `unknown`),
/// a `resumed` event and two parts in run.json. Resuming it again, or with a changed profile, is
/// refused before anything is sent.
#[test]
fn a_killed_run_resumed_starts_everyone_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let prof = tmp.path().join("quickstart.toml");
    std::fs::copy(profile("quickstart.toml"), &prof).unwrap();
    // Its capacity plan is named relative to the profile.
    std::fs::create_dir_all(tmp.path().join("plans")).unwrap();
    std::fs::copy(
        profile("plans/baseline.toml"),
        tmp.path().join("plans/baseline.toml"),
    )
    .unwrap();
    let out = tmp.path().join("resumed");
    let shape = ["--scale", "0.2", "--duration", "12s"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(["run", &prof.display().to_string()])
        .args(shape)
        .args(["--out", &out.display().to_string(), "--no-report"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_for(|| complete_intervals(&out) >= 4, Duration::from_secs(20));
    process::signal(&child, process::SIGKILL).unwrap();
    let _ = process::wait_with_rss(&mut child, Duration::from_secs(5));
    assert!(started, "no interval flushed within 20 s");
    let cut = surge_results::RunData::read(&out).unwrap();
    assert!(cut.is_cut_short());

    let dir = out.display().to_string();
    let code = surge(&["run", "--resume", &dir, "--no-report"]);
    assert!(code == 0 || code == 1, "resume exit {code}");
    let summary = common::assert_tally(&out);
    assert!(
        ["complete", "drain_cut"].contains(&summary["status"].as_str().unwrap()),
        "{}",
        summary["status"]
    );
    // Everyone of the population started exactly once, across both parts.
    let shape_args = surge_cli::args::ShapeArgs {
        scale: Some(0.2),
        duration: Some(Duration::from_secs(12)),
        ..Default::default()
    };
    let plan = surge_cli::load_plan(&prof, &shape_args).unwrap();
    common::assert_everyone_started_once(&summary, &plan);
    let info = read_json(&out.join("run.json"));
    assert_eq!(info["parts"].as_array().unwrap().len(), 2, "{info}");
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    assert!(events.contains("\"resumed\""), "{events}");
    // The report shows the gap and who ran each part.
    assert_eq!(surge(&["report", &dir]), 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("resumed at interval") && md.contains("after a gap of"),
        "{md}"
    );

    // Not cut short any more: refused. A changed profile: refused.
    assert_eq!(surge(&["run", "--resume", &dir]), 2);
    std::fs::remove_file(out.join("summary.json")).unwrap();
    let text = std::fs::read_to_string(&prof).unwrap();
    std::fs::write(&prof, format!("{text}\n# edited\n")).unwrap();
    assert_eq!(surge(&["run", "--resume", &dir]), 2);
}
