//! `surge target` as its own process: it serves the reference API and `/metrics`, and
//! `surge run --target URL` sends a surge to it instead of the embedded backend.

mod common;

use common::{profile, read_json, surge};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts `surge target` on an ephemeral loopback port and returns the child and its URL.
fn start_target() -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args([
            "target",
            "--listen",
            "127.0.0.1:0",
            "--plan",
            &profile("plans/baseline.toml"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn surge target");
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url)
}

fn get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn standalone_target_serves_metrics_and_takes_a_surge() {
    let (mut child, url) = start_target();
    assert!(get(&url, "/healthz").starts_with("HTTP/1.1 200"));

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--target",
        &url,
        "--duration",
        "4s",
        "--scale",
        "0.2",
        "--out",
        out.to_str().unwrap(),
        "--no-report",
    ]);
    assert_eq!(code, 0);
    let summary = read_json(&out.join("summary.json"));
    let registered: u64 = summary["regions"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["register"]["outcomes"]["ok"].as_u64().unwrap_or(0))
        .sum();
    let run = read_json(&out.join("run.json"));
    assert_eq!(run["target"], url.as_str());

    let metrics = get(&url, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    let body = metrics.split("\r\n\r\n").nth(1).unwrap_or("");
    let mut accounts = None;
    for line in body.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not `name value`: {line}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        if name == "surge_target_accounts" {
            accounts = Some(v as u64);
        }
    }
    assert_eq!(
        accounts,
        Some(registered),
        "the target counted the accounts surge registered"
    );
    assert!(body.contains("surge_target_requests_total{"), "{body}");
    let _ = child.kill();
    let _ = child.wait();
}
