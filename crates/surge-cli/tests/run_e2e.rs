//! `surge run`, end to end, in-process, against real servers on 127.0.0.1:0.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{outcome, profile, read_json, surge};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use surge_testkit::{Fault, FaultServer, refused_url};

#[test]
fn quickstart_shortened_against_the_embedded_target() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_s = out.display().to_string();
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--duration",
        "6s",
        "--out",
        &out_s,
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "quickstart must pass its SLOs at light load");
    for f in [
        "run.json",
        "latency.hlog",
        "timeseries.csv",
        "summary.json",
        "report.html",
        "report.md",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let run = read_json(&out.join("run.json"));
    assert_eq!(run["seed"], 7);
    let summary = read_json(&out.join("summary.json"));
    // Fine pacing (the default) measured this host's timer floor before sending, and the results keep it.
    let floor = &run["timer_floor"];
    assert!(
        floor["wakeups"].as_u64().unwrap_or(0) > 0 && floor["p99_us"].as_f64().is_some(),
        "run.json has no timer floor: {run}"
    );
    assert_eq!(&summary["generator"]["timer_floor"], floor);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("This host's timer floor just before the run"),
        "report.md's generator health does not show the floor"
    );
    let regions = summary["regions"].as_object().expect("regions");
    let names: Vec<&str> = regions.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["americas", "asia", "europe"]);
    for (region, steps) in regions {
        for step in ["request_code", "verify_code", "register", "discover"] {
            let s = &steps[step];
            assert!(
                s["count"].as_u64().unwrap_or(0) > 0,
                "{region}/{step} has no samples: {s}"
            );
            assert_eq!(
                s["errors"].as_u64(),
                Some(0),
                "{region}/{step} errors at light load: {s}"
            );
            for k in ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
                assert!(s[k].as_f64().is_some(), "{region}/{step}.{k} missing");
            }
            assert!(s["p50_ms"].as_f64() <= s["p99_ms"].as_f64());
        }
    }
    // Per-region journey counts follow the profile's shares (within 6 points at this size).
    let plan =
        surge_cli::load_plan(Path::new(&profile("quickstart.toml")), &Default::default()).unwrap();
    let journeys = summary["journeys"].as_object().expect("journeys");
    let total: u64 = journeys
        .values()
        .map(|j| j["started"].as_u64().unwrap_or(0))
        .sum();
    assert!(total > 200, "too few journeys for a share check: {total}");
    for r in &plan.regions {
        let got = journeys[&r.name]["started"].as_u64().unwrap_or(0) as f64 / total as f64;
        assert!(
            (got - r.share).abs() < 0.06,
            "{}: share {got:.3} vs profile {:.3}",
            r.name,
            r.share
        );
    }
    // Histogram counts equal the recorded outcomes, cell by cell, in the files as read back.
    let data = surge_results::RunData::read(&out).unwrap();
    let mut cells = 0;
    for r in 0..data.totals.regions {
        for s in 0..data.totals.steps {
            if let Some(c) = data.totals.cell(r, s) {
                assert_eq!(c.response.len(), c.count());
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 12);
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(
        csv.lines().count() > 12,
        "timeseries.csv has one row per interval x region x step"
    );
}

#[test]
fn same_seed_same_population() {
    let p = PathBuf::from(profile("quickstart.toml"));
    let shape = surge_cli::args::ShapeArgs {
        seed: Some(99),
        ..Default::default()
    };
    let (a, b) = (
        surge_cli::load_plan(&p, &shape).unwrap(),
        surge_cli::load_plan(&p, &shape).unwrap(),
    );
    let other = surge_cli::load_plan(
        &p,
        &surge_cli::args::ShapeArgs {
            seed: Some(100),
            ..Default::default()
        },
    )
    .unwrap();
    let (mut ca, mut cb) = (Vec::new(), Vec::new());
    let mut differs = 0;
    for u in 0..a.population {
        let (pa, pb) = (a.person(u), b.person(u));
        assert_eq!(
            (pa.region, pa.phone, pa.arrival),
            (pb.region, pb.phone, pb.arrival)
        );
        a.contacts(u, &mut ca);
        b.contacts(u, &mut cb);
        let la: Vec<_> = ca.iter().map(|c| (c.phone, c.user)).collect();
        let lb: Vec<_> = cb.iter().map(|c| (c.phone, c.user)).collect();
        assert_eq!(la, lb);
        differs += usize::from(other.person(u).phone != pa.phone);
    }
    assert!(
        differs as u64 > a.population / 2,
        "another seed gives other people"
    );
}

fn fault_run(url: &str, dir: &Path) -> (i32, Value, Duration) {
    let out = dir.display().to_string();
    let t = Instant::now();
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--target",
        url,
        "--no-health-check",
        "--duration",
        "2s",
        "--timeout",
        "500ms",
        "--drain",
        "2s",
        "--out",
        &out,
        "--no-report",
    ]);
    (code, read_json(&dir.join("summary.json")), t.elapsed())
}

#[test]
fn refused_and_silent_targets_give_classified_errors_within_the_timeout() {
    let _serial = common::serial();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let silent = rt.block_on(FaultServer::start(Fault::NeverAnswer));
    let tmp = tempfile::tempdir().unwrap();

    let (code, s, took) = fault_run(&refused_url(), &tmp.path().join("refused"));
    assert_eq!(code, 1, "errors fail the quickstart's SLOs");
    let rc = &s["regions"]["americas"]["request_code"];
    assert!(
        outcome(rc, "connect") > 0,
        "refused => connect errors: {rc}"
    );
    assert_eq!(outcome(rc, "ok"), 0);
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let (code, s, took) = fault_run(&silent.url(), &tmp.path().join("silent"));
    assert_eq!(code, 1);
    let rc = &s["regions"]["europe"]["request_code"];
    assert!(outcome(rc, "timeout") > 0, "silent => timeouts: {rc}");
    assert!(
        took < Duration::from_secs(20),
        "a silent target must not hang the run: {took:?}"
    );
    // Response time of a timed-out step is about the timeout, measured from the intended start.
    let p50 = rc["p50_ms"].as_f64().unwrap_or(0.0);
    assert!(
        (450.0..2_000.0).contains(&p50),
        "p50 {p50} ms ~ 500 ms timeout"
    );
}

#[test]
fn a_target_that_does_not_answer_the_health_check_is_refused_before_any_load() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--target",
        &refused_url(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 2);
    assert!(
        !out.exists(),
        "no results folder for a run that never started"
    );
}

#[test]
fn bad_profiles_are_refused_with_file_line_and_field_before_any_load() {
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(profile("quickstart.toml")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("syntax", good.replacen("name =", "name = = ", 1), ""),
        (
            "unknown",
            format!("{good}\nbogus_field = 1\n"),
            "bogus_field",
        ),
        (
            "shares",
            good.replacen("share = 0.45", "share = 0.55", 1),
            "share",
        ),
    ];
    for (label, text, field) in cases {
        let p = tmp.path().join(format!("{label}.toml"));
        std::fs::write(&p, text).unwrap();
        let plan = surge_cli::load_plan(&p, &Default::default());
        let err = format!("{:#}", plan.expect_err(label));
        assert!(err.contains(&format!("{label}.toml:")), "{label}: {err}");
        assert!(err.contains(field), "{label}: {err}");
        let code = surge(&[
            "run",
            &p.display().to_string(),
            "--out",
            &tmp.path().join(label).display().to_string(),
        ]);
        assert_eq!(code, 2, "{label}");
        assert!(!tmp.path().join(label).exists());
    }
}
