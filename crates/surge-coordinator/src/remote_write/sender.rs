//! The background task: takes encoded pushes off the bounded queue one at a time, POSTs each, retries
//! transient failures with exponential backoff, counts everything in [`Stats`].

use super::error::PushError;
use super::{Batch, Settings};
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub(crate) use crate::remote::link::HttpClient;

/// What happened to the pushes so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    pub pushed: u64,
    pub samples: u64,
    pub failed: u64,
    pub rejected: u64,
    pub retries: u64,
    pub dropped: u64,
    /// Offered and not yet settled (queued, or being sent).
    pub pending: u64,
    pub last_error: Option<String>,
}

pub(crate) type Shared = Arc<Mutex<Stats>>;

pub(crate) fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) async fn run(
    mut rx: mpsc::Receiver<Batch>,
    client: HttpClient,
    settings: Arc<Settings>,
    stats: Shared,
) {
    while let Some(batch) = rx.recv().await {
        let result = deliver(&client, &settings, &batch, &stats).await;
        let mut s = lock(&stats);
        s.pending = s.pending.saturating_sub(1);
        match result {
            Ok(()) => {
                s.pushed += 1;
                s.samples += batch.samples as u64;
            }
            Err(e) => {
                s.failed += 1;
                s.rejected += u64::from(e.is_rejected());
            }
        }
    }
}

/// One push, with its retries.
async fn deliver(
    client: &HttpClient,
    settings: &Settings,
    batch: &Batch,
    stats: &Shared,
) -> Result<(), PushError> {
    let mut delay = settings.backoff;
    let mut attempt = 1;
    loop {
        let Err(e) = post(client, settings, batch.body.clone()).await else {
            return Ok(());
        };
        let text = crate::remote::link::causes(&e);
        tracing::debug!(url = %settings.url, attempt, "remote write: {text}");
        lock(stats).last_error = Some(text);
        if !e.is_transient() || attempt >= settings.max_attempts {
            return Err(e);
        }
        lock(stats).retries += 1;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(settings.max_backoff);
        attempt += 1;
    }
}

async fn post(client: &HttpClient, settings: &Settings, body: Bytes) -> Result<(), PushError> {
    let req = Request::builder()
        .method(Method::POST)
        .uri(settings.url.clone())
        .header(header::CONTENT_ENCODING, "snappy")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header(
            header::USER_AGENT,
            concat!("surge/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(PushError::Build)?;
    let exchange = async {
        let resp = client.request(req).await.map_err(PushError::Request)?;
        let status = resp.status();
        // The body is read (bounded) so that the connection can be reused, and kept for the error.
        let body = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        Err(PushError::Status {
            status,
            body: text.trim().to_string(),
        })
    };
    tokio::time::timeout(settings.timeout, exchange)
        .await
        .map_err(|_| PushError::Timeout(settings.timeout))?
}
