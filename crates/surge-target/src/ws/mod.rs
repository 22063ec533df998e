//! `GET /v1/ws`: connected sessions over WebSocket (RFC 6455, tokio-tungstenite behind hyper's
//! upgrade), with per-data-centre connection capacity, delivery slots and faults.
//!
//! A handshake first crosses the network distance between the person's region and its serving data
//! centre (half the plan's round trip; [`link`] has the model), then, in order: not an upgrade
//! request -> 400; unknown or missing bearer token -> 401; the region's data centre down by a
//! `restart` fault -> 503 with `Retry-After` (the seconds left); over its `accept_rate_per_s` ->
//! 503 with `Retry-After` (until the limiter allows one); at `max_connections` -> 503
//! `Retry-After: 1`; then the handshake holds one of the data centre's slots (the same slots as the
//! HTTP API) for the `connect` service time, and a full slot queue gives 503 `Retry-After: 1`.
//! Otherwise 101 and the session starts ([`session`]). The answer crosses the other half of the
//! round trip and says in `Server-Timing` where its time went.
//!
//! Messages: a `send` is routed by the sender's data centre. It joins that data centre's fan-out
//! queue, waits for one of its `delivery_slots`, holds it for the `deliver` service time, then is
//! handed to every live connection of the recipient, or to the recipient's mailbox (at most
//! `mailbox_limit` messages; more are dropped and counted) which is emptied into the recipient's
//! next connection. So overload shows as late delivery. Messages take their place in the queue in
//! the order they were sent, but with several slots and drawn service times they may finish (and
//! arrive) out of order, as with parallel delivery workers. The frames are in [`protocol`]. Every
//! frame crosses the connection's distance: a delivery takes the sender's one way in, the queue and
//! service, and the receiver's one way out ([`link`]).

mod dc;
mod faults;
mod hub;
mod link;
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

use crate::api::{Reply, SERVER_TIMING, Timing, empty, error};
use crate::backend::{Backend, ConnRng};
use crate::codes::check_token;
use dc::{Handshake, Held};
use link::Distance;

/// Largest WebSocket frame and message accepted from a client; a larger one closes with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Answers `GET /v1/ws`: 101 and a session, or a refusal. Either way the answer pays the round trip
/// between the person's region and the data centre serving it (along the failover chain while the
/// region's own is down): half before admission, half after, holding no slot, as an API request
/// does; `Server-Timing` says where the time went. The session's frames then cross the same
/// distance ([`link`]).
pub(crate) async fn handshake(
    backend: Arc<Backend>,
    rng: Arc<ConnRng>,
    request: Request<Incoming>,
) -> Reply {
    let slot = backend.region_slot(request.headers());
    let dc = backend
        .serving_dc(slot)
        .unwrap_or_else(|| backend.dc_index(slot));
    let distance = Distance::of(&backend, slot, dc);
    let network = distance.round_trip(&rng);
    let mut timing = Timing::crossed_in(&backend, network, dc).await;
    let admitted = admit(&backend, &rng, dc, request.headers(), &mut timing).await;
    let outbound = backend.timer.sleep(timing.way_out());
    let (held, account, accept) = match admitted {
        Ok(admitted) => admitted,
        Err((result, reply)) => {
            backend.ws[dc].count_handshake(result);
            outbound.await;
            return timed(reply, &timing, &backend);
        }
    };
    backend.ws[dc].count_handshake(Handshake::Accepted);
    outbound.await;
    let upgrade = hyper::upgrade::on(request);
    let seed = backend.plan.seed;
    let session_backend = Arc::clone(&backend);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => session::run(session_backend, io, account, held, seed, distance).await,
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
    timed(reply, &timing, &backend)
}

fn timed(mut reply: Reply, timing: &Timing, backend: &Backend) -> Reply {
    if let Some(value) = timing.header(backend) {
        reply.headers_mut().insert(SERVER_TIMING, value);
    }
    reply
}

type Refused = (Handshake, Reply);

async fn admit(
    backend: &Arc<Backend>,
    rng: &ConnRng,
    dc: usize,
    headers: &HeaderMap,
    timing: &mut Timing,
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
        Ok(slot) => {
            timing.queue = slot.waited;
            timing.service = slot.service;
            drop(slot);
        }
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
