//! Support for the distributed-mode tests: the built `surge` binary run as real processes (target,
//! coordinator, workers), their stderr watched, and raw HTTP/1.1 against their listeners.
// These tests time real processes and real sockets: std's clock is meant.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `surge` child process whose stderr is collected line by line; killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub label: String,
}

impl Proc {
    /// Starts `surge ARGS...` with RUST_LOG=warn and NO_COLOR.
    pub fn start(label: &str, args: &[&str]) -> Proc {
        Proc::start_env(label, args, &[])
    }

    /// As [`Proc::start`], with extra environment variables.
    pub fn start_env(label: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("SURGE_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start surge: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
        }
        Proc {
            child,
            lines,
            label: label.to_string(),
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for a printed line containing `needle`; panics with the output after `limit`.
    pub fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{}: exited ({st}) before printing {needle:?}:\n{}",
                    self.label,
                    self.output()
                );
            }
            assert!(
                t0.elapsed() < limit,
                "{}: no {needle:?} within {limit:?}:\n{}",
                self.label,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL right after `needle` (`http://` or `https://`) on the first line containing it.
    pub fn wait_url(&mut self, needle: &str, limit: Duration) -> String {
        let line = self.wait_line(needle, limit);
        let after = &line[line.find(needle).map_or(0, |i| i + needle.len())..];
        let start = [after.find("http://"), after.find("https://")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| panic!("no URL after {needle:?} in {line:?}"));
        after[start..]
            .split(|c: char| c.is_whitespace() || c == ')' || c == ';' || c == ',')
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits for the exit; panics with the output after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(50));
                return st;
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "{}: still running after {limit:?}:\n{}",
                    self.label,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A standalone reference target on 127.0.0.1:0; returns it and its base URL.
/// `surge coordinator PROFILE` on 127.0.0.1:0 for `workers` workers with `token`, plus `extra` flags;
/// returns it and the URL it listens on (http or https).
pub fn coordinator(
    profile: &str,
    workers: &str,
    token: &str,
    target: &str,
    out: &str,
    extra: &[&str],
) -> (Proc, String) {
    let mut args = vec![
        "coordinator",
        profile,
        "--listen",
        "127.0.0.1:0",
        "--workers",
        workers,
        "--token",
        token,
        "--target",
        target,
        "--out",
        out,
        "--no-report",
    ];
    args.extend_from_slice(extra);
    let mut c = Proc::start("coordinator", &args);
    let url = c.wait_url("listening on", Duration::from_secs(20));
    (c, url)
}

/// `surge worker --join URL --token TOKEN --threads 1 --name NAME`, plus `extra` flags.
pub fn worker(name: &str, url: &str, token: &str, extra: &[&str]) -> Proc {
    worker_env(name, url, token, extra, &[])
}

/// As [`worker`], with extra environment variables (the test-only clock switches).
pub fn worker_env(
    name: &str,
    url: &str,
    token: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    let mut args = vec![
        "worker",
        "--join",
        url,
        "--token",
        token,
        "--threads",
        "1",
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    Proc::start_env(name, &args, env)
}

pub fn target() -> (Proc, String) {
    let mut t = Proc::start("target", &["target", "--listen", "127.0.0.1:0"]);
    let url = t.wait_url("listening on", Duration::from_secs(20));
    (t, url)
}

/// Absolute path of a shipped file under the repository.
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// Writes a flat-rate profile: `population` people arriving evenly over `secs` seconds over three
/// regions, the reference journey, snapshots every `interval_ms`.
pub fn flat_profile(dir: &Path, population: u64, secs: u64, interval_ms: u64) -> PathBuf {
    let text = format!(
        r#"name = "flat"
description = "flat arrivals for the distributed tests"
seed = 11
journey = "reference"

[event]
population = {population}
duration = "{secs}s"
replay = "{secs}s"
interval = "{interval_ms}ms"

[[regions]]
name = "americas"
share = 0.5

[[regions]]
name = "europe"
share = 0.3

[[regions]]
name = "asia"
share = 0.2

[curve]
kind = "ramp"
up = "0s"
hold = "{secs}s"
down = "0s"

[address_book]
median = 8
sigma = 0.5
max = 40
same_region = 0.8
never_join = 0.3
later = 0.1
"#
    );
    let p = dir.join("flat.toml");
    std::fs::write(&p, text).expect("write profile");
    p
}

/// One raw HTTP/1.1 request (Connection: close); the status and body.
pub fn http(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect {hostport}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {hostport}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `GET /metrics`, or None when nothing answers.
pub fn metrics(url: &str) -> Option<String> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    TcpStream::connect(hostport).ok()?;
    let (status, body) = http(url, "GET", "/metrics", &[], "");
    (status == 200).then_some(body)
}

/// Sum of a metric's samples (every label set).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Checks the Prometheus text exposition format line by line: HELP/TYPE comments, then samples
/// `name{label="v",...} value` with a valid metric name and a number.
pub fn assert_prometheus_text(text: &str) {
    let mut samples = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "bad comment: {line}"
            );
            if let Some(t) = rest.strip_prefix("TYPE ") {
                let kind = t.split_whitespace().nth(1).unwrap_or("");
                assert!(
                    ["gauge", "counter", "summary", "histogram", "untyped"].contains(&kind),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(value.parse::<f64>().is_ok(), "not a number: {line}");
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        assert!(
            !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad name: {line}"
        );
        if name_end < series.len() {
            let labels = series[name_end..]
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels: {line}"));
            for pair in split_labels(labels) {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label {pair:?}: {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name: {line}"
                );
                assert!(
                    v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                    "unquoted label: {line}"
                );
            }
        }
        samples += 1;
    }
    assert!(samples > 0, "no samples in:\n{text}");
}

fn split_labels(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut esc) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if esc => esc = false,
            '\\' => esc = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Reads a JSON file.
pub fn json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
