//! A user-space link emulator: a TCP relay that holds every byte for a one-way delay (plus jitter)
//! in each direction before passing it on.
//!
//! This machine's kernel has no `netem` qdisc (`tc qdisc add ... netem` answers "Specified qdisc kind
//! is unknown"), so the distance between a region's worker host and the target is emulated here, in
//! the test tooling, never in the product. Each accepted connection gets two pumps (client to
//! upstream, upstream to client). A pump reads what arrives, stamps it with its release time
//! `arrival + delay + jitter` (jitter uniform in `[-jitter, +jitter]`, never earlier than the chunk
//! before it, so the byte stream keeps its order as TCP would), and a writer sends each chunk when its
//! time comes. A round trip through the link therefore takes at least `2 x (delay - jitter)` more than
//! without it. Reading stops while 4,096 chunks wait, so a slow side pushes back as a real link would.
//!
//! Cutting the link is stopping it ([`Link::stop`], or killing the `surge-link` process): every
//! connection through it is reset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a link delays traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// One-way delay added in each direction (the round trip grows by twice this).
    pub delay: Duration,
    /// Jitter: each chunk's delay is `delay` plus a uniform draw in `[-jitter, +jitter]`.
    pub jitter: Duration,
    /// Seed of the jitter draws (runs with the same seed draw the same sequence per connection).
    pub seed: u64,
}

/// What a link has carried so far.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections whose upstream could not be reached.
    pub refused: AtomicU64,
    /// Bytes relayed, both directions.
    pub bytes: AtomicU64,
}

/// A running link: listens on [`Link::addr`] and relays to its upstream with the spec's delay.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    stats: Arc<LinkStats>,
    accept: JoinHandle<()>,
}

impl Link {
    /// Binds `listen` (port 0 for any) and relays every connection to `upstream`.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        spec: LinkSpec,
    ) -> std::io::Result<Link> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(LinkStats::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, spec, stats.clone()));
        Ok(Link {
            addr,
            stats,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the link has carried so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Cuts the link: stops accepting. Connections already open end when their pumps see the
    /// listener's task gone (they are aborted with it).
    pub fn stop(self) {
        self.accept.abort();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    spec: LinkSpec,
    stats: Arc<LinkStats>,
) {
    // Each connection's pumps are owned here, so aborting this task (cutting the link) drops them.
    let mut conns: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    let mut index = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                index += 1;
                stats.connections.fetch_add(1, Ordering::Relaxed);
                let seed = spec.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                conns.spawn(relay(client, upstream, spec, seed, stats.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    spec: LinkSpec,
    seed: u64,
    stats: Arc<LinkStats>,
) {
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, spec, seed, stats.clone());
    let down = pump(sr, cw, spec, seed.rotate_left(17) ^ 1, stats);
    tokio::join!(up, down);
}

/// One direction: read, stamp with a release time, write when it comes. A read of 0 bytes (the
/// sender's FIN) is passed on as a shutdown at its own release time.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    spec: LinkSpec,
    seed: u64,
    stats: Arc<LinkStats>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>(4096);
    let reader = async move {
        let mut jitter = Jitter::new(spec, seed);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap_or(0);
            let release = (Instant::now() + jitter.next()).max(last);
            last = release;
            let chunk = (n > 0).then(|| buf[..n].to_vec());
            let end = chunk.is_none();
            if tx.send((release, chunk)).await.is_err() || end {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((release, chunk)) = rx.recv().await {
            tokio::time::sleep_until(release).await;
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).await.is_err() {
                        return;
                    }
                    stats.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                None => {
                    let _ = to.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::join!(reader, writer);
}

/// The per-chunk delay: `delay` plus a uniform draw in `[-jitter, +jitter]`, never below zero
/// (splitmix64: the tooling needs no random-number crate).
struct Jitter {
    delay: Duration,
    jitter: Duration,
    state: u64,
}

impl Jitter {
    fn new(spec: LinkSpec, seed: u64) -> Jitter {
        Jitter {
            delay: spec.delay,
            jitter: spec.jitter,
            state: seed,
        }
    }

    fn next(&mut self) -> Duration {
        if self.jitter.is_zero() {
            return self.delay;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        let offset = (unit * 2.0 - 1.0) * self.jitter.as_secs_f64();
        Duration::from_secs_f64((self.delay.as_secs_f64() + offset).max(0.0))
    }
}

/// Parses a duration as the link's command line writes it: `20ms`, `1.5ms`, `250us`, `1s`, `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "ms"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 20ms, 250us, 1s)"))?;
    let seconds = match unit {
        "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (s, ms or us)")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` must be a duration of zero or more"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_is_seeded() {
        let spec = LinkSpec {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            seed: 7,
        };
        let draws: Vec<Duration> = {
            let mut j = Jitter::new(spec, 7);
            (0..10_000).map(|_| j.next()).collect()
        };
        assert!(draws.iter().all(|d| *d >= Duration::from_millis(15)));
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(25)));
        let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.020).abs() < 0.0005, "mean {mean}");
        let mut again = Jitter::new(spec, 7);
        assert_eq!(again.next(), draws[0]);
    }

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-1ms").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
