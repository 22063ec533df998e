//! # surge-metrics
//!
//! The recorder on surge's hot path and everything that carries its figures: HdrHistograms keyed by
//! (region, step, [`Measure`]), a bounded [`Outcome`] enum, per-region discovery counters, frozen
//! interval [`Snapshot`]s with an exact, associative [`Snapshot::merge`], their sparse form for the
//! coordinator's merge ([`SparseSnapshot`], [`Accumulator`]), their V2+DEFLATE encoding, and
//! [`Slo`] evaluation shared by the live abort guard and the reports. No tokio, no I/O.
//!
//! ```
//! use surge_metrics::{Outcome, Recorder, StepRecord};
//! let mut rec = Recorder::new(3, 4); // 3 regions x 4 steps
//! rec.step(StepRecord { region: 0, step: 2, outcome: Outcome::Ok,
//!                       response_us: 1_800, service_us: 1_200, send_lag_us: 40 });
//! let snap = rec.take(1);
//! assert_eq!(snap.cell(0, 2).map(|c| c.count()), Some(1));
//! let wire = snap.encode().unwrap();
//! assert_eq!(wire.decode().unwrap(), snap);
//! ```
#![warn(missing_docs)]

pub mod accumulate;
pub mod codec;
pub mod conn;
mod layout;
pub mod outcome;
pub mod recorder;
pub mod slo;
pub mod snapshot;
pub mod sparse;
pub mod timing;
pub mod units;

pub use accumulate::Accumulator;
pub use codec::{EncodedCell, EncodedSnapshot};
/// The histogram type every cell records into (`hdrhistogram`'s, re-exported so that no other crate
/// needs to depend on it).
pub use hdrhistogram::Histogram;
pub use outcome::Outcome;
pub use recorder::{Recorder, StepRecord};
pub use slo::{Slo, SloOp, SloStat, Verdict, VerdictStatus};
pub use snapshot::{
    Cell, HIGHEST_US, LOWEST_US, Measure, RegionCounters, SIGFIG, Snapshot, new_histogram,
};
pub use sparse::{Buckets, SparseCell, SparseSnapshot};
pub use timing::ServerTiming;
pub use units::thousands;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Two snapshots of different (regions, steps) shapes cannot be merged.
    #[error("snapshot shape mismatch: want {want:?} regions x steps, got {got:?}")]
    Shape {
        /// Expected shape.
        want: (u16, u16),
        /// Received shape.
        got: (u16, u16),
    },
    /// Encoding failed.
    #[error("encode: {0}")]
    Encode(String),
    /// Decoding failed: the bytes are not a snapshot.
    #[error("decode: {0}")]
    Decode(String),
    /// A sparse snapshot contradicts itself (a cell outside its shape, counters of another length).
    #[error("malformed sparse snapshot: {0}")]
    Malformed(String),
}
