//! # surge-results
//!
//! The on-disk contract of one surge run: the `results/<UTC time>-<profile>/` folder, its types, an
//! appending [`ResultsWriter`] (called once per interval, flushed each time, so a run killed with
//! SIGKILL keeps everything up to its last interval) and a [`RunData`] reader that also reads a run cut
//! short (no `summary.json`, a truncated last line) by rebuilding its totals from the files.
//!
//! | file | written | what |
//! |---|---|---|
//! | `run.json` | at [`ResultsWriter::create`] | [`RunInfo`]: profile, arguments, seed, versions, workers |
//! | `slos.json` | [`ResultsWriter::write_slo_specs`] (optional) | the SLOs with resolved indexes, so reports can re-evaluate them per interval |
//! | `latency.hlog` | per interval | HdrHistogram interval log, tag `region/step/measure`, V2+DEFLATE, µs |
//! | `timeseries.csv` | per interval | one row per region x step with samples |
//! | `regions.csv` | per interval | one row per region: arrivals intended and started, journeys, discovery |
//! | `events.jsonl` | [`ResultsWriter::event`] | worker lost, abort, guard tripped... |
//! | `summary.json` | [`ResultsWriter::finish`] | [`Summary`], atomically (tmp + rename) |
//!
//! See `results/README.md` in the repository for every column.
//!
//! ```
//! use surge_metrics::{Outcome, Recorder, StepRecord};
//! use surge_results::{ResultsWriter, RunData, RunEnd, RunInfo, RunStatus};
//! let dir = std::env::temp_dir().join(format!("surge-results-doc-{}", std::process::id()));
//! let info = RunInfo { regions: vec!["europe".into()], steps: vec!["register".into()],
//!                      interval_s: 1.0, ..RunInfo::default() };
//! let mut w = ResultsWriter::create(&dir, &info).unwrap();
//! let mut rec = Recorder::new(1, 1);
//! rec.step(StepRecord { region: 0, step: 0, outcome: Outcome::Ok,
//!                       response_us: 2_000, service_us: 1_500, send_lag_us: 30 });
//! let snap = rec.take(1);
//! w.interval(&snap, &[1.0]).unwrap();
//! let end = RunEnd { status: RunStatus::Complete, duration_s: 1.0, verdicts: vec![],
//!                    reason: None, lost_workers: vec![], unknown: Default::default() };
//! let summary = w.finish(&snap, &end).unwrap();
//! assert_eq!(summary.regions["europe"]["register"].count, 1);
//! let data = RunData::read(&dir).unwrap();
//! assert_eq!(data.summary.totals.count, 1);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
#![warn(missing_docs)]

pub mod capacity;
mod code_summary;
pub mod conn_summary;
mod csv;
mod discovery_summary;
mod error;
mod latency_split;
mod reader;
mod resume;
mod summary;
mod time;
mod types;
mod writer;

pub use capacity::CapacityResult;
pub use code_summary::CodeSummary;
pub use csv::{CsvError, RegionRow, TimeseriesRow};
pub use discovery_summary::{DiscoverySummary, MissingByCause};
pub use error::ResultsError;
pub use latency_split::LatencySplit;
pub use reader::RunData;
pub use resume::{ResumePoint, ResumeRefused, check_resumable, sha256_hex};
pub use summary::{ClockSummary, GeneratorHealth, JourneySummary, StepSummary, Summary};
pub use time::{default_run_dir, parse_rfc3339, rfc3339_utc};
pub use types::{
    LostWorker, RunEnd, RunEvent, RunInfo, RunPart, RunStatus, SCHEMA_VERSION, TimerFloor,
    WorkerClock, redact_args,
};
pub use writer::{ResultsWriter, hlog_tag};

/// File names inside a results folder.
pub mod files {
    /// [`crate::RunInfo`] as JSON.
    pub const RUN: &str = "run.json";
    /// The SLO specifications (optional).
    pub const SLOS: &str = "slos.json";
    /// HdrHistogram interval log.
    pub const HLOG: &str = "latency.hlog";
    /// Per interval x region x step.
    pub const TIMESERIES: &str = "timeseries.csv";
    /// Per interval x region.
    pub const REGIONS: &str = "regions.csv";
    /// One JSON event per line.
    pub const EVENTS: &str = "events.jsonl";
    /// [`crate::Summary`] as JSON.
    pub const SUMMARY: &str = "summary.json";
}
