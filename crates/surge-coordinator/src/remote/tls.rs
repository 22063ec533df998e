//! TLS between workers and their coordinator (rustls, ring): the coordinator's certificate chain and
//! key from PEM files (`surge coordinator --tls-cert FILE --tls-key FILE`), read before anything binds.
//! The worker's side trusts the system's roots plus `surge worker --tls-ca FILE`
//! ([`surge_engine::http::tls_config`], as for https targets).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The coordinator's TLS server configuration, ready for [`super::Coordinator::bind_with_tls`].
pub type ServerTls = Arc<rustls::ServerConfig>;

/// Why the coordinator's certificate or key cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    /// The `--tls-cert` file is unreadable or holds no PEM certificate.
    #[error("tls certificate {path}: {cause}")]
    Cert {
        /// The file.
        path: String,
        /// What was wrong with it.
        cause: String,
    },
    /// The `--tls-key` file is unreadable or holds no PEM private key.
    #[error("tls key {path}: {cause}")]
    Key {
        /// The file.
        path: String,
        /// What was wrong with it.
        cause: String,
    },
    /// The key does not go with the certificate, or rustls refused them.
    #[error("tls certificate {cert} with key {key}: {cause}")]
    Pair {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// rustls' reason.
        cause: String,
    },
}

/// Reads the PEM certificate chain `cert` (leaf first) and PEM private key `key` (PKCS#8, PKCS#1 or
/// SEC1) into a server configuration speaking HTTP/1.1.
pub fn server_tls(cert: &Path, key: &Path) -> Result<ServerTls, TlsFileError> {
    let (cert_name, key_name) = (cert.display().to_string(), key.display().to_string());
    let cert_err = |cause: String| TlsFileError::Cert {
        path: cert_name.clone(),
        cause,
    };
    let key_err = |cause: String| TlsFileError::Key {
        path: key_name.clone(),
        cause,
    };
    let cert_pem = std::fs::read(cert).map_err(|e| cert_err(format!("cannot read it: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("no PEM certificate in it".into()));
    }
    let key_pem = std::fs::read(key).map_err(|e| key_err(format!("cannot read it: {e}")))?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => key_err("no PEM private key in it".into()),
        e => key_err(format!("not a PEM private key: {e}")),
    })?;
    let pair_err = |e: rustls::Error| TlsFileError::Pair {
        cert: cert_name.clone(),
        key: key_name.clone(),
        cause: e.to_string(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(pair_err)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(pair_err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem at all\n").unwrap();

        let e = server_tls(&missing, &empty).unwrap_err().to_string();
        assert!(e.starts_with("tls certificate "), "{e}");
        assert!(e.contains("nope.pem") && e.contains("cannot read"), "{e}");

        let e = server_tls(&empty, &missing).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
    }

    #[test]
    fn a_certificate_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        // A syntactically valid PEM certificate block: the key file holding it has no key.
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = server_tls(&cert, &cert).unwrap_err().to_string();
        assert!(e.starts_with("tls key ") && e.contains("cert.pem"), "{e}");
        assert!(e.contains("no PEM private key"), "{e}");
    }
}
