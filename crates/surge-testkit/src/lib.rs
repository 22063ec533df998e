//! # surge-testkit
//!
//! Test helpers: purpose-built faulty servers on `127.0.0.1:0` (raw TCP, so they can misbehave in ways a
//! correct HTTP library never would) that count what reaches them, a TLS server with a test-only CA
//! ([`tls`]), a closed port, tiny one-step profiles ([`profiles`]) and child-process helpers (peak RSS,
//! signals: [`process`]). Dev-only.
//!
//! ```no_run
//! # async fn demo() {
//! use surge_testkit::{Fault, FaultServer};
//! let server = FaultServer::start(Fault::NeverAnswer).await;
//! println!("a server that accepts and never answers: {}", server.url());
//! assert_eq!(server.max_open_connections(), 0);
//! # }
//! ```
#![warn(missing_docs)]
// Test servers record real request spans and wait for real processes: std's clock is meant.
#![allow(clippy::disallowed_methods)]

pub mod link;
pub mod process;
pub mod profiles;
pub mod sync;
pub mod tls;
pub mod ws;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How a [`FaultServer`] misbehaves.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Accepts, reads the request, never answers (but notices when the client hangs up).
    NeverAnswer,
    /// Reads the request, sends half a response, then resets the connection (RST via SO_LINGER 0).
    ResetMidResponse,
    /// Answers a valid response one byte at a time, `delay` apart.
    SlowBytes(Duration),
    /// Answers bytes that are not HTTP.
    Garbage,
    /// Answers 200 with a body of this many bytes, announced in Content-Length (streamed, never held
    /// in memory).
    HugeBody(u64),
    /// Answers 200 with a body of this many bytes and no length (delimited by closing the connection),
    /// so a client learns its size only by reading it.
    HugeUnannounced(u64),
    /// Answers this status with this JSON body (e.g. a body the journey does not expect).
    Fixed(u16, &'static str),
    /// Answers 200 `{}` after this delay (for accuracy and stall tests).
    Delay(Duration),
}

/// What reached a [`FaultServer`], shared with its connection tasks.
#[derive(Debug)]
struct Stats {
    born: Instant,
    requests: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
    /// Nanoseconds after `born` of the last request head read, plus one (0 = none yet).
    last_request: AtomicU64,
    /// The first 64 requests, whole (head and body).
    seen: Mutex<Vec<String>>,
    /// When each connection was accepted and when its close was noticed.
    spans: Mutex<Vec<(Instant, Option<Instant>)>>,
}

impl Stats {
    fn request(&self, head: &[u8]) {
        if let Ok(mut seen) = self.seen.lock()
            && seen.len() < 64
        {
            seen.push(String::from_utf8_lossy(head).into_owned());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let ns = self.born.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        self.last_request.fetch_max(ns + 1, Ordering::Relaxed);
    }
}

/// A misbehaving server on 127.0.0.1:0; stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
    stats: Arc<Stats>,
}

impl FaultServer {
    /// Starts the server on the current runtime.
    ///
    /// # Panics
    /// When 127.0.0.1:0 cannot be bound (a broken test machine).
    pub async fn start(fault: Fault) -> FaultServer {
        let (listener, addr) = loopback_listener().await;
        let stats = Arc::new(Stats {
            born: Instant::now(),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            open: AtomicU64::new(0),
            max_open: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
            spans: Mutex::new(Vec::new()),
        });
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (fault, stats) = (fault.clone(), shared.clone());
                stats.connections.fetch_add(1, Ordering::Relaxed);
                let open = stats.open.fetch_add(1, Ordering::Relaxed) + 1;
                stats.max_open.fetch_max(open, Ordering::Relaxed);
                let id = stats
                    .spans
                    .lock()
                    .map(|mut s| {
                        s.push((Instant::now(), None));
                        s.len() - 1
                    })
                    .ok();
                tokio::spawn(async move {
                    let _ = serve(stream, fault, &stats).await;
                    stats.open.fetch_sub(1, Ordering::Relaxed);
                    if let (Some(id), Ok(mut spans)) = (id, stats.spans.lock()) {
                        spans[id].1 = Some(Instant::now());
                    }
                });
            }
        });
        FaultServer { addr, task, stats }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests whose head was read.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.stats.open.load(Ordering::Relaxed)
    }

    /// Most connections ever open at once.
    pub fn max_open_connections(&self) -> u64 {
        self.stats.max_open.load(Ordering::Relaxed)
    }

    /// Most connections open at once, counting a connection as closed `grace` before its close was
    /// noticed here: a client that closes one connection and at once opens another is seen by this
    /// server in either order, and `grace` (a few ms) absorbs that without hiding a real excess.
    pub fn max_concurrent_connections(&self, grace: Duration) -> u64 {
        let now = Instant::now();
        let Ok(spans) = self.stats.spans.lock() else {
            return 0;
        };
        let mut events: Vec<(Instant, i64)> = Vec::with_capacity(spans.len() * 2);
        for (open, close) in spans.iter() {
            let end = close.map_or(now, |c| c.checked_sub(grace).unwrap_or(c).max(*open));
            events.push((*open, 1));
            events.push((end, -1));
        }
        // At equal times, closes first.
        events.sort();
        let (mut cur, mut most) = (0i64, 0i64);
        for (_, d) in events {
            cur += d;
            most = most.max(cur);
        }
        most.max(0) as u64
    }

    /// The request lines seen so far (the first 64), e.g. `GET /healthz HTTP/1.1`.
    pub fn request_lines(&self) -> Vec<String> {
        let seen = self.requests_seen();
        seen.iter()
            .map(|r| r.lines().next().unwrap_or_default().to_string())
            .collect()
    }

    /// The first 64 requests, whole: head and body, as text (lossy UTF-8).
    pub fn requests_seen(&self) -> Vec<String> {
        self.stats
            .seen
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// When the last request head was read, if any was.
    pub fn last_request_at(&self) -> Option<Instant> {
        match self.stats.last_request.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.stats.born + Duration::from_nanos(ns - 1)),
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head and its Content-Length body; `None` at end of stream.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Option<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(());
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads and drops bytes until the peer closes (or the connection fails).
async fn until_closed(stream: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            return;
        }
    }
}

async fn serve(mut stream: TcpStream, fault: Fault, stats: &Stats) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while read_request(&mut stream, &mut buf).await.is_some() {
        stats.request(&buf);
        match &fault {
            Fault::NeverAnswer => {
                until_closed(&mut stream).await;
                return Ok(());
            }
            Fault::ResetMidResponse => {
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"half\":")
                    .await?;
                // SO_LINGER 0 makes the close an RST; with a zero timeout the close never blocks.
                #[allow(deprecated)]
                stream.set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            Fault::SlowBytes(d) => {
                for b in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}" {
                    stream.write_all(&[*b]).await?;
                    tokio::time::sleep(*d).await;
                }
            }
            Fault::Garbage => {
                stream
                    .write_all(b"\x00\x01this is not http at all\r\n\r\n")
                    .await?;
                return Ok(());
            }
            Fault::HugeBody(n) => huge_body(&mut stream, *n, true).await?,
            Fault::HugeUnannounced(n) => {
                huge_body(&mut stream, *n, false).await?;
                return Ok(());
            }
            Fault::Fixed(status, body) => {
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(resp.as_bytes()).await?;
            }
            Fault::Delay(d) => {
                tokio::time::sleep(*d).await;
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await?;
            }
        }
    }
    Ok(())
}

async fn huge_body(stream: &mut TcpStream, n: u64, announce: bool) -> std::io::Result<()> {
    let head = if announce {
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n")
    } else {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_string()
    };
    stream.write_all(head.as_bytes()).await?;
    let block = vec![b' '; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len() as u64) as usize;
        stream.write_all(&block[..k]).await?;
        left -= k as u64;
    }
    Ok(())
}

/// A listener on 127.0.0.1 at a port the kernel picks, and its address: where every server of this
/// kit listens.
///
/// # Panics
/// When 127.0.0.1:0 cannot be bound (a broken test machine).
pub(crate) async fn loopback_listener() -> (TcpListener, std::net::SocketAddr) {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind 127.0.0.1:0: {e}"),
    };
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    (listener, addr)
}

/// A loopback address where nothing listens (bound, then closed): connections are refused.
///
/// # Panics
/// When 127.0.0.1:0 cannot be bound.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

/// The repository root (for profiles/ and plans/ in tests).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
