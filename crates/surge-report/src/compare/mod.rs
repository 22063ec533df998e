//! `surge compare A B`: two runs (or two sets of repeats) side by side per region and step.

mod render;

use crate::units::{ms, pct, rate};
use surge_results::RunData;

/// The rule that decides significance, printed with every comparison.
pub const SIGNIFICANCE_RULE: &str = "A change is called significant only when |mean B - mean A| exceeds the spread (max - min) of the repeats on both sides; with a single run on either side, significance is not assessed.";

/// A relative change smaller than this (it prints as +0.0% or -0.0%) is called "same".
pub const SAME_WITHIN: f64 = 0.0005;

/// One figure over a side's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// Mean over the runs that had it.
    pub mean: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Runs that had it.
    pub n: usize,
}

impl Stat {
    fn of(values: &[f64]) -> Option<Stat> {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        (!v.is_empty()).then(|| Stat {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            min: v.iter().copied().fold(f64::MAX, f64::min),
            max: v.iter().copied().fold(f64::MIN, f64::max),
            n: v.len(),
        })
    }

    /// max - min.
    pub fn spread(&self) -> f64 {
        self.max - self.min
    }
}

/// What a metric is and how to read its change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Finished steps per second.
    Rate,
    /// Response-time p50, ms.
    P50,
    /// p99, ms.
    P99,
    /// p99.9, ms.
    P999,
    /// Errors / finished, 0..1.
    ErrorRate,
    /// Discovery completeness, 0..1 (per region).
    Completeness,
    /// Connected phase: handshakes refused or failed (the `connect` step's errors), a count.
    Refused,
    /// Connected phase: messages delivered within the deadline / sent, 0..1 (per region, step
    /// `messages`).
    Delivered,
}

impl Metric {
    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rate => "rate",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::ErrorRate => "error rate",
            Metric::Completeness => "completeness",
            Metric::Refused => "refused",
            Metric::Delivered => "delivered",
        }
    }

    fn fmt(self, v: f64) -> String {
        match self {
            Metric::Rate => rate(v),
            Metric::P50 | Metric::P99 | Metric::P999 => ms(v),
            Metric::ErrorRate | Metric::Completeness | Metric::Delivered => pct(v),
            Metric::Refused => crate::units::grouped(v, 0),
        }
    }

    /// Whether a lower value is an improvement (`None`: neither, e.g. the rate follows the profile).
    pub fn lower_is_better(self) -> Option<bool> {
        match self {
            Metric::Rate => None,
            Metric::Completeness | Metric::Delivered => Some(false),
            _ => Some(true),
        }
    }
}

/// One metric of one region x step, A vs B.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    /// Region.
    pub region: String,
    /// Step (`"-"` for per-region metrics such as completeness).
    pub step: String,
    /// Which figure.
    pub metric: Metric,
    /// Side A.
    pub a: Option<Stat>,
    /// Side B.
    pub b: Option<Stat>,
    /// (mean B - mean A) / mean A.
    pub change: Option<f64>,
    /// Per [`SIGNIFICANCE_RULE`]; `None` when not assessed.
    pub significant: Option<bool>,
}

impl Delta {
    fn new(region: &str, step: &str, metric: Metric, a: Option<Stat>, b: Option<Stat>) -> Delta {
        let change = a
            .zip(b)
            .and_then(|(a, b)| (a.mean != 0.0).then(|| (b.mean - a.mean) / a.mean));
        let significant = a.zip(b).and_then(|(a, b)| {
            (a.n >= 2 && b.n >= 2).then(|| {
                let d = (b.mean - a.mean).abs();
                d > a.spread() && d > b.spread()
            })
        });
        Delta {
            region: region.into(),
            step: step.into(),
            metric,
            a,
            b,
            change,
            significant,
        }
    }

    /// "better" / "worse" / "higher" / "lower" / "same". A change that rounds to +0.0% (under
    /// [`SAME_WITHIN`] of A) is "same".
    pub fn direction(&self) -> &'static str {
        let Some((a, b)) = self.a.zip(self.b) else {
            return "-";
        };
        let unchanged = match self.change {
            Some(c) => c.abs() < SAME_WITHIN,
            None => a.mean == b.mean,
        };
        if unchanged {
            return "same";
        }
        let lower = b.mean < a.mean;
        match self.metric.lower_is_better() {
            Some(l) if l == lower => "better",
            Some(_) => "worse",
            None if lower => "lower",
            None => "higher",
        }
    }
}

/// SLO verdicts of one SLO text on both sides: (passing runs, runs that evaluated it).
#[derive(Clone, Debug, PartialEq)]
pub struct SloCompare {
    /// The SLO's text.
    pub slo: String,
    /// Side A: (pass, of).
    pub a: (usize, usize),
    /// Side B: (pass, of).
    pub b: (usize, usize),
}

/// A side-by-side comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Describes side A.
    pub a_label: String,
    /// Describes side B.
    pub b_label: String,
    /// Every metric, regions and steps in run.json order.
    pub deltas: Vec<Delta>,
    /// SLO verdict counts.
    pub slos: Vec<SloCompare>,
    /// How A and B differ in profile, plan, scale, seed or surge version, e.g.
    /// `profile: americas-surge (A) vs bench-open (B)`; empty when they ran the same thing.
    pub differs: Vec<String>,
    /// Region x step cells that both sides measured; none means the runs are unrelated.
    pub shared_cells: usize,
    /// Caveats (cut-short runs...).
    pub notes: Vec<String>,
}

fn label(side: &str, runs: &[RunData]) -> String {
    let Some(first) = runs.first() else {
        return format!("{side}: no run");
    };
    let dirs: Vec<String> = runs
        .iter()
        .map(|r| {
            r.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let plan = first
        .info
        .plan
        .as_deref()
        .map(|p| format!(", plan {p}"))
        .unwrap_or_default();
    format!(
        "{side}: {}{plan}, {} run(s): {}",
        first.info.name,
        runs.len(),
        dirs.join(", ")
    )
}

fn names(a: &[RunData], b: &[RunData], f: fn(&RunData) -> &Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in a.iter().chain(b) {
        for n in f(r) {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    out
}

fn cell_stat(runs: &[RunData], region: &str, step: &str, m: Metric) -> Option<Stat> {
    let vals: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.summary.step(region, step))
        .map(|c| match m {
            Metric::Rate => c.rate_per_s,
            Metric::P50 => c.p50_ms,
            Metric::P99 => c.p99_ms,
            Metric::P999 => c.p999_ms,
            Metric::Refused => c.errors as f64,
            _ => c.error_rate(),
        })
        .collect();
    Stat::of(&vals)
}

fn slo_counts(runs: &[RunData], slo: &str) -> (usize, usize) {
    let vs: Vec<bool> = runs
        .iter()
        .flat_map(|r| {
            r.summary
                .slos
                .iter()
                .filter(|v| v.slo == slo)
                .map(|v| v.pass)
        })
        .collect();
    (vs.iter().filter(|p| **p).count(), vs.len())
}

fn all_deltas(a: &[RunData], b: &[RunData]) -> Vec<Delta> {
    let mut deltas = Vec::new();
    let cell_metrics = [
        Metric::Rate,
        Metric::P50,
        Metric::P99,
        Metric::P999,
        Metric::ErrorRate,
    ];
    for region in names(a, b, |r| &r.info.regions) {
        for step in names(a, b, |r| &r.info.steps) {
            for m in cell_metrics {
                deltas.push(Delta::new(
                    &region,
                    &step,
                    m,
                    cell_stat(a, &region, &step, m),
                    cell_stat(b, &region, &step, m),
                ));
            }
            if step == "connect" {
                deltas.push(Delta::new(
                    &region,
                    &step,
                    Metric::Refused,
                    cell_stat(a, &region, &step, Metric::Refused),
                    cell_stat(b, &region, &step, Metric::Refused),
                ));
            }
        }
        let delivered = |runs: &[RunData]| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.summary.journeys.get(&region))
                .filter_map(|j| j.messages.as_ref().and_then(|m| m.completeness))
                .collect();
            Stat::of(&v)
        };
        deltas.push(Delta::new(
            &region,
            "messages",
            Metric::Delivered,
            delivered(a),
            delivered(b),
        ));
        let comp = |runs: &[RunData]| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.summary.journeys.get(&region).and_then(|j| j.completeness))
                .collect();
            Stat::of(&v)
        };
        deltas.push(Delta::new(
            &region,
            "-",
            Metric::Completeness,
            comp(a),
            comp(b),
        ));
    }
    deltas.retain(|d| d.a.is_some() || d.b.is_some());
    deltas
}

fn slo_compares(a: &[RunData], b: &[RunData]) -> Vec<SloCompare> {
    let mut names: Vec<String> = Vec::new();
    for v in a.iter().chain(b).flat_map(|r| &r.summary.slos) {
        if !names.contains(&v.slo) {
            names.push(v.slo.clone());
        }
    }
    names
        .into_iter()
        .map(|s| SloCompare {
            a: slo_counts(a, &s),
            b: slo_counts(b, &s),
            slo: s,
        })
        .collect()
}

/// Compares side A with side B, each one run or several repeats of the same plan.
pub fn compare(a: &[RunData], b: &[RunData]) -> Comparison {
    let mut notes = vec![SIGNIFICANCE_RULE.to_string()];
    for r in a.iter().chain(b).filter(|r| r.is_cut_short()) {
        let upto = r.last_interval().map_or("-".into(), |n| n.to_string());
        notes.push(format!(
            "{} was cut short: data up to interval {upto}",
            r.dir.display()
        ));
    }
    let deltas = all_deltas(a, b);
    Comparison {
        a_label: label("A", a),
        b_label: label("B", b),
        shared_cells: deltas
            .iter()
            .filter(|d| {
                !matches!(d.step.as_str(), "-" | "messages")
                    && d.metric == Metric::Rate
                    && d.a.is_some()
                    && d.b.is_some()
            })
            .count(),
        deltas,
        slos: slo_compares(a, b),
        differs: differs(a, b),
        notes,
    }
}

/// One property as each side's runs have it: a single value, or every distinct value joined.
fn side_value(runs: &[RunData], f: &dyn Fn(&RunData) -> String) -> String {
    let mut seen: Vec<String> = Vec::new();
    for v in runs.iter().map(f) {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(" / ")
}

/// What differs between A and B: profile, plan, scale, seed, surge version.
pub fn differs(a: &[RunData], b: &[RunData]) -> Vec<String> {
    type Getter = fn(&RunData) -> String;
    let props: [(&str, Getter); 5] = [
        ("profile", |r| r.info.name.clone()),
        ("plan", |r| {
            r.info.plan.clone().unwrap_or_else(|| "-".into())
        }),
        ("scale", |r| format!("{}", r.info.scale)),
        ("seed", |r| r.info.seed.to_string()),
        ("surge version", |r| {
            r.info
                .versions
                .get("surge")
                .cloned()
                .unwrap_or_else(|| "unknown".into())
        }),
    ];
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    props
        .iter()
        .filter_map(|(name, get)| {
            let (va, vb) = (side_value(a, get), side_value(b, get));
            (va != vb).then(|| format!("{name}: {va} (A) vs {vb} (B)"))
        })
        .collect()
}

impl Comparison {
    /// Why the two sides should not be compared at all: they share no region x step. `None` when
    /// they share at least one.
    pub fn unrelated(&self) -> Option<String> {
        (self.shared_cells == 0).then(|| {
            let mut why = "A and B share no region and step: nothing to compare".to_string();
            if !self.differs.is_empty() {
                why.push_str(&format!(" ({})", self.differs.join("; ")));
            }
            why
        })
    }
}

impl Comparison {
    /// The deltas of one region and step.
    pub fn find(&self, region: &str, step: &str, metric: Metric) -> Option<&Delta> {
        self.deltas
            .iter()
            .find(|d| d.region == region && d.step == step && d.metric == metric)
    }
}
