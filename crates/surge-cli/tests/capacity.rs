//! `surge capacity` end to end against the embedded reference backend, checked against theory
//! (Little's law, as the plans' headers work it out), plus bad input refused before anything is sent,
//! `surge compare` of two searches, and Ctrl-C keeping the probes so far.
//!
//! Probes are 3 s (the default is 15 s) at 10% precision so the two searches fit in about a minute.
//! The same search also runs through the coordinator (`--listen`) with two real `surge worker`
//! processes that take part in every probe and exit 0 when it is over.
// Real processes and real waits: the wall clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod distributed_support;

#[path = "../../surge-results/tests/support/schema_check.rs"]
mod schema_check;

use common::{profile, read_json, serial, surge};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use surge_testkit::process;

fn search(plan: &str, out: &Path) -> i32 {
    surge(&[
        "capacity",
        &profile("americas-surge.toml"),
        "--plan",
        &profile(&format!("plans/{plan}.toml")),
        "--region",
        "americas",
        "--probe",
        "3s",
        "--precision",
        "10%",
        "--drain",
        "5s",
        "--out",
        &out.display().to_string(),
    ])
}

fn americas(out: &Path) -> (Value, f64, f64) {
    let c = read_json(&out.join("capacity.json"));
    let r = c["regions"]["americas"].clone();
    let lo = r["bracket"][0].as_f64().expect("a last pass");
    let hi = r["bracket"][1].as_f64().expect("a first fail");
    (c, lo, hi)
}

#[test]
fn the_searches_find_what_littles_law_predicts_and_compare_prints_the_ratio() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let (under, doubled) = (tmp.path().join("under"), tmp.path().join("doubled"));
    let t0 = Instant::now();
    assert_eq!(search("americas-underprovisioned", &under), 0);
    assert_eq!(search("americas-doubled", &doubled), 0);
    eprintln!("two searches took {:.0} s", t0.elapsed().as_secs_f64());

    // americas-underprovisioned: 4 slots / 40-45 ms per journey = 89-100 journeys/s.
    let (cu, lo_u, hi_u) = americas(&under);
    eprintln!("underprovisioned: [{lo_u}, {hi_u}]");
    assert!(
        lo_u >= 89.0 * 0.85 && hi_u <= 100.0 * 1.15,
        "bracket [{lo_u}, {hi_u}] not within 15% of 89-100/s"
    );
    assert!(hi_u - lo_u <= 0.1 * lo_u + 0.1, "precision 10%");
    assert_eq!(cu["regions"]["americas"]["max_rate_per_s"], lo_u);
    // americas-doubled: 8 slots, twice the slots, 178-200 journeys/s by the same arithmetic; the
    // issue asks for 1.8-2.2x.
    let (_, lo_d, hi_d) = americas(&doubled);
    eprintln!("doubled: [{lo_d}, {hi_d}], {:.2}x", lo_d / lo_u);
    let ratio = lo_d / lo_u;
    assert!(
        (1.8..=2.2).contains(&ratio),
        "doubled/under {ratio:.2}x, theory 2x (8 slots / 4)"
    );

    // capacity.json is the schema's; every probe is a real results folder with its summary.
    let schema: Value =
        read_json(&surge_testkit::repo_root().join("results/schema/capacity.schema.json"));
    for (out, c) in [
        (&under, &cu),
        (&doubled, &read_json(&doubled.join("capacity.json"))),
    ] {
        assert_eq!(schema_check::check(&schema, c), Vec::<String>::new());
        assert_eq!(c["status"], "complete");
        let probes = c["regions"]["americas"]["probes"].as_array().unwrap();
        assert!(probes.len() >= 4, "{probes:?}");
        let mut passed = (false, false);
        for p in probes {
            let dir = out.join(p["dir"].as_str().unwrap());
            let s = read_json(&dir.join("summary.json"));
            assert!(s["journeys"]["americas"]["started"].as_u64().unwrap() > 0);
            // Others held at their peak: 30/s each.
            assert!((p["rates"]["europe"].as_f64().unwrap() - 30.0).abs() < 0.5);
            passed.0 |= p["pass"] == true;
            passed.1 |= p["pass"] == false;
        }
        assert!(
            passed.0 && passed.1,
            "a pass and a fail on each side of the knee"
        );
        let html = std::fs::read_to_string(out.join("capacity.html")).unwrap();
        assert!(
            html.contains("<svg") && html.contains("threshold 800"),
            "knee chart"
        );
        // The error-rate SLO's observation reads as a percentage, not as milliseconds.
        let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
        let key = "error rate in americas < 1% ";
        let seen: Vec<&str> = md
            .match_indices(key)
            .map(|(i, _)| md[i + key.len()..].split([';', '|']).next().unwrap().trim())
            .collect();
        assert!(
            !seen.is_empty() && seen.iter().all(|v| v.ends_with('%')),
            "{seen:?}"
        );
    }

    // compare: one line per region with the ratio.
    let bin = env!("CARGO_BIN_EXE_surge");
    let o = Command::new(bin)
        .args(["compare"])
        .arg(&under)
        .arg(&doubled)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let want = format!("americas: {lo_u:.0}/s -> {lo_d:.0}/s ({ratio:.2}x)");
    assert_eq!(text.trim(), want);
    // A capacity folder against a run's folder is refused.
    let probe = under.join(
        cu["regions"]["americas"]["probes"][0]["dir"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        surge(&[
            "compare",
            &under.display().to_string(),
            &probe.display().to_string()
        ]),
        2
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_surge");
    let run = |extra: &[&str], profile_path: &str, out: &Path| {
        let o = Command::new(bin)
            .arg("capacity")
            .arg(profile_path)
            .args(["--plan", &profile("plans/americas-underprovisioned.toml")])
            .args(extra)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let surge_profile = profile("americas-surge.toml");
    let out = tmp.path().join("a");
    let (code, err) = run(&["--region", "mars"], &surge_profile, &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("unknown region `mars`") && err.contains("americas, europe, asia"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written, nothing sent");

    let (code, err) = run(
        &["--region", "americas", "--up-to", "20"],
        &surge_profile,
        &out,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--up-to 20/s is below the first probe of americas (37.5/s)"),
        "{err}"
    );
    assert!(!out.exists());

    let text = std::fs::read_to_string(&surge_profile).unwrap();
    // Drop the `slos = [...]` array, one line or several.
    let mut in_slos = false;
    let no_slos: String = text
        .lines()
        .filter(|l| {
            in_slos |= l.starts_with("slos =");
            let keep = !in_slos;
            in_slos &= !l.trim_end().ends_with(']');
            keep
        })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("plan = \"plans/", "# plan = \"plans/");
    let p = tmp.path().join("no-slos.toml");
    std::fs::write(&p, no_slos).unwrap();
    let (code, err) = run(&[], &p.display().to_string(), &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the profile has no SLOs"), "{err}");
    assert!(!out.exists());

    let (code, err) = run(&["--precision", "0%"], &surge_profile, &out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--precision"), "{err}");
}

#[test]
fn ctrl_c_stops_at_once_and_keeps_the_probes_so_far() {
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "capacity",
            &profile("americas-surge.toml"),
            "--plan",
            &profile("plans/americas-underprovisioned.toml"),
            "--region",
            "americas",
            "--probe",
            "5s",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first probe is written, the second is under way: interrupt it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.join("capacity.json").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    process::signal(&child, 2).expect("SIGINT");
    let interrupted = Instant::now();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(20)).unwrap();
    let took = interrupted.elapsed();
    assert_eq!(ended.code, Some(1), "interrupted: no answer, exit 1");
    assert!(took < Duration::from_secs(8), "stopped at once: {took:?}");
    let c = read_json(&out.join("capacity.json"));
    assert_eq!(c["status"], "interrupted");
    let r = &c["regions"]["americas"];
    assert_eq!(r["end"], "interrupted");
    let probes = r["probes"].as_array().unwrap();
    assert!(!probes.is_empty(), "the probes so far are kept");
    assert!(
        out.join(probes[0]["dir"].as_str().unwrap())
            .join("summary.json")
            .is_file()
    );
    // The probe under way was stopped, its folder written as interrupted.
    let second = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("probe-002"))
        .count();
    assert_eq!(second, 1, "the interrupted probe's folder is kept");
}

#[test]
fn the_search_runs_through_the_coordinator_with_remote_worker_processes() {
    use distributed_support::{Proc, worker};
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("remote");
    let out_arg = out.display().to_string();
    let t0 = Instant::now();
    let mut cap = Proc::start(
        "capacity",
        &[
            "capacity",
            &profile("americas-surge.toml"),
            "--plan",
            &profile("plans/americas-underprovisioned.toml"),
            "--region",
            "americas",
            "--probe",
            "3s",
            "--precision",
            "10%",
            "--drain",
            "5s",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--token",
            "s3cret",
            "--out",
            &out_arg,
        ],
    );
    let url = cap.wait_url("coordinator listening on", Duration::from_secs(30));
    let mut a = worker("cap-a", &url, "s3cret", &[]);
    let mut b = worker("cap-b", &url, "s3cret", &[]);
    let code = cap.wait_exit(Duration::from_secs(300)).code();
    assert_eq!(code, Some(0), "{}", cap.output());
    eprintln!(
        "the search through the coordinator took {:.0} s",
        t0.elapsed().as_secs_f64()
    );

    // The same answer as in-process: within 15% of Little's law's 89-100 journeys/s.
    let (c, lo, hi) = americas(&out);
    eprintln!("through the coordinator: [{lo}, {hi}]");
    assert!(
        lo >= 89.0 * 0.85 && hi <= 100.0 * 1.15,
        "bracket [{lo}, {hi}] not within 15% of 89-100/s\n{}",
        cap.output()
    );
    assert_eq!(c["workers"], 2);
    let probes = c["regions"]["americas"]["probes"].as_array().unwrap();
    assert!(probes.len() >= 4, "{probes:?}");
    // Every probe was sent by both worker processes: their names are in each probe's run.json, and
    // each probe's tally holds.
    for p in probes {
        let dir = out.join(p["dir"].as_str().unwrap());
        let run = read_json(&dir.join("run.json"));
        let names: Vec<String> = run["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("cap-a@"))
                && names.iter().any(|n| n.starts_with("cap-b@")),
            "{names:?}"
        );
        common::assert_tally(&dir);
    }
    // The workers stayed for every probe, then were released: exit 0, saying how many they ran.
    for w in [&mut a, &mut b] {
        let st = w.wait_exit(Duration::from_secs(30));
        assert_eq!(st.code(), Some(0), "{}", w.output());
        let want = format!("released after {} run(s)", probes.len());
        assert!(w.output().contains(&want), "{want}:\n{}", w.output());
    }
}

#[test]
fn through_the_coordinator_bad_input_is_refused_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_surge");
    let out = tmp.path().join("x");
    let run = |extra: &[&str]| {
        let o = Command::new(bin)
            .arg("capacity")
            .arg(profile("americas-surge.toml"))
            .args(["--region", "americas", "--out"])
            .arg(&out)
            .args(extra)
            .env_remove("SURGE_TOKEN")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a token is required"), "{err}");
    let (code, err) = run(&["--token", "s3cret"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--listen"), "--token needs --listen: {err}");
    let (code, err) = run(&["--placement", "region"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--placement needs --listen"), "{err}");
    // A live outlet of one long run is refused by name, not ignored.
    let (code, err) = run(&["--prom-remote-write", "http://127.0.0.1:9/api/v1/write"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--prom-remote-write is not available with capacity"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written, nothing sent");
}
