//! Distributed mode over TLS, end to end, with real processes of the built `surge` binary on loopback:
//! a coordinator serving HTTPS with the testkit's test certificate, workers trusting its CA with
//! `--tls-ca` running a short profile to completion, a worker without the CA refused at join with a
//! TLS error, and unreadable PEM files named before anything listens.

mod distributed_support;

use distributed_support::{Proc, flat_profile, http, json, target};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The tests below start several processes on a 2-core machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const TOKEN: &str = "t0ken-for-tls-tests";

/// The testkit's CA, and the server certificate and key it signed (127.0.0.1 and localhost).
fn tls_files() -> (String, String, String) {
    let ca = surge_testkit::tls::ca_pem_path();
    let file = |name: &str| -> String { ca.with_file_name(name).display().to_string() };
    (
        ca.display().to_string(),
        file("server.pem"),
        file("server.key"),
    )
}

/// A coordinator on 127.0.0.1:0 with `--tls-cert`/`--tls-key`; returns it and its `https://` URL.
fn tls_coordinator(profile: &str, workers: &str, target: &str, out: &str) -> (Proc, String) {
    let (_, cert, key) = tls_files();
    let extra = ["--drain", "1s", "--tls-cert", &cert, "--tls-key", &key];
    let (c, url) = distributed_support::coordinator(profile, workers, TOKEN, target, out, &extra);
    assert!(url.starts_with("https://"), "{url}");
    (c, url)
}

fn worker(name: &str, url: &str, ca: Option<&str>) -> Proc {
    let mut extra = vec!["--join-timeout", "20s"];
    if let Some(ca) = ca {
        extra.extend_from_slice(&["--tls-ca", ca]);
    }
    distributed_support::worker(name, url, TOKEN, &extra)
}

#[test]
fn two_workers_trusting_the_ca_run_a_profile_over_https() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let population = 300u64;
    let profile = flat_profile(tmp.path(), population, 3, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let (mut coord, curl) = tls_coordinator(
        &profile.display().to_string(),
        "2",
        &turl,
        &out.display().to_string(),
    );
    let (ca, _, _) = tls_files();

    // The listener speaks TLS only: a plain HTTP request gets no HTTP answer.
    let plain = curl.replacen("https://", "http://", 1);
    let (status, _) = http(&plain, "GET", "/healthz", &[], "");
    assert_ne!(status, 200, "plain http answered on the TLS listener");

    let mut ws: Vec<Proc> = ["w0", "w1"]
        .iter()
        .map(|n| worker(n, &curl, Some(&ca)))
        .collect();
    let st = coord.wait_exit(Duration::from_secs(40));
    assert!(st.success(), "coordinator: {st}\n{}", coord.output());
    for w in &mut ws {
        let st = w.wait_exit(Duration::from_secs(10));
        assert!(st.success(), "worker {}: {st}\n{}", w.label, w.output());
        assert!(
            w.output().contains("run finished"),
            "worker {}:\n{}",
            w.label,
            w.output()
        );
    }
    assert!(
        coord.output().contains("worker 2/2 joined"),
        "{}",
        coord.output()
    );

    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["status"], "complete", "{summary}");
    let started: u64 = summary["journeys"]
        .as_object()
        .expect("journeys")
        .values()
        .map(|j| j["started"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        started > population / 2 && started <= population,
        "{started} of {population} journeys started over https workers"
    );
    let run = json(&out.join("run.json"));
    assert_eq!(run["workers"].as_array().map(|w| w.len()), Some(2), "{run}");
}

/// `surge coordinator --tls-ca CA --pacing coarse --http1 hyper` against an https target: workers started
/// with no CA file and no engine flags get all three with their assignment, so every journey succeeds
/// over TLS and each worker reports the coordinator's pacing and client.
#[test]
fn the_coordinators_target_ca_pacing_and_client_reach_its_workers() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(surge_testkit::tls::TlsServer::start()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let people = 20u64;
    let profile = surge_testkit::profiles::get(tmp.path(), "https", people, 2);
    let out = tmp.path().join("run");
    let (ca, _, _) = tls_files();
    let extra = [
        "--drain", "2s", "--tls-ca", &ca, "--pacing", "coarse", "--http1", "hyper",
    ];
    let (mut coord, curl) = distributed_support::coordinator(
        &profile.display().to_string(),
        "2",
        TOKEN,
        &server.url(),
        &out.display().to_string(),
        &extra,
    );
    let mut ws: Vec<Proc> = ["w0", "w1"]
        .iter()
        .map(|n| distributed_support::worker(n, &curl, TOKEN, &["--join-timeout", "20s"]))
        .collect();
    let st = coord.wait_exit(Duration::from_secs(40));
    let workers_said: String = ws.iter().map(|w| w.output()).collect();
    assert!(
        st.success(),
        "coordinator: {st}\n{}\nworkers:\n{workers_said}",
        coord.output()
    );
    for w in &mut ws {
        let st = w.wait_exit(Duration::from_secs(10));
        assert!(st.success(), "worker {}: {st}\n{}", w.label, w.output());
        assert!(
            w.output().contains("(pacing coarse, http1 hyper)"),
            "worker {} did not apply the coordinator's settings:\n{}",
            w.label,
            w.output()
        );
        // The report loop sleeps between events: a few dozen wake-ups a second. It once polled its
        // closed event channel from the end of the load to the last acknowledgement (millions).
        let (wakes, secs) = report_loop(&w.output());
        assert!(
            wakes as f64 <= 60.0 * secs + 50.0,
            "worker {}: report loop woke {wakes} times in {secs} s",
            w.label
        );
    }
    let summary = json(&out.join("summary.json"));
    let get = &summary["regions"]["lab"]["get"];
    assert_eq!(get["outcomes"]["ok"].as_u64(), Some(people), "{summary}");
    assert_eq!(
        server.requests(),
        people + 1,
        "the coordinator's health check over TLS, then every person from the workers"
    );
}

#[test]
fn a_worker_without_the_ca_is_refused_at_join_with_a_tls_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 100, 2, 500);
    let out = tmp.path().join("run");
    let (_target, turl) = target();
    let (mut coord, curl) = tls_coordinator(
        &profile.display().to_string(),
        "1",
        &turl,
        &out.display().to_string(),
    );

    // Refused at once (not after --join-timeout), exit 2, naming the coordinator and the cause.
    let mut w = worker("untrusting", &curl, None);
    let st = w.wait_exit(Duration::from_secs(8));
    assert_eq!(st.code(), Some(2), "worker: {st}\n{}", w.output());
    let text = w.output();
    assert!(
        text.contains("tls handshake with the coordinator") && text.contains(&curl),
        "{text}"
    );
    assert!(
        text.contains("UnknownIssuer") || text.contains("invalid peer certificate"),
        "the cause must be named: {text}"
    );
    // The coordinator saw the failed handshake and is still waiting: nothing ran.
    coord.wait_line("tls handshake failed", Duration::from_secs(5));
    assert!(
        coord.child.try_wait().unwrap().is_none(),
        "{}",
        coord.output()
    );
    assert!(!out.join("summary.json").exists());
    coord.kill();
}

#[test]
fn unreadable_pem_files_are_named_before_anything_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = flat_profile(tmp.path(), 10, 1, 500);
    let missing = tmp.path().join("missing-cert.pem");
    let (ca, _, key) = tls_files();

    let mut c = Proc::start(
        "coordinator",
        &[
            "coordinator",
            &profile.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--target",
            "http://127.0.0.1:9",
            "--no-health-check",
            "--tls-cert",
            &missing.display().to_string(),
            "--tls-key",
            &key,
        ],
    );
    let st = c.wait_exit(Duration::from_secs(10));
    assert_eq!(st.code(), Some(2), "coordinator: {st}\n{}", c.output());
    let text = c.output();
    assert!(
        text.contains("tls certificate") && text.contains("missing-cert.pem"),
        "{text}"
    );
    assert!(!text.contains("listening on"), "{text}");

    // A key file that holds only a certificate is named too.
    let mut c = Proc::start(
        "coordinator",
        &[
            "coordinator",
            &profile.display().to_string(),
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--target",
            "http://127.0.0.1:9",
            "--no-health-check",
            "--tls-cert",
            &ca,
            "--tls-key",
            &ca,
        ],
    );
    let st = c.wait_exit(Duration::from_secs(10));
    assert_eq!(st.code(), Some(2), "coordinator: {st}\n{}", c.output());
    let text = c.output();
    assert!(
        text.contains("tls key") && text.contains("ca.pem"),
        "{text}"
    );
    assert!(!text.contains("listening on"), "{text}");

    // The worker's --tls-ca, before it tries to reach anyone.
    let missing_ca = tmp.path().join("missing-ca.pem");
    let mut w = Proc::start(
        "worker",
        &[
            "worker",
            "--join",
            "https://127.0.0.1:9",
            "--token",
            TOKEN,
            "--tls-ca",
            &missing_ca.display().to_string(),
        ],
    );
    let st = w.wait_exit(Duration::from_secs(10));
    assert_eq!(st.code(), Some(2), "worker: {st}\n{}", w.output());
    let text = w.output();
    assert!(
        text.contains("tls ca") && text.contains("missing-ca.pem"),
        "{text}"
    );
}

/// The test certificate files exist where the tests above look for them.
#[test]
fn the_testkit_certificate_files_exist() {
    let (ca, cert, key) = tls_files();
    for f in [ca, cert, key] {
        assert!(PathBuf::from(&f).is_file(), "{f}");
    }
}

/// The worker's "report loop woke N times in S s".
fn report_loop(out: &str) -> (u64, f64) {
    let line = out
        .lines()
        .find_map(|l| l.split("report loop woke ").nth(1))
        .unwrap_or_else(|| panic!("no report loop line in:\n{out}"));
    let mut words = line.split_whitespace();
    let wakes = words.next().and_then(|w| w.parse().ok());
    let secs = words.nth(2).and_then(|w| w.parse().ok());
    match (wakes, secs) {
        (Some(w), Some(s)) => (w, s),
        _ => panic!("unreadable report loop line: {line}"),
    }
}
