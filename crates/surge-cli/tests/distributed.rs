//! Distributed mode, end to end, with real processes of the built `surge` binary on loopback: a
//! coordinator, worker processes and a standalone target. One worker is SIGKILLed mid-run; a
//! coordinator is SIGKILLed under a worker (the dead-man switch, measured at the target); wrong tokens
//! and protocol versions are refused.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod distributed_support;

use distributed_support::{
    Proc, assert_prometheus_text, flat_profile, http, json, metric_sum, metrics, target,
};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests below measure time on a 2-core machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const TOKEN: &str = "t0ken-for-tests";

fn coordinator(
    profile: &str,
    workers: &str,
    target: &str,
    out: &str,
    extra: &[&str],
) -> (Proc, String) {
    distributed_support::coordinator(profile, workers, TOKEN, target, out, extra)
}

fn worker(name: &str, url: &str) -> Proc {
    distributed_support::worker(name, url, TOKEN, &[])
}

/// A 30 s flat profile of 3,000 people, a target process and a coordinator waiting for `workers`.
struct Stack {
    tmp: tempfile::TempDir,
    out: std::path::PathBuf,
    target: Proc,
    turl: String,
    coord: Proc,
    curl: String,
}

fn stack(workers: &str) -> Stack {
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 3000, 30, 500);
    let out = tmp.path().join("run");
    let (target, turl) = target();
    let (coord, curl) = coordinator(
        &profile.display().to_string(),
        workers,
        &turl,
        &out.display().to_string(),
        &[],
    );
    Stack {
        tmp,
        out,
        target,
        turl,
        coord,
        curl,
    }
}

/// Polls the coordinator's /metrics until `f` accepts it; returns that text.
fn wait_metrics(url: &str, limit: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(text) = metrics(url)
            && f(&text)
        {
            return text;
        }
        assert!(
            t0.elapsed() < limit,
            "coordinator /metrics never showed {what} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_workers_one_sigkilled_mid_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let (population, secs, interval) = (1500u64, 12u64, 0.5f64);
    let profile = flat_profile(tmp.path(), population, secs, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "3",
        &turl,
        &out.display().to_string(),
        &["--drain", "3s"],
    );
    let mut ws: Vec<Proc> = ["w0", "w1", "w2"]
        .iter()
        .map(|n| worker(n, &curl))
        .collect();

    // Live figures during the run parse as Prometheus text and show three live workers.
    let text = wait_metrics(&curl, Duration::from_secs(30), "interval 5", |t| {
        metric_sum(t, "surge_interval") >= 5.0
    });
    assert_prometheus_text(&text);
    assert!(text.contains("surge_workers{state=\"live\"} 3"), "{text}");
    assert!(
        text.contains(
            "surge_step_response_seconds{region=\"americas\",step=\"register\",quantile=\"0.99\"}"
        ),
        "{text}"
    );
    let k_kill = metric_sum(&text, "surge_interval");
    ws[1].kill();
    let killed_at = Instant::now();

    let text = wait_metrics(&curl, Duration::from_secs(10), "a lost worker", |t| {
        t.contains("surge_workers{state=\"lost\"} 1")
    });
    let detected = killed_at.elapsed();
    assert_prometheus_text(&text);
    assert!(
        detected < Duration::from_secs(4),
        "loss declared {detected:?} after the kill (3 intervals = 1.5 s)"
    );

    let st = coord.wait_exit(Duration::from_secs(45));
    assert!(st.success(), "coordinator: {st}\n{}", coord.output());
    for i in [0, 2] {
        let st = ws[i].wait_exit(Duration::from_secs(10));
        assert!(
            st.success(),
            "surviving worker w{i}: {st}\n{}",
            ws[i].output()
        );
    }

    // The loss is reported: who, when, which intervals.
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["status"], "complete", "{summary}");
    let lost = summary["lost_workers"].as_array().expect("lost_workers");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0]["worker"].as_str().unwrap_or("").starts_with("w1@"),
        "{lost:?}"
    );
    let lost_at = lost[0]["lost_at_s"].as_f64().unwrap();
    let kill_s = k_kill * interval;
    assert!(
        lost_at > kill_s && lost_at < kill_s + interval * 3.0 + 3.0,
        "lost at {lost_at} s, killed near {kill_s} s"
    );
    let missing: Vec<u64> = lost[0]["missing_intervals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    assert!(!missing.is_empty(), "missing intervals must be named");
    assert!(missing.windows(2).all(|w| w[1] == w[0] + 1), "{missing:?}");
    assert!(
        missing[0] as f64 >= k_kill - 2.0 && (missing[0] as f64) <= k_kill + 2.0,
        "{missing:?} vs kill at interval {k_kill}"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    assert!(
        events
            .lines()
            .any(|l| l.contains("\"worker_lost\"") && l.contains("w1@")),
        "{events}"
    );
    let run = json(&out.join("run.json"));
    assert_eq!(run["workers"].as_array().map(|w| w.len()), Some(3), "{run}");
    assert!(
        !std::fs::read_to_string(out.join("run.json"))
            .unwrap()
            .contains(TOKEN),
        "the token must not reach run.json"
    );

    // Journeys: never more than the population; what is missing is at most the lost worker's share of
    // the intervals it never reported (its shards moved to the survivors from then on).
    let started: u64 = summary["journeys"]
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["started"].as_u64().unwrap_or(0))
        .sum();
    let share = population as f64 / 3.0;
    let lost_window = (missing.len() as f64 + 1.0) * interval / secs as f64;
    let allowed = share * lost_window * 1.5 + 10.0;
    eprintln!(
        "killed at interval {k_kill}, declared lost at {lost_at:.2} s ({detected:?} after the kill), missing {missing:?}, {started} of {population} started"
    );
    assert!(
        started <= population,
        "{started} journeys started for {population} people"
    );
    assert!(
        (population - started) as f64 <= allowed,
        "{started} of {population} started; up to {allowed:.0} may be missing (lost worker's share over {} intervals)",
        missing.len()
    );
    // Without reassignment, the lost worker's share of the rest of the run would be missing too.
    let without = share * (1.0 - kill_s / secs as f64);
    assert!(
        ((population - started) as f64) < without * 0.8,
        "shards did not move: {started} started, {without:.0} would be missing without reassignment"
    );

    // The merged histograms in latency.hlog add up, cell by cell, to the summary's counts.
    let data = surge_results::RunData::read(&out).unwrap();
    let mut sums = std::collections::BTreeMap::<(u16, u16), u64>::new();
    let mut intervals = 0;
    data.replay(|snap| {
        intervals += 1;
        for r in 0..snap.regions {
            for s in 0..snap.steps {
                if let Some(c) = snap.cell(r, s) {
                    *sums.entry((r, s)).or_default() += c.response.len();
                }
            }
        }
    })
    .unwrap();
    assert!(
        intervals >= (secs as f64 / interval) as usize,
        "{intervals} intervals"
    );
    let mut checked = 0;
    for ((r, s), n) in sums {
        let (rn, sn) = (&data.info.regions[r as usize], &data.info.steps[s as usize]);
        let count = summary["regions"][rn][sn]["count"].as_u64().unwrap();
        assert_eq!(n, count, "{rn}/{sn}: hlog {n} vs summary {count}");
        checked += 1;
    }
    assert_eq!(checked, 12, "every region x step has samples");
}

#[test]
fn a_worker_stops_within_6s_of_its_coordinator_being_killed() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Stack {
        tmp: _tmp,
        out: _out,
        target: _target,
        turl,
        mut coord,
        curl,
    } = stack("1");
    let mut w = worker("lonely", &curl);

    // Load is flowing, measured at the target.
    let t0 = Instant::now();
    while metrics(&turl).map_or(0.0, |t| metric_sum(&t, "surge_target_requests_total")) < 100.0 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no load reached the target:\n{}\n{}",
            coord.output(),
            w.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    coord.kill();
    let killed = Instant::now();

    // Poll the target's request counter until it has not moved for 2 s.
    let mut last = metric_sum(
        &metrics(&turl).unwrap_or_default(),
        "surge_target_requests_total",
    );
    let mut last_change = killed;
    while last_change.elapsed() < Duration::from_secs(2) {
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "the target still receives load 15 s after the coordinator died"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = metric_sum(
            &metrics(&turl).unwrap_or_default(),
            "surge_target_requests_total",
        );
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let stopped_after = last_change.duration_since(killed);
    eprintln!(
        "load stopped {stopped_after:?} after the coordinator was killed ({last} requests at the target)"
    );
    assert!(
        stopped_after <= Duration::from_secs(6),
        "load went on {stopped_after:?} after the coordinator was killed"
    );
    // It is the dead-man switch (5 s of silence) that stopped it, not a crash at the first failure.
    assert!(
        stopped_after >= Duration::from_secs(3),
        "load stopped after only {stopped_after:?}: {}",
        w.output()
    );

    let st = w.wait_exit(Duration::from_secs(5));
    assert!(!st.success(), "the worker must exit non-zero: {st}");
    assert_eq!(st.code(), Some(2));
    assert!(w.output().contains("dead-man switch"), "{}", w.output());
}

#[test]
fn wrong_token_and_wrong_protocol_version_are_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 60, 2, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "1",
        &turl,
        &out.display().to_string(),
        &["--drain", "2s"],
    );

    // A worker with the wrong token: refused, exit 2, a message that says why.
    let secret_guess = "not-the-token-4242";
    let mut bad = Proc::start(
        "bad-token",
        &[
            "worker",
            "--join",
            &curl,
            "--token",
            secret_guess,
            "--name",
            "intruder",
        ],
    );
    assert_eq!(bad.wait_exit(Duration::from_secs(10)).code(), Some(2));
    assert!(
        bad.output().contains("401") && bad.output().contains("token"),
        "{}",
        bad.output()
    );
    // A worker of another protocol version: refused with a clear message.
    let mut old = Proc::start(
        "old",
        &[
            "worker",
            "--join",
            &curl,
            "--token",
            TOKEN,
            "--protocol-version",
            "99",
            "--name",
            "old",
        ],
    );
    assert_eq!(old.wait_exit(Duration::from_secs(10)).code(), Some(2));
    let msg = old.output();
    assert!(
        msg.contains("409") && msg.contains("protocol version mismatch") && msg.contains("v99"),
        "{msg}"
    );

    // The same, raw: no token, a wrong one, the right one with another version.
    let join = r#"{"version":1,"name":"raw","threads":1}"#;
    assert_eq!(
        http(&curl, "POST", "/v1/join", &[("surge-protocol", "1")], join).0,
        401
    );
    let wrong = format!("Bearer {secret_guess}");
    assert_eq!(
        http(
            &curl,
            "POST",
            "/v1/report",
            &[("authorization", &wrong), ("surge-protocol", "1")],
            "{}"
        )
        .0,
        401
    );
    let right = format!("Bearer {TOKEN}");
    let (status, body) = http(
        &curl,
        "POST",
        "/v1/join",
        &[("authorization", &right), ("surge-protocol", "2")],
        join,
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("protocol version mismatch"), "{body}");
    // /metrics is open (read-only, no secrets); the refusals were logged with the peer, never the token.
    assert!(metrics(&curl).is_some());
    let log = coord.output();
    assert!(
        log.contains("wrong or missing token") && log.contains("127.0.0.1"),
        "{log}"
    );
    assert!(
        !log.contains(secret_guess) && !log.contains(TOKEN),
        "a token leaked into the log:\n{log}"
    );

    // None of them took a worker's place: the right worker still joins and the run completes.
    let mut good = worker("good", &curl);
    assert!(
        coord.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        coord.output()
    );
    assert!(
        good.wait_exit(Duration::from_secs(10)).success(),
        "{}",
        good.output()
    );
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["status"], "complete");
    assert!(
        summary["lost_workers"]
            .as_array()
            .is_some_and(|l| l.is_empty())
    );
}

#[test]
fn ctrl_c_on_the_coordinator_stops_every_worker_and_writes_the_results_so_far() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Stack {
        tmp: _tmp,
        out,
        target: _target,
        turl: _turl,
        mut coord,
        curl,
    } = stack("2");
    let mut ws: Vec<Proc> = ["a", "b"].iter().map(|n| worker(n, &curl)).collect();
    wait_metrics(&curl, Duration::from_secs(30), "interval 3", |t| {
        metric_sum(t, "surge_interval") >= 3.0
    });
    surge_testkit::process::signal(&coord.child, 2).expect("SIGINT"); // 2 = SIGINT on Linux
    let interrupted = Instant::now();
    assert_eq!(
        coord.wait_exit(Duration::from_secs(15)).code(),
        Some(0),
        "{}",
        coord.output()
    );
    for w in &mut ws {
        assert!(
            w.wait_exit(Duration::from_secs(5)).success(),
            "{}",
            w.output()
        );
        assert!(
            w.output().contains("stopped: interrupted"),
            "{}",
            w.output()
        );
    }
    assert!(
        interrupted.elapsed() < Duration::from_secs(8),
        "stopping took {:?}",
        interrupted.elapsed()
    );
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let started: u64 = summary["journeys"]
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["started"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        started > 100 && started < 3000,
        "{started} journeys: the run was cut, the figures so far kept"
    );
}

/// Total of a `journeys` figure over the regions of a summary.
fn journeys_sum(summary: &serde_json::Value, field: &str) -> u64 {
    summary["journeys"]
        .as_object()
        .map(|regions| {
            regions
                .values()
                .filter_map(|j| j[field].as_u64())
                .sum::<u64>()
        })
        .unwrap_or(0)
}

/// A discovery check counts a contact as "expected" once the tester knows it registered. Two workers
/// with 4 s intervals still learn of each other's registrations within a fraction of a second (they
/// hand them on every 100 ms, apart from their snapshots), so the distributed run expects nearly as
/// many contacts as one process running the same people against its own target.
#[test]
fn workers_learn_of_each_others_registrations_within_an_interval() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 1200, 8, 4000);
    let profile = profile.display().to_string();

    let (_local_target, local_url) = target();
    let local_out = tmp.path().join("local");
    let mut local = Proc::start(
        "local",
        &[
            "run",
            &profile,
            "--target",
            &local_url,
            "--out",
            &local_out.display().to_string(),
            "--no-report",
            "--drain",
            "3s",
        ],
    );
    let st = local.wait_exit(Duration::from_secs(40));
    assert!(st.code().is_some(), "local run: {st}\n{}", local.output());
    let local = json(&local_out.join("summary.json"));

    let (_target, turl) = target();
    let out = tmp.path().join("dist");
    let (mut coord, curl) = coordinator(
        &profile,
        "2",
        &turl,
        &out.display().to_string(),
        &["--drain", "3s"],
    );
    let mut ws: Vec<Proc> = ["w0", "w1"].iter().map(|n| worker(n, &curl)).collect();
    let st = coord.wait_exit(Duration::from_secs(40));
    assert!(st.code().is_some(), "coordinator: {st}\n{}", coord.output());
    for w in &mut ws {
        w.wait_exit(Duration::from_secs(10));
    }
    let dist = json(&out.join("summary.json"));

    for s in [&local, &dist] {
        assert_eq!(journeys_sum(s, "started"), 1200, "{s}");
        assert_eq!(journeys_sum(s, "contacts_missing"), 0, "{s}");
    }
    let (le, de) = (
        journeys_sum(&local, "contacts_expected"),
        journeys_sum(&dist, "contacts_expected"),
    );
    eprintln!("contacts expected: local {le}, distributed {de}");
    assert!(le > 1000, "local run expected only {le} contacts");
    // With registrations travelling only with the 4 s snapshots, the distributed run expected 35%
    // fewer (4,431 against 6,860); handed on every 100 ms, 3% fewer (6,662 against 6,861).
    assert!(
        de as f64 >= 0.9 * le as f64,
        "distributed run expected {de} contacts, local {le}"
    );
}

/// `surge coordinator --resume DIR`: a coordinator SIGKILLed mid-run (its worker stops by its dead-man
/// switch) leaves its folder cut short; resumed with a new worker, the run ends with every region's
/// `started` equal to its population and the tally holding (those in flight at the kill: unknown).
#[test]
fn a_killed_coordinator_is_resumed_with_a_new_worker() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 1000, 10, 500);
    let out = tmp.path().join("run");
    let (mut target, turl) = target();
    let (mut coord, curl) = coordinator(
        &profile.display().to_string(),
        "1",
        &turl,
        &out.display().to_string(),
        &[],
    );
    let mut w1 = worker("w1", &curl);
    let intervals = || {
        std::fs::read_to_string(out.join("latency.hlog"))
            .map(|t| t.matches("# surge interval complete").count())
            .unwrap_or(0)
    };
    let t = Instant::now();
    while intervals() < 6 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(intervals() >= 6, "no progress before the kill");
    coord.kill();
    w1.wait_exit(Duration::from_secs(15));
    assert!(!out.join("summary.json").exists());

    let dir = out.display().to_string();
    let mut c2 = Proc::start(
        "coordinator-resumed",
        &[
            "coordinator",
            "--resume",
            &dir,
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
        ],
    );
    let url2 = c2.wait_url("listening on", Duration::from_secs(20));
    let mut w2 = worker("w2", &url2);
    let status = c2.wait_exit(Duration::from_secs(60));
    w2.wait_exit(Duration::from_secs(15));
    target.kill();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{status:?}\n{}",
        c2.output()
    );
    let summary = common::assert_tally(&out);
    let plan = surge_cli::load_plan(&profile, &Default::default()).unwrap();
    common::assert_everyone_started_once(&summary, &plan);
    let info = json(&out.join("run.json"));
    assert_eq!(info["parts"].as_array().unwrap().len(), 2, "{info}");
}
