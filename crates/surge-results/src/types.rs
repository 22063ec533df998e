//! The records of a run: what it was ([`RunInfo`]), what happened during it ([`RunEvent`]) and how it
//! ended ([`RunEnd`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use surge_metrics::Verdict;

/// Version of the results folder layout, written into `run.json` and `summary.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// What was run: written to `run.json` when the folder is created.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Profile name.
    pub name: String,
    /// Profile file as given on the command line.
    pub profile_path: String,
    /// Start of interval 0, RFC 3339 UTC (see [`crate::rfc3339_utc`]).
    pub started_at: String,
    /// The command line (the coordinator redacts tokens before it gets here).
    pub args: Vec<String>,
    /// Population seed.
    pub seed: u64,
    /// Population scale factor.
    pub scale: f64,
    /// Simulated people in the run (after scaling).
    pub population: u64,
    /// Planned run time, s.
    pub run_duration_s: f64,
    /// Interval length, s.
    pub interval_s: f64,
    /// Target URL, or "embedded reference backend (http://127.0.0.1:PORT)".
    pub target: String,
    /// Capacity plan file of the embedded target.
    pub plan: Option<String>,
    /// Worker ids.
    pub workers: Vec<String>,
    /// Region names, in index order.
    pub regions: Vec<String>,
    /// Metric step names, in index order.
    pub steps: Vec<String>,
    /// SLO texts, as the profile wrote them.
    pub slos: Vec<String>,
    /// Crate -> version.
    pub versions: BTreeMap<String, String>,
    /// "open" or "closed(N)".
    pub model: String,
    /// SHA-256 (hex) of the profile file's text, so that `--resume` refuses a changed profile.
    #[serde(default)]
    pub profile_sha256: String,
    /// The working directory the command ran in (relative paths in `args` are relative to it).
    #[serde(default)]
    pub cwd: String,
    /// The engine settings the run used (pacing, HTTP/1.1 client, source addresses...), by name.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// The parts of the run: one, or more when it was resumed after a crash (`--resume`).
    #[serde(default)]
    pub parts: Vec<RunPart>,
    /// Placement by region (`surge coordinator --placement region`): region -> the workers whose
    /// hosts sent its people. Empty when people were not placed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub placement: BTreeMap<String, Vec<String>>,
    /// Remote workers' clocks as the coordinator estimated them at join (distributed runs; empty when
    /// every worker runs in this process, on one clock).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<WorkerClock>,
    /// This host's timer floor, measured just before the run (`--pacing fine` with workers in this
    /// process): how late a bare thread woke from absolute deadlines. `None` when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_floor: Option<TimerFloor>,
}

/// The host's timer floor as a short probe measured it before a run: a thread sleeping to absolute
/// deadlines at the pacer's wake-up rate, with the pacer's scheduler hints, and how late it woke. No
/// pacer sends more precisely than this; when its p99 is above `budget_us`, the send lag's tail is
/// the host's (other work on its cores, the hypervisor), and the run says so.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TimerFloor {
    /// How long the probe ran, ms.
    pub probe_ms: f64,
    /// Its wake-ups a second (the pacer's: the arrival rate per worker, at most one per grid slot).
    pub rate_per_s: f64,
    /// Deadlines it woke for.
    pub wakeups: u64,
    /// Median lateness, µs.
    pub p50_us: f64,
    /// 99th percentile lateness, µs.
    pub p99_us: f64,
    /// 99.9th percentile lateness, µs.
    pub p999_us: f64,
    /// Largest lateness, µs.
    pub max_us: f64,
    /// The p99 lateness fine pacing can live with (its send-lag goal less its grid), µs.
    pub budget_us: f64,
    /// The probe thread's CPU per wake-up, µs: what a timer wake-up costs on this host, the least
    /// the pacer pays for each of its wake-ups. Absent in results written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_wakeup: Option<f64>,
}

impl TimerFloor {
    /// Whether the host's floor is above what fine pacing needs: a run where send lag's tail is the
    /// host's, not surge's.
    pub fn above_budget(&self) -> bool {
        self.p99_us > self.budget_us
    }
}

/// A remote worker's clock offset, estimated NTP-style by the coordinator when it joined, and the
/// correction the worker applied: it placed the run's common start (the origin of every `sent_at`
/// and delivery) on the coordinator's time. Delivery latencies between two workers are then right to
/// within the sum of their bounds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WorkerClock {
    /// Worker id.
    pub worker: String,
    /// The worker's clock minus the coordinator's, ms (positive: the worker's clock is ahead).
    pub offset_ms: f64,
    /// The true offset lies within this of `offset_ms`, ms (half the best exchange's round trip).
    pub bound_ms: f64,
    /// Exchanges the estimate was made from.
    pub samples: u32,
}

/// One part of a run: the first, or one resumed after a crash.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RunPart {
    /// When this part started, RFC 3339 UTC.
    pub started_at: String,
    /// The first interval this part wrote.
    pub first_interval: u64,
    /// The host it ran on.
    pub host: String,
    /// surge's version.
    pub surge_version: String,
}

impl Default for RunInfo {
    fn default() -> RunInfo {
        RunInfo {
            schema_version: SCHEMA_VERSION,
            name: String::new(),
            profile_path: String::new(),
            started_at: crate::rfc3339_utc(std::time::SystemTime::now()),
            args: Vec::new(),
            seed: 0,
            scale: 1.0,
            population: 0,
            run_duration_s: 0.0,
            interval_s: 1.0,
            target: String::new(),
            plan: None,
            workers: Vec::new(),
            regions: Vec::new(),
            steps: Vec::new(),
            slos: Vec::new(),
            versions: BTreeMap::new(),
            model: "open".into(),
            profile_sha256: String::new(),
            cwd: String::new(),
            settings: BTreeMap::new(),
            parts: Vec::new(),
            placement: BTreeMap::new(),
            clocks: Vec::new(),
            timer_floor: None,
        }
    }
}

impl RunInfo {
    /// Name of region `i` (or `region<i>` when run.json has fewer names).
    pub fn region_name(&self, i: usize) -> String {
        self.regions
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("region{i}"))
    }

    /// Name of step `i` (or `step<i>`).
    pub fn step_name(&self, i: usize) -> String {
        self.steps
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("step{i}"))
    }
}

/// Something that happened during the run, one line of `events.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunEvent {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// "worker_lost" | "abort" | "guard" | "note".
    pub kind: String,
    /// The worker concerned, if any.
    pub worker: Option<String>,
    /// Human-readable detail.
    pub detail: String,
}

/// How a run ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran for its whole duration, and every person finished.
    Complete,
    /// Ran for its whole duration, but the drain ended with people still in flight (counted as
    /// `unfinished`).
    DrainCut,
    /// Stopped by a guard (`--abort-on-fail`, `--abort-on-error-rate`...).
    Aborted,
    /// Stopped by the user (Ctrl-C); the final files were written.
    Interrupted,
    /// The run wrote no summary (killed); reconstructed by [`crate::RunData::read`].
    CutShort,
}

impl RunStatus {
    /// The snake_case name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Complete => "complete",
            RunStatus::DrainCut => "drain_cut",
            RunStatus::Aborted => "aborted",
            RunStatus::Interrupted => "interrupted",
            RunStatus::CutShort => "cut_short",
        }
    }
}

/// A worker declared lost during the run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LostWorker {
    /// Worker id.
    pub worker: String,
    /// When it was declared lost, s since start.
    pub lost_at_s: f64,
    /// Intervals it never reported.
    pub missing_intervals: Vec<u64>,
    /// Region -> people it had in flight when it was lost (started and never reported ended):
    /// counted as `lost_with_worker` in that region's tally.
    #[serde(default)]
    pub in_flight: BTreeMap<String, u64>,
}

/// How the run ended, as the coordinator knows it: passed to [`crate::ResultsWriter::finish`].
#[derive(Clone, Debug)]
pub struct RunEnd {
    /// Final status.
    pub status: RunStatus,
    /// Actual run time, s.
    pub duration_s: f64,
    /// SLO verdicts over the whole run.
    pub verdicts: Vec<Verdict>,
    /// Why it stopped early, if it did.
    pub reason: Option<String>,
    /// Workers lost during the run.
    pub lost_workers: Vec<LostWorker>,
    /// Region -> people whose end is unknown: in flight when an earlier part of this run was killed
    /// (a resumed run), counted as `unknown` in the tally.
    pub unknown: BTreeMap<String, u64>,
}

/// The command line with secrets blanked (the value of `--token`, however it is written): no token
/// ever reaches run.json or a log.
pub fn redact_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
        } else if a == "--token" {
            hide_next = true;
            out.push(a);
        } else if a.starts_with("--token=") {
            out.push("--token=<redacted>".into());
        } else {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_redacted_in_both_spellings() {
        let args = [
            "surge",
            "coordinator",
            "--token",
            "s3cret",
            "--token=s3cret",
            "x",
        ];
        let r = super::redact_args(args.iter().map(|s| s.to_string()));
        assert_eq!(
            r,
            [
                "surge",
                "coordinator",
                "--token",
                "<redacted>",
                "--token=<redacted>",
                "x"
            ]
        );
    }
}
