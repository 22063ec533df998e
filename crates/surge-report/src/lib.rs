//! # surge-report
//!
//! Reports people read, made from a results folder only (never from workers): the terminal table
//! printed at the end of a run, `report.md`, a self-contained `report.html` with hand-written SVG
//! charts (per-region percentiles over time on a log axis, arrivals intended vs achieved, errors by
//! class, discovery completeness, percentile distribution, SLO breach timeline, generator health),
//! and `surge compare` of two runs or two sets of repeats.
//!
//! ```no_run
//! use std::path::Path;
//! let data = surge_results::RunData::read(Path::new("results/20261123T142501Z-quickstart"))?;
//! print!("{}", surge_report::terminal_table(&data, false));
//! let (html, md) = surge_report::write_reports(&data)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod analysis;
pub mod capacity;
mod compare;
pub mod connected;
pub mod distance;
mod html;
mod markdown;
pub mod model;
pub mod svg;
mod terminal;
mod units;
mod verdict;

pub use analysis::{DEFAULT_SATURATION_MS, Timeline, slo_is_percentile, slo_value_for, timeline};
pub use compare::{Comparison, Delta, Metric, SIGNIFICANCE_RULE, SloCompare, Stat, compare};
pub use html::{HtmlOptions, render_html, render_html_with};
pub use markdown::render_markdown;
pub use terminal::terminal_table;
pub use units::thousands;
pub use verdict::{Finding, Tone, verdict};

use std::path::{Path, PathBuf};
use surge_results::RunData;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, ReportError> {
    std::fs::write(&path, text)
        .map(|()| path.clone())
        .map_err(|source| ReportError::Write { path, source })
}

/// Writes `report.html` and `report.md` into the run's folder; returns their paths.
pub fn write_reports(data: &RunData) -> Result<(PathBuf, PathBuf), ReportError> {
    let html = write(data.dir.join("report.html"), &render_html(data))?;
    let md = write(data.dir.join("report.md"), &render_markdown(data))?;
    Ok((html, md))
}

impl Comparison {
    /// Writes `compare.html` and `compare.md` into `dir` (created if missing); returns their paths.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let html = write(dir.join("compare.html"), &self.to_html())?;
        let md = write(dir.join("compare.md"), &self.to_markdown())?;
        Ok((html, md))
    }
}
