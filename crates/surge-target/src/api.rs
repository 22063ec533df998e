//! HTTP routing: which path and method is which endpoint, body limits, and the path of an API
//! request through its data centre's queue before the handler runs. `GET /v1/ws` goes to
//! [`crate::ws`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::backend::{Backend, ConnRng, RegionSlot};
use crate::capacity::Full as QueueFull;
use crate::handlers;
use crate::plan::Endpoint;

/// Largest request body accepted; larger gets 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The response type of every handler.
pub(crate) type Reply = Response<Full<Bytes>>;

enum Route {
    Api(Endpoint),
    Health,
    Metrics,
    WebSocket,
    WrongMethod(&'static str),
    NotFound,
}

fn route(method: &Method, path: &str) -> Route {
    let (endpoint, allowed): (Option<Endpoint>, &'static str) = match (path, method) {
        ("/v1/verification/code", &Method::POST) => (Some(Endpoint::RequestCode), ""),
        ("/v1/verification/code", &Method::PUT) => (Some(Endpoint::VerifyCode), ""),
        ("/v1/verification/code", _) => (None, "POST, PUT"),
        ("/v1/accounts", &Method::POST) => (Some(Endpoint::Register), ""),
        ("/v1/accounts", _) => (None, "POST"),
        ("/v1/keys", &Method::PUT) => (Some(Endpoint::Keys), ""),
        ("/v1/keys", _) => (None, "PUT"),
        ("/v1/discovery", &Method::POST) => (Some(Endpoint::Discovery), ""),
        ("/v1/discovery", _) => (None, "POST"),
        ("/healthz", &Method::GET) => return Route::Health,
        ("/metrics", &Method::GET) => return Route::Metrics,
        ("/v1/ws", &Method::GET) => return Route::WebSocket,
        ("/healthz" | "/metrics" | "/v1/ws", _) => (None, "GET"),
        _ => return Route::NotFound,
    };
    match endpoint {
        Some(endpoint) => Route::Api(endpoint),
        None => Route::WrongMethod(allowed),
    }
}

/// Answers one HTTP request.
pub(crate) async fn handle(
    backend: Arc<Backend>,
    rng: Arc<ConnRng>,
    request: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let region = backend.region_slot(request.headers());
    let reply = match route(request.method(), request.uri().path()) {
        Route::Health => text(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        Route::Metrics => {
            let body = backend.render_metrics();
            text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                body,
            )
        }
        Route::NotFound => counted(
            &backend,
            region,
            None,
            error(StatusCode::NOT_FOUND, "not found"),
        ),
        Route::WrongMethod(allowed) => {
            let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            reply
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
            counted(&backend, region, None, reply)
        }
        Route::Api(endpoint) => api(backend, rng, region, endpoint, request).await,
        // Handshakes are counted by result in `surge_target_ws_handshakes_total`.
        Route::WebSocket => crate::ws::handshake(backend, rng, request).await,
    };
    Ok(reply)
}

fn counted(
    backend: &Backend,
    region: RegionSlot,
    endpoint: Option<Endpoint>,
    reply: Reply,
) -> Reply {
    backend
        .counters
        .request(region, endpoint, reply.status().as_u16());
    reply
}

async fn api(
    backend: Arc<Backend>,
    rng: Arc<ConnRng>,
    region: RegionSlot,
    endpoint: Endpoint,
    request: Request<Incoming>,
) -> Reply {
    let bearer = bearer_token(request.headers()).map(str::to_owned);
    let too_large = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if too_large {
        let reply = error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        return counted(&backend, region, Some(endpoint), reply);
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(cause) => {
            let reply = if cause
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                error(StatusCode::PAYLOAD_TOO_LARGE, "body too large")
            } else {
                error(StatusCode::BAD_REQUEST, "cannot read body")
            };
            return counted(&backend, region, Some(endpoint), reply);
        }
    };
    let z = rng.next_normal();
    // The jitter's draw only when the region has jitter: plans without keep their service draws.
    let jittered = !backend.plan.regions[backend.effective_region(region)]
        .rtt_jitter
        .is_zero();
    let draws = (z, if jittered { rng.next_unit() } else { 0.0 });
    // The request runs in its own task so that, as in a real server, work already queued or in
    // service finishes (and holds its slot) even when the client gives up and disconnects.
    let work =
        tokio::spawn(
            async move { serve_api(&backend, region, endpoint, bearer, body, draws).await },
        );
    match work.await {
        Ok(reply) => reply,
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// Where one request's time went, answered as `Server-Timing` (durations in ms): `net` the round
/// trip between the caller's region and the data centre that served it, `queue` the wait for a
/// slot, `svc` the service time, and `dc` which data centre served it (another than the region's own
/// while that one is down).
pub(crate) struct Timing {
    pub network: Duration,
    pub queue: Duration,
    pub service: Duration,
    pub dc: usize,
}

impl Timing {
    /// Crosses the first half of the round trip `network` to data centre `dc` (on the way in, no
    /// slot held) and starts the request's timing there; the caller spends [`Timing::way_out`] on
    /// the way back.
    pub async fn crossed_in(backend: &Backend, network: Duration, dc: usize) -> Timing {
        backend.timer.sleep(network / 2).await;
        Timing {
            network,
            queue: Duration::ZERO,
            service: Duration::ZERO,
            dc,
        }
    }

    /// The rest of the round trip, for the answer's way back (the way in was `network / 2`).
    pub fn way_out(&self) -> Duration {
        self.network - self.network / 2
    }

    pub fn header(&self, backend: &Backend) -> Option<header::HeaderValue> {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let text = format!(
            "net;dur={:.3}, queue;dur={:.3}, svc;dur={:.3}, dc;desc={}",
            ms(self.network),
            ms(self.queue),
            ms(self.service),
            backend.dcs[self.dc].name
        );
        header::HeaderValue::from_str(&text).ok()
    }
}

/// Serves one API request: half its round trip on the way in, its data centre's queue and service
/// (the handler runs while the slot is held), the other half on the way out. Network time holds no
/// slot. `draws` are the service-time quantile and the jitter's uniform draw.
async fn serve_api(
    backend: &Backend,
    region: RegionSlot,
    endpoint: Endpoint,
    bearer: Option<String>,
    body: Bytes,
    draws: (f64, f64),
) -> Reply {
    let serving = backend.serving_dc(region);
    let dc = serving.unwrap_or_else(|| backend.dc_index(region));
    let network = backend.network_time(region, dc, draws.1);
    let mut timing = Timing::crossed_in(backend, network, dc).await;
    let served = match serving {
        Some(dc) => backend.dcs[dc]
            .serve(endpoint, draws.0, &backend.timer)
            .await
            .map_err(Some),
        None => Err(None),
    };
    let mut reply = match served {
        Ok(slot) => {
            timing.queue = slot.waited;
            timing.service = slot.service;
            let reply = handlers::handle(backend, region, dc, endpoint, bearer.as_deref(), &body);
            drop(slot);
            reply
        }
        Err(Some(full)) => {
            backend.counters.shed(region, endpoint);
            match full {
                QueueFull::Shed429 => {
                    let mut reply = error(StatusCode::TOO_MANY_REQUESTS, "overloaded");
                    reply
                        .headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                    reply
                }
                QueueFull::Reject503 => error(StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            }
        }
        Err(None) => {
            let mut reply = error(StatusCode::SERVICE_UNAVAILABLE, "data centre down");
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            reply
        }
    };
    backend.timer.sleep(timing.way_out()).await;
    if let Some(value) = timing.header(backend) {
        reply.headers_mut().insert(SERVER_TIMING, value);
    }
    counted(backend, region, Some(endpoint), reply)
}

/// The `Server-Timing` response header (W3C Server Timing).
pub(crate) const SERVER_TIMING: header::HeaderName =
    header::HeaderName::from_static("server-timing");

pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A response with a text body.
pub(crate) fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    reply
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Reply {
    text(status, "application/json", body)
}

/// A JSON error response `{"error":"..."}`; `message` must not need escaping.
pub(crate) fn error(status: StatusCode, message: &str) -> Reply {
    json(status, format!("{{\"error\":\"{message}\"}}"))
}

/// A response without a body.
pub(crate) fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply
}
