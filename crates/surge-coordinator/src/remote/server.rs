//! The coordinator's HTTP/1.1 listener: `/metrics` and `/healthz` for anyone who can reach it, the
//! worker protocol (`/v1/clock`, `/v1/join`, `/v1/report`) only with the run's token and protocol version. Plain
//! HTTP, or HTTPS when given a TLS configuration ([`super::tls`]).

use super::state::RemoteState;
use crate::RunError;
use crate::live::LiveMetrics;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use surge_wire::{
    CLOCK_PATH, JOIN_PATH, MAX_BODY, PROTOCOL_VERSION, REPORT_PATH, Refusal, VERSION_HEADER,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// What the listener serves.
pub(crate) struct Routes {
    pub live: Arc<LiveMetrics>,
    pub remote: Option<Arc<RemoteState>>,
    /// The live page (`/`, `/events`, `/state`, `/report.html`), when the run has one.
    pub dashboard: Option<crate::dashboard::Served>,
    /// Set once a capacity search through the coordinator is over: joins are answered `410 Gone`.
    pub farewell: Option<Arc<Farewell>>,
}

/// The end of a series of runs (a capacity search's probes): workers that join again are told the
/// series is over (`410 Gone`, which ends `surge worker` well) instead of waiting for a next run.
pub(crate) struct Farewell {
    /// The run's token (the message is for its workers only).
    pub token: String,
    /// What they are told.
    pub reason: String,
    /// How many joins were answered so far.
    pub told: watch::Sender<usize>,
}

/// A running listener; stops when [`Server::shutdown`] is called or it is dropped.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://ADDR` when the listener speaks TLS, else `http://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting, lets requests in progress finish (bounded), and waits for the accept loop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves only `/metrics` (and `/healthz`) on `addr`: `surge run --metrics-listen`.
pub async fn serve_metrics(addr: SocketAddr, live: Arc<LiveMetrics>) -> Result<Server, RunError> {
    let routes = Routes {
        live,
        remote: None,
        dashboard: None,
        farewell: None,
    };
    bind(addr, Arc::new(routes), None).await
}

/// Serves the live dashboard of `live` (and `/metrics`) on `addr`: `surge run --dashboard`. On a
/// loopback address the page is open; on any other it needs the dashboard's token.
pub async fn serve_dashboard(addr: SocketAddr, live: Arc<LiveMetrics>) -> Result<Server, RunError> {
    let routes = Routes {
        dashboard: crate::dashboard::Served::on(&live, addr),
        live,
        remote: None,
        farewell: None,
    };
    bind(addr, Arc::new(routes), None).await
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn bind(
    addr: SocketAddr,
    routes: Arc<Routes>,
    tls: Option<super::tls::ServerTls>,
) -> Result<Server, RunError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| RunError::Bind { addr, source })?;
    let (stop, stopped) = watch::channel(false);
    let secure = tls.is_some();
    let acceptor = tls.map(TlsAcceptor::from);
    let task = tokio::spawn(accept_loop(listener, routes, acceptor, stopped));
    Ok(Server {
        addr: local,
        tls: secure,
        stop,
        task: Some(task),
    })
}

// This loop and the reference backend's (`surge_target::server`) look alike but are kept apart: the
// target must not depend on surge's crates (it runs standalone and in its own container), serves
// HTTP/1.1 and h2c with upgrades to WebSocket, and stops with a watch; this one serves HTTP/1.1 only,
// optionally behind TLS with a handshake timeout. A shared crate for fifteen lines would couple them.
async fn accept_loop(
    listener: TcpListener,
    routes: Arc<Routes>,
    tls: Option<TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(stream, peer, routes.clone(), tls.clone(), stopped.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "coordinator: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    // Requests in progress get a moment to finish (graceful shutdown in each connection).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    conns.shutdown().await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    routes: Arc<Routes>,
    tls: Option<TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve(stream, peer, routes, stopped).await;
    };
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(error)) => {
                tracing::warn!(%error, %peer, "coordinator: tls handshake failed");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "coordinator: tls handshake not finished within {HANDSHAKE_TIMEOUT:?}");
                return;
            }
        },
        _ = stopped.wait_for(|s| *s) => return,
    };
    serve(stream, peer, routes, stopped).await
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it closes or the listener stops.
async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    routes: Arc<Routes>,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, peer, routes.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(error) = r {
                tracing::debug!(%error, %peer, "coordinator connection ended with an error");
            }
        }
        _ = async { let _ = stopped.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A response with a body.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A refusal: status and a JSON [`Refusal`] that says why.
pub(crate) fn refuse(status: StatusCode, error: String) -> Response<Full<Bytes>> {
    let body = surge_wire::encode(&Refusal {
        version: PROTOCOL_VERSION,
        error,
    })
    .unwrap_or_default();
    respond(status, "application/json", body)
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    routes: Arc<Routes>,
) -> Result<crate::dashboard::Reply, Infallible> {
    // The coordinator's receipt stamp of a clock exchange: first thing, before any work.
    let t1_us = super::clock::unix_now_us();
    if let Some(d) = &routes.dashboard
        && let Some(reply) = crate::dashboard::route(&req, d).await
    {
        return Ok(reply);
    }
    let path = req.uri().path().to_string();
    let resp = match (req.method(), path.as_str()) {
        (&Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            routes.live.text(),
        ),
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::POST, JOIN_PATH | REPORT_PATH | CLOCK_PATH) => {
            match (&routes.remote, &routes.farewell) {
                (Some(remote), _) => {
                    protocol(
                        req,
                        peer,
                        &path,
                        |t| remote.token_ok(t),
                        async |path, body| match path {
                            JOIN_PATH => remote.join(&body, peer).await,
                            CLOCK_PATH => super::clock::echo(&body, t1_us),
                            _ => remote.report(&body, peer, t1_us),
                        },
                    )
                    .await
                }
                (None, Some(f)) => {
                    let ok = |t: &str| surge_wire::token_matches(&f.token, t);
                    protocol(req, peer, &path, ok, async |path, body| match path {
                        CLOCK_PATH => super::clock::echo(&body, t1_us),
                        _ => {
                            f.told.send_modify(|n| *n += 1);
                            refuse(StatusCode::GONE, f.reason.clone())
                        }
                    })
                    .await
                }
                (None, None) => refuse(
                    StatusCode::NOT_FOUND,
                    format!("{path}: this listener serves /metrics only"),
                ),
            }
        }
        _ => refuse(StatusCode::NOT_FOUND, format!("{path}: no such endpoint")),
    };
    Ok(resp.map(http_body_util::Either::Left))
}

/// Token, then version, then body; only then the message (`answer(path, body)`).
async fn protocol(
    req: Request<Incoming>,
    peer: SocketAddr,
    path: &str,
    token_ok: impl Fn(&str) -> bool,
    answer: impl AsyncFnOnce(&str, Bytes) -> Response<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(surge_wire::bearer);
    if !token.is_some_and(token_ok) {
        tracing::warn!(%peer, path, "refused a worker request: wrong or missing token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "wrong or missing token (authorization: Bearer ...)".into(),
        );
    }
    let version = req
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    match version.map(surge_wire::check_version) {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::warn!(%peer, path, "refused a worker request: {e}");
            return refuse(
                StatusCode::CONFLICT,
                format!("coordinator refused the worker: {e}"),
            );
        }
        None => {
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "missing or unreadable {VERSION_HEADER} header: not a surge worker of protocol v{PROTOCOL_VERSION}"
                ),
            );
        }
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body: {e}"),
            );
        }
    };
    answer(path, body).await
}
