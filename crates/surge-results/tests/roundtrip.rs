//! Drives a real `ResultsWriter` with snapshots from `surge_metrics::Recorder`, then reads the folder
//! back, whole and cut short.

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use std::path::Path;
use surge_metrics::{Outcome, Recorder, Slo, SloOp, SloStat, Snapshot, StepRecord};
use surge_results::{
    ResultsError, ResultsWriter, RunData, RunEnd, RunEvent, RunInfo, RunStatus, files,
};

const REGIONS: [&str; 3] = ["americas", "europe", "asia"];
const STEPS: [&str; 4] = ["request_code", "verify_code", "register", "discover"];
const INTERVALS: u64 = 6;

fn info() -> RunInfo {
    RunInfo {
        name: "fixture".into(),
        profile_path: "profiles/fixture.toml".into(),
        started_at: "2026-11-23T14:25:01.000Z".into(),
        args: vec!["surge".into(), "run".into(), "profiles/fixture.toml".into()],
        seed: 7,
        population: 10_000,
        run_duration_s: INTERVALS as f64,
        interval_s: 1.0,
        target: "embedded reference backend (http://127.0.0.1:1)".into(),
        regions: REGIONS.iter().map(|s| s.to_string()).collect(),
        steps: STEPS.iter().map(|s| s.to_string()).collect(),
        slos: vec!["p99 of register in americas < 500ms".into()],
        ..RunInfo::default()
    }
}

/// One interval: americas slow (and shedding some register calls), others fast.
fn snapshot(rec: &mut Recorder, k: u64) -> Snapshot {
    let mut x: u64 = 0x9e37_79b9 ^ k;
    for r in 0..3u16 {
        for _ in 0..40 {
            rec.journey_started(r);
        }
        for s in 0..4u16 {
            for i in 0..50u64 {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let jitter = (x >> 33) % 1000;
                let base = if r == 0 { 200_000 + 100_000 * k } else { 5_000 };
                let outcome = if r == 0 && s == 2 && i % 10 == 0 {
                    Outcome::Http429
                } else {
                    Outcome::Ok
                };
                rec.step(StepRecord {
                    region: r,
                    step: s,
                    outcome,
                    response_us: base + jitter * 10,
                    service_us: base / 2 + jitter,
                    send_lag_us: 50 + jitter / 10,
                });
            }
        }
        rec.retry(r, 0, Outcome::Timeout);
        for i in 0..40 {
            rec.journey_ended(r, i < 35);
        }
        rec.discovery(r, 100, 40, if r == 0 { 30 } else { 40 }, 0);
    }
    rec.take(k + 1)
}

fn write_run(dir: &Path) -> Result<(Vec<Snapshot>, Snapshot), ResultsError> {
    let mut w = ResultsWriter::create(dir, &info())?;
    let slo = Slo {
        text: "p99 of register in americas < 500ms".into(),
        stat: SloStat::Percentile(99.0),
        region: Some(0),
        step: Some(2),
        op: SloOp::Lt,
        threshold: 500.0,
    };
    w.write_slo_specs(std::slice::from_ref(&slo))?;
    let mut rec = Recorder::new(3, 4);
    let mut totals = Snapshot::new(0, 3, 4);
    let mut snaps = Vec::new();
    for k in 0..INTERVALS {
        let s = snapshot(&mut rec, k);
        w.interval(&s, &[45.0, 40.0, 40.0])?;
        totals.merge(&s).map_err(|e| ResultsError::Parse {
            path: "merge".into(),
            line: 0,
            message: e.to_string(),
        })?;
        snaps.push(s);
    }
    w.event(&RunEvent {
        t_s: 2.5,
        kind: "note".into(),
        worker: None,
        detail: "half way".into(),
    })?;
    let end = RunEnd {
        status: RunStatus::Complete,
        duration_s: INTERVALS as f64,
        verdicts: vec![slo.evaluate(&totals, INTERVALS as f64)],
        reason: None,
        lost_workers: vec![],
        unknown: Default::default(),
    };
    w.finish(&totals, &end)?;
    Ok((snaps, totals))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("surge-results-")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"))
}

#[test]
fn files_exist_and_parse() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir)?;
    for f in [
        files::RUN,
        files::SLOS,
        files::HLOG,
        files::TIMESERIES,
        files::REGIONS,
        files::EVENTS,
        files::SUMMARY,
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(files::SUMMARY))?)?;
    for key in [
        "count", "errors", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
    ] {
        assert!(
            summary["regions"]["americas"]["register"][key].is_number(),
            "{key}"
        );
    }
    assert_eq!(
        summary["regions"]["americas"]["register"]["count"],
        50 * INTERVALS
    );
    assert_eq!(
        summary["regions"]["americas"]["register"]["errors"],
        5 * INTERVALS
    );
    assert_eq!(summary["status"], "complete");
    assert_eq!(summary["intervals"], INTERVALS);
    assert_eq!(
        summary["all_slos_pass"], false,
        "americas register p99 reaches ~710 ms"
    );
    let slos: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(files::SLOS))?)?;
    assert_eq!(
        slos[0]["status"], "fail",
        "slos.json carries the final verdict"
    );
    assert_eq!(slos[0]["text"], "p99 of register in americas < 500ms");
    // The hlog reads with the standard iterator, every line tagged region/step/measure.
    let hlog = std::fs::read(dir.join(files::HLOG))?;
    let mut tagged = 0;
    for entry in IntervalLogIterator::new(&hlog) {
        if let LogEntry::Interval(h) = entry.map_err(|e| format!("{e:?}"))? {
            let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
            assert_eq!(tag.split('/').count(), 3, "{tag}");
            tagged += 1;
        }
    }
    assert_eq!(tagged, 3 * 4 * 3 * INTERVALS as usize);
    let ts = std::fs::read_to_string(dir.join(files::TIMESERIES))?;
    assert_eq!(ts.lines().count(), 1 + 12 * INTERVALS as usize);
    let regions = std::fs::read_to_string(dir.join(files::REGIONS))?;
    assert_eq!(regions.lines().count(), 1 + 3 * INTERVALS as usize);
    Ok(())
}

#[test]
fn read_round_trips() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let (snaps, mut totals) = write_run(&dir)?;
    let data = RunData::read(&dir)?;
    assert_eq!(data.info, info());
    assert_eq!(data.intervals, (0..INTERVALS).collect::<Vec<_>>());
    assert_eq!(data.summary.status, RunStatus::Complete);
    assert_eq!(data.events.len(), 1);
    assert_eq!(data.slo_specs.len(), 1);
    totals.interval = INTERVALS - 1;
    totals.in_flight = snaps.last().map(|s| s.in_flight).unwrap_or(0);
    assert_same(&data.totals, &totals, "totals");
    let mut replayed = Vec::new();
    data.replay(|s| replayed.push(s.clone()))?;
    assert_eq!(replayed.len(), snaps.len());
    for (a, b) in replayed.iter().zip(&snaps) {
        assert_same(a, b, &format!("interval {}", b.interval));
    }
    let row = data
        .rows
        .iter()
        .find(|r| r.region == "americas" && r.step == "register" && r.interval == 2);
    assert_eq!(
        row.map(|r| (r.count, r.errors, r.outcome(Outcome::Http429))),
        Some((50, 5, 5))
    );
    Ok(())
}

/// Compares snapshots without printing kilobytes of histogram buckets on failure.
fn assert_same(got: &Snapshot, want: &Snapshot, what: &str) {
    assert_eq!(
        (got.interval, got.regions, got.steps, got.in_flight),
        (want.interval, want.regions, want.steps, want.in_flight),
        "{what}: header"
    );
    assert_eq!(got.counters, want.counters, "{what}: counters");
    for (i, (g, w)) in got.cells.iter().zip(&want.cells).enumerate() {
        let same = match (g, w) {
            (Some(g), Some(w)) => g == w,
            (None, None) => true,
            _ => false,
        };
        assert!(
            same,
            "{what}: cell {i} differs: got count {:?}, want {:?}",
            g.as_ref().map(|c| c.count()),
            w.as_ref().map(|c| c.count())
        );
    }
}

fn truncate_tail(path: &Path, bytes: usize) -> std::io::Result<()> {
    let text = std::fs::read(path)?;
    std::fs::write(path, &text[..text.len().saturating_sub(bytes)])
}

#[test]
fn a_folder_cut_short_reads_up_to_its_last_complete_interval()
-> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let (snaps, _) = write_run(&dir)?;
    std::fs::remove_file(dir.join(files::SUMMARY))?;
    truncate_tail(&dir.join(files::HLOG), 4)?; // the last interval's closing marker is cut
    truncate_tail(&dir.join(files::TIMESERIES), 7)?;
    truncate_tail(&dir.join(files::REGIONS), 3)?;
    let data = RunData::read(&dir)?;
    assert!(data.is_cut_short());
    assert_eq!(data.summary.status, RunStatus::CutShort);
    assert_eq!(data.last_interval(), Some(INTERVALS - 2));
    assert_eq!(data.summary.intervals, INTERVALS - 1);
    let reason = data.summary.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&format!("data up to interval {}", INTERVALS - 2)),
        "{reason}"
    );
    let mut want = Snapshot::new(0, 3, 4);
    for s in &snaps[..snaps.len() - 1] {
        want.merge(s)?;
    }
    assert!(
        data.totals.merged_cell(None, None) == want.merged_cell(None, None),
        "totals of the complete intervals"
    );
    assert_eq!(data.totals.counters, want.counters);
    assert_eq!(
        data.summary.regions["americas"]["register"].count,
        50 * (INTERVALS - 1)
    );
    assert!(data.rows.iter().all(|r| r.interval < INTERVALS - 1));
    assert_eq!(
        data.summary.slos.len(),
        1,
        "SLOs re-evaluated from slos.json"
    );
    Ok(())
}

#[test]
fn damaged_lines_name_file_and_line_and_bad_shapes_are_refused()
-> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir)?;
    let path = dir.join(files::TIMESERIES);
    let mut text = std::fs::read_to_string(&path)?;
    text = text.replacen("americas,request_code,50", "americas,request_code,fifty", 1);
    std::fs::write(&path, text)?;
    // The file and line at the error's own level; what is wrong with the line is its cause.
    let (err, cause) = RunData::read(&dir)
        .map(|_| ())
        .err()
        .map(|e| {
            let cause = std::error::Error::source(&e).map(|c| c.to_string());
            (e.to_string(), cause.unwrap_or_default())
        })
        .unwrap_or_default();
    assert!(err.ends_with("timeseries.csv:2"), "{err}");
    assert_eq!(cause, "column count: \"fifty\" is not a count");
    let mut w = ResultsWriter::create(&tmp.path().join("other"), &info())?;
    let err = w
        .interval(&Snapshot::new(0, 2, 4), &[])
        .map(|_| ())
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("shape")));
    Ok(())
}

#[test]
fn an_empty_start_time_is_set_at_create() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    let w = ResultsWriter::create(
        &dir,
        &RunInfo {
            started_at: String::new(),
            ..info()
        },
    )?;
    let written: RunInfo = serde_json::from_str(&std::fs::read_to_string(dir.join(files::RUN))?)?;
    assert_eq!(written.started_at, w.info().started_at);
    assert!(
        surge_results::parse_rfc3339(&written.started_at).is_some(),
        "{}",
        written.started_at
    );
    let hlog = std::fs::read_to_string(dir.join(files::HLOG))?;
    assert!(
        hlog.contains("#[StartTime: ") && hlog.contains("#[BaseTime: "),
        "{hlog}"
    );
    Ok(())
}

/// Files that disagree with each other (edited by hand) are named with what disagrees, never a panic;
/// a folder whose files agree has no problem.
#[test]
fn files_that_disagree_are_reported_with_the_file_and_the_figures()
-> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir)?;
    let clean = RunData::read(&dir)?;
    assert_eq!(clean.tally_problems(), Vec::<String>::new());

    // summary.json claiming fewer people than regions.csv counted, and a tally that does not add up.
    let path = dir.join(files::SUMMARY);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    v["journeys"]["americas"]["started"] = serde_json::json!(1);
    std::fs::write(&path, serde_json::to_string(&v)?)?;
    let problems = RunData::read(&dir)?.tally_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("summary.json") && p.contains("regions.csv")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("americas: started 1 but")),
        "{problems:?}"
    );

    // timeseries.csv counting more than latency.hlog holds.
    let ts = dir.join(files::TIMESERIES);
    let text = std::fs::read_to_string(&ts)?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let cols: Vec<&str> = lines[0].split(',').collect();
    let count = cols.iter().position(|c| *c == "count").unwrap();
    let ok = cols.iter().position(|c| *c == "outcome_ok").unwrap();
    let mut f: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let n: u64 = f[count].parse()?;
    f[count] = (n + 5).to_string();
    let o: u64 = f[ok].parse()?;
    f[ok] = (o + 5).to_string();
    lines[1] = f.join(",");
    std::fs::write(&ts, lines.join("\n") + "\n")?;
    let problems = RunData::read(&dir)?.tally_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("latency.hlog") && p.contains("timeseries.csv")),
        "{problems:?}"
    );
    Ok(())
}
