//! What every renderer needs from a [`RunData`]: cells in profile order, per-interval SLO verdicts and
//! generator send lag (one replay of the interval log), saturated-generator windows, SLO wording.

use surge_metrics::{Slo, SloStat, Verdict};
use surge_results::{RunData, StepSummary};

/// Default send-lag p99 above which an interval's latencies are called the generator's, not the
/// target's, ms.
pub const DEFAULT_SATURATION_MS: f64 = 10.0;

/// Per-interval figures that need the histograms.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Start of each complete interval, s.
    pub t: Vec<f64>,
    /// Per SLO spec (same order as `RunData::slo_specs`), per interval: pass, breach, or nothing
    /// measured.
    pub slo: Vec<Vec<Option<bool>>>,
    /// Send lag p99 over all regions and steps, per interval, ms (NaN when nothing was sent).
    pub send_lag_p99_ms: Vec<f64>,
    /// Why the timeline is incomplete, if the interval log could not be replayed.
    pub error: Option<String>,
}

/// Replays `data`'s intervals once.
pub fn timeline(data: &RunData) -> Timeline {
    let mut tl = Timeline {
        slo: vec![Vec::new(); data.slo_specs.len()],
        ..Timeline::default()
    };
    let secs = data.info.interval_s;
    let res = data.replay(|snap| {
        tl.t.push(snap.interval as f64 * secs);
        for (spec, out) in data.slo_specs.iter().zip(tl.slo.iter_mut()) {
            out.push(
                spec.observe(snap, secs)
                    .map(|v| spec.op.holds(v, spec.threshold)),
            );
        }
        let lag = snap.merged_cell(None, None).send_lag;
        tl.send_lag_p99_ms.push(if lag.is_empty() {
            f64::NAN
        } else {
            lag.value_at_quantile(0.99) as f64 / 1000.0
        });
    });
    if let Err(e) = res {
        tl.error = Some(e.to_string());
    }
    tl
}

impl Timeline {
    /// Contiguous windows `(start s, end s, worst p99 ms)` where send-lag p99 exceeded `threshold_ms`.
    pub fn saturated(&self, interval_s: f64, threshold_ms: f64) -> Vec<(f64, f64, f64)> {
        let mut out: Vec<(f64, f64, f64)> = Vec::new();
        for (&t, &lag) in self.t.iter().zip(&self.send_lag_p99_ms) {
            if lag.is_nan() || lag <= threshold_ms {
                continue;
            }
            match out.last_mut() {
                Some(w) if (w.1 - t).abs() < 1e-9 => {
                    w.1 = t + interval_s;
                    w.2 = w.2.max(lag);
                }
                _ => out.push((t, t + interval_s, lag)),
            }
        }
        out
    }
}

/// Every (region, step, figures) of the summary, regions and steps in run.json order.
pub fn cells(data: &RunData) -> Vec<(String, String, &StepSummary)> {
    let mut out = Vec::new();
    for r in &data.info.regions {
        for s in &data.info.steps {
            if let Some(c) = data.summary.step(r, s) {
                out.push((r.clone(), s.clone(), c));
            }
        }
    }
    out
}

/// Errors of a cell by class, e.g. `http_429 10, timeout 2` (empty when none).
pub fn error_classes(c: &StepSummary) -> String {
    c.outcomes
        .iter()
        .filter(|(k, _)| k.as_str() != "ok")
        .map(|(k, v)| format!("{k} {}", crate::units::thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Retried attempts by class, e.g. `timeout 3`.
pub fn retry_classes(c: &StepSummary) -> String {
    c.retries
        .iter()
        .map(|(k, v)| format!("{k} {}", crate::units::thousands(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a value of an SLO's statistic with its unit.
fn slo_value(stat: Option<SloStat>, v: f64) -> String {
    match stat {
        Some(SloStat::Percentile(_)) => crate::units::ms(v),
        Some(SloStat::ErrorRate | SloStat::Completeness) => crate::units::pct(v),
        Some(SloStat::Rate) => crate::units::rate(v),
        None => crate::units::grouped(v, 3),
    }
}

/// Guesses an SLO's statistic from its text when `slos.json` is missing (`p99 of ...`, `error rate
/// ...`, `completeness ...`, `rate ...`).
fn stat_from_text(text: &str) -> Option<SloStat> {
    let t = text.trim_start().to_ascii_lowercase();
    let pct = t
        .strip_prefix('p')
        .and_then(|r| r.split_whitespace().next())
        .and_then(|q| q.parse::<f64>().ok());
    if let Some(q) = pct {
        Some(SloStat::Percentile(q))
    } else if t.starts_with("error rate") {
        Some(SloStat::ErrorRate)
    } else if t.starts_with("completeness") {
        Some(SloStat::Completeness)
    } else if t.starts_with("rate") {
        Some(SloStat::Rate)
    } else {
        None
    }
}

/// An SLO's value with its unit, the statistic read from the SLO's text (`"p99 … < 800ms"`: ms,
/// `"error rate …"`: %, `"rate …"`: /s): for lists that keep only the text, like a capacity probe's.
pub fn slo_value_for(text: &str, v: f64) -> String {
    slo_value(stat_from_text(text), v)
}

/// Whether an SLO's text names a response-time percentile (its values are ms).
pub fn slo_is_percentile(text: &str) -> bool {
    matches!(stat_from_text(text), Some(SloStat::Percentile(_)))
}

/// `(observed, threshold)` of a verdict with units, using the matching spec when `slos.json` has it.
pub fn slo_figures(v: &Verdict, specs: &[Slo]) -> (String, String) {
    let stat = specs
        .iter()
        .find(|s| s.text == v.slo)
        .map(|s| s.stat)
        .or_else(|| stat_from_text(&v.slo));
    let observed = v
        .observed
        .map_or_else(|| "nothing measured".to_string(), |o| slo_value(stat, o));
    (observed, slo_value(stat, v.threshold))
}

/// The run's headline: name, status, duration, intervals.
pub fn headline(data: &RunData) -> String {
    let s = &data.summary;
    format!(
        "surge run {:?}: {}, {:.1} s, {} intervals of {} s",
        s.name,
        s.status.as_str(),
        s.duration_s,
        s.intervals,
        data.info.interval_s
    )
}

/// The cut-short banner, if the run was cut short.
pub fn cut_short_banner(data: &RunData) -> Option<String> {
    data.is_cut_short().then(|| match data.last_interval() {
        Some(n) => format!("run cut short: data up to interval {n}"),
        None => "run cut short: no complete interval was written".to_string(),
    })
}
