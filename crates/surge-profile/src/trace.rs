//! Measured arrival series from CSV files (`kind = "trace"` curves).
//!
//! Format: optional `#` comment lines, a header `time,<column>,<column>...`, then one row per
//! sample: the time in units of the curve's `step` (from the event start), then for each column the
//! signups counted over one `step` at that time. Values must be finite and non-negative.

use std::path::{Path, PathBuf};

use crate::error::ProfileError;

/// Largest trace file accepted.
pub const MAX_TRACE_BYTES: u64 = 16 << 20;

/// A parsed CSV series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Column names (without `time`).
    pub columns: Vec<String>,
    /// Row times, in steps.
    pub times: Vec<f64>,
    /// Per column, one value per row.
    pub values: Vec<Vec<f64>>,
}

/// Why a trace file cannot be used. Each becomes the rule of the profile's `curve.file` error, a
/// single message: so the I/O error is part of [`TraceError::Read`]'s text, not a `source()`.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is larger than [`MAX_TRACE_BYTES`].
    #[error("trace {path} is larger than {MAX_TRACE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The text is not a series (names the trace file, line and column).
    #[error(transparent)]
    Invalid(#[from] ProfileError),
}

/// Reads and parses a trace file.
pub fn read(path: &Path) -> Result<Series, TraceError> {
    let unreadable = |cause| TraceError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if meta.len() > MAX_TRACE_BYTES {
        return Err(TraceError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    Ok(parse(&text, &path.display().to_string())?)
}

/// Where errors point: the trace text and its label.
struct Src<'a> {
    file: &'a str,
    text: &'a str,
}

impl Src<'_> {
    fn err(&self, off: usize, field: &str, value: &str, rule: &str) -> ProfileError {
        let value = crate::locate::short(value);
        ProfileError::at(self.file, self.text, off..off, field, value, rule)
    }
}

/// Lines with their byte offsets, without line endings; comments and blank lines skipped.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n')
        .scan(0usize, |pos, l| {
            let start = *pos;
            *pos += l.len();
            Some((start, l.trim_end_matches(['\n', '\r'])))
        })
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// Parses trace text; `file` labels errors.
pub fn parse(text: &str, file: &str) -> Result<Series, ProfileError> {
    let src = Src { file, text };
    let mut lines = data_lines(text);
    const HEADER: &str = "expected a header `time,<column>,...`";
    let (hoff, header) = lines
        .next()
        .ok_or_else(|| src.err(0, "header", "", HEADER))?;
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    if names.first().map(String::as_str) != Some("time") || names.len() < 2 {
        return Err(src.err(hoff, "header", header, HEADER));
    }
    let mut series = Series {
        columns: names[1..].to_vec(),
        times: Vec::new(),
        values: vec![Vec::new(); names.len() - 1],
    };
    for (off, line) in lines {
        if series.times.len() >= 1_000_000 {
            return Err(src.err(off, "row", "", "at most 1000000 rows"));
        }
        row(&src, off, line, &names, &mut series)?;
    }
    if series.times.is_empty() {
        return Err(src.err(hoff, "row", "", "the trace has no rows"));
    }
    Ok(series)
}

fn row(
    src: &Src,
    off: usize,
    line: &str,
    names: &[String],
    out: &mut Series,
) -> Result<(), ProfileError> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != names.len() {
        let rule = format!("expected {} cells, found {}", names.len(), cells.len());
        return Err(src.err(off, "row", line, &rule));
    }
    let mut at = off;
    for (i, cell) in cells.iter().enumerate() {
        let v: f64 = cell
            .trim()
            .parse()
            .map_err(|_| src.err(at, &names[i], cell, "not a number"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(src.err(at, &names[i], cell, "must be a finite, non-negative number"));
        }
        if i == 0 {
            if out.times.last().is_some_and(|&t| v <= t) {
                return Err(src.err(at, "time", cell, "times must increase from row to row"));
            }
            out.times.push(v);
        } else {
            out.values[i - 1].push(v);
        }
        at += cell.len() + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let s = parse("# c\ntime,a,b\n0,1,2\n1,3,4\n", "t.csv").unwrap();
        assert_eq!(s.columns, ["a", "b"]);
        assert_eq!(s.times, [0.0, 1.0]);
        assert_eq!(s.values, [vec![1.0, 3.0], vec![2.0, 4.0]]);
        let e = parse("time,a\n0,1\n1,-3\n", "t.csv").unwrap_err();
        assert_eq!(
            (e.line(), e.column(), e.field.as_str()),
            (Some(3), Some(3), "a")
        );
        assert!(parse("time,a\n1,1\n0,1\n", "t.csv").is_err());
        assert!(parse("t,a\n0,1\n", "t.csv").is_err());
        assert!(parse("time,a\n0,nan\n", "t.csv").is_err());
    }
}
