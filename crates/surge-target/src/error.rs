//! Errors of the reference backend: reading a capacity plan and starting the server.
//!
//! Both are permanent: a plan error needs the file fixed, a bind error needs another address.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A capacity plan that cannot be used: unreadable, not TOML, or breaking a rule.
///
/// Every error that comes from the text names the origin (usually the file path), the 1-based line
/// and column, and the field path (e.g. `dcs.us.service.register.p99`).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan file could not be read.
    #[error("cannot read plan {path}")]
    Read {
        /// The path that was read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, has an unknown or missing field, or a value breaks a rule.
    #[error("{origin}:{line}:{column}: {field}: {message}")]
    Invalid {
        /// Where the text came from (a file path or a name such as `<baseline>`).
        origin: String,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column of the offending value.
        column: usize,
        /// Dotted path of the field (best effort for TOML syntax errors).
        field: String,
        /// What is wrong, lowercase.
        message: String,
    },
}

impl PlanError {
    /// The field path named by the error, if the error comes from the plan text.
    pub fn field(&self) -> Option<&str> {
        match self {
            PlanError::Read { .. } => None,
            PlanError::Invalid { field, .. } => Some(field),
        }
    }

    /// The 1-based line named by the error, if the error comes from the plan text.
    pub fn line(&self) -> Option<usize> {
        match self {
            PlanError::Read { .. } => None,
            PlanError::Invalid { line, .. } => Some(*line),
        }
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket could not report its address.
    #[error("cannot read the listening address")]
    LocalAddr(#[source] std::io::Error),
}
