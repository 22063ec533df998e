//! The accept loop: one tokio task per connection, each served by hyper-util's automatic
//! HTTP/1.1-or-h2c connection builder, and the [`Listening`] handle that stops it all.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::backend::{Backend, ConnRng};
use crate::error::TargetError;
use crate::metrics::TargetStats;
use crate::plan::CapacityPlan;
use crate::timer::Timer;

/// Starts the reference backend on `addr` (use port 0 for any free port) with this plan, on the
/// current tokio runtime. The server runs until [`Listening::shutdown`] or until the handle is
/// dropped.
pub async fn serve(addr: SocketAddr, plan: CapacityPlan) -> Result<Listening, TargetError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| TargetError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(TargetError::LocalAddr)?;
    let (timer, timer_task) = Timer::start(plan.timer());
    let backend = Arc::new(Backend::new(plan, timer));
    let (stop, stopped) = watch::channel(false);
    let accept = tokio::spawn(accept_loop(listener, Arc::clone(&backend), stopped));
    let faults = (!backend.plan.faults().is_empty())
        .then(|| tokio::spawn(crate::ws::run_faults(Arc::clone(&backend))));
    tracing::info!(%local, plan = backend.plan.origin(), "reference target listening");
    Ok(Listening {
        local,
        backend,
        stop,
        accept: Some(accept),
        timer_task,
        faults,
    })
}

async fn accept_loop(
    listener: TcpListener,
    backend: Arc<Backend>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut index = 0u64;
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    index += 1;
                    connections.spawn(serve_connection(stream, Arc::clone(&backend), index));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, backend: Arc<Backend>, index: u64) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let rng = Arc::new(ConnRng::new(backend.plan.seed, index));
    let service = service_fn(move |request| {
        crate::api::handle(Arc::clone(&backend), Arc::clone(&rng), request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, HTTP/1.1 connections that never finish their headers are closed after 30 s.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    if let Err(error) = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// A running reference backend.
pub struct Listening {
    local: SocketAddr,
    backend: Arc<Backend>,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    timer_task: Option<JoinHandle<()>>,
    faults: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl Listening {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.local)
    }

    /// A snapshot of accounts, sessions, requests, sheds and queue gauges.
    pub fn stats(&self) -> TargetStats {
        self.backend.stats()
    }

    /// The plan the server runs.
    pub fn plan(&self) -> &CapacityPlan {
        &self.backend.plan
    }

    /// The Prometheus text that `/metrics` serves now.
    pub fn metrics_text(&self) -> String {
        self.backend.render_metrics()
    }

    /// Stops accepting, closes every connection (WebSocket sessions with 1001) and waits for the
    /// accept loop to end. Requests already inside a data centre finish their service time in the
    /// background.
    pub async fn shutdown(mut self) {
        self.stop_all();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        if let Some(timer) = self.timer_task.take() {
            timer.abort();
        }
    }
}

impl Listening {
    fn stop_all(&mut self) {
        let _ = self.stop.send(true);
        if let Some(faults) = self.faults.take() {
            faults.abort();
        }
        for ws in &self.backend.ws {
            ws.close_all();
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop_all();
        if let Some(timer) = self.timer_task.take() {
            timer.abort();
        }
    }
}
