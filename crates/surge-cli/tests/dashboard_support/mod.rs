//! Helpers of the dashboard tests: a real `surge run --dashboard` process against the embedded
//! reference backend, a plain HTTP/1.1 client for its page and its event stream, and headless Chromium.
#![allow(dead_code)]

pub mod cdp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `surge run` process with its dashboard; killed when dropped.
pub struct LiveRun {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub out: PathBuf,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `surge run PROFILE ARGS... --dashboard 127.0.0.1:0 --out OUT` and waits for the printed URL.
pub fn start(profile: &str, args: &[&str], out: &Path) -> LiveRun {
    let mut all = vec!["run", profile];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dashboard", "127.0.0.1:0"]);
    start_command(&all, out)
}

/// Starts `surge ARGS... --out OUT` and waits for the dashboard URL it prints.
pub fn start_command(args: &[&str], out: &Path) -> LiveRun {
    let mut child = Command::new(env!("CARGO_BIN_EXE_surge"))
        .args(args)
        .arg("--out")
        .arg(out)
        .env_remove("SURGE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start surge");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut run = LiveRun {
        child,
        url: String::new(),
        addr: "127.0.0.1:0".parse().unwrap(),
        out: out.to_path_buf(),
        lines,
        stderr: Vec::new(),
    };
    let line = run
        .wait_line("live dashboard at ", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no dashboard URL; stderr: {:#?}", run.stderr));
    let url = line
        .split("live dashboard at ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    run.addr = host.parse().expect("dashboard address");
    run.url = url;
    run
}

impl LiveRun {
    /// Waits for a stderr line containing `needle`; collects every line seen.
    pub fn wait_line(&mut self, needle: &str, within: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }
}

/// A response: status, headers (lowercase names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a GET with `headers` and reads the status line and headers; the stream is left at the body.
fn open(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (BufReader<TcpStream>, u16, Vec<(String, String)>) {
    let mut s = TcpStream::connect(addr).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut hs = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            hs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (r, status, hs)
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// One chunk of a chunked body (None at the end).
fn chunk(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n = usize::from_str_radix(line.trim(), 16).ok()?;
    let mut buf = vec![0; n + 2];
    r.read_exact(&mut buf).ok()?;
    buf.truncate(n);
    (n > 0).then_some(buf)
}

/// A whole GET.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let (mut r, status, hs) = open(addr, path, headers);
    let mut body = Vec::new();
    if let Some(n) = header(&hs, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body).unwrap();
    } else if header(&hs, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while let Some(c) = chunk(&mut r) {
            body.extend_from_slice(&c);
        }
    }
    Reply {
        status,
        headers: hs,
        body,
    }
}

/// One server-sent event: its id and its JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: u64,
    pub data: serde_json::Value,
}

/// An open `/events` stream.
pub struct Events {
    r: BufReader<TcpStream>,
    buf: String,
    pub status: u16,
    pub content_type: String,
}

/// Opens `/events` (with `Last-Event-ID: last` when given).
pub fn events(addr: SocketAddr, last: Option<u64>) -> Events {
    let id = last.map(|l| l.to_string());
    let mut hs = vec![("Accept", "text/event-stream")];
    if let Some(id) = &id {
        hs.push(("Last-Event-ID", id.as_str()));
    }
    let (r, status, headers) = open(addr, "/events", &hs);
    Events {
        r,
        buf: String::new(),
        status,
        content_type: header(&headers, "content-type").unwrap_or("").to_string(),
    }
}

impl Events {
    /// The next event with an id (comments and `retry:` skipped); None when the stream ends.
    pub fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if let Some(id) = id {
                    let data = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("event {id} is not JSON ({e}): {data}"));
                    return Some(Event { id, data });
                }
                continue;
            }
            let c = chunk(&mut self.r)?;
            self.buf.push_str(&String::from_utf8_lossy(&c));
        }
    }
}

/// Chromium's console errors in its log.
pub fn console_errors(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .map(str::to_string)
        .collect()
}
