//! Remote write's errors: [`RemoteWriteError`] is known before the run (a bad URL or TLS set-up: the
//! run does not start); [`PushError`] is one push that did not land (counted, retried when it is
//! transient, never fatal).

use http::StatusCode;

/// `--prom-remote-write` cannot be used: said before the run starts.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// Not a URL at all.
    #[error("remote write URL `{url}` is not a URL")]
    NotAUrl {
        /// What was given.
        url: String,
        /// The parser's complaint.
        source: http::uri::InvalidUri,
    },
    /// Not http:// or https://.
    #[error("remote write URL `{url}` must be http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH")]
    Scheme {
        /// What was given.
        url: String,
    },
    /// No host.
    #[error("remote write URL `{url}` has no host")]
    NoHost {
        /// What was given.
        url: String,
    },
    /// The TLS client configuration (system roots, `--tls-ca`) for an https URL.
    #[error("remote write URL `{url}`: TLS set-up")]
    Tls {
        /// The URL.
        url: String,
        /// Why.
        source: surge_engine::http::TlsError,
    },
}

/// Why one push did not land.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The receiver answered, but not 2xx.
    #[error("answered {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// Its status.
        status: StatusCode,
        /// The start of its body (Prometheus says what it refused there).
        body: String,
    },
    /// No answer within the push timeout.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// No exchange: refused, reset, DNS, TLS...
    #[error("request failed")]
    Request(#[source] hyper_util::client::legacy::Error),
    /// The request could not be built.
    #[error("bad request")]
    Build(#[source] http::Error),
}

impl PushError {
    /// Worth retrying: no answer, 429 or 5xx. Any other 4xx means the receiver refuses this push
    /// whatever we do (remote write 1.0: "MUST NOT retry" on 4xx other than 429).
    pub fn is_transient(&self) -> bool {
        match self {
            PushError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            PushError::Timeout(_) | PushError::Request(_) => true,
            PushError::Build(_) => false,
        }
    }

    /// The receiver answered 4xx (other than 429): it refused the push.
    pub fn is_rejected(&self) -> bool {
        matches!(self, PushError::Status { status, .. } if status.is_client_error() && *status != StatusCode::TOO_MANY_REQUESTS)
    }
}
