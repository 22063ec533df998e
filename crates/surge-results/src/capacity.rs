//! `capacity.json`: what `surge capacity` found, per region: the largest arrival rate (journeys/s) at
//! which every SLO held, its bracket `[last pass, first fail]`, every probe (each a normal results
//! folder under the capacity folder), and with `--repeat` how repeatable the answer was. Pinned by
//! `results/schema/capacity.schema.json`.

use crate::ResultsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the capacity result inside its folder.
pub const CAPACITY: &str = "capacity.json";

/// Layout version of `capacity.json`.
pub const CAPACITY_SCHEMA_VERSION: u32 = 1;

/// How the whole search ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CapacityStatus {
    /// Every region's search ran to its end (whatever that end was).
    Complete,
    /// Stopped by Ctrl-C: the probes so far are kept, the answers are partial.
    Interrupted,
    /// Stopped because surge itself fell behind: the target was not to blame.
    GeneratorBehind,
}

/// How one region's search ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SearchEnd {
    /// Bracketed to the precision asked: the answer is `bracket[0]`.
    Found,
    /// Every probe passed up to `--up-to`: the capacity is at least the ceiling.
    Ceiling,
    /// Not even the lowest probe passed.
    NonePassed,
    /// A probe where surge itself fell behind (send lag, own descriptors or ports).
    GeneratorBehind,
    /// The probe budget ran out before the bracket was narrow enough.
    ProbeLimit,
    /// Stopped by Ctrl-C.
    Interrupted,
}

impl SearchEnd {
    /// The name used in capacity.json: `found`, `ceiling`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            SearchEnd::Found => "found",
            SearchEnd::Ceiling => "ceiling",
            SearchEnd::NonePassed => "none_passed",
            SearchEnd::GeneratorBehind => "generator_behind",
            SearchEnd::ProbeLimit => "probe_limit",
            SearchEnd::Interrupted => "interrupted",
        }
    }
}

/// One SLO's observation in one probe.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ProbeSlo {
    /// The SLO as written.
    pub slo: String,
    /// What was observed (the SLO's unit: ms for percentiles), `None` when nothing was measured.
    pub observed: Option<f64>,
    /// The threshold.
    pub threshold: f64,
    /// Whether it held.
    pub pass: bool,
    /// Whether it applies to the searched region (names it, or no region) and so decides the probe.
    pub applies: bool,
}

/// One probe: a steady open-model run at `rate_per_s` in the searched region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Probe {
    /// 1-based repeat of the search this probe belongs to.
    pub repeat: u32,
    /// Offered arrival rate in the searched region, journeys/s.
    pub rate_per_s: f64,
    /// Offered rate of every region in this probe (the others held at their share), journeys/s.
    pub rates: BTreeMap<String, f64>,
    /// Every SLO held.
    pub pass: bool,
    /// Why the probe does not count against the target (surge fell behind), if it does not.
    pub flagged: Option<String>,
    /// Every SLO's observation.
    pub slos: Vec<ProbeSlo>,
    /// Error steps / finished steps in the searched region (0 when nothing finished).
    pub error_rate: f64,
    /// Journeys started per second in the searched region.
    pub started_per_s: f64,
    /// Send lag p99 of the whole probe, ms.
    pub send_lag_p99_ms: f64,
    /// Journeys the searched region finished over those it started, after the first interval of the
    /// arrival window: below 0.9 the target's backlog grew and the probe fails whatever the SLOs said.
    pub completed_ratio: Option<f64>,
    /// The probe's results folder, relative to the capacity folder.
    pub dir: String,
}

/// How repeatable the answer was over `--repeat` searches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RepeatStats {
    /// Each search's answer, journeys/s (only searches that found one).
    pub answers: Vec<f64>,
    /// Smallest answer.
    pub min: f64,
    /// Largest answer.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 with one answer).
    pub stddev: f64,
    /// `stddev / mean`: the relative spread.
    pub cv: f64,
}

/// One region's answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RegionCapacity {
    /// The largest rate at which every SLO held, journeys/s (the median of the repeats' answers);
    /// `None` when no probe passed.
    pub max_rate_per_s: Option<f64>,
    /// `[last pass, first fail]`, journeys/s; `null` where there is none.
    pub bracket: [Option<f64>; 2],
    /// How the search ended.
    pub end: SearchEnd,
    /// The same, as a sentence.
    pub note: String,
    /// The other regions' rates during this region's probes, journeys/s.
    pub others_per_s: BTreeMap<String, f64>,
    /// With `--repeat`: the spread of the answers.
    pub repeats: Option<RepeatStats>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
}

/// `capacity.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CapacityResult {
    /// Layout version.
    pub schema_version: u32,
    /// Profile name.
    pub name: String,
    /// The target, as the start line said it.
    pub target: String,
    /// The embedded backend's capacity plan, if any.
    pub capacity_plan: Option<String>,
    /// How the search ended.
    pub status: CapacityStatus,
    /// Why it stopped early, if it did.
    pub reason: Option<String>,
    /// Length of each probe's arrivals, s.
    pub probe_s: f64,
    /// Relative width of the bracket at which a search stops (0.05 = 5%).
    pub precision: f64,
    /// Searches per region.
    pub repeat: u32,
    /// `--up-to`, journeys/s.
    pub up_to: Option<f64>,
    /// Workers (engine threads) each probe ran with.
    pub workers: usize,
    /// The SLOs searched against.
    pub slos: Vec<String>,
    /// Region -> answer, for the regions searched.
    pub regions: BTreeMap<String, RegionCapacity>,
}

impl CapacityResult {
    /// Writes `dir/capacity.json` atomically (tmp + rename).
    pub fn write(&self, dir: &Path) -> Result<PathBuf, ResultsError> {
        let path = dir.join(CAPACITY);
        let text = serde_json::to_string_pretty(self).map_err(|e| ResultsError::Json {
            path: path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        let tmp = dir.join(format!("{CAPACITY}.tmp"));
        let io = |source| ResultsError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Reads `dir/capacity.json`.
    pub fn read(dir: &Path) -> Result<CapacityResult, ResultsError> {
        let path = dir.join(CAPACITY);
        let text = std::fs::read_to_string(&path).map_err(|source| ResultsError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| ResultsError::Json {
            line: e.line(),
            message: e.to_string(),
            path,
        })
    }

    /// Whether `dir` holds a capacity result.
    pub fn is_capacity_dir(dir: &Path) -> bool {
        dir.join(CAPACITY).is_file()
    }
}

impl RepeatStats {
    /// The statistics of `answers` (`None` when empty).
    pub fn of(answers: &[f64]) -> Option<RepeatStats> {
        if answers.is_empty() {
            return None;
        }
        let n = answers.len() as f64;
        let mean = answers.iter().sum::<f64>() / n;
        let var = if answers.len() > 1 {
            answers.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let stddev = var.sqrt();
        Some(RepeatStats {
            answers: answers.to_vec(),
            min: answers.iter().copied().fold(f64::INFINITY, f64::min),
            max: answers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean,
            stddev,
            cv: if mean > 0.0 { stddev / mean } else { 0.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_statistics() {
        assert_eq!(RepeatStats::of(&[]), None);
        let one = RepeatStats::of(&[90.0]).unwrap();
        assert_eq!(
            (one.min, one.max, one.mean, one.stddev),
            (90.0, 90.0, 90.0, 0.0)
        );
        let s = RepeatStats::of(&[90.0, 100.0, 95.0]).unwrap();
        assert_eq!((s.min, s.max, s.mean), (90.0, 100.0, 95.0));
        assert!((s.stddev - 5.0).abs() < 1e-9);
        assert!((s.cv - 5.0 / 95.0).abs() < 1e-9);
    }
}
