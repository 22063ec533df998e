//! The summary model: every row the terminal table, `report.md` and `report.html` show, computed once
//! from a [`RunData`] with its figures already formatted (units, thousands separators). Renderers
//! only lay the rows out.

use crate::analysis::{Timeline, error_classes, slo_figures};
use crate::units::{ms, pct, rate, thousands};
use surge_metrics::VerdictStatus;
use surge_results::{JourneySummary, RunData, StepSummary};

/// What a step that never ran shows in place of its figures.
pub const NEVER_REACHED: &str = "never reached";

/// Column names of the summary table.
pub const SUMMARY_HEAD: [&str; 10] = [
    "region", "step", "count", "rate", "p50", "p90", "p99", "p99.9", "max", "errors",
];

/// One region x step of the summary table (or the `all`/`all` total).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// Region name, or `all`.
    pub region: String,
    /// Step name, or `all`.
    pub step: String,
    /// count, rate, p50, p90, p99, p99.9, max; `None` when the step never ran in this region.
    pub figures: Option<[String; 7]>,
    /// Finished steps with an error outcome.
    pub errors: u64,
    /// Errors by class, e.g. `http_429 10, timeout 2` (empty when none).
    pub error_classes: String,
    /// Whether this is the `all`/`all` total.
    pub total: bool,
}

impl SummaryRow {
    fn of(region: &str, step: &str, c: Option<&StepSummary>, total: bool) -> SummaryRow {
        SummaryRow {
            region: region.into(),
            step: step.into(),
            figures: c.map(|c| {
                [
                    thousands(c.count),
                    rate(c.rate_per_s),
                    ms(c.p50_ms),
                    ms(c.p90_ms),
                    ms(c.p99_ms),
                    ms(c.p999_ms),
                    ms(c.max_ms),
                ]
            }),
            errors: c.map_or(0, |c| c.errors),
            error_classes: c.map(error_classes).unwrap_or_default(),
            total,
        }
    }

    /// The errors cell: `0`, `12 (http_429 10, timeout 2)`, or [`NEVER_REACHED`].
    pub fn errors_text(&self) -> String {
        match (&self.figures, self.errors) {
            (None, _) => NEVER_REACHED.into(),
            (Some(_), 0) => "0".into(),
            (Some(_), n) => format!("{} ({})", thousands(n), self.error_classes),
        }
    }

    /// The whole row as text cells in [`SUMMARY_HEAD`] order (`-` for figures of a step never
    /// reached).
    pub fn cells(&self) -> Vec<String> {
        let mut row = vec![self.region.clone(), self.step.clone()];
        match &self.figures {
            Some(f) => row.extend(f.iter().cloned()),
            None => row.extend(std::iter::repeat_n("-".to_string(), 7)),
        }
        row.push(self.errors_text());
        row
    }
}

/// Every region x step in run.json order, steps that never ran included, then the total.
pub fn summary_rows(data: &RunData) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for r in &data.info.regions {
        for s in &data.info.steps {
            rows.push(SummaryRow::of(r, s, data.summary.step(r, s), false));
        }
    }
    rows.push(SummaryRow::of(
        "all",
        "all",
        Some(&data.summary.totals),
        true,
    ));
    rows
}

/// Column names of the journeys table.
pub const JOURNEY_HEAD: [&str; 10] = [
    "region",
    "started",
    "succeeded",
    "failed",
    "unfinished",
    "contacts expected",
    "found",
    "missing",
    "unexpected",
    "completeness",
];

/// Journeys and discovery completeness of one region, as text cells in [`JOURNEY_HEAD`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct JourneyRow {
    /// Region name.
    pub region: String,
    /// The cells, region first.
    pub cells: [String; 10],
}

impl JourneyRow {
    fn of(region: &str, j: &JourneySummary) -> JourneyRow {
        JourneyRow {
            region: region.into(),
            cells: [
                region.to_string(),
                thousands(j.started),
                thousands(j.succeeded),
                thousands(j.failed),
                thousands(j.unfinished),
                thousands(j.contacts_expected),
                thousands(j.contacts_found),
                thousands(j.contacts_missing),
                thousands(j.contacts_unexpected),
                j.completeness.map_or_else(|| "-".to_string(), pct),
            ],
        }
    }

    /// The cells of the named columns, in that order (unknown names are skipped).
    pub fn pick(&self, columns: &[&str]) -> Vec<String> {
        columns
            .iter()
            .filter_map(|c| JOURNEY_HEAD.iter().position(|h| h == c))
            .map(|i| self.cells[i].clone())
            .collect()
    }
}

/// One row per region with journeys, in run.json order.
pub fn journey_rows(data: &RunData) -> Vec<JourneyRow> {
    data.info
        .regions
        .iter()
        .filter_map(|r| data.summary.journeys.get(r).map(|j| JourneyRow::of(r, j)))
        .collect()
}

/// One SLO's verdict as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct SloRow {
    /// The SLO's text.
    pub slo: String,
    /// Pass, fail or no data.
    pub status: VerdictStatus,
    /// Observed value with its unit, or `nothing measured`.
    pub observed: String,
    /// Threshold with its unit.
    pub threshold: String,
    /// Breached intervals as time ranges, when the specs were there to replay.
    pub breaches: Option<String>,
}

/// Every SLO verdict of the run, in summary order.
pub fn slo_rows(data: &RunData, tl: &Timeline) -> Vec<SloRow> {
    data.summary
        .slos
        .iter()
        .map(|v| {
            let (observed, threshold) = slo_figures(v, &data.slo_specs);
            let breaches = data
                .slo_specs
                .iter()
                .position(|s| s.text == v.slo)
                .and_then(|i| tl.slo.get(i))
                .map(|per| breach_ranges(per, &tl.t, data.info.interval_s));
            SloRow {
                slo: v.slo.clone(),
                status: v.status,
                observed,
                threshold,
                breaches,
            }
        })
        .collect()
}

/// The closing line under the SLOs.
pub fn slo_conclusion(data: &RunData) -> &'static str {
    let no_data = data
        .summary
        .slos
        .iter()
        .any(|v| v.status == VerdictStatus::NoData);
    match (data.summary.all_slos_pass, no_data) {
        (true, _) => "all SLOs pass",
        (false, true) => "an SLO failed or had no data (no data counts as failed)",
        (false, false) => "an SLO failed",
    }
}

/// Breached intervals as time ranges: `1-7 s, 12-13 s` (or `none`).
pub fn breach_ranges(per: &[Option<bool>], t: &[f64], secs: f64) -> String {
    let mut ranges: Vec<(f64, f64)> = Vec::new();
    for (v, &t) in per.iter().zip(t) {
        if *v != Some(false) {
            continue;
        }
        match ranges.last_mut() {
            Some(r) if (r.1 - t).abs() < 1e-9 => r.1 = t + secs,
            _ => ranges.push((t, t + secs)),
        }
    }
    if ranges.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = ranges
        .iter()
        .take(20)
        .map(|(a, b)| format!("{a:.0}-{b:.0} s"))
        .collect();
    let more = ranges.len().saturating_sub(20);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// What the host's timer floor measured before the run says, as one sentence: the bare thread's
/// lateness, and whether it leaves fine pacing its budget (then the send lag is surge's) or not (then
/// part of the send lag's tail is the host's).
pub fn timer_floor_sentence(f: &surge_results::TimerFloor) -> String {
    let head = format!(
        "This host's timer floor just before the run (a bare thread sleeping to absolute deadlines, {:.0} ms at {} wake-ups/s): p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs late",
        f.probe_ms,
        thousands(f.rate_per_s.round() as u64),
        f.p50_us,
        f.p99_us,
        f.p999_us,
        f.max_us
    );
    let head = match f.cpu_us_per_wakeup {
        Some(c) => format!(
            "{head}, {c:.1} µs of CPU per wake-up (the least the pacer pays for each of its wake-ups)"
        ),
        None => head,
    };
    if f.above_budget() {
        format!(
            "{head}: above the {:.0} µs fine pacing needs, so part of the send lag is the host's (other work on its cores, or the hypervisor), not surge's nor the target's.",
            f.budget_us
        )
    } else {
        format!(
            "{head}: within the {:.0} µs fine pacing needs, so send lag beyond that is surge's own.",
            f.budget_us
        )
    }
}
