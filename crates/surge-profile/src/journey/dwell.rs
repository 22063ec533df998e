//! How long a connected person stays: `dwell = { median, p99 }` (log-normal), `{ fixed }`, or
//! `{ trace = "traces/file.csv" }`, measured session lengths.
//!
//! A dwell trace is a CSV file in the format of the arrival traces (`#` comments, a header
//! `time,<column>`, one row per value, times increasing), read relative to the profile's folder:
//! `time` is a session length in seconds and the one other column its weight (how many sessions of
//! that length were measured, or any proportional figure). Row `i` stands for lengths in
//! `[time_i, time_i+1)`, spread evenly; the last row for exactly its time. For example
//! `profiles/traces/dwell-mobile.csv`. Errors in the file name the file, line and column; errors
//! about the whole file name the profile's `journey.connect.dwell.trace` field.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::ThinkSpec;
use super::connect::positive;
use super::connect_raw::RawDwell;
use super::fields::duration;
use super::validate::Ck;
use crate::error::ProfileError;

const F: &str = "journey.connect.dwell";

/// How long a person stays connected, reconnects included.
#[derive(Debug, Clone, PartialEq)]
pub enum DwellSpec {
    /// Fixed or log-normal.
    Dist(ThinkSpec),
    /// Measured session lengths.
    Trace(DwellTrace),
}

/// Session lengths from a trace file.
#[derive(Debug, Clone, PartialEq)]
pub struct DwellTrace {
    /// The file, as resolved against the profile's folder.
    pub file: PathBuf,
    /// Session lengths, seconds, increasing.
    pub secs: Vec<f64>,
    /// Weight of each length (non-negative, not all zero).
    pub weights: Vec<f64>,
}

pub(super) fn dwell(ck: &Ck, d: &Spanned<RawDwell>) -> Result<DwellSpec, ProfileError> {
    let r = d.get_ref();
    let f = F;
    match (&r.fixed, &r.median, &r.p99, &r.trace) {
        (Some(t), None, None, None) => Ok(DwellSpec::Dist(ThinkSpec::Fixed(duration(
            ck,
            t,
            &format!("{f}.fixed"),
        )?))),
        (None, Some(m), Some(p), None) => {
            let median = positive(ck, m, &format!("{f}.median"))?;
            let p99 = positive(ck, p, &format!("{f}.p99"))?;
            if p99 < median {
                return Err(ck.err(
                    p.span(),
                    &format!("{f}.p99"),
                    p.get_ref(),
                    "p99 must not be below median",
                ));
            }
            // The 99th percentile of a standard normal.
            let sigma = (p99.as_secs_f64() / median.as_secs_f64()).ln() / 2.326_348;
            Ok(DwellSpec::Dist(ThinkSpec::LogNormal {
                median,
                sigma: sigma.min(5.0),
                max: Some(p99.saturating_mul(4)),
            }))
        }
        (None, None, None, Some(t)) => trace(ck, t),
        _ => {
            let rule = "expected { median, p99 }, { fixed } or { trace }";
            Err(ck.err(d.span(), f, "", rule))
        }
    }
}

fn trace(ck: &Ck, t: &Spanned<String>) -> Result<DwellSpec, ProfileError> {
    let field = format!("{F}.trace");
    let bad = |rule: String| ck.err(t.span(), &field, t.get_ref(), rule);
    let Some(dir) = ck.ctx.base_dir else {
        return Err(bad(
            "a dwell trace needs a profile file to be read relative to".into(),
        ));
    };
    if t.get_ref().trim().is_empty() || t.get_ref().len() > 1024 {
        return Err(bad("expected a file path (at most 1024 bytes)".into()));
    }
    let file = dir.join(Path::new(t.get_ref()));
    let series = crate::trace::read(&file).map_err(|e| bad(e.to_string()))?;
    let shown = file.display();
    if series.columns.len() != 1 {
        return Err(bad(format!(
            "{shown}: expected the header `time,<weight>` (one weight column), found {} columns",
            series.columns.len()
        )));
    }
    let weights = series.values.into_iter().next().unwrap_or_default();
    let total: f64 = weights.iter().sum();
    let longest = series
        .times
        .iter()
        .zip(&weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(t, _)| *t)
        .fold(0.0, f64::max);
    if !(total > 0.0 && longest > 0.0) {
        return Err(bad(format!(
            "{shown}: no session length above 0 s has a weight above 0"
        )));
    }
    Ok(DwellSpec::Trace(DwellTrace {
        file,
        secs: series.times,
        weights,
    }))
}
