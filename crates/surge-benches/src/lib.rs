//! # surge-benches
//!
//! Helpers for surge's benchmark suite (`bench/run.sh`) and criterion benches of its hot paths
//! (`cargo bench -p surge-benches`). The library holds the *delay target* of the accuracy benchmark
//! (issue 9, item 3): an HTTP/1.1 server that answers every request a fixed delay after it arrived,
//! with a thread per connection and the kernel's precise sleep (not a 1 ms timer wheel), and can
//! stall for a while in the middle of a run (the coordinated-omission check: every request that
//! arrives during the stall is answered when it ends).
//!
//! ```no_run
//! use std::time::Duration;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let target = surge_benches::DelayTarget { delay: Duration::from_millis(20), stall: None };
//! println!("http://{}", listener.local_addr()?);
//! target.serve(listener); // runs until the process ends
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs)]
// The delay target paces replies on its own threads, outside tokio: std's clock is meant.
#![allow(clippy::disallowed_methods)]

pub mod flags;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A stall window, placed relative to the first request the target sees.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    /// When the stall starts, after the first request.
    pub after: Duration,
    /// How long it lasts.
    pub length: Duration,
}

/// The delay target's behaviour.
#[derive(Debug, Clone, Copy)]
pub struct DelayTarget {
    /// Every answer is sent this long after its request arrived.
    pub delay: Duration,
    /// An optional stall: answers due during it wait until it ends.
    pub stall: Option<Stall>,
}

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";

impl DelayTarget {
    /// Serves `listener` forever, one thread per connection.
    pub fn serve(self, listener: TcpListener) {
        let first = Arc::new(OnceLock::new());
        for stream in listener.incoming().flatten() {
            let first = first.clone();
            let _ = std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || self.connection(stream, &first));
        }
    }

    /// When the answer to a request that arrived at `arrived` is due.
    pub fn due(&self, arrived: Instant, first: Instant) -> Instant {
        let due = arrived + self.delay;
        match self.stall {
            Some(s) => {
                let (s0, s1) = (first + s.after, first + s.after + s.length);
                if arrived < s1 && due >= s0 {
                    due.max(s1)
                } else {
                    due
                }
            }
            None => due,
        }
    }

    fn connection(self, mut stream: TcpStream, first: &OnceLock<Instant>) {
        let _ = stream.set_nodelay(true);
        let mut buf = vec![0u8; 16 * 1024];
        let mut filled = 0;
        loop {
            // Requests are heads without bodies (GET); a Content-Length body is skipped.
            let end = loop {
                if let Some(i) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if filled == buf.len() {
                    return;
                }
                match stream.read(&mut buf[filled..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => filled += n,
                }
            };
            let arrived = Instant::now();
            let first = *first.get_or_init(|| arrived);
            let body = content_length(&buf[..end]);
            let mut consumed = end + body;
            while filled < consumed {
                match stream.read(&mut buf[filled..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => filled += n,
                }
                if filled == buf.len() && filled < consumed {
                    consumed -= filled;
                    filled = 0;
                }
            }
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
            let due = self.due(arrived, first);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if stream.write_all(ANSWER).is_err() {
                return;
            }
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_holds_answers_due_inside_it_until_it_ends() {
        let t = DelayTarget {
            delay: Duration::from_millis(20),
            stall: Some(Stall {
                after: Duration::from_secs(10),
                length: Duration::from_secs(1),
            }),
        };
        let first = Instant::now();
        let at = |ms: u64| first + Duration::from_millis(ms);
        assert_eq!(
            t.due(at(0), first),
            at(20),
            "before the stall: the plain delay"
        );
        assert_eq!(
            t.due(at(9_990), first),
            at(11_000),
            "due inside the stall: held to its end"
        );
        assert_eq!(
            t.due(at(10_500), first),
            at(11_000),
            "arrived during the stall"
        );
        assert_eq!(
            t.due(at(11_000), first),
            at(11_020),
            "after it: the plain delay again"
        );
    }

    #[test]
    fn answers_each_request_after_the_delay() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let t = DelayTarget {
            delay: Duration::from_millis(30),
            stall: None,
        };
        std::thread::spawn(move || t.serve(l));
        let mut s = TcpStream::connect(addr).expect("connect");
        for _ in 0..3 {
            let sent = Instant::now();
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .expect("write");
            let mut got = vec![0u8; ANSWER.len()];
            s.read_exact(&mut got).expect("answer");
            assert_eq!(got, ANSWER);
            assert!(
                sent.elapsed() >= Duration::from_millis(30),
                "answered before the delay"
            );
        }
    }
}
