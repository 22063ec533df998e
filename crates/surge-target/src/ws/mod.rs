//! `GET /v1/ws`: connected sessions over WebSocket (RFC 6455, tokio-tungstenite behind hyper's
//! upgrade), with per-data-centre connection capacity, delivery slots and faults.
//!
//! A handshake, in order: not an upgrade request -> 400; unknown or missing bearer token -> 401;
//! the region's data centre down by a `restart` fault -> 503 with `Retry-After` (the seconds
//! left); over its `accept_rate_per_s` -> 503 with `Retry-After` (until the limiter allows one);
//! at `max_connections` -> 503 `Retry-After: 1`; then the handshake holds one of the data
//! centre's slots (the same slots as the HTTP API) for the `connect` service time, and a full slot
//! queue gives 503 `Retry-After: 1`. Otherwise 101 and the session starts ([`session`]).
//!
//! Messages: a `send` is routed by the sender's data centre. It joins that data centre's fan-out
//! queue, waits for one of its `delivery_slots`, holds it for the `deliver` service time, then is
//! handed to every live connection of the recipient, or to the recipient's mailbox (at most
//! `mailbox_limit` messages; more are dropped and counted) which is emptied into the recipient's
//! next connection. So overload shows as late delivery. Messages take their place in the queue in
//! the order they were sent, but with several slots and drawn service times they may finish (and
//! arrive) out of order, as with parallel delivery workers. The frames are in [`protocol`].

mod dc;
mod faults;
mod hub;
mod protocol;
mod session;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode, header};
use hyper::body::Incoming;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub(crate) use dc::WsDc;
pub(crate) use faults::run as run_faults;
pub(crate) use hub::Hub;
pub use stats::ConnStats;

use crate::api::{Reply, empty, error};
use crate::backend::{Backend, ConnRng};
use crate::codes::check_token;
use dc::{Handshake, Held};

/// Largest WebSocket frame and message accepted from a client; a larger one closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Answers `GET /v1/ws`: 101 and a session, or a refusal.
pub(crate) async fn handshake(
    backend: Arc<Backend>,
    rng: Arc<ConnRng>,
    request: Request<Incoming>,
) -> Reply {
    // Along the failover chain while the region's own data centre is down (no network time: the
    // round trip is modelled on the API only).
    let slot = backend.region_slot(request.headers());
    let dc = backend
        .serving_dc(slot)
        .unwrap_or_else(|| backend.dc_index(slot));
    let admitted = admit(&backend, &rng, dc, request.headers()).await;
    let (held, account, accept) = match admitted {
        Ok(admitted) => admitted,
        Err((result, reply)) => {
            backend.ws[dc].count_handshake(result);
            return reply;
        }
    };
    backend.ws[dc].count_handshake(Handshake::Accepted);
    let upgrade = hyper::upgrade::on(request);
    let seed = backend.plan.seed;
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => session::run(backend, io, account, held, seed).await,
            Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
        }
    });
    let mut reply = empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = reply.headers_mut();
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("upgrade"),
    );
    headers.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    reply
}

type Refused = (Handshake, Reply);

async fn admit(
    backend: &Arc<Backend>,
    rng: &ConnRng,
    dc: usize,
    headers: &HeaderMap,
) -> Result<(Held, u64, String), Refused> {
    let accept = upgrade_key(headers).ok_or_else(|| {
        let reply = error(StatusCode::BAD_REQUEST, "websocket upgrade expected");
        (Handshake::BadRequest, reply)
    })?;
    let account = crate::api::bearer_token(headers)
        .and_then(|t| check_token(backend.plan.secret(), t, backend.accounts.max_id()))
        .ok_or_else(|| {
            let reply = error(StatusCode::UNAUTHORIZED, "bad token");
            (Handshake::Unauthorized, reply)
        })?;
    let ws = &backend.ws[dc];
    if let Some(ms) = ws.down_for(backend.now_ms()) {
        let wait = Duration::from_millis(ms);
        return Err((Handshake::Down, unavailable("data centre restarting", wait)));
    }
    if let Err(wait) = ws.try_accept() {
        return Err((Handshake::RateLimited, unavailable("accept rate", wait)));
    }
    let held = WsDc::hold(backend, dc).ok_or_else(|| {
        let reply = unavailable("too many connections", Duration::ZERO);
        (Handshake::OverCapacity, reply)
    })?;
    let z = rng.next_normal();
    match backend.dcs[dc]
        .serve_for(ws.handshake, z, &backend.timer)
        .await
    {
        Ok(slot) => drop(slot),
        Err(_) => {
            let reply = unavailable("overloaded", Duration::ZERO);
            return Err((Handshake::Overloaded, reply));
        }
    }
    Ok((held, account, accept))
}

/// The `Sec-WebSocket-Accept` value of an RFC 6455 upgrade request, or `None` when it is not one.
fn upgrade_key(headers: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    let version = headers.get(header::SEC_WEBSOCKET_VERSION)?;
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") || version != "13"
    {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    Some(derive_accept_key(key.as_bytes()))
}

/// 503 with `Retry-After`: whole seconds, rounded up, at least 1.
fn unavailable(message: &str, wait: Duration) -> Reply {
    let mut reply = error(StatusCode::SERVICE_UNAVAILABLE, message);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let value = header::HeaderValue::from(seconds.max(1));
    reply.headers_mut().insert(header::RETRY_AFTER, value);
    reply
}
