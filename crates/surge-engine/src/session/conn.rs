//! Opening a WebSocket: the URL, TCP, optional TLS, and the RFC 6455 upgrade.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use surge_metrics::{Outcome, ServerTiming};
use surge_ws::{Decoder, HandshakeError, Limits, Role, handshake};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::Session;
use crate::http::classify_io;

/// A `ws://` or `wss://` endpoint, parsed from a URL (`http(s)://` reads as `ws(s)://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// TLS (`wss`/`https`).
    pub tls: bool,
    /// `host[:port]` as written (the `host` header).
    pub authority: String,
    /// Host name or address.
    pub host: String,
    /// Port (default 80 / 443).
    pub port: u16,
    /// Path prefix without a trailing `/` (often empty).
    pub prefix: String,
}

impl WsUrl {
    /// Parses `base`; `None` when it is not a ws/wss/http/https URL with a host.
    pub fn parse(base: &str) -> Option<WsUrl> {
        let (tls, rest) = if let Some(r) = base.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = base.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = base.strip_prefix("http://") {
            (false, r)
        } else {
            (true, base.strip_prefix("https://")?)
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()?),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some(WsUrl {
            tls,
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            prefix: prefix.trim_end_matches('/').to_string(),
        })
    }
}

/// The byte stream under a WebSocket.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open WebSocket: the stream, the decoder, and the bytes of a partial frame (usually none).
pub(crate) struct Ws {
    pub(crate) io: Io,
    pub(crate) dec: Decoder,
    pub(crate) rem: Vec<u8>,
}

type Failure = (Outcome, Option<Duration>);

/// Connects and upgrades; the failure's outcome and a `Retry-After` hint. The target's
/// `Server-Timing` on the upgrade's answer (the 101 or a refusal), if any, goes into `timing`.
pub(super) async fn open(
    s: &Session<'_>,
    timing: &mut Option<ServerTiming>,
) -> Result<Ws, Failure> {
    let base = match &s.c.base {
        Some(b) => b.as_str(),
        None => s.p.targets.base_for(s.person.region, s.person.index, None),
    };
    let url = WsUrl::parse(base).ok_or((Outcome::Connect, None))?;
    let peer = (url.host.as_str(), url.port);
    let tcp = match s.p.sources.and_then(crate::Engine::next_source) {
        None => TcpStream::connect(peer)
            .await
            .map_err(|e| (classify_io(&e), None))?,
        Some(source) => crate::h1::connect_from(source, peer)
            .await
            .map_err(|o| (o, None))?,
    };
    let _ = tcp.set_nodelay(true);
    let mut io = if url.tls {
        let name = rustls_pki_types::ServerName::try_from(url.host.clone())
            .map_err(|_| (Outcome::Tls, None))?;
        let tls = tokio_rustls::TlsConnector::from(s.p.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| (tls_outcome(&e), None))?;
        Io::Tls(Box::new(tls))
    } else {
        Io::Plain(tcp)
    };
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&s.next_u64().to_le_bytes());
    nonce[8..].copy_from_slice(&s.next_u64().to_le_bytes());
    let key = handshake::key(nonce);
    let mut req = Vec::with_capacity(512);
    write_request(s, &url, &key, &mut req);
    io.write_all(&req)
        .await
        .map_err(|e| (classify_io(&e), None))?;
    let rem = read_answer(&mut io, &key, req, timing).await?;
    let limits = Limits {
        max_frame: s.c.max_frame,
        max_message: s.c.max_frame,
    };
    Ok(Ws {
        io,
        dec: Decoder::new(Role::Client, limits),
        rem,
    })
}

/// A TLS handshake that failed on the network is that network failure; anything else is `tls`.
fn tls_outcome(e: &std::io::Error) -> Outcome {
    match classify_io(e) {
        o @ (Outcome::Connect | Outcome::Timeout) => o,
        _ => Outcome::Tls,
    }
}

fn write_request(s: &Session<'_>, url: &WsUrl, key: &str, out: &mut Vec<u8>) {
    let ctx = s.ctx();
    let (mut path, mut headers) = (Vec::new(), Vec::new());
    s.c.upgrade(&ctx, &mut path, &mut headers);
    let mut full = url.prefix.clone();
    full.push_str(&String::from_utf8_lossy(&path));
    let hs: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    handshake::request(&url.authority, &full, key, &hs, out);
}

/// Reads the upgrade answer into `buf` (reused); returns the bytes after its head (frames already
/// sent), or the refusal. The head's `Server-Timing` goes into `timing`.
async fn read_answer(
    io: &mut Io,
    key: &str,
    mut buf: Vec<u8>,
    timing: &mut Option<ServerTiming>,
) -> Result<Vec<u8>, Failure> {
    use tokio::io::AsyncReadExt;
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        let n = io
            .read(&mut chunk)
            .await
            .map_err(|e| (classify_io(&e), None))?;
        if n == 0 {
            return Err((Outcome::Reset, None));
        }
        buf.extend_from_slice(&chunk[..n]);
        match handshake::check(&buf, key) {
            Ok(None) => continue,
            Ok(Some(head)) => {
                *timing = server_timing(&buf[..head]);
                return Ok(buf[head..].to_vec());
            }
            Err(HandshakeError::Refused {
                status,
                retry_after,
            }) => {
                *timing = server_timing(&buf);
                let hint = retry_after.map(|s| Duration::from_secs(u64::from(s.min(3600))));
                return Err((Outcome::from_status(status), hint));
            }
            Err(_) => return Err((Outcome::Protocol, None)),
        }
    }
}

/// The `Server-Timing` of a complete answer head at the start of `buf` (its header lines up to the
/// first empty line; a repeated header's values add up, as on HTTP steps' rounds).
fn server_timing(buf: &[u8]) -> Option<ServerTiming> {
    const NAME: &[u8] = b"server-timing:";
    let mut out: Option<ServerTiming> = None;
    for line in buf.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(value) = line
            .get(..NAME.len())
            .filter(|n| n.eq_ignore_ascii_case(NAME))
            .and_then(|_| line.get(NAME.len()..))
        else {
            continue;
        };
        if let Some(t) = ServerTiming::parse(value.trim_ascii()) {
            out.get_or_insert_default().add(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{WsUrl, server_timing};

    #[test]
    fn urls() {
        let u = WsUrl::parse("http://127.0.0.1:8080").unwrap_or_else(|| panic!("parse"));
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.prefix.as_str()),
            (false, "127.0.0.1", 8080, "")
        );
        let u = WsUrl::parse("wss://example.com/api/").unwrap_or_else(|| panic!("parse"));
        assert_eq!(
            (u.tls, u.port, u.authority.as_str(), u.prefix.as_str()),
            (true, 443, "example.com", "/api")
        );
        let u = WsUrl::parse("ws://[::1]:9/").unwrap_or_else(|| panic!("parse"));
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert!(WsUrl::parse("ftp://x").is_none());
        assert!(WsUrl::parse("ws://:80").is_none());
    }

    #[test]
    fn server_timing_is_read_from_the_head_only() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            SERVER-TIMING:  net;dur=40.5, queue;dur=2\r\nserver-timing: svc;dur=1\r\n\r\n\
            server-timing: net;dur=999\r\n";
        let t = server_timing(head).unwrap_or_else(|| panic!("no timing"));
        assert_eq!(
            (t.network_us, t.queue_us, t.service_us),
            (40_500, 2_000, 1_000)
        );
        // A refusal without the header, a status line that looks like one, garbage: none.
        assert!(server_timing(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\n\r\n").is_none());
        assert!(server_timing(b"server-timing: net;dur=5\r\n\r\n").is_none());
        assert!(server_timing(b"\xff\r\nserver-timing:\xff\r\nserver-timing\r\n").is_none());
    }
}
