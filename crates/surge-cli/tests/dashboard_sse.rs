//! The live dashboard's event stream, against a real `surge run --dashboard` of the quickstart surge
//! on the embedded reference backend: one JSON message per update with an id, a dropped connection
//! that reconnects with `Last-Event-ID` gets exactly the messages it missed; the page and `/state` are
//! served, the report once written; an address in use is refused before anything runs.
// These tests wait for real processes: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod dashboard_support;

use dashboard_support::{Event, events, get, start, start_command};
use std::process::Command;
use std::time::{Duration, Instant};

fn intervals(evs: &[Event]) -> usize {
    evs.iter().filter(|e| e.data["kind"] == "interval").count()
}

#[test]
fn a_reconnecting_client_gets_the_gap_filled_without_duplicates() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut run = start(
        &common::profile("quickstart.toml"),
        &[
            "--duration",
            "20s",
            "--scale",
            "0.3",
            "--drain",
            "3s",
            "--dashboard-linger",
            "20s",
        ],
        &out,
    );

    // The page and its first-load snapshot.
    let page = get(run.addr, "/", &[]);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<script>") && html.contains("EventSource"));
    for external in [
        "http://",
        "https://",
        "src=",
        "<link rel=\"stylesheet",
        "@import",
        "url(",
    ] {
        assert!(
            !html.contains(external),
            "the page loads something external: {external}"
        );
    }

    // First connection: read three merged intervals, then drop it.
    let mut first = events(run.addr, None);
    assert_eq!(first.status, 200);
    assert_eq!(first.content_type, "text/event-stream");
    let mut seen: Vec<Event> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while intervals(&seen) < 3 && Instant::now() < deadline {
        seen.push(first.next().expect("the stream ended early"));
    }
    assert!(intervals(&seen) >= 3, "{seen:#?}");
    drop(first);
    let ids: Vec<u64> = seen.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "ids not consecutive: {ids:?}"
    );
    assert_eq!(
        seen[0].data["kind"], "begin",
        "a fresh stream starts at the run's start"
    );
    let regions = seen[0].data["regions"].as_array().unwrap().clone();
    assert_eq!(regions, ["americas", "europe", "asia"]);
    let interval = seen.iter().find(|e| e.data["kind"] == "interval").unwrap();
    assert_eq!(interval.data["regions"].as_array().unwrap().len(), 3);
    let last = *ids.last().unwrap();

    // Messages go on while nobody listens.
    std::thread::sleep(Duration::from_secs(3));
    let state = get(run.addr, "/state", &[]);
    assert_eq!(state.status, 200);
    let state: serde_json::Value = serde_json::from_slice(&state.body).unwrap();
    let now = state["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["id"].as_u64())
        .max()
        .unwrap();
    assert!(
        now >= last + 2,
        "nothing was sent in 3 s: last {last}, now {now}"
    );

    // Reconnect with Last-Event-ID: the gap comes first, in order, without a repeat.
    let mut again = events(run.addr, Some(last));
    let mut got = Vec::new();
    while got.last().is_none_or(|&id| id < now) {
        got.push(again.next().expect("the stream ended early").id);
    }
    let want: Vec<u64> = (last + 1..=now).collect();
    assert_eq!(got, want, "the gap after {last} up to {now}");
    let replayed = got.len();
    // And it goes on live.
    let next = again.next().expect("live messages after the replay");
    assert_eq!(next.id, now + 1);
    drop(again);

    // The end: the page's stream says so and the report is served.
    run.wait_line("dashboard stays up", Duration::from_secs(90))
        .unwrap_or_else(|| panic!("the run did not end: {:#?}", run.stderr));
    let mut tail = events(run.addr, Some(now));
    let mut kinds = Vec::new();
    while let Some(e) = tail.next() {
        kinds.push(e.data["kind"].as_str().unwrap_or("").to_string());
        if e.data["kind"] == "report" {
            break;
        }
    }
    assert!(kinds.contains(&"end".to_string()), "{kinds:?}");
    let report = get(run.addr, "/report.html", &[]);
    assert_eq!(report.status, 200);
    assert!(report.text().contains("<svg"), "not the report");
    eprintln!(
        "first stream: {} messages ({} intervals), gap replayed: {replayed} messages ({}..={now}), then {} more to the end",
        ids.len(),
        intervals(&seen),
        last + 1,
        kinds.len()
    );
}

#[test]
fn a_dashboard_address_in_use_is_refused_before_the_run() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_surge"))
        .arg("run")
        .arg(common::profile("quickstart.toml"))
        .args([
            "--duration",
            "2s",
            "--scale",
            "0.01",
            "--dashboard",
            &addr,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing may run: {} exists", out.display());
}

#[test]
fn the_coordinator_serves_the_page_on_its_listen_address() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let profile = common::profile("quickstart.toml");
    // No worker joins: the page is up while the coordinator waits.
    let run = start_command(
        &[
            "coordinator",
            &profile,
            "--workers",
            "1",
            "--token",
            "s3cret",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "2s",
            "--scale",
            "0.01",
        ],
        &out,
    );
    let page = get(run.addr, "/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("EventSource"));
    let metrics = get(run.addr, "/metrics", &[]);
    assert_eq!(
        metrics.status, 200,
        "the same listener still serves /metrics"
    );
    let mut stream = events(run.addr, None);
    let first = stream.next().expect("a first message");
    assert_eq!(first.data["kind"], "begin");
    assert_eq!(first.data["name"], "quickstart");
    assert_eq!(first.data["regions"].as_array().map(Vec::len), Some(3));
}

#[test]
fn after_the_end_the_coordinators_listen_address_serves_the_report_while_it_lingers() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let profile = common::profile("quickstart.toml");
    // No --dashboard and no --dashboard-linger: the page is on --listen only, the linger the default.
    let mut run = start_command(
        &[
            "coordinator",
            &profile,
            "--workers",
            "1",
            "--token",
            "s3cret",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "4s",
            "--scale",
            "0.05",
            "--drain",
            "2s",
        ],
        &out,
    );
    // Someone opens the page before the end: it stays up after, so its link to the report works.
    assert_eq!(get(run.addr, "/", &[]).status, 200);
    let mut worker = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(["worker", "--join", &format!("http://{}", run.addr)])
        .args(["--token", "s3cret", "--threads", "1", "--name", "w"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = run
        .wait_line("dashboard stays up", Duration::from_secs(90))
        .unwrap_or_else(|| panic!("the run did not end: {:#?}", run.stderr));
    assert!(
        line.contains("stays up for 5m")
            && line.contains(&format!("http://{}/report.html", run.addr)),
        "the default linger, with the report's URL: {line}"
    );
    let report = get(run.addr, "/report.html", &[]);
    assert_eq!(report.status, 200, "{}", report.text());
    assert!(report.text().contains("<svg"), "not the report");
    let mut stream = events(run.addr, None);
    let mut kinds = Vec::new();
    while let Some(e) = stream.next() {
        kinds.push(e.data["kind"].as_str().unwrap_or("").to_string());
        if e.data["kind"] == "report" {
            break;
        }
    }
    assert!(
        kinds.contains(&"end".to_string()) && kinds.last().map(String::as_str) == Some("report"),
        "{kinds:?}"
    );
    // A worker that comes late hears that the run has ended (410), not that it is full.
    let late = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(["worker", "--join", &format!("http://{}", run.addr)])
        .args(["--token", "s3cret", "--threads", "1", "--name", "late"])
        .output()
        .unwrap();
    let late_err = String::from_utf8_lossy(&late.stderr);
    assert_eq!(late.status.code(), Some(2), "{late_err}");
    assert!(late_err.contains("the run has ended"), "{late_err}");
    // Still lingering; Ctrl-C ends it at once, with the run's exit code.
    std::thread::sleep(Duration::from_secs(1));
    assert!(run.child.try_wait().unwrap().is_none(), "it lingers");
    surge_testkit::process::signal(&run.child, 2).unwrap();
    let t0 = Instant::now();
    let ended = surge_testkit::process::wait_with_rss(&mut run.child, Duration::from_secs(10))
        .expect("exits after Ctrl-C");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(ended.code, Some(0));
    assert!(worker.wait().unwrap().success());
}
