//! The engine's settings for one run, as one typed value: how arrivals are paced, which client sends
//! plain HTTP/1.1, which CA certificates an https target may present, and which local addresses
//! connections come from. Built once (from the flags of `surge run` / `surge coordinator`, or from the
//! coordinator's assignment on a remote worker, which carries it as it is), turned into an [`Engine`]
//! (the TLS configuration built, the addresses checked) before any socket opens, and handed to every
//! worker in its [`crate::WorkerSpec`]. Nothing here is process-global: runs with different settings
//! can share a process.
//!
//! ```
//! use surge_engine::{EngineConfig, Pacing};
//! let cfg = EngineConfig {
//!     pacing: Pacing::Coarse,
//!     source_addresses: surge_engine::config::parse_source_addresses("127.0.0.1-127.0.0.3").unwrap(),
//!     ..EngineConfig::default()
//! };
//! let engine = surge_engine::Engine::new(cfg).unwrap();
//! assert_eq!(engine.config().source_addresses.len(), 3);
//! ```

use crate::http::{TlsError, tls_config_pem};
use crate::pacing::{Http1Client, Pacing};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Most source addresses one run may name (a /16 of loopback is 65,536).
pub const MAX_SOURCE_ADDRESSES: usize = 65_536;

/// The engine's settings for one run (plain data: serialisable, carried to remote workers as is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// How the open-model scheduler waits for each arrival.
    #[serde(default)]
    pub pacing: Pacing,
    /// Which client sends plain `http://` HTTP/1.1 steps.
    #[serde(default)]
    pub http1: Http1Client,
    /// Extra CA certificates (PEM text) trusted for an https target on top of the system's roots.
    #[serde(default)]
    pub tls_ca_pem: Option<String>,
    /// Where `tls_ca_pem` came from (a file name), for error messages.
    #[serde(default)]
    pub tls_ca_origin: String,
    /// Local addresses new connections are bound to, in turn (empty: the kernel chooses). Many
    /// 127.x.y.z addresses keep loopback runs from running out of ephemeral ports.
    #[serde(default)]
    pub source_addresses: Vec<IpAddr>,
}

/// Why an [`EngineConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The CA certificates could not be loaded.
    #[error("TLS configuration")]
    Tls(#[from] TlsError),
    /// A source address is not an address of this host.
    #[error("source address {addr} is not an address of this host (bind failed)")]
    NotLocal {
        /// The address.
        addr: IpAddr,
        /// Why binding to it failed.
        #[source]
        source: std::io::Error,
    },
    /// The `--source-addresses` text could not be read.
    #[error("source addresses {text:?}: {why}")]
    SourceAddresses {
        /// What was given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// An [`EngineConfig`] made ready: its TLS client configuration built and its addresses checked.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    tls: Arc<rustls::ClientConfig>,
    next_source: AtomicUsize,
}

impl Engine {
    /// Builds the TLS configuration and checks that every source address is local (binding a socket
    /// to it), before anything is sent.
    pub fn new(config: EngineConfig) -> Result<Arc<Engine>, ConfigError> {
        let tls = tls_config_pem(config.tls_ca_pem.as_deref(), &config.tls_ca_origin)?;
        for &addr in &config.source_addresses {
            std::net::TcpListener::bind(SocketAddr::new(addr, 0))
                .map_err(|source| ConfigError::NotLocal { addr, source })?;
        }
        Ok(Arc::new(Engine {
            config,
            tls,
            next_source: AtomicUsize::new(0),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The TLS client configuration for https targets.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The source address the next connection binds to (in turn), if any were given.
    pub fn next_source(&self) -> Option<IpAddr> {
        let list = &self.config.source_addresses;
        if list.is_empty() {
            return None;
        }
        let i = self.next_source.fetch_add(1, Ordering::Relaxed);
        list.get(i % list.len()).copied()
    }
}

/// Reads `--source-addresses`: a comma-separated list of addresses and IPv4 ranges
/// (`127.0.0.2-127.0.0.254`, inclusive).
pub fn parse_source_addresses(text: &str) -> Result<Vec<IpAddr>, ConfigError> {
    let bad = |why| ConfigError::SourceAddresses {
        text: text.to_string(),
        why,
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: Ipv4Addr = a
                    .trim()
                    .parse()
                    .map_err(|_| bad("a range's start is not an IPv4 address"))?;
                let b: Ipv4Addr = b
                    .trim()
                    .parse()
                    .map_err(|_| bad("a range's end is not an IPv4 address"))?;
                let (a, b) = (u32::from(a), u32::from(b));
                if a > b {
                    return Err(bad("a range ends before it starts"));
                }
                if (b - a) as usize >= MAX_SOURCE_ADDRESSES {
                    return Err(bad("a range holds more than 65,536 addresses"));
                }
                out.extend((a..=b).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
            }
            None => out.push(part.parse().map_err(|_| bad("not an IP address"))?),
        }
        if out.len() > MAX_SOURCE_ADDRESSES {
            return Err(bad("more than 65,536 addresses"));
        }
    }
    if out.is_empty() {
        return Err(bad("no address"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_lists_and_ranges_and_must_be_local() {
        let v = parse_source_addresses("127.0.0.2-127.0.0.4, ::1").unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[0], "127.0.0.2".parse::<IpAddr>().unwrap());
        for bad in [
            "",
            "127.0.0.5-127.0.0.4",
            "x",
            "10.0.0.1-10.2.0.0",
            "127.0.0.1-x",
        ] {
            assert!(parse_source_addresses(bad).is_err(), "{bad}");
        }
        let local = Engine::new(EngineConfig {
            source_addresses: v[..3].to_vec(),
            ..EngineConfig::default()
        })
        .unwrap();
        let turns: Vec<_> = (0..4).filter_map(|_| local.next_source()).collect();
        assert_eq!(turns[0], turns[3], "addresses are used in turn");
        // TEST-NET-1 (RFC 5737) is never an address of this host: refused before anything is sent.
        let err = Engine::new(EngineConfig {
            source_addresses: vec!["192.0.2.1".parse().unwrap()],
            ..EngineConfig::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("192.0.2.1"), "{err}");
    }

    #[test]
    fn two_configs_live_side_by_side_and_round_trip_as_json() {
        let a = EngineConfig {
            pacing: Pacing::Coarse,
            http1: Http1Client::Hyper,
            ..EngineConfig::default()
        };
        let b = EngineConfig::default();
        let (ea, eb) = (Engine::new(a.clone()).unwrap(), Engine::new(b).unwrap());
        assert_eq!(ea.config().pacing, Pacing::Coarse);
        assert_eq!(eb.config().pacing, Pacing::Fine);
        let json = serde_json::to_string(&a).unwrap();
        assert!(
            json.contains("\"coarse\"") && json.contains("\"hyper\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<EngineConfig>(&json).unwrap(), a);
    }
}
