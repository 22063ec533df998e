//! The appending writer: one call per interval, everything flushed before it returns.

use crate::csv::{RegionRow, TimeseriesRow, regions_header, timeseries_header};
use crate::error::ResultsError;
use crate::summary::Summary;
use crate::types::{RunEnd, RunEvent, RunInfo};
use crate::{files, parse_rfc3339};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use surge_metrics::{Measure, Slo, Snapshot};

/// The comment that closes each interval in `latency.hlog`; the reader trusts only closed intervals.
pub(crate) const INTERVAL_DONE: &str = "# surge interval complete: ";

/// Writes one run's results folder as the run goes.
pub struct ResultsWriter {
    dir: PathBuf,
    info: RunInfo,
    hlog: BufWriter<File>,
    timeseries: BufWriter<File>,
    regions: BufWriter<File>,
    events: BufWriter<File>,
    serializer: V2DeflateSerializer,
    scratch: Vec<u8>,
    intervals_written: u64,
}

impl std::fmt::Debug for ResultsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultsWriter")
            .field("dir", &self.dir)
            .field("intervals_written", &self.intervals_written)
            .finish_non_exhaustive()
    }
}

fn open(dir: &Path, name: &str) -> Result<(PathBuf, BufWriter<File>), ResultsError> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| ResultsError::io(&path, e))?;
    Ok((path, BufWriter::new(f)))
}

/// Opens `name` in `dir` for appending (the resumed part of a run).
fn open_append(dir: &Path, name: &str) -> Result<(PathBuf, BufWriter<File>), ResultsError> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| ResultsError::io(&path, e))?;
    Ok((path, BufWriter::new(f)))
}

/// Replaces `dir/name` with `text`, atomically (a temporary file renamed over it).
pub(crate) fn replace_file(dir: &Path, name: &str, text: &str) -> Result<(), ResultsError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(|e| ResultsError::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| ResultsError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ResultsError::io(&path, e))
}

fn write_line(path: &Path, w: &mut BufWriter<File>, line: &str) -> Result<(), ResultsError> {
    w.write_all(line.as_bytes())
        .and_then(|()| w.write_all(b"\n"))
        .map_err(|e| ResultsError::io(path, e))
}

fn flush(path: &Path, w: &mut BufWriter<File>) -> Result<(), ResultsError> {
    w.flush().map_err(|e| ResultsError::io(path, e))
}

/// Writes `value` as pretty JSON to `dir/name`, atomically (a temporary file renamed over it).
pub(crate) fn write_json_atomic<T: serde::Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), ResultsError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| ResultsError::json(&path, &e))?;
    text.push('\n');
    let mut f = File::create(&tmp).map_err(|e| ResultsError::io(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| ResultsError::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ResultsError::io(&path, e))
}

impl ResultsWriter {
    /// Creates `dir` (and its parents), writes `run.json` and the headers of every appended file.
    /// An empty (or unparsable) `info.started_at` is set to the current time, so interval 0 starts
    /// now; [`ResultsWriter::info`] returns what was written.
    pub fn create(dir: &Path, info: &RunInfo) -> Result<ResultsWriter, ResultsError> {
        let mut info = info.clone();
        let start = match parse_rfc3339(&info.started_at) {
            Some(t) => t,
            None => {
                let now = SystemTime::now();
                info.started_at = crate::rfc3339_utc(now);
                now
            }
        };
        std::fs::create_dir_all(dir).map_err(|e| ResultsError::io(dir, e))?;
        write_json_atomic(dir, files::RUN, &info)?;
        let (hp, mut hlog) = open(dir, files::HLOG)?;
        let (tp, mut timeseries) = open(dir, files::TIMESERIES)?;
        let (rp, mut regions) = open(dir, files::REGIONS)?;
        let (ep, mut events) = open(dir, files::EVENTS)?;
        let mut serializer = V2DeflateSerializer::new();
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment(&format!(
                "surge latency log: run {:?}, started {}",
                info.name, info.started_at
            ))
            .add_comment("values in microseconds (max column in ms); tag = region/step/measure")
            .add_comment("measures: response (from intended start), service (from send), send_lag")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0);
        builder
            .begin_log_with(&mut hlog, &mut serializer)
            .map_err(|e| ResultsError::io(&hp, e))?;
        flush(&hp, &mut hlog)?;
        write_line(&tp, &mut timeseries, &timeseries_header())?;
        flush(&tp, &mut timeseries)?;
        write_line(&rp, &mut regions, &regions_header())?;
        flush(&rp, &mut regions)?;
        flush(&ep, &mut events)?;
        Ok(ResultsWriter {
            dir: dir.to_path_buf(),
            info,
            hlog,
            timeseries,
            regions,
            events,
            serializer,
            scratch: Vec::new(),
            intervals_written: 0,
        })
    }

    /// Reopens an existing folder (already truncated to `intervals_written` complete intervals) to append
    /// to it, and rewrites run.json with `info`.
    pub(crate) fn append(
        dir: &Path,
        info: &RunInfo,
        intervals_written: u64,
    ) -> Result<ResultsWriter, ResultsError> {
        write_json_atomic(dir, files::RUN, info)?;
        let (_, hlog) = open_append(dir, files::HLOG)?;
        let (_, timeseries) = open_append(dir, files::TIMESERIES)?;
        let (_, regions) = open_append(dir, files::REGIONS)?;
        let (_, events) = open_append(dir, files::EVENTS)?;
        Ok(ResultsWriter {
            dir: dir.to_path_buf(),
            info: info.clone(),
            hlog,
            timeseries,
            regions,
            events,
            serializer: V2DeflateSerializer::new(),
            scratch: Vec::new(),
            intervals_written,
        })
    }

    /// The results folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's description, as written to `run.json`.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Writes `slos.json`: the SLOs with their region/step indexes resolved, so that a report can
    /// re-evaluate each SLO per interval (breach timeline) and for a run cut short. Optional.
    pub fn write_slo_specs(&mut self, slos: &[Slo]) -> Result<(), ResultsError> {
        write_json_atomic(&self.dir, files::SLOS, &slos)
    }

    fn check_shape(&self, snap: &Snapshot) -> Result<(), ResultsError> {
        let want = (self.info.regions.len(), self.info.steps.len());
        if want != (snap.regions as usize, snap.steps as usize) {
            return Err(ResultsError::Shape {
                want,
                got: (snap.regions, snap.steps),
            });
        }
        Ok(())
    }

    /// Appends one merged interval: `timeseries.csv` rows (one per region x step with samples or
    /// retries), `regions.csv` rows (one per region; `intended_arrivals[r]` is the number of people the
    /// schedule meant to start in region `r` during this interval, 0 when missing), then the
    /// `latency.hlog` lines (one per region/step/measure with samples) closed by a comment that marks
    /// the interval complete. Each file is flushed before the next is written.
    pub fn interval(
        &mut self,
        snap: &Snapshot,
        intended_arrivals: &[f64],
    ) -> Result<(), ResultsError> {
        self.check_shape(snap)?;
        let secs = self.info.interval_s;
        let t_s = snap.interval as f64 * secs;
        let tp = self.dir.join(files::TIMESERIES);
        for r in 0..snap.regions {
            for s in 0..snap.steps {
                let Some(c) = snap.cell(r, s) else { continue };
                if c.count() == 0 && c.retried() == 0 {
                    continue;
                }
                let (rn, sn) = (
                    self.info.region_name(r.into()),
                    self.info.step_name(s.into()),
                );
                let row = TimeseriesRow::from_cell(snap.interval, t_s, secs, &rn, &sn, c);
                write_line(&tp, &mut self.timeseries, &row.to_line())?;
            }
        }
        flush(&tp, &mut self.timeseries)?;
        let rp = self.dir.join(files::REGIONS);
        for (r, counters) in snap.counters.iter().enumerate() {
            let row = RegionRow {
                interval: snap.interval,
                t_s,
                region: self.info.region_name(r),
                intended_arrivals: intended_arrivals.get(r).copied().unwrap_or(0.0),
                counters: *counters,
                in_flight: snap.in_flight,
            };
            write_line(&rp, &mut self.regions, &row.to_line())?;
        }
        flush(&rp, &mut self.regions)?;
        self.write_hlog(snap)
    }

    fn write_hlog(&mut self, snap: &Snapshot) -> Result<(), ResultsError> {
        let hp = self.dir.join(files::HLOG);
        let secs = self.info.interval_s.max(0.0);
        let start = Duration::from_secs_f64(snap.interval as f64 * secs);
        let len = Duration::from_secs_f64(secs);
        self.scratch.clear();
        {
            let mut log = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut self.scratch, &mut self.serializer)
                .map_err(|e| ResultsError::io(&hp, e))?;
            for r in 0..snap.regions {
                for s in 0..snap.steps {
                    let Some(c) = snap.cell(r, s) else { continue };
                    for m in Measure::ALL {
                        let h = c.histogram(m);
                        if h.is_empty() {
                            continue;
                        }
                        let tag = hlog_tag(
                            &self.info.region_name(r.into()),
                            &self.info.step_name(s.into()),
                            m,
                        );
                        log.write_histogram(h, start, len, Tag::new(&tag))
                            .map_err(|e| ResultsError::Histogram {
                                path: hp.clone(),
                                message: e.to_string(),
                            })?;
                    }
                }
            }
            log.write_comment(&format!("{}{}", &INTERVAL_DONE[1..], snap.interval))
                .map_err(|e| ResultsError::io(&hp, e))?;
        }
        self.hlog
            .write_all(&self.scratch)
            .map_err(|e| ResultsError::io(&hp, e))?;
        flush(&hp, &mut self.hlog)?;
        self.intervals_written += 1;
        Ok(())
    }

    /// Appends one line to `events.jsonl` and flushes it.
    pub fn event(&mut self, ev: &RunEvent) -> Result<(), ResultsError> {
        let path = self.dir.join(files::EVENTS);
        let line = serde_json::to_string(ev).map_err(|e| ResultsError::json(&path, &e))?;
        write_line(&path, &mut self.events, &line)?;
        flush(&path, &mut self.events)
    }

    /// Writes `summary.json` (atomically) from the run's merged totals and returns it.
    pub fn finish(&mut self, totals: &Snapshot, end: &RunEnd) -> Result<Summary, ResultsError> {
        self.check_shape(totals)?;
        for (name, w) in [
            (files::HLOG, &mut self.hlog),
            (files::TIMESERIES, &mut self.timeseries),
            (files::REGIONS, &mut self.regions),
            (files::EVENTS, &mut self.events),
        ] {
            let path = self.dir.join(name);
            w.flush()
                .and_then(|()| w.get_ref().sync_all())
                .map_err(|e| ResultsError::io(&path, e))?;
        }
        let mut summary = Summary::from_totals(&self.info, totals, end);
        summary.intervals = self.intervals_written;
        write_json_atomic(&self.dir, files::SUMMARY, &summary)?;
        Ok(summary)
    }
}

/// The hlog tag of one histogram: `region/step/measure`, with characters a tag cannot hold
/// (comma, space, CR, LF) replaced by `_`.
pub fn hlog_tag(region: &str, step: &str, m: Measure) -> String {
    format!("{region}/{step}/{}", m.as_str())
        .chars()
        .map(|c| {
            if matches!(c, ',' | ' ' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}
