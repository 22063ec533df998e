//! Builds real results folders by driving `ResultsWriter` with `Recorder` snapshots: a slow americas,
//! fast europe and asia.

#![allow(dead_code)]

use std::path::Path;
use surge_metrics::{Outcome, Recorder, Slo, SloOp, SloStat, Snapshot, StepRecord};
use surge_results::{ResultsError, ResultsWriter, RunData, RunEnd, RunEvent, RunInfo, RunStatus};

pub const REGIONS: [&str; 3] = ["americas", "europe", "asia"];
pub const STEPS: [&str; 4] = ["request_code", "verify_code", "register", "discover"];

/// How one synthetic run behaves.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Intervals written.
    pub intervals: u64,
    /// Americas response time at the peak, µs (others stay near 5 ms).
    pub americas_peak_us: u64,
    /// Varies the jitter of americas only (europe and asia are the same in every run).
    pub seed: u64,
    /// An interval where the generator falls behind (send lag ~40 ms).
    pub saturated: Option<u64>,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            intervals: 8,
            americas_peak_us: 900_000,
            seed: 1,
            saturated: Some(5),
        }
    }
}

pub fn slos() -> Vec<Slo> {
    vec![
        Slo {
            text: "p99 of register in americas < 500ms".into(),
            stat: SloStat::Percentile(99.0),
            region: Some(0),
            step: Some(2),
            op: SloOp::Lt,
            threshold: 500.0,
        },
        Slo {
            text: "error rate of discover < 1%".into(),
            stat: SloStat::ErrorRate,
            region: None,
            step: Some(3),
            op: SloOp::Lt,
            threshold: 0.01,
        },
        Slo {
            text: "completeness in europe > 99.5%".into(),
            stat: SloStat::Completeness,
            region: Some(1),
            step: None,
            op: SloOp::Gt,
            threshold: 0.995,
        },
    ]
}

pub fn info(name: &str, plan: &str, intervals: u64) -> RunInfo {
    RunInfo {
        name: name.into(),
        profile_path: format!("profiles/{name}.toml"),
        started_at: "2026-11-23T14:25:01.000Z".into(),
        args: vec![
            "surge".into(),
            "run".into(),
            format!("profiles/{name}.toml"),
        ],
        seed: 42,
        scale: 0.001,
        population: 2_000,
        run_duration_s: intervals as f64,
        interval_s: 1.0,
        target: "embedded reference backend (http://127.0.0.1:40000)".into(),
        plan: Some(plan.into()),
        workers: vec!["local-0".into()],
        regions: REGIONS.iter().map(|s| s.to_string()).collect(),
        steps: STEPS.iter().map(|s| s.to_string()).collect(),
        slos: slos().into_iter().map(|s| s.text).collect(),
        versions: [("surge".to_string(), "0.1.0".to_string())]
            .into_iter()
            .collect(),
        model: "open".into(),
        ..RunInfo::default()
    }
}

/// A rise-and-fall factor 0..1 over the run.
fn curve(k: u64, n: u64) -> f64 {
    let x = (k as f64 + 0.5) / n as f64;
    (std::f64::consts::PI * x).sin()
}

fn one_interval(rec: &mut Recorder, k: u64, shape: &Shape) -> Snapshot {
    let f = curve(k, shape.intervals);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ k;
    for r in 0..3u16 {
        let people = 20 + (40.0 * f) as u64;
        for _ in 0..people {
            rec.journey_started(r);
        }
        for s in 0..4u16 {
            for i in 0..people {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let jitter = (x >> 33) % 1000;
                let lag = if shape.saturated == Some(k) {
                    40_000
                } else {
                    60 + jitter / 10
                };
                let (resp, outcome) = if r == 0 {
                    let peak = shape.americas_peak_us as f64 * (0.2 + 0.8 * f);
                    let j = (jitter + shape.seed * 97) % 1000;
                    let shed = s == 2 && shape.americas_peak_us > 500_000 && f > 0.7 && i % 8 == 0;
                    (
                        peak as u64 + j * 40,
                        if shed { Outcome::Http429 } else { Outcome::Ok },
                    )
                } else {
                    (4_000 + jitter * 3, Outcome::Ok)
                };
                rec.step(StepRecord {
                    region: r,
                    step: s,
                    outcome,
                    response_us: resp + lag,
                    service_us: resp,
                    send_lag_us: lag,
                });
            }
            if r == 0 && s == 2 && f > 0.7 {
                rec.retry(r, s, Outcome::Http429);
            }
        }
        for _ in 0..people {
            rec.journey_ended(r, true);
        }
        let missing = if r == 0 && f > 0.7 && shape.americas_peak_us > 500_000 {
            5
        } else {
            0
        };
        rec.discovery(r, people * 10, people * 4, people * 4 - missing, 0);
    }
    rec.take(k + 1)
}

fn merge_err(e: surge_metrics::MetricsError) -> ResultsError {
    ResultsError::Parse {
        path: "merge".into(),
        line: 0,
        message: e.to_string(),
    }
}

/// Writes a complete run into `dir` and reads it back.
pub fn write_run(
    dir: &Path,
    name: &str,
    plan: &str,
    shape: Shape,
) -> Result<RunData, ResultsError> {
    let info = info(name, plan, shape.intervals);
    let mut w = ResultsWriter::create(dir, &info)?;
    w.write_slo_specs(&slos())?;
    let mut rec = Recorder::new(3, 4);
    let mut totals = Snapshot::new(0, 3, 4);
    for k in 0..shape.intervals {
        let snap = one_interval(&mut rec, k, &shape);
        let intended: Vec<f64> = (0..3)
            .map(|_| 20.0 + 40.0 * curve(k, shape.intervals))
            .collect();
        w.interval(&snap, &intended)?;
        totals.merge(&snap).map_err(merge_err)?;
    }
    w.event(&RunEvent {
        t_s: 3.2,
        kind: "note".into(),
        worker: Some("local-0".into()),
        detail: "peak reached".into(),
    })?;
    let secs = shape.intervals as f64;
    let verdicts = slos().iter().map(|s| s.evaluate(&totals, secs)).collect();
    w.finish(
        &totals,
        &RunEnd {
            status: RunStatus::Complete,
            duration_s: secs,
            verdicts,
            reason: None,
            lost_workers: vec![],
            unknown: Default::default(),
        },
    )?;
    RunData::read(dir)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("surge-report-")
        .tempdir()
        .unwrap_or_else(|e| panic!("tempdir: {e}"))
}
