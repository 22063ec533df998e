//! Prometheus remote write: `--prom-remote-write URL` pushes the same series as `/metrics` (see
//! [`crate::live::names`]) to the team's own Prometheus (started with `--web.enable-remote-write-receiver`,
//! URL `http://HOST:9090/api/v1/write`), Mimir, Thanos or any remote-write 1.0 receiver.
//!
//! Each merged interval becomes one push: a protobuf `WriteRequest` ([`proto`]) with one sample per
//! series at the wall-clock time of the interval's merge, snappy block-compressed, POSTed with
//! `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`. Pushes go through a bounded queue to one background
//! task, so the run never waits for the receiver:
//!
//! - a push that fails transiently (no answer, 429, 5xx) is retried with exponential backoff, up to
//!   [`RemoteWriteConfig::max_attempts`] attempts; a 4xx other than 429 is not retried (the receiver
//!   refuses that push whatever we do);
//! - a push offered while the queue is full is dropped (and counted);
//! - at the end, [`RemoteWrite::finish`] waits at most [`RemoteWriteConfig::flush_limit`] for the
//!   queue, and its [`PushReport`] says what was pushed, failed and dropped: the run's terminal output
//!   and `events.jsonl` carry it. Nothing recorded in the results folder depends on the receiver.

pub mod error;
pub mod proto;
mod sender;

pub use error::{PushError, RemoteWriteError};

use crate::live::families::Family;
use bytes::Bytes;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where and how to push.
#[derive(Debug, Clone)]
pub struct RemoteWriteConfig {
    /// The receiver's URL (checked by [`RemoteWriteConfig::new`]).
    pub url: http::Uri,
    /// Labels added to every series (e.g. `job="surge"`, `run="<results folder>"`).
    pub labels: Vec<(String, String)>,
    /// Extra CA certificates (PEM) trusted for an https receiver, besides the system's.
    pub tls_ca: Option<PathBuf>,
    /// Pushes waiting at most; beyond, new ones are dropped.
    pub queue: usize,
    /// Attempts per push (the first one included) for transient failures.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time up to `max_backoff`.
    pub backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// How long one attempt may take (connect, send, answer).
    pub timeout: Duration,
    /// How long the end of the run waits for the queue to drain.
    pub flush_limit: Duration,
}

impl RemoteWriteConfig {
    /// A configuration for `url` with the defaults (queue 64, 4 attempts, backoff 250 ms to 4 s, 5 s
    /// per attempt, 5 s to drain at the end); an error when `url` is not an http(s) URL with a host.
    pub fn new(url: &str) -> Result<RemoteWriteConfig, RemoteWriteError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(RemoteWriteError::Scheme { url: url.into() });
        }
        let uri: http::Uri = url.parse().map_err(|source| RemoteWriteError::NotAUrl {
            url: url.into(),
            source,
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(RemoteWriteError::Scheme { url: url.into() });
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(RemoteWriteError::NoHost { url: url.into() });
        }
        Ok(RemoteWriteConfig {
            url: uri,
            labels: vec![("job".into(), "surge".into())],
            tls_ca: None,
            queue: 64,
            max_attempts: 4,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            timeout: Duration::from_secs(5),
            flush_limit: Duration::from_secs(5),
        })
    }
}

/// What the sender task needs of the configuration.
#[derive(Debug)]
pub(crate) struct Settings {
    url: http::Uri,
    max_attempts: u32,
    backoff: Duration,
    max_backoff: Duration,
    timeout: Duration,
}

/// One encoded push.
pub(crate) struct Batch {
    body: Bytes,
    samples: usize,
}

/// What became of the pushes of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The receiver.
    pub url: String,
    /// Pushes the receiver accepted (2xx).
    pub pushed: u64,
    /// Samples in those pushes.
    pub samples: u64,
    /// Pushes that never landed: refused (4xx), or still failing after every attempt.
    pub failed: u64,
    /// Of `failed`, those refused with a 4xx (not retried).
    pub rejected: u64,
    /// Attempts that failed and were tried again.
    pub retries: u64,
    /// Pushes dropped unsent: the queue was full, or still queued when the end's wait ran out.
    pub dropped: u64,
    /// The last failure, with its causes.
    pub last_error: Option<String>,
}

impl PushReport {
    /// Every push landed.
    pub fn all_pushed(&self) -> bool {
        self.failed == 0 && self.dropped == 0
    }
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "remote write to {}: {} pushes accepted ({} samples), {} failed ({} refused with 4xx), {} retries, {} dropped",
            self.url,
            self.pushed,
            self.samples,
            self.failed,
            self.rejected,
            self.retries,
            self.dropped
        )?;
        if let Some(e) = &self.last_error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}

/// The pushing side of a run: cheap [`RemoteWrite::offer`] from the run loop, one background task.
#[derive(Debug)]
pub struct RemoteWrite {
    url: String,
    labels: Vec<(String, String)>,
    flush_limit: Duration,
    tx: Mutex<Option<mpsc::Sender<Batch>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    stats: sender::Shared,
    last_ms: Mutex<i64>,
}

impl RemoteWrite {
    /// Starts the background task (on the current tokio runtime). Fails only on the TLS set-up of an
    /// https URL; nothing is sent until the first [`RemoteWrite::offer`].
    pub fn start(cfg: RemoteWriteConfig) -> Result<RemoteWrite, RemoteWriteError> {
        let url = cfg.url.to_string();
        let tls = if cfg.url.scheme_str() == Some("https") || cfg.tls_ca.is_some() {
            surge_engine::http::tls_config(cfg.tls_ca.as_deref()).map_err(|source| {
                RemoteWriteError::Tls {
                    url: url.clone(),
                    source,
                }
            })?
        } else {
            crate::remote::link::empty_tls()
        };
        let client =
            crate::remote::link::http1_client(&tls, cfg.timeout.min(Duration::from_secs(2)), 1);
        let settings = Arc::new(Settings {
            url: cfg.url,
            max_attempts: cfg.max_attempts.max(1),
            backoff: cfg.backoff,
            max_backoff: cfg.max_backoff.max(cfg.backoff),
            timeout: cfg.timeout,
        });
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let stats = sender::Shared::default();
        let task = tokio::spawn(sender::run(rx, client, settings, stats.clone()));
        Ok(RemoteWrite {
            url,
            labels: cfg.labels,
            flush_limit: cfg.flush_limit,
            tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            stats,
            last_ms: Mutex::new(0),
        })
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues one push of `families` stamped now (strictly after the previous push, so that no two
    /// pushes of a series share a timestamp). Never waits: with the queue full it is dropped.
    pub fn offer(&self, families: &[Family]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let ts = {
            let mut last = self.last_ms.lock().unwrap_or_else(|p| p.into_inner());
            *last = now.max(*last + 1);
            *last
        };
        let (raw, samples) = proto::write_request(families, &self.labels, ts);
        let body = match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                let mut s = sender::lock(&self.stats);
                s.dropped += 1;
                s.last_error = Some(format!("snappy: {e}"));
                return;
            }
        };
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = sender::lock(&self.stats);
        match tx.as_ref().map(|tx| tx.try_send(Batch { body, samples })) {
            Some(Ok(())) => s.pending += 1,
            _ => s.dropped += 1,
        }
    }

    /// What happened so far.
    pub fn report(&self) -> PushReport {
        let s = sender::lock(&self.stats).clone();
        PushReport {
            url: self.url.clone(),
            pushed: s.pushed,
            samples: s.samples,
            failed: s.failed,
            rejected: s.rejected,
            retries: s.retries,
            dropped: s.dropped,
            last_error: s.last_error,
        }
    }

    /// Closes the queue, waits at most the flush limit for what is queued, then stops the task; what
    /// was still queued counts as dropped. Later offers are dropped.
    pub async fn finish(&self) -> PushReport {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut task) = task
            && tokio::time::timeout(self.flush_limit, &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
            let mut s = sender::lock(&self.stats);
            s.dropped += s.pending;
            s.pending = 0;
        }
        self.report()
    }
}

impl Drop for RemoteWrite {
    fn drop(&mut self) {
        if let Some(t) = self.task.get_mut().ok().and_then(Option::take) {
            t.abort();
        }
    }
}
