//! Reading a results folder back, also one cut short: only complete lines of complete intervals are
//! trusted, and when `summary.json` is missing the totals and summary are rebuilt from the files.

use crate::csv::{Columns, CsvError, RegionRow, TimeseriesRow};
use crate::error::ResultsError;
use crate::files;
use crate::summary::Summary;
use crate::types::{LostWorker, RunEnd, RunEvent, RunInfo, RunStatus};
use crate::writer::{INTERVAL_DONE, hlog_tag};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use surge_metrics::codec::{HlogInterval, parse_hlog_line};
use surge_metrics::{Measure, Slo, Snapshot};

/// Everything in one results folder.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The folder.
    pub dir: PathBuf,
    /// `run.json`.
    pub info: RunInfo,
    /// `summary.json`, or rebuilt from the files with status [`RunStatus::CutShort`].
    pub summary: Summary,
    /// `timeseries.csv` rows of complete intervals, in file order.
    pub rows: Vec<TimeseriesRow>,
    /// `regions.csv` rows of complete intervals, in file order.
    pub region_rows: Vec<RegionRow>,
    /// `events.jsonl`.
    pub events: Vec<RunEvent>,
    /// All complete intervals merged (histograms from `latency.hlog`, counters from the CSVs).
    pub totals: Snapshot,
    /// `slos.json` (empty when the run did not write it).
    pub slo_specs: Vec<Slo>,
    /// Indexes of the complete intervals, ascending.
    pub intervals: Vec<u64>,
}

/// Complete lines of a text file: `(1-based line number, text)`; a last line without its newline
/// (the process died while writing it) is dropped.
fn complete_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => "",
    };
    body.split('\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
}

fn read_text(path: &Path) -> Result<String, ResultsError> {
    std::fs::read_to_string(path).map_err(|e| ResultsError::io(path, e))
}

fn read_optional(path: &Path) -> Result<Option<String>, ResultsError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ResultsError::io(path, e)),
    }
}

fn read_info(dir: &Path) -> Result<RunInfo, ResultsError> {
    let path = dir.join(files::RUN);
    let info: RunInfo =
        serde_json::from_str(&read_text(&path)?).map_err(|e| ResultsError::json(&path, &e))?;
    let bad = |m: &str| ResultsError::Json {
        path: path.clone(),
        line: 0,
        message: m.to_string(),
    };
    if info.regions.is_empty() || info.regions.len() > usize::from(u16::MAX) {
        return Err(bad("regions: want 1 to 65535 names"));
    }
    if info.steps.is_empty() || info.steps.len() > usize::from(u16::MAX) {
        return Err(bad("steps: want 1 to 65535 names"));
    }
    if !(info.interval_s.is_finite() && info.interval_s > 0.0) {
        return Err(bad("interval_s: want a positive number of seconds"));
    }
    Ok(info)
}

fn read_csv<T>(
    dir: &Path,
    name: &str,
    parse: fn(&Columns, &str) -> Result<T, CsvError>,
) -> Result<Vec<T>, ResultsError> {
    let path = dir.join(name);
    let Some(text) = read_optional(&path)? else {
        return Ok(Vec::new());
    };
    let mut lines = complete_lines(&text);
    let Some((n, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols = Columns::parse(header).map_err(|m| ResultsError::csv(&path, n, m))?;
    let mut out = Vec::new();
    for (n, line) in lines {
        out.push(parse(&cols, line).map_err(|m| ResultsError::csv(&path, n, m))?);
    }
    Ok(out)
}

fn read_events(dir: &Path) -> Result<Vec<RunEvent>, ResultsError> {
    let path = dir.join(files::EVENTS);
    let Some(text) = read_optional(&path)? else {
        return Ok(Vec::new());
    };
    complete_lines(&text)
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| ResultsError::parse(&path, n, e.to_string()))
        })
        .collect()
}

/// Tag -> (region, step, measure), built from run.json's names.
fn tag_index(info: &RunInfo) -> HashMap<String, (u16, u16, Measure)> {
    let mut m = HashMap::new();
    for (r, rn) in info.regions.iter().enumerate() {
        for (s, sn) in info.steps.iter().enumerate() {
            for ms in Measure::ALL {
                m.insert(hlog_tag(rn, sn, ms), (r as u16, s as u16, ms));
            }
        }
    }
    m
}

/// The per-interval rows, looked up by interval.
struct RowIndex<'a> {
    cells: HashMap<u64, Vec<&'a TimeseriesRow>>,
    regions: HashMap<u64, Vec<&'a RegionRow>>,
}

impl<'a> RowIndex<'a> {
    fn new(rows: &'a [TimeseriesRow], region_rows: &'a [RegionRow]) -> RowIndex<'a> {
        let mut cells: HashMap<u64, Vec<&TimeseriesRow>> = HashMap::new();
        for r in rows {
            cells.entry(r.interval).or_default().push(r);
        }
        let mut regions: HashMap<u64, Vec<&RegionRow>> = HashMap::new();
        for r in region_rows {
            regions.entry(r.interval).or_default().push(r);
        }
        RowIndex { cells, regions }
    }

    /// Fills the outcome and region counters of `snap` from the rows of its interval.
    fn fill(&self, info: &RunInfo, snap: &mut Snapshot) {
        let pos = |names: &[String], n: &str| names.iter().position(|x| x == n);
        for row in self.cells.get(&snap.interval).into_iter().flatten() {
            let (Some(r), Some(s)) = (pos(&info.regions, &row.region), pos(&info.steps, &row.step))
            else {
                continue;
            };
            if let Some(c) = snap.cell_mut(r as u16, s as u16) {
                c.outcomes = row.outcomes;
                c.retries = row.retries;
            }
        }
        for row in self.regions.get(&snap.interval).into_iter().flatten() {
            if let Some(r) = pos(&info.regions, &row.region) {
                snap.counters[r] = row.counters;
                snap.in_flight = row.in_flight;
            }
        }
    }
}

impl RunData {
    /// Reads one run (`dir` holds run.json), or every run in a folder of repeats (`surge run --repeat`:
    /// its subfolders that hold run.json, in name order).
    pub fn read_runs(dir: &Path) -> Result<Vec<RunData>, ResultsError> {
        if dir.join(files::RUN).exists() {
            return Ok(vec![RunData::read(dir)?]);
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ResultsError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(files::RUN).exists())
            .collect();
        dirs.sort();
        if dirs.is_empty() {
            return Err(ResultsError::NoRuns {
                dir: dir.to_path_buf(),
            });
        }
        dirs.iter().map(|d| RunData::read(d)).collect()
    }

    /// Reads `dir`. A folder without `summary.json` (the run was killed) reads as
    /// [`RunStatus::CutShort`], its figures rebuilt from the complete intervals.
    pub fn read(dir: &Path) -> Result<RunData, ResultsError> {
        let info = read_info(dir)?;
        let slos_path = dir.join(files::SLOS);
        let slo_specs: Vec<Slo> = match read_optional(&slos_path)? {
            Some(t) => serde_json::from_str(&t).map_err(|e| ResultsError::json(&slos_path, &e))?,
            None => Vec::new(),
        };
        let mut rows = read_csv(dir, files::TIMESERIES, TimeseriesRow::parse)?;
        let mut region_rows = read_csv(dir, files::REGIONS, RegionRow::parse)?;
        let events = read_events(dir)?;
        let complete = complete_intervals(dir)?;
        rows.retain(|r| complete.contains(&r.interval));
        region_rows.retain(|r| complete.contains(&r.interval));
        let mut data = RunData {
            dir: dir.to_path_buf(),
            totals: Snapshot::new(0, info.regions.len() as u16, info.steps.len() as u16),
            summary: Summary::from_totals(
                &info,
                &Snapshot::new(0, 1, 1),
                &cut_short_end(0.0, &[], &[]),
            ),
            info,
            rows,
            region_rows,
            events,
            slo_specs,
            intervals: complete.into_iter().collect(),
        };
        let mut totals = data.totals.clone();
        let mut last_in_flight = 0;
        let mut level = crate::conn_summary::ConnectionLevel::default();
        data.replay(|snap| {
            level.add(snap);
            // Same shape by construction, so the merge cannot fail.
            let _ = totals.merge(snap);
            last_in_flight = snap.in_flight;
        })?;
        // A gauge, not a count: the totals keep the last interval's value.
        totals.in_flight = last_in_flight;
        totals.interval = data.intervals.last().copied().unwrap_or(0);
        data.totals = totals;
        data.summary = data.read_or_rebuild_summary(&level)?;
        Ok(data)
    }

    fn read_or_rebuild_summary(
        &self,
        level: &crate::conn_summary::ConnectionLevel,
    ) -> Result<Summary, ResultsError> {
        let path = self.dir.join(files::SUMMARY);
        if let Some(text) = read_optional(&path)? {
            return serde_json::from_str(&text).map_err(|e| ResultsError::json(&path, &e));
        }
        let secs = self.intervals.len() as f64 * self.info.interval_s;
        let verdicts: Vec<_> = self
            .slo_specs
            .iter()
            .map(|s| s.evaluate(&self.totals, secs))
            .collect();
        let end = cut_short_end(secs, &verdicts, &self.events);
        let mut s = Summary::from_totals(&self.info, &self.totals, &end);
        s.intervals = self.intervals.len() as u64;
        level.raise(&self.info, &mut s);
        s.reason = Some(match self.intervals.last() {
            Some(n) => format!("run cut short: no summary.json; data up to interval {n}"),
            None => "run cut short: no summary.json and no complete interval".to_string(),
        });
        Ok(s)
    }

    /// Everything in this folder that does not add up, each as a sentence naming the file(s) and the
    /// figures: a region whose tally does not hold (`started = succeeded + failed + unfinished +
    /// lost_with_worker + unknown`), `summary.json` counting fewer people than `regions.csv`, and a
    /// region/step whose `latency.hlog` samples and `timeseries.csv` counts disagree (a file edited by
    /// hand or truncated). Empty when everything agrees.
    pub fn tally_problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .summary
            .tally_problems()
            .into_iter()
            .map(|p| format!("{}: {p}", files::SUMMARY))
            .collect();
        for (r, name) in self.info.regions.iter().enumerate() {
            let csv = self.totals.counters.get(r).copied().unwrap_or_default();
            if let Some(j) = self.summary.journeys.get(name)
                && j.started < csv.started
            {
                out.push(format!(
                    "{}: {name} started {} but {} adds up to {}",
                    files::SUMMARY,
                    j.started,
                    files::REGIONS,
                    csv.started
                ));
            }
            for s in 0..self.totals.steps {
                let Some(c) = self.totals.cell(r as u16, s) else {
                    continue;
                };
                if c.response.len() != c.count() {
                    out.push(format!(
                        "{name}/{}: {} holds {} samples but {} counts {}",
                        self.info.step_name(s.into()),
                        files::HLOG,
                        c.response.len(),
                        files::TIMESERIES,
                        c.count()
                    ));
                }
            }
        }
        out
    }

    /// Whether the run was cut short (no summary written by the run).
    pub fn is_cut_short(&self) -> bool {
        self.summary.status == RunStatus::CutShort
    }

    /// The last complete interval, if any.
    pub fn last_interval(&self) -> Option<u64> {
        self.intervals.last().copied()
    }

    /// Streams every complete interval, in order, as a [`Snapshot`] (histograms from `latency.hlog`,
    /// outcomes and counters from the CSVs), one at a time so that long runs fit in memory. Used to
    /// evaluate SLOs per interval.
    pub fn replay(&self, mut f: impl FnMut(&Snapshot)) -> Result<(), ResultsError> {
        let path = self.dir.join(files::HLOG);
        let text = read_text(&path)?;
        let tags = tag_index(&self.info);
        let index = RowIndex::new(&self.rows, &self.region_rows);
        let (nr, ns) = (self.info.regions.len() as u16, self.info.steps.len() as u16);
        let mut pending: Option<Snapshot> = None;
        for (n, line) in complete_lines(&text) {
            if let Some(k) = line.strip_prefix(INTERVAL_DONE) {
                let k: u64 = k
                    .trim()
                    .parse()
                    .map_err(|_| ResultsError::parse(&path, n, "bad interval marker"))?;
                let mut snap = match pending.take() {
                    Some(s) if s.interval == k => s,
                    _ => Snapshot::new(k, nr, ns),
                };
                index.fill(&self.info, &mut snap);
                f(&snap);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let Some(HlogCell {
                interval: k,
                region: r,
                step: s,
                measure: m,
                histogram: h,
            }) = self.hlog_cell(&path, n, line, &tags)?
            else {
                continue;
            };
            let snap = match &mut pending {
                Some(p) if p.interval == k => p,
                // A different interval without its marker: the pending one was never completed.
                slot => slot.insert(Snapshot::new(k, nr, ns)),
            };
            if let Some(c) = snap.cell_mut(r, s) {
                let _ = c.histogram_mut(m).add(&h);
            }
        }
        Ok(())
    }

    fn hlog_cell(
        &self,
        path: &Path,
        n: usize,
        line: &str,
        tags: &HashMap<String, (u16, u16, Measure)>,
    ) -> Result<Option<HlogCell>, ResultsError> {
        let entry = match parse_hlog_line(line) {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(None),
            Err(e) => return Err(ResultsError::parse(path, n, e.to_string())),
        };
        let HlogInterval {
            tag: Some(tag),
            start,
            histogram,
        } = entry
        else {
            return Ok(None);
        };
        let Some(&(r, s, m)) = tags.get(tag.as_str()) else {
            return Err(ResultsError::parse(
                path,
                n,
                format!("tag {tag:?} names no region/step of run.json"),
            ));
        };
        let k = (start.as_secs_f64() / self.info.interval_s).round() as u64;
        Ok(Some(HlogCell {
            interval: k,
            region: r,
            step: s,
            measure: m,
            histogram,
        }))
    }
}

/// One histogram of `latency.hlog`, placed in its interval and cell.
struct HlogCell {
    interval: u64,
    region: u16,
    step: u16,
    measure: Measure,
    histogram: surge_metrics::Histogram<u64>,
}

/// The intervals closed by a marker in `latency.hlog`.
fn complete_intervals(dir: &Path) -> Result<BTreeSet<u64>, ResultsError> {
    let path = dir.join(files::HLOG);
    let text = read_text(&path)?;
    let mut out = BTreeSet::new();
    for (n, line) in complete_lines(&text) {
        if let Some(k) = line.strip_prefix(INTERVAL_DONE) {
            out.insert(
                k.trim()
                    .parse()
                    .map_err(|_| ResultsError::parse(&path, n, "bad interval marker"))?,
            );
        }
    }
    Ok(out)
}

fn cut_short_end(secs: f64, verdicts: &[surge_metrics::Verdict], events: &[RunEvent]) -> RunEnd {
    let lost_workers = events
        .iter()
        .filter(|e| e.kind == "worker_lost")
        .map(|e| LostWorker {
            worker: e.worker.clone().unwrap_or_default(),
            lost_at_s: e.t_s,
            missing_intervals: Vec::new(),
            in_flight: Default::default(),
        })
        .collect();
    RunEnd {
        status: RunStatus::CutShort,
        duration_s: secs,
        verdicts: verdicts.to_vec(),
        reason: None,
        lost_workers,
        unknown: Default::default(),
    }
}
