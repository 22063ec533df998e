//! The worker's HTTP client to its coordinator: one keep-alive connection (plain, or TLS for an https
//! URL), the token and protocol version on every request, a timeout on every answer.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;
use surge_engine::http::TlsError;
use surge_metrics::Outcome;
use surge_wire::{MAX_BODY, VERSION_HEADER};

/// A connection to the coordinator.
#[derive(Clone)]
pub(crate) struct Link {
    base: String,
    token: String,
    version: u32,
    client: HttpClient,
}

/// Why a [`Link`] could not be set up.
#[derive(Debug)]
pub(crate) enum LinkSetup {
    /// Not `http://HOST:PORT` or `https://HOST:PORT`.
    Url(JoinUrlError),
    /// The `--tls-ca` file (or the TLS configuration).
    Tls(TlsError),
}

/// A `--join` URL surge cannot use.
#[derive(Debug, thiserror::Error)]
pub enum JoinUrlError {
    /// It does not parse.
    #[error("{url}: not a URL")]
    Parse {
        /// What was given.
        url: String,
        /// Why.
        #[source]
        cause: http::uri::InvalidUri,
    },
    /// Another scheme than http or https.
    #[error("{url}: must be http://HOST:PORT or https://HOST:PORT")]
    Scheme {
        /// What was given.
        url: String,
    },
    /// No host in it.
    #[error("{url}: no host")]
    NoHost {
        /// What was given.
        url: String,
    },
}

/// Why an exchange with the coordinator failed. `Display` names the URL; the cause is `source()`.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The request could not be built.
    #[error("{url}: cannot build the request")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        cause: http::Error,
    },
    /// No answer: refused, reset, TLS...
    #[error("{url}: no answer")]
    Exchange {
        /// The URL.
        url: String,
        /// The TLS handshake failed (untrusted certificate, not a TLS server...): retrying will not
        /// help.
        tls: bool,
        /// The client's error.
        #[source]
        cause: hyper_util::client::legacy::Error,
    },
    /// The answer's body could not be read (or was larger than a protocol message may be).
    #[error("{url}: reading the answer")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer in time.
    #[error("{url}: no answer within {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// How long it waited.
        after: Duration,
    },
}

impl LinkError {
    /// The TLS handshake failed: retrying will not help.
    pub fn is_tls(&self) -> bool {
        matches!(self, LinkError::Exchange { tls: true, .. })
    }
}

impl Link {
    /// `base` is `http://HOST:PORT` or `https://HOST:PORT`; https trusts the system's roots plus the
    /// PEM file `tls_ca`. The CA file is read (and checked) even for an http URL.
    pub fn new(
        base: &str,
        token: &str,
        version: u32,
        tls_ca: Option<&Path>,
    ) -> Result<Link, LinkSetup> {
        let base = base.trim_end_matches('/');
        let url = || base.to_string();
        let uri: http::Uri = base
            .parse()
            .map_err(|cause| LinkSetup::Url(JoinUrlError::Parse { url: url(), cause }))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(LinkSetup::Url(JoinUrlError::Scheme { url: url() })),
        };
        if uri.host().is_none() {
            return Err(LinkSetup::Url(JoinUrlError::NoHost { url: url() }));
        }
        let tls = if https || tls_ca.is_some() {
            surge_engine::http::tls_config(tls_ca).map_err(LinkSetup::Tls)?
        } else {
            // Never used for an http URL; an empty trust store costs nothing to build.
            empty_tls()
        };
        let client = http1_client(&tls, Duration::from_secs(2), 2);
        Ok(Link {
            base: base.to_string(),
            token: token.to_string(),
            version,
            client,
        })
    }

    /// The coordinator's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` to `path`; the answer's status and body, or why there was none.
    pub async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<(StatusCode, Bytes), LinkError> {
        let url = format!("{}{}", self.base, path);
        let req = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(VERSION_HEADER, self.version.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|cause| LinkError::Request {
                url: url.clone(),
                cause,
            })?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|cause| LinkError::Exchange {
                    url: url.clone(),
                    tls: surge_engine::http::classify(&cause) == Outcome::Tls,
                    cause,
                })?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|cause| LinkError::Body {
                    url: url.clone(),
                    cause,
                })?
                .to_bytes();
            Ok((status, body))
        };
        match timeout {
            Some(after) => {
                tokio::time::timeout(after, exchange)
                    .await
                    .map_err(|_| LinkError::Timeout {
                        url: url.clone(),
                        after,
                    })?
            }
            None => exchange.await,
        }
    }
}

/// A client configuration trusting nothing (for http URLs, where it is never used).
/// An HTTP/1.1 client over plain TCP, or TLS with `tls` for https URLs.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP/1.1 client of the worker's link to its coordinator and of the remote-write pusher: no
/// Nagle delay, a bounded connect, `idle` kept-alive connections per host.
pub(crate) fn http1_client(
    tls: &std::sync::Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
    idle: usize,
) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((**tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(idle)
        .build(connector)
}

pub(crate) fn empty_tls() -> std::sync::Arc<rustls::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b,
        Err(_) => rustls::ClientConfig::builder(),
    };
    std::sync::Arc::new(
        cfg.with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    )
}

/// An error and its causes, on one line (for a message that crosses the wire or a log line).
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    parts.join(": ")
}

/// The message of a refusal body, or the body itself.
pub(crate) fn refusal_message(body: &[u8]) -> String {
    match surge_wire::decode::<surge_wire::Refusal>(body) {
        Ok(r) => r.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
    }
}
