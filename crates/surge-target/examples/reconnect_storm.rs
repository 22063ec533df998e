//! The reconnect storm of `profiles/plans/reconnect-storm.toml`, from the reference target's side:
//! CONNS clients connect in the americas, the plan drops every us connection 20 s after the target
//! started, and every client reconnects by one policy:
//!
//! - `immediate`: retry at once after each refusal (50 ms pause so the loop is not a spin);
//! - `jitter`: exponential backoff with full jitter, the first wait uniform in 0..5 s, doubling up
//!   to 30 s.
//!
//! It prints refusals, reconnect times (from the 1001 close to the re-established connection) and
//! the target's handshake counters. Loopback only; about a minute per policy.
//!
//! ```text
//! cargo run --release -p surge-target --example reconnect_storm -- [CONNS] [immediate|jitter|both]
//! ```

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Ws = WebSocketStream<TcpStream>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    Immediate,
    Jitter,
}

/// What one client saw after the drop.
struct Reconnected {
    refused: u32,
    took: Duration,
    _ws: Ws,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let conns: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let policies = match args.get(2).map(String::as_str) {
        Some("immediate") => vec![Policy::Immediate],
        Some("jitter") => vec![Policy::Jitter],
        _ => vec![Policy::Immediate, Policy::Jitter],
    };
    for policy in policies {
        storm(policy, conns).await?;
    }
    Ok(())
}

async fn storm(policy: Policy, conns: usize) -> Result<(), Box<dyn Error>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/plans/reconnect-storm.toml");
    let plan = surge_target::CapacityPlan::load(&path)?;
    let drop_at = plan.faults().first().map_or(Duration::ZERO, |f| f.at);
    let started = Instant::now();
    let target = surge_target::serve("127.0.0.1:0".parse()?, plan).await?;
    let addr = target.local_addr().to_string();
    let token = signup(&addr).await?;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..conns {
        let (addr, token) = (addr.clone(), token.clone());
        clients.spawn(client(addr, token, policy, i as u64));
    }
    // The handshake counters just before the drop, so that the storm's own can be told apart.
    tokio::time::sleep_until(started + drop_at.saturating_sub(Duration::from_millis(500))).await;
    let before = target.stats().connections["us"].clone();
    println!(
        "{policy:?}: {} of {conns} connected before the drop",
        before.connections
    );
    let mut done = Vec::with_capacity(conns);
    while let Some(joined) = clients.join_next().await {
        done.push(joined??);
    }
    let mut took: Vec<Duration> = done.iter().map(|r| r.took).collect();
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)].as_millis();
    let refused: u64 = done.iter().map(|r| u64::from(r.refused)).sum();
    let first_try = done.iter().filter(|r| r.refused == 0).count();
    let us = target.stats().connections["us"].clone();
    let storm = |result: &str| us.handshakes(result) - before.handshakes(result);
    println!(
        "{policy:?}: {conns} clients, refused after the drop {refused} ({:.1} per client), \
         back at the first attempt {first_try}; reconnect p50 {} ms, p99 {} ms, max {} ms; \
         us handshakes in the storm: accepted {}, rate_limited {}, overloaded {}",
        refused as f64 / conns as f64,
        at(0.5),
        at(0.99),
        at(1.0),
        storm("accepted"),
        storm("rate_limited"),
        storm("overloaded"),
    );
    drop(done);
    target.shutdown().await;
    Ok(())
}

/// Connects (honouring Retry-After with jitter), waits for the drop, reconnects by `policy`.
async fn client(
    addr: String,
    token: String,
    policy: Policy,
    seed: u64,
) -> Result<Reconnected, WsError> {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut ws = loop {
        match connect(&addr, &token).await {
            Ok(ws) => break ws,
            Err(retry) => sleep_upto(&mut rng, retry.max(1) * 1000).await,
        }
    };
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Close(_) = message {
            break;
        }
    }
    drop(ws);
    let dropped = Instant::now();
    let mut refused = 0u32;
    loop {
        match policy {
            Policy::Immediate if refused > 0 => tokio::time::sleep(Duration::from_millis(50)).await,
            Policy::Immediate => {}
            Policy::Jitter => {
                let window = (5_000u64 << refused.min(3)).min(30_000);
                sleep_upto(&mut rng, window).await;
            }
        }
        match connect(&addr, &token).await {
            Ok(ws) => {
                return Ok(Reconnected {
                    refused,
                    took: dropped.elapsed(),
                    _ws: ws,
                });
            }
            Err(_) => refused += 1,
        }
    }
}

/// Sleeps a uniform 0..`ms` milliseconds (xorshift64).
async fn sleep_upto(rng: &mut u64, ms: u64) {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    tokio::time::sleep(Duration::from_millis(*rng % ms.max(1))).await;
}

/// A handshake; on refusal, the Retry-After seconds (0 when absent or not an HTTP refusal).
async fn connect(addr: &str, token: &str) -> Result<Ws, u64> {
    let mut request = format!("ws://{addr}/v1/ws")
        .into_client_request()
        .map_err(|_| 0u64)?;
    let headers = request.headers_mut();
    headers.insert("x-surge-region", http::HeaderValue::from_static("americas"));
    let bearer = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| 0u64)?;
    headers.insert("authorization", bearer);
    let stream = TcpStream::connect(addr).await.map_err(|_| 0u64)?;
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(response)) => Err(response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0)),
        Err(_) => Err(0),
    }
}

/// One HTTP/1.1 request on a fresh connection; returns the body.
async fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned())
}

/// Signs one account up and returns its token (all clients share it: one account may hold many
/// connections).
async fn signup(addr: &str) -> Result<String, Box<dyn Error>> {
    let number = "+15550000001";
    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
    let body = format!("{{\"number\":\"{number}\"}}");
    let answer = json(&http(addr, "POST", "/v1/verification/code", &body).await?);
    let session = answer["session_id"]
        .as_str()
        .ok_or("no session id")?
        .to_owned();
    let code = surge_target::verification_code(surge_target::DEFAULT_SECRET, number);
    let body = format!("{{\"session_id\":\"{session}\",\"code\":\"{code}\"}}");
    http(addr, "PUT", "/v1/verification/code", &body).await?;
    let body = format!("{{\"session_id\":\"{session}\"}}");
    let answer = json(&http(addr, "POST", "/v1/accounts", &body).await?);
    Ok(answer["token"].as_str().ok_or("no token")?.to_owned())
}
