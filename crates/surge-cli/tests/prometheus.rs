//! Prometheus, really: Debian's `prometheus` server, started here with its own configuration and
//! storage, scrapes `surge run --metrics-listen` every second while a 20 s surge runs, and receives the
//! same series by `--prom-remote-write`; queries through its HTTP API must return per-region p99 and
//! rate series for every region, and the pushed arrivals must equal summary.json's exactly (also from
//! `surge coordinator` with a worker process). A receiver
//! that is down leaves the run whole with a warning and counts; a bad URL is refused before the run.
// These tests wait on real processes: std's clock is meant.
#![allow(clippy::disallowed_methods)]

mod common;
mod distributed_support;

use common::{assert_tally, profile, read_json, surge};
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRAPE_JOB: &str = "surge-scrape";

/// The `prometheus` binary when this machine has one (CI installs Debian's package).
fn prometheus_bin() -> Option<&'static str> {
    Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some("prometheus")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Prometheus server with its own config and storage under a temp folder; killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus scraping `scrape` (HOST:PORT) every second, its remote-write receiver on; waits
/// until it is ready.
fn start_prometheus(bin: &str, dir: &Path, scrape: &str) -> Prometheus {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: {SCRAPE_JOB}\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['{scrape}']\n"
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let p = Prometheus { child, addr };
    let t0 = Instant::now();
    while get(&p.addr, "/-/ready").map(|(s, _)| s) != Some(200) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "prometheus not ready within 60 s: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    p
}

/// GET over plain HTTP/1.1: status and body, or None when nothing answers.
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query through Prometheus's HTTP API: each series' labels and value.
fn query(p: &Prometheus, promql: &str) -> Vec<(Value, f64)> {
    let path = format!("/api/v1/query?query={}", percent_encode(promql));
    let (status, body) = get(&p.addr, &path).expect("prometheus answers");
    assert_eq!(status, 200, "{promql}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "success", "{promql}: {body}");
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{promql}: {body}"))
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (r["metric"].clone(), value)
        })
        .collect()
}

/// `promql`'s value per region; panics unless every region of `regions` has one.
fn per_region(p: &Prometheus, promql: &str, regions: &[String]) -> Vec<(String, f64)> {
    let got = query(p, promql);
    regions
        .iter()
        .map(|r| {
            let v = got
                .iter()
                .find(|(m, _)| m["region"] == r.as_str())
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("{promql}: no series for region {r}: {got:?}"));
            (r.clone(), v)
        })
        .collect()
}

fn events_of(dir: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[test]
fn a_real_prometheus_scrapes_and_receives_the_same_series_of_a_surge() {
    let _serial = common::serial();
    let Some(bin) = prometheus_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install prometheus (.ci/run does)"
        );
        eprintln!("SKIPPED: no prometheus on this machine (apt-get install prometheus)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let prom = start_prometheus(bin, tmp.path(), &metrics);
    let out = tmp.path().join("pushed-run");
    let write_url = format!("http://{}/api/v1/write", prom.addr);
    let code = surge(&[
        "run",
        &profile("quickstart.toml"),
        "--duration",
        "20s",
        "--interval",
        "1s",
        "--drain",
        "5s",
        "--no-report",
        "--out",
        &out.display().to_string(),
        "--metrics-listen",
        &metrics,
        "--prom-remote-write",
        &write_url,
    ]);
    assert!(code == 0 || code == 1, "surge run exited {code}");
    let summary = assert_tally(&out);
    let journeys = summary["journeys"].as_object().unwrap();
    let regions: Vec<String> = journeys.keys().cloned().collect();
    assert_eq!(regions.len(), 3, "{regions:?}");

    // Every push landed, and the run says so in events.jsonl.
    let ev = events_of(&out, "remote_write");
    assert_eq!(ev.len(), 1, "{ev:?}");
    let detail = ev[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(" 0 failed") && detail.contains(" 0 dropped"),
        "{detail}"
    );

    // Pull: scraped p99 and arrival rate per region. The scrape target is gone after the run, so the
    // queries look back over the run (range functions skip the staleness markers).
    let scraped = format!("job=\"{SCRAPE_JOB}\"");
    let p99 = per_region(
        &prom,
        &format!(
            "max_over_time(surge_step_response_seconds{{{scraped},step=\"register\",quantile=\"0.99\"}}[5m])"
        ),
        &regions,
    );
    for (r, v) in &p99 {
        assert!(*v > 0.0 && *v < 60.0, "scraped p99 {r}: {v}");
    }
    let rate = per_region(
        &prom,
        &format!("sum by (region) (rate(surge_arrivals_achieved_total{{{scraped}}}[5m]))"),
        &regions,
    );
    for (r, v) in &rate {
        assert!(*v > 0.0, "scraped arrival rate {r}: {v}");
    }
    let gauge = per_region(
        &prom,
        &format!("max_over_time(surge_arrivals_achieved_per_second{{{scraped}}}[5m])"),
        &regions,
    );
    for (r, v) in &gauge {
        assert!(*v > 0.0, "scraped arrivals per second {r}: {v}");
    }

    // Push: the same series, labelled job="surge" and the run's folder name; the last push carries the
    // final totals, equal to summary.json's.
    let pushed = "job=\"surge\",run=\"pushed-run\"";
    let started = per_region(
        &prom,
        &format!("max_over_time(surge_arrivals_achieved_total{{{pushed}}}[5m])"),
        &regions,
    );
    for (r, v) in &started {
        let want = journeys[r]["started"].as_u64().unwrap();
        assert!(want > 0, "{r}");
        assert_eq!(
            *v, want as f64,
            "pushed arrivals of {r} against summary.json"
        );
    }
    let p99 = per_region(
        &prom,
        &format!(
            "max_over_time(surge_step_response_seconds{{{pushed},step=\"register\",quantile=\"0.99\"}}[5m])"
        ),
        &regions,
    );
    for (r, v) in &p99 {
        assert!(*v > 0.0 && *v < 60.0, "pushed p99 {r}: {v}");
    }
    let rate = per_region(
        &prom,
        &format!("max_over_time(surge_arrivals_achieved_per_second{{{pushed}}}[5m])"),
        &regions,
    );
    for (r, v) in &rate {
        assert!(*v > 0.0, "pushed arrivals per second {r}: {v}");
    }
    let ended = query(&prom, &format!("surge_run_ended{{{pushed}}}"));
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].1, 1.0, "the last push says the run ended");
    eprintln!("pushed p99 {p99:?}; pushed arrivals {started:?}; {detail}");

    coordinator_pushes(&prom, tmp.path(), &write_url);
}

/// `surge coordinator --prom-remote-write` with one worker process: its pushes land in the same real
/// Prometheus, and the last one carries the coordinator's final totals.
fn coordinator_pushes(prom: &Prometheus, dir: &Path, write_url: &str) {
    let profile = distributed_support::flat_profile(dir, 600, 6, 1000);
    let out = dir.join("coordinated-run");
    let (_target, turl) = distributed_support::target();
    let (mut coord, curl) = distributed_support::coordinator(
        &profile.display().to_string(),
        "1",
        "t0ken",
        &turl,
        &out.display().to_string(),
        &["--drain", "3s", "--prom-remote-write", write_url],
    );
    let mut worker = distributed_support::worker("w0", &curl, "t0ken", &[]);
    let st = coord.wait_exit(Duration::from_secs(90));
    assert!(matches!(st.code(), Some(0 | 1)), "{st}: {}", coord.output());
    let _ = worker.wait_exit(Duration::from_secs(30));
    assert!(
        coord.output().contains("remote write to") && coord.output().contains(" 0 failed"),
        "{}",
        coord.output()
    );
    let summary = assert_tally(&out);
    let journeys = summary["journeys"].as_object().unwrap();
    let regions: Vec<String> = journeys.keys().cloned().collect();
    let started = per_region(
        prom,
        "max_over_time(surge_arrivals_achieved_total{job=\"surge\",run=\"coordinated-run\"}[5m])",
        &regions,
    );
    for (r, v) in &started {
        let want = journeys[r]["started"].as_u64().unwrap();
        assert!(want > 0, "{r}");
        assert_eq!(*v, want as f64, "coordinator's pushed arrivals of {r}");
    }
    let workers = query(
        prom,
        "surge_workers{job=\"surge\",run=\"coordinated-run\",state=\"done\"}",
    );
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].1, 1.0, "the last push shows the worker done");
}

fn surge_process(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run surge");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_receiver_that_is_down_leaves_the_run_whole_with_a_warning_and_counts() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let url = format!("{}/api/v1/write", surge_testkit::refused_url());
    let (code, stderr) = surge_process(&[
        "run",
        &profile("quickstart.toml"),
        "--duration",
        "4s",
        "--interval",
        "1s",
        "--drain",
        "3s",
        "--no-report",
        "--out",
        &out.display().to_string(),
        "--prom-remote-write",
        &url,
    ]);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("surge: warning: remote write to"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains("0 pushes accepted") && warning.contains("request failed"),
        "{warning}"
    );
    // Nothing recorded is lost: the folder is whole, and the counts are in events.jsonl.
    let summary = assert_tally(&out);
    assert!(summary["journeys"]["americas"]["started"].as_u64().unwrap() > 0);
    let ev = events_of(&out, "remote_write");
    assert_eq!(ev.len(), 1, "{ev:?}");
    let detail = ev[0]["detail"].as_str().unwrap();
    assert!(detail.contains("0 pushes accepted"), "{detail}");
    assert!(!detail.contains(" 0 failed"), "{detail}");
    let _ = read_json(&out.join("summary.json"));
}

#[test]
fn a_bad_remote_write_url_is_refused_before_the_run_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    let quickstart = profile("quickstart.toml");
    for (args, want) in [
        (
            vec![
                "run",
                &quickstart,
                "--out",
                &o,
                "--prom-remote-write",
                "ftp://prom:9090/api/v1/write",
            ],
            "remote write URL `ftp://prom:9090/api/v1/write` must be http://",
        ),
        (
            vec![
                "run",
                &quickstart,
                "--out",
                &o,
                "--prom-remote-write",
                "http://bad host/api/v1/write",
            ],
            "remote write URL `http://bad host/api/v1/write` is not a URL",
        ),
        (
            vec![
                "coordinator",
                &quickstart,
                "--token",
                "t",
                "--listen",
                "127.0.0.1:0",
                "--out",
                &o,
                "--prom-remote-write",
                "prometheus:9090/api/v1/write",
            ],
            "must be http://",
        ),
    ] {
        let (code, stderr) = surge_process(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("invalid --prom-remote-write") && stderr.contains(want),
            "{args:?}: {stderr}"
        );
        assert!(
            !out.exists(),
            "nothing is written before the input is known good"
        );
    }
}
