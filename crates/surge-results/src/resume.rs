//! Continuing a run that was cut short (`surge run --resume DIR`): the folder is checked (cut short, same
//! profile, same surge version), truncated to its last complete interval (lines of the interval being
//! written at the crash are dropped, so nothing is counted twice), and reopened for appending. The
//! people in flight at the crash are counted as `unknown`; the gap in time is an event.

use crate::csv::{Columns, CsvError, RegionRow, TimeseriesRow};
use crate::error::ResultsError;
use crate::files;
use crate::reader::RunData;
use crate::types::{RunEvent, RunInfo, RunPart};
use crate::writer::{INTERVAL_DONE, ResultsWriter};
use std::collections::BTreeMap;
use std::path::Path;
use surge_metrics::Snapshot;

/// Why a folder cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeRefused {
    /// The folder could not be read.
    #[error("cannot read the run to resume")]
    Read(#[from] ResultsError),
    /// The run ended by itself (it has a summary.json).
    #[error(
        "{dir}: the run is not cut short (it ended {status} and wrote summary.json): nothing to resume"
    )]
    NotCutShort {
        /// The folder.
        dir: String,
        /// How it ended.
        status: String,
    },
    /// No interval was completed before the crash: run it again instead.
    #[error("{dir}: no complete interval before the crash: start the run again instead")]
    NothingDone {
        /// The folder.
        dir: String,
    },
    /// The profile changed since the run started.
    #[error("{path}: the profile changed since the run started (sha256 {then} then, {now} now)")]
    ProfileChanged {
        /// The profile.
        path: String,
        /// Its hash in run.json.
        then: String,
        /// Its hash now.
        now: String,
    },
    /// Another surge version wrote the first part.
    #[error(
        "the run was started by surge {then}; this is surge {now}: resume it with the same version"
    )]
    VersionChanged {
        /// The version in run.json.
        then: String,
        /// This build's.
        now: String,
    },
}

/// What a resumed run continues from.
#[derive(Debug, Clone)]
pub struct ResumePoint {
    /// The folder as read before resuming.
    pub data: RunData,
    /// The first interval the resumed part writes (the last complete one + 1).
    pub next_interval: u64,
    /// Everything merged up to the crash.
    pub totals: Snapshot,
    /// Region -> people in flight at the crash (started, never reported ended): `unknown`.
    pub unknown: BTreeMap<String, u64>,
}

/// Checks that `dir` can be resumed by this build with this profile text.
pub fn check_resumable(
    dir: &Path,
    profile_text: &str,
    surge_version: &str,
) -> Result<ResumePoint, ResumeRefused> {
    let data = RunData::read(dir)?;
    let shown = dir.display().to_string();
    if !data.is_cut_short() {
        return Err(ResumeRefused::NotCutShort {
            dir: shown,
            status: data.summary.status.as_str().to_string(),
        });
    }
    let Some(last) = data.last_interval() else {
        return Err(ResumeRefused::NothingDone { dir: shown });
    };
    let now = sha256_hex(profile_text.as_bytes());
    if !data.info.profile_sha256.is_empty() && data.info.profile_sha256 != now {
        return Err(ResumeRefused::ProfileChanged {
            path: data.info.profile_path.clone(),
            then: data.info.profile_sha256.clone(),
            now,
        });
    }
    let then = data.info.versions.get("surge").cloned().unwrap_or_default();
    if then != surge_version {
        return Err(ResumeRefused::VersionChanged {
            then,
            now: surge_version.to_string(),
        });
    }
    let unknown = data
        .summary
        .journeys
        .iter()
        .map(|(r, j)| (r.clone(), j.unknown))
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok(ResumePoint {
        totals: data.totals.clone(),
        next_interval: last + 1,
        unknown,
        data,
    })
}

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ResultsWriter {
    /// Reopens a cut-short folder for the resumed part of its run: every file is truncated to the
    /// last complete interval, run.json gains `part`, and events.jsonl a `resumed` event saying how long
    /// the gap was and who ran each part.
    pub fn resume(
        dir: &Path,
        point: &ResumePoint,
        part: RunPart,
        gap_s: f64,
    ) -> Result<ResultsWriter, ResultsError> {
        let keep = point.next_interval;
        truncate_csv(dir, files::TIMESERIES, keep, |c, l| {
            TimeseriesRow::parse(c, l).map(|r| r.interval)
        })?;
        truncate_csv(dir, files::REGIONS, keep, |c, l| {
            RegionRow::parse(c, l).map(|r| r.interval)
        })?;
        truncate_hlog(dir, keep)?;
        let mut info: RunInfo = point.data.info.clone();
        let before = info.parts.last().cloned();
        info.parts.push(part.clone());
        let mut w = ResultsWriter::append(dir, &info, keep)?;
        let was = before.map_or_else(
            || "the first part".to_string(),
            |p| {
                format!(
                    "the part started {} on {} (surge {})",
                    p.started_at, p.host, p.surge_version
                )
            },
        );
        w.event(&RunEvent {
            t_s: keep as f64 * info.interval_s,
            kind: "resumed".into(),
            worker: None,
            detail: format!(
                "resumed at interval {keep} after a gap of {gap_s:.1} s: {was} was cut short; this part started {} on {} (surge {}); {} people in flight at the crash counted as unknown",
                part.started_at,
                part.host,
                part.surge_version,
                point.unknown.values().sum::<u64>()
            ),
        })?;
        Ok(w)
    }
}

/// Rewrites a CSV file keeping its header and the complete rows of intervals before `keep`.
fn truncate_csv(
    dir: &Path,
    name: &str,
    keep: u64,
    interval_of: impl Fn(&Columns, &str) -> Result<u64, CsvError>,
) -> Result<(), ResultsError> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| ResultsError::io(&path, e))?;
    let mut lines = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    let Some(header) = lines.next() else {
        return Ok(());
    };
    let cols = Columns::parse(header.trim_end()).map_err(|m| ResultsError::csv(&path, 1, m))?;
    let mut out = String::from(header);
    for (i, line) in lines.enumerate() {
        let k =
            interval_of(&cols, line.trim_end()).map_err(|m| ResultsError::csv(&path, i + 2, m))?;
        if k < keep {
            out.push_str(line);
        }
    }
    crate::writer::replace_file(dir, name, &out)
}

/// Rewrites latency.hlog up to and including the mark of interval `keep - 1`.
fn truncate_hlog(dir: &Path, keep: u64) -> Result<(), ResultsError> {
    let path = dir.join(files::HLOG);
    let text = std::fs::read_to_string(&path).map_err(|e| ResultsError::io(&path, e))?;
    let mark = format!("{INTERVAL_DONE}{}", keep.saturating_sub(1));
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        out.push_str(line);
        if line.trim_end() == mark {
            break;
        }
    }
    crate::writer::replace_file(dir, files::HLOG, &out)
}
