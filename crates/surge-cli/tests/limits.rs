//! The generator's own limits, on real processes and sockets: `--source-addresses` really binds the
//! connections to those local addresses (seen by the server), an address that is not local is refused
//! before anything is sent, and a process whose open-file limit is too small for `--max-in-flight`
//! lowers it with a warning that gives the numbers and the fix.

mod common;

use common::{profile, surge};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny HTTP server that answers `200 {}` and records the peer address of every connection; it
/// stops accepting after `limit` connections or when the test ends.
fn recording_server(limit: usize) -> (String, Arc<Mutex<BTreeSet<IpAddr>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let peers = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = peers.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(limit) {
            let Ok(mut s) = stream else { continue };
            if let Ok(peer) = s.peer_addr() {
                seen.lock().unwrap().insert(peer.ip());
            }
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if s.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, peers)
}

#[test]
fn source_addresses_bind_the_connections_and_must_be_local() {
    let _g = common::serial();
    let (url, peers) = recording_server(10_000);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("bench-open.toml"),
        "--target",
        &url,
        "--no-health-check",
        "--scale",
        "0.001",
        "--duration",
        "2s",
        "--http1",
        "fast",
        "--source-addresses",
        "127.0.0.2-127.0.0.4",
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert_eq!(code, 0);
    let seen = peers.lock().unwrap().clone();
    let want: BTreeSet<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert!(!seen.is_empty());
    assert!(seen.is_subset(&want), "connections came from {seen:?}");
    let info = common::read_json(&out.join("run.json"));
    assert_eq!(info["settings"]["source_addresses"], "127.0.0.2-127.0.0.4");

    // TEST-NET-1 (RFC 5737) is no address of this host: refused before anything is sent.
    let before = peers.lock().unwrap().len();
    let refused = tmp.path().join("refused");
    let code = surge(&[
        "run",
        &profile("bench-open.toml"),
        "--target",
        &url,
        "--no-health-check",
        "--source-addresses",
        "192.0.2.1",
        "--out",
        &refused.display().to_string(),
    ]);
    assert_eq!(code, 2);
    assert!(!refused.exists(), "no results folder for a refused run");
    assert_eq!(peers.lock().unwrap().len(), before);
}

#[test]
fn a_small_open_file_limit_lowers_max_in_flight_with_the_numbers_and_the_fix() {
    let _g = common::serial();
    let (url, _peers) = recording_server(10_000);
    let tmp = tempfile::tempdir().unwrap();
    // A process whose hard limit is 400 open files, asking for 1,000 people in flight.
    let script = format!(
        "ulimit -n 400 && exec {} run {} --target {url} --no-health-check --scale 0.0005 --duration 1s --max-in-flight 1000 --out {} --no-report",
        env!("CARGO_BIN_EXE_surge"),
        profile("bench-open.toml"),
        tmp.path().join("run").display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1000 people in flight need up to 1256 file descriptors")
            && err.contains("may open 400")
            && err.contains("in-flight cap lowered to 144")
            && err.contains("run more worker processes"),
        "{err}"
    );
    let start = err
        .lines()
        .find(|l| l.contains(" people over "))
        .unwrap_or_default();
    assert!(
        start.contains("max 144 in flight (400 open files allowed)"),
        "{start}"
    );
}

#[test]
fn held_websocket_connections_that_do_not_fit_are_refused_before_sending() {
    let _g = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // connected.toml at scale 0.2: 300 people who stay connected for the whole 6 s run, each holding
    // a WebSocket whose other end the embedded target holds: ~856 descriptors, in a process allowed
    // 400.
    let script = format!(
        "ulimit -n 400 && exec {} run {} --scale 0.2 --duration 6s --out {}",
        env!("CARGO_BIN_EXE_surge"),
        profile("connected.toml"),
        out.display()
    );
    let run = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("WebSocket connections at once")
            && err.contains("may open 400")
            && err.contains("2 each: the embedded target holds the other end")
            && err.contains("worker processes")
            && err.contains("ulimit -Hn"),
        "{err}"
    );
    assert!(!out.exists(), "refused before anything was written or sent");

    // The same run within a limit that holds it gets past the check (and really runs).
    let script = format!(
        "ulimit -n 4096 && exec {} run {} --scale 0.05 --duration 2s --out {} --no-report",
        env!("CARGO_BIN_EXE_surge"),
        profile("connected.toml"),
        out.display()
    );
    let run = Command::new("sh").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{err}");
    assert!(!err.contains("WebSocket connections at once"), "{err}");
}

#[test]
fn websocket_sessions_bind_to_the_source_addresses() {
    let _g = common::serial();
    // The test kit's WebSocket server (answers plain requests 200, upgrades /v1/ws), recording the
    // peer address of every upgrade.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(surge_testkit::ws::WsServer::start(
        surge_testkit::ws::WsMode::Chat,
    ));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ws-sources.toml");
    std::fs::write(
        &file,
        r#"name = "ws-sources"
[event]
population = 60
duration = "2s"
[[regions]]
name = "americas"
share = 1.0
[curve]
kind = "ramp"
up = "1s"
[address_book]
median = 5
sigma = 0.1
max = 10
same_region = 1.0
never_join = 0.0
later = 0.0
[journey]
[[journey.steps]]
name = "hello"
path = "/"
expect = 200
[journey.connect]
path = "/v1/ws"
headers = { authorization = "Bearer x" }
dwell = { fixed = "1s" }
"#,
    )
    .unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &file.display().to_string(),
        "--target",
        &server.url(),
        "--no-health-check",
        "--source-addresses",
        "127.0.0.2-127.0.0.4",
        "--out",
        &out.display().to_string(),
        "--no-report",
    ]);
    assert!(code == 0 || code == 1, "exit {code}");
    let summary = common::read_json(&out.join("summary.json"));
    let opened = summary["journeys"]["americas"]["connections"]["opened"].as_u64();
    assert!(opened.unwrap_or(0) >= 60, "{summary}");
    let seen = server.upgraded_from();
    let want: BTreeSet<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(seen, want, "upgrades came from {seen:?}");
    drop(server);
    drop(rt);
}
