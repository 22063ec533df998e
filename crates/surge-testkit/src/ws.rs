//! A small WebSocket chat server for tests, on `127.0.0.1:0`: it speaks the reference backend's
//! connected protocol (`send` -> `ack` + `message` to the recipient, `ping` -> `pong`) with the
//! bearer token as the account (`authorization: Bearer +15550001234` is that number), answers any plain
//! HTTP request with `200 {}`, and can misbehave on purpose ([`WsMode`]).
//!
//! ```no_run
//! # async fn demo() {
//! let server = surge_testkit::ws::WsServer::start(surge_testkit::ws::WsMode::Chat).await;
//! let url = server.url(); // "http://127.0.0.1:PORT"
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use surge_ws::{Decoder, Limits, Message, Opcode, Role, frame, handshake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How the server behaves once a client upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsMode {
    /// The reference protocol.
    Chat,
    /// Refuse every upgrade with this status (and `retry-after: 1`).
    Refuse(u16),
    /// Close every connection with this code right after the upgrade.
    CloseWith(u16),
    /// Send a frame with reserved bits set right after the upgrade.
    Garbage,
    /// Announce a 10 MB frame right after the upgrade.
    Oversized,
    /// Chat, but never answer a `ping`.
    NoPong,
    /// Send a text frame that is not JSON, then chat.
    NotJson,
    /// Deliver a message surge never sent (unknown id and region), then chat.
    Forged,
    /// Deliver a well-formed message from a person outside any test population (id
    /// `4000000000.0`, a known region, a plausible `sent_at`), then chat.
    Stranger,
    /// Answer every `send` with an error frame (`{"type":"error","id":..,"code":"unknown_recipient"}`)
    /// and deliver nothing.
    RefuseSends,
}

/// A running test server.
pub struct WsServer {
    addr: SocketAddr,
    upgrades: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
    peers: Peers,
    task: tokio::task::JoinHandle<()>,
}

/// Source addresses of the connections that upgraded.
type Peers = Arc<Mutex<std::collections::BTreeSet<std::net::IpAddr>>>;

type Router = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Vec<u8>>>>>;

impl WsServer {
    /// Starts the server in `mode`.
    pub async fn start(mode: WsMode) -> WsServer {
        let (listener, addr) = crate::loopback_listener().await;
        let upgrades = Arc::new(AtomicU64::new(0));
        let delivered = Arc::new(AtomicU64::new(0));
        let router: Router = Arc::default();
        let peers: Peers = Arc::default();
        let (u, d, seen) = (upgrades.clone(), delivered.clone(), peers.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, from)) = listener.accept().await {
                let (u, d, r, seen) = (u.clone(), d.clone(), router.clone(), seen.clone());
                tokio::spawn(async move {
                    let upgraded = move || {
                        if let Ok(mut s) = seen.lock() {
                            s.insert(from.ip());
                        }
                    };
                    let _ = serve(sock, mode, (u, upgraded), d, r).await;
                });
            }
        });
        WsServer {
            addr,
            upgrades,
            delivered,
            peers,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Upgrades answered 101.
    pub fn upgrades(&self) -> u64 {
        self.upgrades.load(Ordering::Relaxed)
    }

    /// Source addresses of the connections that upgraded (recorded when each connection ends).
    pub fn upgraded_from(&self) -> std::collections::BTreeSet<std::net::IpAddr> {
        self.peers.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Messages delivered to a connected recipient.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut sock: TcpStream,
    mode: WsMode,
    (upgrades, upgraded): (Arc<AtomicU64>, impl FnOnce()),
    delivered: Arc<AtomicU64>,
    router: Router,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let (head_len, key, token) = loop {
            match parse_head(&buf) {
                Head::Complete(n, key, token) => break (n, key, token),
                Head::Bad => {
                    return sock
                        .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
                Head::Partial => {}
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 || buf.len() > 64 * 1024 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..head_len);
        let Some(key) = key else {
            sock.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            )
            .await?;
            continue;
        };
        if let WsMode::Refuse(status) = mode {
            let answer =
                format!("HTTP/1.1 {status} No\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n");
            return sock.write_all(answer.as_bytes()).await;
        }
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
            handshake::accept(&key)
        );
        sock.write_all(answer.as_bytes()).await?;
        upgrades.fetch_add(1, Ordering::Relaxed);
        upgraded();
        return session(sock, buf, mode, token, delivered, router).await;
    }
}

/// A request head as far as it arrived.
enum Head {
    /// Its length, the `sec-websocket-key` and the bearer token.
    Complete(usize, Option<String>, String),
    Partial,
    /// Not HTTP (e.g. a TLS hello).
    Bad,
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Bad,
    };
    let get = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_string())
    };
    let token = get("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_string))
        .unwrap_or_default();
    // A plain request's body (surge's GET steps send none) is not expected here.
    Head::Complete(n, get("sec-websocket-key"), token)
}

async fn session(
    sock: TcpStream,
    rest: Vec<u8>,
    mode: WsMode,
    token: String,
    delivered: Arc<AtomicU64>,
    router: Router,
) -> std::io::Result<()> {
    let (mut rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut first = Vec::new();
    match mode {
        WsMode::CloseWith(code) => frame::encode_close(code, "bye", None, &mut first),
        WsMode::Garbage => first.extend_from_slice(&[0xF1, 0x00]),
        WsMode::Oversized => first.extend_from_slice(&[0x82, 127, 0, 0, 0, 0, 0, 0x98, 0x96, 0x80]),
        WsMode::NotJson => frame::encode(Opcode::Text, true, b"<html>", None, &mut first),
        WsMode::Forged => {
            let forged = br#"{"type":"message","id":"forged","from":"+1","body":{"sent_at":1,"region":"mars"}}"#;
            frame::encode(Opcode::Text, true, forged, None, &mut first)
        }
        WsMode::Stranger => {
            let stranger = br#"{"type":"message","id":"4000000000.0","from":"+1","body":{"sent_at":1,"region":"americas"}}"#;
            frame::encode(Opcode::Text, true, stranger, None, &mut first)
        }
        _ => {}
    }
    if !first.is_empty() {
        wr.write_all(&first).await?;
        if matches!(
            mode,
            WsMode::CloseWith(_) | WsMode::Garbage | WsMode::Oversized
        ) {
            let mut sink = [0u8; 1024];
            while rd.read(&mut sink).await.unwrap_or(0) > 0 {}
            return Ok(());
        }
    }
    if let Ok(mut r) = router.lock() {
        r.insert(token.clone(), tx.clone());
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut dec = Decoder::new(Role::Server, Limits::default());
    let mut buf = rest;
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let mut at = 0;
        loop {
            match dec.decode(&mut buf[at..]) {
                Ok((used, Some(m))) => {
                    at += used;
                    if !on_message(m, mode, &tx, &token, &delivered, &router) {
                        break 'read;
                    }
                }
                Ok((used, None)) => {
                    at += used;
                    break;
                }
                Err(_) => break 'read,
            }
        }
        buf.drain(..at);
        let n = rd.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if let Ok(mut r) = router.lock() {
        r.remove(&token);
    }
    drop(tx);
    let _ = writer.await;
    Ok(())
}

/// Answers one client message; false once the connection should end.
fn on_message(
    m: Message<'_>,
    mode: WsMode,
    tx: &mpsc::UnboundedSender<Vec<u8>>,
    token: &str,
    delivered: &AtomicU64,
    router: &Router,
) -> bool {
    let mut out = Vec::new();
    match m {
        Message::Close(code, _) => {
            frame::encode_close(code.unwrap_or(1000), "", None, &mut out);
            let _ = tx.send(out);
            return false;
        }
        Message::Ping(p) => frame::encode(Opcode::Pong, true, p, None, &mut out),
        Message::Text(t) => {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(t) else {
                frame::encode_close(1008, "not json", None, &mut out);
                let _ = tx.send(out);
                return false;
            };
            match v["type"].as_str() {
                Some("ping") if mode != WsMode::NoPong => {
                    frame::encode(Opcode::Text, true, br#"{"type":"pong"}"#, None, &mut out)
                }
                Some("send") if mode == WsMode::RefuseSends => {
                    let err = serde_json::json!({"type": "error", "id": v["id"], "code": "unknown_recipient"});
                    frame::encode(
                        Opcode::Text,
                        true,
                        err.to_string().as_bytes(),
                        None,
                        &mut out,
                    );
                }
                Some("send") => {
                    let id = v["id"].clone();
                    let ack = serde_json::json!({"type": "ack", "id": id});
                    frame::encode(
                        Opcode::Text,
                        true,
                        ack.to_string().as_bytes(),
                        None,
                        &mut out,
                    );
                    let msg = serde_json::json!({"type": "message", "id": id, "from": token, "body": v["body"]});
                    let to = v["to"].as_str().unwrap_or_default();
                    let peer = router.lock().ok().and_then(|r| r.get(to).cloned());
                    if let Some(peer) = peer {
                        let mut f = Vec::new();
                        frame::encode(Opcode::Text, true, msg.to_string().as_bytes(), None, &mut f);
                        if peer.send(f).is_ok() {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
        }
        Message::Binary(_) | Message::Pong(_) => {}
    }
    if !out.is_empty() {
        let _ = tx.send(out);
    }
    true
}
