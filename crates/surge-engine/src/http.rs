//! The HTTP side of a worker that hyper serves: pooled hyper clients (HTTP/1.1 and h2/h2c, plain or
//! TLS through rustls), bounded body reads, and the classification of every failure into an
//! [`Outcome`] — by type, never by message text.
//!
//! | what went wrong | outcome |
//! |---|---|
//! | refused, unreachable, connect timeout | [`Outcome::Connect`] |
//! | TLS handshake failed (untrusted certificate, a plain HTTP server on an https URL, ...) | [`Outcome::Tls`] |
//! | the connection was reset or closed mid-exchange | [`Outcome::Reset`] |
//! | the peer's bytes are not HTTP | [`Outcome::Protocol`] |
//! | the body is larger than [`MAX_BODY`] (announced or streamed) | [`Outcome::BodyTooLarge`] |
//! | no complete answer in time (the caller's timeout) | [`Outcome::Timeout`] |
//!
//! https targets are verified against the system's roots, plus the CA given with `--tls-ca`
//! ([`tls_config`]).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::error::Error as StdError;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use surge_metrics::Outcome;
use surge_plan::journey::RequestBuf;

/// Largest answer body read; a larger one is classified [`Outcome::BodyTooLarge`] and not buffered.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A completed exchange.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The whole body (at most [`MAX_BODY`]).
    pub body: Bytes,
}

/// Why the TLS client configuration could not be built: the `--tls-ca` file (named in `Display`)
/// and the cause (from `source()`).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The `--tls-ca` file could not be read.
    #[error("tls ca {path}: cannot read it")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        cause: std::io::Error,
    },
    /// The `--tls-ca` file is not PEM.
    #[error("tls ca {path}: not PEM")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong with it.
        #[source]
        cause: rustls_pki_types::pem::Error,
    },
    /// The `--tls-ca` file holds no PEM certificate.
    #[error("tls ca {path}: no PEM certificate in the file")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// rustls refused one of its certificates as a root.
    #[error("tls ca {path}: a certificate rustls does not accept as a root")]
    Certificate {
        /// The file.
        path: String,
        /// rustls' reason.
        #[source]
        cause: rustls::Error,
    },
}

type Connector = HttpsConnector<HttpConnector>;

/// Pooled keep-alive clients, one per HTTP version; each speaks plain HTTP and HTTPS.
#[derive(Clone, Debug)]
pub struct HttpClients {
    h1: Client<Connector, Full<Bytes>>,
    h2: Client<Connector, Full<Bytes>>,
}

impl HttpClients {
    /// Clients trusting the system's roots (the health check's, before a run's engine exists).
    pub fn new(pool_per_host: usize) -> HttpClients {
        HttpClients::with_tls(pool_per_host, system_tls(), None)
    }

    /// The clients of a worker of `engine`'s run: its TLS configuration, and its next source address
    /// (one per client: the fast HTTP/1.1 client takes the addresses in turn per connection).
    pub fn for_engine(pool_per_host: usize, engine: &crate::Engine) -> HttpClients {
        HttpClients::with_tls(pool_per_host, engine.tls(), engine.next_source())
    }

    /// Clients with `nodelay`, idle eviction, no silent retries (a request the server dropped is
    /// counted, not replayed behind the tester's back), verifying https targets with `tls`, and binding
    /// their connections to `source` when given.
    pub fn with_tls(
        pool_per_host: usize,
        tls: Arc<rustls::ClientConfig>,
        source: Option<std::net::IpAddr>,
    ) -> HttpClients {
        let mut conn = HttpConnector::new();
        conn.set_local_address(source);
        conn.set_nodelay(true);
        conn.enforce_http(false);
        conn.set_connect_timeout(Some(Duration::from_secs(10)));
        let build = |h2: bool| {
            let tls = (*tls).clone();
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http();
            let connector = if h2 {
                https.enable_http2().wrap_connector(conn.clone())
            } else {
                https.enable_http1().wrap_connector(conn.clone())
            };
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(pool_per_host)
                .retry_canceled_requests(false)
                .timer(TokioTimer::new());
            if h2 {
                b.http2_only(true);
            }
            b.build(connector)
        };
        HttpClients {
            h1: build(false),
            h2: build(true),
        }
    }

    /// Sends `req` to `base` (scheme://host:port) and reads the answer with a body cap.
    pub async fn send(&self, base: &str, req: &RequestBuf, h2: bool) -> Result<Answer, Outcome> {
        let request = to_request(base, req)?;
        let client = if h2 { &self.h2 } else { &self.h1 };
        let resp = client.request(request).await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        if announced_len(&parts.headers).is_some_and(|n| n > MAX_BODY as u64) {
            // Announced too large: refused without reading a byte (the connection is dropped).
            return Err(Outcome::BodyTooLarge);
        }
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|e| classify_body(e.as_ref()))?
            .to_bytes();
        Ok(Answer {
            status,
            headers: parts.headers,
            body,
        })
    }
}

impl HttpClients {
    /// GETs `url` (http or https) and returns the status, or why there was no answer (the health
    /// check before a run).
    pub async fn probe(&self, url: &str) -> Result<u16, ProbeError> {
        let uri: hyper::Uri = url.parse().map_err(|cause| ProbeError::Url {
            url: url.to_string(),
            cause,
        })?;
        let req = Request::get(uri)
            .body(Full::new(Bytes::new()))
            .map_err(|cause| ProbeError::Request {
                url: url.to_string(),
                cause,
            })?;
        match self.h1.request(req).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = Limited::new(resp.into_body(), MAX_BODY).collect().await;
                Ok(status)
            }
            Err(cause) => Err(ProbeError::Exchange {
                url: url.to_string(),
                outcome: classify(&cause),
                cause,
            }),
        }
    }
}

/// Why [`HttpClients::probe`] got no answer. `Display` names the URL (and the outcome class); the
/// cause hangs off `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Not a URL.
    #[error("{url}: not a URL")]
    Url {
        /// What was given.
        url: String,
        /// Why it does not parse.
        #[source]
        cause: http::uri::InvalidUri,
    },
    /// The request could not be built from it.
    #[error("{url}: cannot build a request")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        cause: http::Error,
    },
    /// The exchange failed: refused, reset, timed out, TLS...
    #[error("{url}: no answer ({})", outcome.as_str())]
    Exchange {
        /// The URL.
        url: String,
        /// The failure's class, as a step would record it.
        outcome: Outcome,
        /// The client's error.
        #[source]
        cause: hyper_util::client::legacy::Error,
    },
}

fn announced_len(h: &http::HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `tls` offering only `http/1.1`, as a WebSocket upgrade needs.
pub fn websocket_tls(tls: &rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    let mut c = tls.clone();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// The system's roots (loaded once per process).
fn system_tls() -> Arc<rustls::ClientConfig> {
    static DEFAULT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| match tls_config(None) {
            Ok(c) => c,
            // No usable system roots: an empty store still builds (https targets then fail as `tls`).
            Err(_) => Arc::new(client_config(rustls::RootCertStore::empty())),
        })
        .clone()
}

/// The TLS client configuration: the system's roots, plus every certificate of the PEM file `extra_ca`
/// (`--tls-ca`, e.g. a staging CA). Build it once per run and give it to [`HttpClients::with_tls`].
pub fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let pem = extra_ca
        .map(|path| {
            std::fs::read_to_string(path).map_err(|cause| TlsError::Read {
                path: path.display().to_string(),
                cause,
            })
        })
        .transpose()?;
    let origin = extra_ca
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    tls_config_pem(pem.as_deref(), &origin)
}

/// [`tls_config`] from PEM text already read (a remote worker gets its coordinator's `--tls-ca` this
/// way); `origin` names where the text came from in errors.
pub fn tls_config_pem(
    extra_ca: Option<&str>,
    origin: &str,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(pem) = extra_ca {
        let path = || origin.to_string();
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|cause| TlsError::Pem {
                path: path(),
                cause,
            })?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate { path: path() });
        }
        for c in certs {
            roots.add(c).map_err(|cause| TlsError::Certificate {
                path: path(),
                cause,
            })?;
        }
    }
    Ok(Arc::new(client_config(roots)))
}

fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        // The ring provider supports the default versions; keep rustls' own defaults otherwise.
        Err(_) => rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    }
}

fn to_request(base: &str, req: &RequestBuf) -> Result<Request<Full<Bytes>>, Outcome> {
    let mut uri = String::with_capacity(base.len() + req.path.len());
    uri.push_str(base.trim_end_matches('/'));
    uri.push_str(std::str::from_utf8(&req.path).map_err(|_| Outcome::Protocol)?);
    let mut b = Request::builder().method(req.method.as_str()).uri(uri);
    for (name, value) in &req.headers {
        b = b.header(name.as_str(), value.as_slice());
    }
    b.body(Full::new(Bytes::copy_from_slice(&req.body)))
        .map_err(|_| Outcome::Protocol)
}

/// Classifies a client error by walking its cause chain (by type, never by message text).
pub fn classify(err: &hyper_util::client::legacy::Error) -> Outcome {
    if err.is_connect() {
        return match classify_chain(err) {
            o @ (Outcome::Tls
            | Outcome::Timeout
            | Outcome::GeneratorFd
            | Outcome::GeneratorPorts) => o,
            _ => Outcome::Connect,
        };
    }
    classify_chain(err)
}

fn classify_body(err: &(dyn StdError + Send + Sync + 'static)) -> Outcome {
    if err.is::<http_body_util::LengthLimitError>() {
        return Outcome::BodyTooLarge;
    }
    classify_chain(err)
}

/// Classifies an I/O error of a connection: refused or unreachable is `connect`, a timeout `timeout`,
/// a TLS failure carried inside it `tls`, anything else a broken connection (`reset`). Shared with any
/// other client so that every client counts the same failure the same way.
pub fn classify_io(io: &std::io::Error) -> Outcome {
    use std::io::ErrorKind::*;
    // What an I/O error carries decides first: rustls' error inside it, or a wrapped I/O error (as
    // hyper-rustls wraps tokio-rustls' handshake error in `Other`) whose kind says more.
    let mut inner = io.get_ref().map(|e| e as &(dyn StdError + 'static));
    while let Some(e) = inner {
        if e.is::<rustls::Error>() {
            return Outcome::Tls;
        }
        if let Some(nested) = e.downcast_ref::<std::io::Error>() {
            return classify_io(nested);
        }
        inner = e.source();
    }
    let generator = Outcome::from_connect_error(io);
    if generator.is_generator() {
        return generator;
    }
    match io.kind() {
        ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable => {
            Outcome::Connect
        }
        TimedOut => Outcome::Timeout,
        _ => Outcome::Reset,
    }
}

fn classify_chain(err: &(dyn StdError + 'static)) -> Outcome {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    let mut saw_incomplete = false;
    while let Some(e) = cur {
        if e.is::<rustls::Error>() {
            return Outcome::Tls;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return classify_io(io);
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                return Outcome::Protocol;
            }
            if h.is_timeout() {
                return Outcome::Timeout;
            }
            if h.is_incomplete_message()
                || h.is_canceled()
                || h.is_closed()
                || h.is_body_write_aborted()
            {
                saw_incomplete = true;
            }
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return Outcome::BodyTooLarge;
        }
        cur = e.source();
    }
    if saw_incomplete {
        Outcome::Reset
    } else {
        Outcome::Protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_kind_and_tls_by_type() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            classify_io(&Error::from(ErrorKind::ConnectionRefused)),
            Outcome::Connect
        );
        assert_eq!(
            classify_io(&Error::from(ErrorKind::TimedOut)),
            Outcome::Timeout
        );
        assert_eq!(
            classify_io(&Error::from(ErrorKind::ConnectionReset)),
            Outcome::Reset
        );
        assert_eq!(
            classify_io(&Error::from(ErrorKind::UnexpectedEof)),
            Outcome::Reset
        );
        let tls = Error::new(ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(classify_io(&tls), Outcome::Tls);
        assert_eq!(
            classify_io(&Error::other(tls)),
            Outcome::Tls,
            "wrapped as hyper-rustls does"
        );
        assert_eq!(
            classify_io(&Error::other(Error::from(ErrorKind::ConnectionRefused))),
            Outcome::Connect
        );
        // The same text in another error type is not a TLS failure.
        let text = Error::other("rustls Tls handshake");
        assert_eq!(classify_io(&text), Outcome::Reset);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("surge-tls-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("empty.pem");
        let _ = std::fs::write(&p, "not a certificate\n");
        let e = tls_config(Some(&p))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = tls_config(Some(&dir.join("missing.pem")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing.pem"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn get() -> RequestBuf {
        RequestBuf {
            path: b"/".to_vec(),
            ..RequestBuf::default()
        }
    }

    #[tokio::test]
    async fn an_untrusted_certificate_is_tls_and_the_given_ca_makes_it_trusted() {
        let server = surge_testkit::tls::TlsServer::start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let untrusted = HttpClients::new(4).send(&server.url(), &get(), false).await;
        assert_eq!(untrusted.err(), Some(Outcome::Tls));
        let ca =
            tls_config(Some(&surge_testkit::tls::ca_pem_path())).unwrap_or_else(|e| panic!("{e}"));
        let trusted = HttpClients::with_tls(4, ca, None)
            .send(&server.url(), &get(), false)
            .await;
        assert_eq!(
            trusted.map(|a| (a.status, a.body)).ok(),
            Some((200, Bytes::from_static(b"{}")))
        );
        assert_eq!((server.handshakes_ok(), server.requests()), (1, 1));
    }
}
