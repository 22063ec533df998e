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
