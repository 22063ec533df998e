//! Errors of the results folder: each names the file (and the line, when there is one).

use std::path::PathBuf;

/// What can go wrong writing or reading a results folder.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A file could not be created, written or read.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Neither a results folder nor a folder of them.
    #[error("{dir}: no results folder (run.json) found")]
    NoRuns {
        /// The folder.
        dir: PathBuf,
    },
    /// A JSON file could not be written or parsed.
    #[error("{path}:{line}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A line of a CSV or hlog file is malformed (not the last, which may be cut short).
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A line of a CSV file is malformed (not the last, which may be cut short).
    #[error("{path}:{line}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong with it.
        #[source]
        cause: crate::csv::CsvError,
    },
    /// A histogram could not be encoded or decoded.
    #[error("{path}: histogram")]
    Histogram {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: surge_metrics::MetricsError,
    },
    /// The snapshot does not match the run's regions and steps.
    #[error("snapshot shape {got:?} does not match run.json's regions x steps {want:?}")]
    Shape {
        /// From run.json.
        want: (usize, usize),
        /// From the snapshot.
        got: (u16, u16),
    },
}

impl ResultsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ResultsError {
        ResultsError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn histogram(
        path: impl Into<PathBuf>,
        source: surge_metrics::MetricsError,
    ) -> ResultsError {
        ResultsError::Histogram {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, e: &serde_json::Error) -> ResultsError {
        ResultsError::Json {
            path: path.into(),
            line: e.line(),
            message: e.to_string(),
        }
    }

    pub(crate) fn csv(path: impl Into<PathBuf>, line: usize, cause: crate::csv::CsvError) -> Self {
        ResultsError::Csv {
            path: path.into(),
            line,
            cause,
        }
    }

    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl Into<String>,
    ) -> ResultsError {
        ResultsError::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
