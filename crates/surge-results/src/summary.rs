//! `summary.json`: the run's figures per region and step, journeys, SLO verdicts, generator health.

use crate::types::{LostWorker, RunEnd, RunInfo, RunStatus, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use surge_metrics::{Cell, Outcome, RegionCounters, Snapshot, Verdict};

/// Figures of one region x step (or any aggregate of them). Latencies are response times from the
/// intended start (coordinated-omission free) unless named otherwise.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct StepSummary {
    /// Finished steps (all outcomes).
    pub count: u64,
    /// Finished steps with an error outcome.
    pub errors: u64,
    /// Finished steps per second over the run.
    pub rate_per_s: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// p50, ms.
    pub p50_ms: f64,
    /// p90, ms.
    pub p90_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// p99.9, ms.
    pub p999_ms: f64,
    /// Max, ms.
    pub max_ms: f64,
    /// Service time (from actual send) p50, ms.
    pub service_p50_ms: f64,
    /// Service time p99, ms.
    pub service_p99_ms: f64,
    /// Send lag p99, ms (the generator's own lateness).
    pub send_lag_p99_ms: f64,
    /// Final outcomes by class ([`Outcome::as_str`]), nonzero only.
    pub outcomes: BTreeMap<String, u64>,
    /// Retried attempts by class, nonzero only.
    pub retries: BTreeMap<String, u64>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn by_class(counts: &[u64; Outcome::COUNT]) -> BTreeMap<String, u64> {
    Outcome::ALL
        .iter()
        .filter(|o| counts[o.index()] > 0)
        .map(|o| (o.as_str().to_string(), counts[o.index()]))
        .collect()
}

impl StepSummary {
    /// The figures of `c` over `seconds` of run time.
    pub fn from_cell(c: &Cell, seconds: f64) -> StepSummary {
        let count = c.count();
        let (r, sv, lag) = (&c.response, &c.service, &c.send_lag);
        StepSummary {
            count,
            errors: c.errors(),
            rate_per_s: if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            },
            mean_ms: if r.is_empty() { 0.0 } else { r.mean() / 1000.0 },
            p50_ms: ms(r.value_at_quantile(0.5)),
            p90_ms: ms(r.value_at_quantile(0.9)),
            p99_ms: ms(r.value_at_quantile(0.99)),
            p999_ms: ms(r.value_at_quantile(0.999)),
            max_ms: ms(r.max()),
            service_p50_ms: ms(sv.value_at_quantile(0.5)),
            service_p99_ms: ms(sv.value_at_quantile(0.99)),
            send_lag_p99_ms: ms(lag.value_at_quantile(0.99)),
            outcomes: by_class(&c.outcomes),
            retries: by_class(&c.retries),
        }
    }

    /// Share of finished steps that failed, 0..1 (0 when nothing finished).
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }
}

/// Journeys and discovery completeness of one region.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct JourneySummary {
    /// Journeys started.
    pub started: u64,
    /// Journeys that ended with every step ok.
    pub succeeded: u64,
    /// Journeys that ended on an error.
    pub failed: u64,
    /// People still in flight when the run ended (the drain ran out, Ctrl-C, a guard): their step is
    /// counted with outcome `unfinished` and its wait so far. They count as errors for error-rate SLOs.
    #[serde(default)]
    pub unfinished: u64,
    /// People in flight on a worker when it was declared lost: lost with that worker.
    #[serde(default)]
    pub lost_with_worker: u64,
    /// People whose end is unknown: in flight when the run was killed (SIGKILL, no summary written).
    #[serde(default)]
    pub unknown: u64,
    /// Contacts uploaded to discovery.
    pub contacts_uploaded: u64,
    /// Contacts the tester knew were registered.
    pub contacts_expected: u64,
    /// Of those, found.
    pub contacts_found: u64,
    /// Of those, missing from the answers.
    pub contacts_missing: u64,
    /// Numbers answered as registered that should not have been.
    pub contacts_unexpected: u64,
    /// found / expected; `None` when nothing was expected.
    pub completeness: Option<f64>,
    /// Messages of the connected phase, sent from this region (absent without the phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<crate::conn_summary::MessageSummary>,
    /// Connections of this region's people (absent without the connected phase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::conn_summary::ConnectionSummary>,
    /// Contact discovery with the missing contacts by cause (absent when nothing was looked up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::DiscoverySummary>,
    /// Waits for verification codes (absent when the target announced no code's delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<crate::CodeSummary>,
    /// Distance against queueing: the response time split by the target's `Server-Timing` (absent
    /// when no answer carried it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_split: Option<crate::LatencySplit>,
}

impl From<&RegionCounters> for JourneySummary {
    fn from(c: &RegionCounters) -> JourneySummary {
        JourneySummary {
            started: c.started,
            succeeded: c.succeeded,
            failed: c.failed,
            unfinished: c.unfinished,
            lost_with_worker: 0,
            unknown: 0,
            contacts_uploaded: c.contacts_uploaded,
            contacts_expected: c.contacts_expected,
            contacts_found: c.contacts_found,
            contacts_missing: c.contacts_missing,
            contacts_unexpected: c.contacts_unexpected,
            completeness: c.completeness(),
            messages: crate::conn_summary::MessageSummary::from_counters(c),
            connections: crate::conn_summary::ConnectionSummary::from_counters(c),
            discovery: crate::DiscoverySummary::from_counters(c),
            codes: crate::CodeSummary::from_counters(c),
            latency_split: crate::LatencySplit::from_counters(c),
        }
    }
}

impl JourneySummary {
    /// Every person's end: succeeded, failed, unfinished, lost with a worker, or unknown.
    pub fn accounted(&self) -> u64 {
        self.succeeded
            .saturating_add(self.failed)
            .saturating_add(self.unfinished)
            .saturating_add(self.lost_with_worker)
            .saturating_add(self.unknown)
    }

    /// Whether the tally holds: `started = succeeded + failed + unfinished + lost_with_worker +
    /// unknown`.
    pub fn tally_holds(&self) -> bool {
        self.accounted() == self.started
    }
}

/// The generator's own lateness over the whole run (all regions and steps): when its p99 is high,
/// latencies measured from intended start include the generator's delay, not only the target's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct GeneratorHealth {
    /// Send lag samples.
    pub samples: u64,
    /// p50, ms.
    pub send_lag_p50_ms: f64,
    /// p99, ms.
    pub send_lag_p99_ms: f64,
    /// p99.9, ms.
    pub send_lag_p999_ms: f64,
    /// Max, ms.
    pub send_lag_max_ms: f64,
    /// The host's timer floor measured before the run (run.json's), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_floor: Option<crate::TimerFloor>,
}

/// `summary.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    /// Layout version.
    pub schema_version: u32,
    /// Profile name.
    pub name: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Run time covered, s.
    pub duration_s: f64,
    /// Complete intervals covered by these figures.
    #[serde(default)]
    pub intervals: u64,
    /// Region -> step -> figures (only cells with samples).
    pub regions: BTreeMap<String, BTreeMap<String, StepSummary>>,
    /// Region -> journeys and completeness.
    pub journeys: BTreeMap<String, JourneySummary>,
    /// All regions, all steps.
    pub totals: StepSummary,
    /// SLO verdicts.
    pub slos: Vec<Verdict>,
    /// Whether every SLO passed (true when there are none).
    pub all_slos_pass: bool,
    /// Workers lost during the run.
    pub lost_workers: Vec<LostWorker>,
    /// Why the run stopped early, if it did.
    pub reason: Option<String>,
    /// The generator's send lag.
    pub generator: GeneratorHealth,
    /// Distributed runs: the remote workers' clock offsets and the bound on cross-worker delivery
    /// latencies they leave (absent when every worker ran in one process, on one clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockSummary>,
}

/// How well the workers' clocks agree: each worker's offset, corrected at its start, is known to within
/// its bound, so a latency from a `sent_at` stamped on one worker to a receipt on another is right to
/// within the sum of the two workers' bounds, at most `bound_ms`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClockSummary {
    /// The largest error a cross-worker delivery latency can carry from the clocks: the sum of the two
    /// largest worker bounds, ms.
    pub bound_ms: f64,
    /// The largest offset corrected, ms (absolute).
    pub max_offset_ms: f64,
    /// Per worker, as run.json's `clocks`.
    pub workers: Vec<crate::WorkerClock>,
}

impl ClockSummary {
    /// From run.json's clocks; `None` when there are none.
    pub fn of(clocks: &[crate::WorkerClock]) -> Option<ClockSummary> {
        if clocks.is_empty() {
            return None;
        }
        let mut bounds: Vec<f64> = clocks.iter().map(|c| c.bound_ms).collect();
        bounds.sort_by(|a, b| b.total_cmp(a));
        Some(ClockSummary {
            bound_ms: bounds.iter().take(2).sum(),
            max_offset_ms: clocks.iter().map(|c| c.offset_ms.abs()).fold(0.0, f64::max),
            workers: clocks.to_vec(),
        })
    }
}

impl Summary {
    /// Computes the summary of a run from its merged totals.
    pub fn from_totals(info: &RunInfo, totals: &Snapshot, end: &RunEnd) -> Summary {
        let secs = end.duration_s;
        let mut regions = BTreeMap::new();
        let mut journeys = BTreeMap::new();
        for r in 0..totals.regions {
            let rn = info.region_name(r.into());
            let mut steps = BTreeMap::new();
            for s in 0..totals.steps {
                if let Some(c) = totals
                    .cell(r, s)
                    .filter(|c| c.count() > 0 || c.retried() > 0)
                {
                    steps.insert(info.step_name(s.into()), StepSummary::from_cell(c, secs));
                }
            }
            regions.insert(rn.clone(), steps);
            let counters = totals
                .counters
                .get(usize::from(r))
                .copied()
                .unwrap_or_default();
            let mut j = JourneySummary::from(&counters);
            j.lost_with_worker = end
                .lost_workers
                .iter()
                .filter_map(|w| w.in_flight.get(&rn))
                .sum();
            j.unknown = end.unknown.get(&rn).copied().unwrap_or(0);
            if end.status == RunStatus::CutShort {
                // Killed: whoever was in flight then has no recorded end.
                j.unknown += j.started.saturating_sub(j.accounted());
            }
            if let Some(c) = j.connections.as_mut() {
                c.set_reconnect_times(info, totals, r);
            }
            journeys.insert(rn, j);
        }
        let all = totals.merged_cell(None, None);
        let lag = &all.send_lag;
        Summary {
            schema_version: SCHEMA_VERSION,
            name: info.name.clone(),
            status: end.status,
            duration_s: secs,
            intervals: if info.interval_s > 0.0 {
                (secs / info.interval_s).ceil() as u64
            } else {
                0
            },
            regions,
            journeys,
            totals: StepSummary::from_cell(&all, secs),
            slos: end.verdicts.clone(),
            all_slos_pass: end.verdicts.iter().all(|v| v.pass),
            lost_workers: end.lost_workers.clone(),
            reason: end.reason.clone(),
            generator: GeneratorHealth {
                samples: lag.len(),
                send_lag_p50_ms: ms(lag.value_at_quantile(0.5)),
                send_lag_p99_ms: ms(lag.value_at_quantile(0.99)),
                send_lag_p999_ms: ms(lag.value_at_quantile(0.999)),
                send_lag_max_ms: ms(lag.max()),
                timer_floor: info.timer_floor.clone(),
            },
            clock: ClockSummary::of(&info.clocks),
        }
    }

    /// Regions whose tally does not hold (`started` is not every person's end added up), each as a
    /// sentence naming the region and the figures. Empty when every person is accounted for.
    pub fn tally_problems(&self) -> Vec<String> {
        self.journeys
            .iter()
            .filter(|(_, j)| !j.tally_holds())
            .map(|(r, j)| {
                format!(
                    "{r}: started {} but succeeded {} + failed {} + unfinished {} + lost with a worker {} + unknown {} = {}",
                    j.started,
                    j.succeeded,
                    j.failed,
                    j.unfinished,
                    j.lost_with_worker,
                    j.unknown,
                    j.accounted()
                )
            })
            .collect()
    }

    /// People in flight when the run ended, all regions.
    pub fn unfinished(&self) -> u64 {
        self.journeys.values().map(|j| j.unfinished).sum()
    }

    /// The figures of one region and step, if it had samples.
    pub fn step(&self, region: &str, step: &str) -> Option<&StepSummary> {
        self.regions.get(region).and_then(|m| m.get(step))
    }
}
