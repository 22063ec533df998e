//! The fault matrix: `surge run` against targets that fail in every way we know of. Each fault is
//! classified into its own outcome and counted, every planned person still starts (the run goes on), the
//! run ends by itself within a bound, memory stays bounded and nothing panics.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{outcome, read_json, surge};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use surge_testkit::tls::TlsServer;
use surge_testkit::{Fault, FaultServer, process, profiles, refused_url};

const PEOPLE: u64 = 30;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics on surge's own threads (workers, runtimes) while still printing them; a failed
/// assertion on a test's thread is that test's failure, not a panic of surge.
fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current()
                .name()
                .map(str::to_string)
                .unwrap_or_default();
            if name.is_empty() || name.starts_with("surge") || name.starts_with("tokio") {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

struct Run {
    code: i32,
    summary: Value,
    took: Duration,
}

impl Run {
    /// The one step of the one-step profile.
    fn step(&self) -> &Value {
        &self.summary["regions"]["lab"]["get"]
    }
}

/// `surge run` of a one-step profile (PEOPLE people over 2 s) against `url`, in-process, with a 500 ms
/// timeout unless `extra` gives one.
fn run(dir: &Path, label: &str, url: &str, step: &str, extra: &[&str]) -> Run {
    count_panics();
    let profile = profiles::one_step(dir, label, PEOPLE, 2, step);
    let out = dir.join(label);
    let (p, o) = (profile.display().to_string(), out.display().to_string());
    let mut args = vec![
        "run",
        &p,
        "--target",
        url,
        "--no-health-check",
        "--drain",
        "2s",
        "--out",
        &o,
        "--no-report",
    ];
    if !extra.contains(&"--timeout") {
        args.extend_from_slice(&["--timeout", "500ms"]);
    }
    args.extend_from_slice(extra);
    let t = Instant::now();
    let code = surge(&args);
    let took = t.elapsed();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "{label}: something panicked"
    );
    Run {
        code,
        summary: read_json(&out.join("summary.json")),
        took,
    }
}

/// Every person started, every step ended in `class`, the SLO failed (exit 1), within the bound.
fn assert_all_classified(r: &Run, label: &str, class: &str) {
    let s = r.step();
    assert_eq!(r.code, 1, "{label}: errors fail the SLO: {s}");
    assert_eq!(
        r.summary["status"], "complete",
        "{label}: the run ends by itself"
    );
    assert_eq!(
        r.summary["journeys"]["lab"]["started"].as_u64(),
        Some(PEOPLE),
        "{label}: the run goes on"
    );
    assert_eq!(
        s["count"].as_u64(),
        Some(PEOPLE),
        "{label}: every step is counted: {s}"
    );
    assert_eq!(
        outcome(s, class),
        PEOPLE,
        "{label}: every step is `{class}`: {s}"
    );
    assert_eq!(s["errors"].as_u64(), Some(PEOPLE), "{label}: {s}");
    assert!(
        r.took < Duration::from_secs(15),
        "{label}: took {:?}",
        r.took
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn connection_refused_is_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "refused", &refused_url(), "expect = 200", &[]);
    assert_all_classified(&r, "refused", "connect");
}

#[test]
fn reset_mid_response_is_reset() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::ResetMidResponse));
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "reset", &server.url(), "expect = 200", &[]);
    assert_all_classified(&r, "reset", "reset");
    assert_eq!(
        server.requests(),
        PEOPLE,
        "no silent retry of a request the server dropped"
    );
}

#[test]
fn a_server_that_never_answers_is_timeout_measured_from_the_intended_start() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::NeverAnswer));
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "silent", &server.url(), "expect = 200", &[]);
    assert_all_classified(&r, "silent", "timeout");
    let p50 = r.step()["p50_ms"].as_f64().unwrap_or(0.0);
    assert!(
        (450.0..1_500.0).contains(&p50),
        "p50 {p50} ms ~ the 500 ms timeout"
    );
    // The tester hung up on every silent connection: nothing is left open against the target.
    let t = Instant::now();
    while server.open_connections() > 0 && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.open_connections(),
        0,
        "connections left open after the run"
    );
}

#[test]
fn a_server_answering_byte_by_byte_is_slow_then_timeout() {
    let rt = rt();
    // 40 bytes, 30 ms apart: about 1.2 s per answer.
    let server = rt.block_on(FaultServer::start(Fault::SlowBytes(Duration::from_millis(
        30,
    ))));
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        "slow-timeout",
        &server.url(),
        "expect = 200",
        &[],
    );
    assert_all_classified(&r, "slow-timeout", "timeout");
    // With a timeout longer than the trickle, the same answers are ok, and their latency shows it.
    let r = run(
        tmp.path(),
        "slow-ok",
        &server.url(),
        "expect = 200",
        &["--timeout", "5s"],
    );
    let s = r.step();
    assert_eq!(outcome(s, "ok"), PEOPLE, "{s}");
    let p50 = s["p50_ms"].as_f64().unwrap_or(0.0);
    assert!(
        (1_100.0..4_000.0).contains(&p50),
        "p50 {p50} ms ~ 40 bytes x 30 ms"
    );
}

#[test]
fn malformed_http_is_protocol() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::Garbage));
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "garbage", &server.url(), "expect = 200", &[]);
    assert_all_classified(&r, "garbage", "protocol");
}

#[test]
fn a_json_body_the_journey_does_not_expect_is_extraction() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::Fixed(
        200,
        r#"{"not_the_id":[1,2,3]}"#,
    )));
    let tmp = tempfile::tempdir().unwrap();
    let step = "expect = 200\nextract = { id = \"/id\" }";
    let r = run(tmp.path(), "extraction", &server.url(), step, &[]);
    assert_all_classified(&r, "extraction", "extraction");
    // Not JSON at all is the same class.
    let server = rt.block_on(FaultServer::start(Fault::Fixed(
        200,
        "<html>maintenance</html>",
    )));
    let r = run(tmp.path(), "not-json", &server.url(), step, &[]);
    assert_all_classified(&r, "not-json", "extraction");
}

#[test]
fn an_unexpected_status_is_its_http_class() {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(Fault::Fixed(503, "{}")));
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "503", &server.url(), "expect = 200", &[]);
    assert_all_classified(&r, "503", "http_5xx");
}

#[test]
fn tls_handshake_failures_are_tls() {
    let rt = rt();
    let untrusted = rt.block_on(TlsServer::start()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        "untrusted",
        &untrusted.url(),
        "expect = 200",
        &[],
    );
    assert_all_classified(&r, "untrusted", "tls");
    assert_eq!(
        untrusted.requests(),
        0,
        "no request is sent over an untrusted connection"
    );
    // An https URL to a plain HTTP server (the reference backend answers the hello with a 400).
    let plain = rt
        .block_on(surge_target::serve(
            "127.0.0.1:0".parse().unwrap(),
            surge_target::CapacityPlan::baseline(),
        ))
        .unwrap();
    let url = plain.url().replace("http://", "https://");
    let r = run(tmp.path(), "plain", &url, "expect = 200", &[]);
    assert_all_classified(&r, "plain", "tls");
}

/// Runs the built binary against a huge answer and returns (exit code, peak RSS in MiB, summary).
fn huge_run(dir: &Path, label: &str, fault: Fault) -> (Option<i32>, u64, Value) {
    let rt = rt();
    let server = rt.block_on(FaultServer::start(fault));
    let profile = profiles::get(dir, label, PEOPLE, 2);
    let out: PathBuf = dir.join(label);
    let stderr = std::fs::File::create(dir.join(format!("{label}.stderr"))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "run",
            &profile.display().to_string(),
            "--target",
            &server.url(),
            "--no-health-check",
        ])
        .args([
            "--timeout",
            "10s",
            "--drain",
            "10s",
            "--no-report",
            "--out",
            &out.display().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let ended = process::wait_with_rss(&mut child, Duration::from_secs(25)).unwrap();
    let log = std::fs::read_to_string(dir.join(format!("{label}.stderr"))).unwrap_or_default();
    assert!(!log.contains("panicked"), "{label}: {log}");
    (
        ended.code,
        ended.max_rss_kib / 1024,
        read_json(&out.join("summary.json")),
    )
}

#[test]
fn a_100_mb_answer_is_body_too_large_and_memory_stays_bounded() {
    const MB100: u64 = 100 * 1024 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    for (label, fault) in [
        ("announced", Fault::HugeBody(MB100)),
        ("unannounced", Fault::HugeUnannounced(MB100)),
    ] {
        let (code, rss_mib, summary) = huge_run(tmp.path(), label, fault);
        let s = &summary["regions"]["lab"]["get"];
        assert_eq!(code, Some(1), "{label}: {s}");
        assert_eq!(outcome(s, "body_too_large"), PEOPLE, "{label}: {s}");
        assert!(
            rss_mib < 300,
            "{label}: peak RSS {rss_mib} MiB with {PEOPLE} x 100 MB answers"
        );
        eprintln!("{label}: {PEOPLE} x 100 MB answers, surge peak RSS {rss_mib} MiB");
    }
}

#[test]
fn an_https_target_is_trusted_with_tls_ca_and_refused_without_it() {
    let rt = rt();
    let server = rt.block_on(TlsServer::start()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let profile = profiles::get(tmp.path(), "https", 10, 1)
        .display()
        .to_string();
    let ca = surge_testkit::tls::ca_pem_path().display().to_string();
    // The built binary, so that the process-wide TLS setting stays out of this test process.
    let run = |label: &str, extra: &[&str]| {
        let out = tmp.path().join(label).display().to_string();
        let o = Command::new(env!("CARGO_BIN_EXE_surge"))
            .args([
                "run",
                &profile,
                "--target",
                &server.url(),
                "--no-report",
                "--out",
                &out,
            ])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run("untrusted", &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("health check") && err.contains("(tls)"),
        "{err}"
    );
    assert_eq!(server.requests(), 0);

    let (code, err) = run("trusted", &["--tls-ca", &ca]);
    assert_eq!(code, Some(0), "{err}");
    let summary = read_json(&tmp.path().join("trusted/summary.json"));
    assert_eq!(
        outcome(&summary["regions"]["lab"]["get"], "ok"),
        10,
        "{summary}"
    );
    assert_eq!(
        server.requests(),
        11,
        "the health check over TLS, then the 10 people"
    );

    let (code, err) = run("bad-ca", &["--tls-ca", &profile]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("tls ca") && err.contains("https.toml"),
        "{err}"
    );
    assert!(
        !tmp.path().join("bad-ca").exists(),
        "refused before any results folder"
    );
}
