//! Safety guards: the error-rate abort, the `--max-rps` and `--max-in-flight` caps (measured at the
//! target, not trusted from surge's own figures) and the pre-flight health check.

mod common;

use common::{read_json, surge};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use surge_testkit::{Fault, FaultServer, process, profiles, refused_url};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn the_error_rate_guard_stops_a_failing_run_early_and_says_why() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::Fixed(500, "{}")));
    let tmp = tempfile::tempdir().unwrap();
    let profile = profiles::get(tmp.path(), "failing", 300, 15);
    let out = tmp.path().join("run");
    let t = Instant::now();
    let code = surge(&[
        "run",
        &s(&profile),
        "--target",
        &server.url(),
        "--no-health-check",
        "--abort-on-error-rate",
        "0.5",
        "--for",
        "2s",
        "--out",
        &s(&out),
        "--no-report",
    ]);
    let took = t.elapsed();
    assert_eq!(code, 1, "an aborted run exits 1");
    let summary = common::assert_tally(&out);
    assert_eq!(summary["status"], "aborted", "{summary}");
    let reason = summary["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("error rate") && reason.contains("--abort-on-error-rate"),
        "{reason}"
    );
    // A 2 s window over 1 s intervals: stopped after about 2 intervals, far before the 15 s plan.
    assert!(took < Duration::from_secs(7), "took {took:?}");
    assert!(
        summary["duration_s"].as_f64().unwrap_or(99.0) < 5.0,
        "{summary}"
    );
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"abort\""),
        "the abort is in the event log: {events}"
    );
    // Load stopped: nothing more reaches the target after the run returned.
    let n = server.requests();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.requests(), n, "requests after the abort");
    assert!(n < 100, "{n} requests: the abort did not stop the arrivals");
}

/// Starts the built binary on `profile` against `url` with `extra` flags; stderr goes to a pipe.
fn spawn(profile: &Path, url: &str, out: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &s(profile),
            "--target",
            url,
            "--no-health-check",
            "--no-report",
            "--out",
            &s(out),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(mut cond: impl FnMut() -> bool, limit: Duration) -> bool {
    let t = Instant::now();
    while !cond() {
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn max_rps_is_enforced_at_the_target_and_printed_at_start() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::Fixed(200, "{}")));
    let tmp = tempfile::tempdir().unwrap();
    // 300 arrivals/s asked for, capped at 100 requests/s.
    let profile = profiles::get(tmp.path(), "capped", 1_800, 6);
    let mut child = spawn(
        &profile,
        &server.url(),
        &tmp.path().join("run"),
        &["--max-rps", "100", "--drain", "1s"],
    );
    assert!(
        wait_for(|| server.requests() > 0, Duration::from_secs(10)),
        "no request arrived"
    );
    std::thread::sleep(Duration::from_millis(700));
    let (n1, t1) = (server.requests(), Instant::now());
    std::thread::sleep(Duration::from_millis(3_000));
    let (n2, t2) = (server.requests(), Instant::now());
    let rate = (n2 - n1) as f64 / (t2 - t1).as_secs_f64();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(20)).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        (90.0..=110.0).contains(&rate),
        "achieved {rate:.1} requests/s at the target under --max-rps 100"
    );
    let start_line = err.lines().next().unwrap_or_default();
    assert!(start_line.contains("max-rps 100"), "{start_line}");
    // The default 50,000 in flight, held to what this process's open-file limit allows (and said).
    assert!(
        start_line.contains("max 50,000 in flight")
            || (start_line.contains(" in flight (") && start_line.contains("open files allowed")),
        "{start_line}"
    );
    assert_eq!(ended.code, Some(0), "{err}");
}

#[test]
fn max_in_flight_caps_what_a_silent_target_sees() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::NeverAnswer));
    let tmp = tempfile::tempdir().unwrap();
    // 100 arrivals/s against a target that never answers: without the cap, ~300 connections would pile up.
    let profile = profiles::get(tmp.path(), "silent", 200, 2);
    let out = tmp.path().join("run");
    let mut child = spawn(
        &profile,
        &server.url(),
        &out,
        &["--max-in-flight", "7", "--timeout", "1s", "--drain", "1s"],
    );
    let t = Instant::now();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(20)).unwrap();
    let took = t.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.lines()
            .next()
            .unwrap_or_default()
            .contains("max 7 in flight"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(8),
        "a capped run still ends after its plan + drain: {took:?}"
    );
    assert_eq!(ended.code, Some(1), "{err}");
    let most = server.max_concurrent_connections(Duration::from_millis(5));
    assert!(
        most <= 7,
        "the target saw {most} connections open at once with --max-in-flight 7"
    );
    eprintln!(
        "max in flight: {most} at the target (raw, without grace: {})",
        server.max_open_connections()
    );
    assert!(
        most >= 6,
        "the cap was never reached ({most}): the test proves nothing"
    );
    assert_eq!(
        server.requests(),
        server.connections(),
        "one request per connection, none hidden"
    );
    let summary = read_json(&out.join("summary.json"));
    let started = summary["journeys"]["lab"]["started"].as_u64().unwrap_or(0);
    // About 6 people per second of the 3 s run (the cap, each timing out after 1 s), not 200.
    assert!(
        started < 40,
        "people beyond the cap waited instead of starting: {started} started"
    );
    assert!(
        wait_for(|| server.open_connections() == 0, Duration::from_secs(3)),
        "connections left open"
    );
}

#[test]
fn the_health_check_guards_the_start() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let profile = s(&profiles::get(tmp.path(), "health", 10, 1));
    let out = |label: &str| s(&tmp.path().join(label));

    // Refused, 503 and silent targets: no run, exit 2, no results folder.
    let unhealthy = rt.block_on(FaultServer::start(Fault::Fixed(503, "{}")));
    let silent = rt.block_on(FaultServer::start(Fault::NeverAnswer));
    for (label, url) in [
        ("refused", refused_url()),
        ("503", unhealthy.url()),
        ("silent", silent.url()),
    ] {
        let t = Instant::now();
        assert_eq!(
            surge(&["run", &profile, "--target", &url, "--out", &out(label)]),
            2,
            "{label}"
        );
        assert!(
            !tmp.path().join(label).exists(),
            "{label}: a results folder for a run that never started"
        );
        assert!(
            t.elapsed() < Duration::from_secs(9),
            "{label}: the health check must time out (5 s)"
        );
    }
    assert_eq!(
        unhealthy.request_lines(),
        ["GET /healthz HTTP/1.1"],
        "only the health check was sent"
    );
    assert_eq!(silent.requests(), 1);

    // The probed path is configurable; a healthy answer lets the run start.
    let healthy = rt.block_on(FaultServer::start(Fault::Fixed(200, "{}")));
    let args = [
        "run",
        &profile,
        "--target",
        &healthy.url(),
        "--health-check",
        "/status/ready",
        "--no-report",
    ];
    assert_eq!(surge(&[&args[..], &["--out", &out("custom")]].concat()), 0);
    assert_eq!(
        healthy.request_lines().first().map(String::as_str),
        Some("GET /status/ready HTTP/1.1")
    );
    assert_eq!(healthy.requests(), 11, "the probe, then the 10 people");

    // --no-health-check starts anyway (and the refused target's errors are counted).
    let code = surge(&[
        "run",
        &profile,
        "--target",
        &refused_url(),
        "--no-health-check",
        "--no-report",
        "--out",
        &out("forced"),
    ]);
    assert_eq!(code, 1);
    assert!(tmp.path().join("forced/summary.json").is_file());
}

const SECRET_PROFILE: &str = r#"name = "secrets"
seed = 3
secret = "plan-secret-7f3a9c"
slos = ["error rate < 1%"]

[event]
population = 20
duration = "1s"
interval = "1s"

[[regions]]
name = "lab"
share = 1.0

[curve]
kind = "ramp"
up = "0s"
hold = "1s"
down = "0s"

[journey]
name = "login"

[[journey.steps]]
name = "login"
method = "POST"
path = "/login"
body = '{"user":"{user_id}","password":"{password}","key":"{key}"}'
expect = 200
extract = { token = "/token" }

[[journey.steps]]
name = "me"
method = "GET"
path = "/me"
headers = { authorization = "Bearer {token}" }
expect = 200
"#;

/// Every value of `"field":"VALUE"` in `text`.
fn json_values(text: &str, field: &str) -> Vec<String> {
    let pat = format!("\"{field}\":\"");
    text.match_indices(&pat)
        .filter_map(|(i, _)| text[i + pat.len()..].split('"').next().map(str::to_string))
        .collect()
}

#[test]
fn no_secret_reaches_the_results_or_the_logs() {
    let rt = rt();
    let token = "tok-f00dfeed-a11ce-0042";
    let server = rt.block_on(FaultServer::start(Fault::Fixed(
        200,
        r#"{"token":"tok-f00dfeed-a11ce-0042"}"#,
    )));
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("secrets.toml");
    std::fs::write(&profile, SECRET_PROFILE).unwrap();
    let out = tmp.path().join("run");
    let (log, stdout) = (tmp.path().join("stderr.log"), tmp.path().join("stdout.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &s(&profile),
            "--target",
            &server.url(),
            "--no-health-check",
            "--out",
            &s(&out),
        ])
        .env("RUST_LOG", "debug")
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(20)).unwrap();
    assert_eq!(
        ended.code,
        Some(0),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The secrets as they really went over the wire: derived passwords and keys, the bearer token.
    let sent = server.requests_seen().join("\n");
    let mut secrets: Vec<String> = json_values(&sent, "password");
    secrets.extend(json_values(&sent, "key"));
    assert!(
        secrets.len() >= 20,
        "the journey sent its passwords and keys: {sent}"
    );
    assert!(
        sent.contains(&format!("authorization: Bearer {token}")),
        "the token was used: {sent}"
    );
    secrets.extend([token.to_string(), "plan-secret-7f3a9c".to_string()]);

    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 6, "{files:?}");
    files.extend([log, stdout]);
    for f in &files {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{} contains the secret {secret}",
                f.display()
            );
        }
        assert!(
            !text.contains("Bearer "),
            "{} contains a bearer header",
            f.display()
        );
    }
}
