//! A TLS server on 127.0.0.1:0 signed by the testkit's own CA, for https targets in tests.
//!
//! The CA and server key in `crates/surge-testkit/tls/` are test fixtures, not secrets: they sign only
//! `127.0.0.1` and `localhost`, and nothing outside the tests trusts them. A client that does not trust
//! [`ca_pem_path`] fails the handshake (an untrusted certificate); one that does gets `200 {}`.

use crate::read_request;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The PEM file of the CA that signed the test server's certificate (give it to `--tls-ca`).
pub fn ca_pem_path() -> PathBuf {
    tls_dir().join("ca.pem")
}

fn tls_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tls")
}

/// Why the TLS test server could not start.
#[derive(Debug)]
pub struct TlsSetupError(pub String);

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tls test server: {}", self.0)
    }
}

impl std::error::Error for TlsSetupError {}

/// The rustls server configuration for the test certificate (HTTP/1.1 only).
pub fn server_config() -> Result<rustls::ServerConfig, TlsSetupError> {
    let dir = tls_dir();
    let err = |e: &dyn std::fmt::Display| TlsSetupError(e.to_string());
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .map_err(|e| err(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(&e))?;
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).map_err(|e| err(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| err(&e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// An HTTPS server answering `200 {}` to every request; stops when dropped.
pub struct TlsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
    handshakes_ok: Arc<AtomicU64>,
    handshakes_failed: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl TlsServer {
    /// Starts the server on the current runtime.
    pub async fn start() -> Result<TlsServer, TlsSetupError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config()?));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| TlsSetupError(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TlsSetupError(e.to_string()))?;
        let (ok, failed, requests) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let counters = (ok.clone(), failed.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, (ok, failed, requests)) = (acceptor.clone(), counters.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    ok.fetch_add(1, Ordering::Relaxed);
                    let mut buf = Vec::new();
                    while read_request(&mut tls, &mut buf).await.is_some() {
                        requests.fetch_add(1, Ordering::Relaxed);
                        let resp = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if tls.write_all(resp).await.is_err() || tls.flush().await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(TlsServer {
            addr,
            task,
            handshakes_ok: ok,
            handshakes_failed: failed,
            requests,
        })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Completed handshakes.
    pub fn handshakes_ok(&self) -> u64 {
        self.handshakes_ok.load(Ordering::Relaxed)
    }

    /// Handshakes the client broke off (e.g. it did not trust the certificate).
    pub fn handshakes_failed(&self) -> u64 {
        self.handshakes_failed.load(Ordering::Relaxed)
    }

    /// Requests answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
