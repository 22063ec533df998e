//! The verdict block that opens `report.html` and `report.md`: what a reader needs before any chart.
//! Each SLO's verdict, the worst region and step against the others, errors and shed load, discovery
//! completeness, unfinished people and the tally, and whether the generator kept up.

use crate::analysis::{DEFAULT_SATURATION_MS, cut_short_banner};
use crate::units::{ms, pct, thousands};
use surge_metrics::VerdictStatus;
use surge_results::RunData;

/// How a finding reads: good news, bad news, or a plain fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Nothing to worry about.
    Good,
    /// Needs attention.
    Bad,
    /// Neither.
    Info,
}

impl Tone {
    /// CSS class / short tag: `good`, `bad`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Info => "info",
        }
    }
}

/// One line of the verdict block.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Good, bad or plain.
    pub tone: Tone,
    /// A short label: `SLO`, `worst`, `errors`, `discovery`, `codes`, `delivery`, `reconnects`, `unfinished`,
    /// `generator`, `run`.
    pub topic: &'static str,
    /// The sentence.
    pub text: String,
}

fn finding(tone: Tone, topic: &'static str, text: String) -> Finding {
    Finding { tone, topic, text }
}

/// The verdict block of a run, in reading order. `tally_problems` are the results reader's
/// complaints about people who do not add up (empty when the tally holds).
pub fn verdict(data: &RunData, tally_problems: &[String], saturation_ms: f64) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(b) = cut_short_banner(data) {
        out.push(finding(Tone::Bad, "run", b));
    }
    if let Some(r) = &data.summary.reason {
        out.push(finding(Tone::Bad, "run", format!("stopped: {r}")));
    }
    for w in &data.summary.lost_workers {
        out.push(finding(
            Tone::Bad,
            "run",
            format!("worker {} lost at {:.1} s", w.worker, w.lost_at_s),
        ));
    }
    slos(&mut out, data);
    out.extend(worst(data));
    out.push(errors(data));
    out.extend(discovery(data));
    out.extend(codes_finding(data));
    out.extend(crate::connected::delivery_finding(data));
    out.extend(crate::connected::storm_finding(data));
    out.push(people(data, tally_problems));
    out.push(generator(data, saturation_ms));
    out
}

fn slos(out: &mut Vec<Finding>, data: &RunData) {
    if data.summary.slos.is_empty() {
        out.push(finding(Tone::Info, "SLO", "no SLO in this profile".into()));
        return;
    }
    for row in crate::model::slo_rows(data, &crate::analysis::Timeline::default()) {
        let (tone, note) = match row.status {
            VerdictStatus::Pass => (Tone::Good, ""),
            VerdictStatus::Fail => (Tone::Bad, ""),
            VerdictStatus::NoData => (Tone::Bad, "; no data counts as failed"),
        };
        out.push(finding(
            tone,
            "SLO",
            format!(
                "{} {} (observed {}, threshold {}{note})",
                row.status.label(),
                row.slo,
                row.observed,
                row.threshold
            ),
        ));
    }
}

/// Names joined as people write them: `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The region x step with the highest p99, against the other regions' p99 for the same step.
fn worst(data: &RunData) -> Option<Finding> {
    let p99 = |r: &String, step: &String| {
        data.summary
            .step(r, step)
            .map(|c| c.p99_ms)
            .filter(|p| p.is_finite())
    };
    let (region, step, top) = data
        .info
        .steps
        .iter()
        .flat_map(|s| data.info.regions.iter().map(move |r| (r, s)))
        .filter_map(|(r, s)| p99(r, s).map(|p| (r, s, p)))
        .max_by(|a, b| a.2.total_cmp(&b.2))?;
    let others: Vec<(&String, f64)> = data
        .info
        .regions
        .iter()
        .filter(|r| *r != region)
        .filter_map(|r| p99(r, step).map(|p| (r, p)))
        .collect();
    let other_max = others.iter().map(|o| o.1).fold(0.0, f64::max);
    if others.is_empty() || other_max <= 0.0 {
        return Some(finding(
            Tone::Info,
            "worst",
            format!("slowest: {step} p99 in {region} is {}", ms(top)),
        ));
    }
    let ratio = top / other_max;
    let names: Vec<String> = others.iter().map(|o| o.0.to_string()).collect();
    let figures: Vec<String> = others.iter().map(|o| ms(o.1)).collect();
    let times = if ratio >= 2.0 {
        format!("{ratio:.0}x")
    } else {
        format!("{ratio:.1}x")
    };
    let tone = if ratio >= 2.0 { Tone::Bad } else { Tone::Info };
    Some(finding(
        tone,
        "worst",
        format!(
            "{step} p99 in {region} is {}, {times} {} ({})",
            ms(top),
            and_list(&names),
            and_list(&figures)
        ),
    ))
}

fn errors(data: &RunData) -> Finding {
    let t = &data.summary.totals;
    if t.errors == 0 {
        return finding(
            Tone::Good,
            "errors",
            format!(
                "no errors in {} finished steps; no load shed",
                thousands(t.count)
            ),
        );
    }
    let shed = t.outcomes.get("http_429").copied().unwrap_or(0);
    let failed: u64 = data.summary.journeys.values().map(|j| j.failed).sum();
    finding(
        Tone::Bad,
        "errors",
        format!(
            "{} of {} finished steps failed ({}): {}; {} shed with 429; {} journeys failed",
            thousands(t.errors),
            thousands(t.count),
            pct(t.error_rate()),
            crate::analysis::error_classes(t),
            thousands(shed),
            thousands(failed)
        ),
    )
}

fn discovery(data: &RunData) -> Option<Finding> {
    let parts: Vec<(String, f64)> = data
        .info
        .regions
        .iter()
        .filter_map(|r| {
            let c = data.summary.journeys.get(r)?.completeness?;
            Some((r.clone(), c))
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let missing: u64 = data
        .summary
        .journeys
        .values()
        .map(|j| j.contacts_missing)
        .sum();
    let lowest = parts.iter().map(|p| p.1).fold(1.0, f64::min);
    let tone = match (missing, lowest) {
        (0, _) => Tone::Good,
        (_, l) if l >= 0.99 => Tone::Info,
        _ => Tone::Bad,
    };
    let list: Vec<String> = parts
        .iter()
        .map(|(r, c)| format!("{r} {}{}", pct(*c), missing_causes(data, r)))
        .collect();
    Some(finding(
        tone,
        "discovery",
        format!(
            "completeness {}; {} registered contacts missing",
            list.join(", "),
            thousands(missing)
        ),
    ))
}

/// Verification codes per region: the delay from the first request to the code usable (the
/// `code_delay` step) and the share of people who gave up waiting; `None` when no code was awaited.
pub fn codes_finding(data: &RunData) -> Option<Finding> {
    let mut gave_up = 0u64;
    let parts: Vec<String> = data
        .info
        .regions
        .iter()
        .filter_map(|r| {
            let c = data.summary.journeys.get(r)?.codes.as_ref()?;
            gave_up += c.gave_up;
            let delay = data
                .summary
                .regions
                .get(r)
                .and_then(|steps| steps.get("code_delay"))
                .map_or_else(String::new, |d| {
                    format!("delay p50 {} p99 {}, ", ms(d.p50_ms), ms(d.p99_ms))
                });
            Some(format!(
                "{r} {delay}{} gave up waiting ({} of {}; {} codes asked again)",
                pct(c.gave_up_share),
                thousands(c.gave_up),
                thousands(c.awaited),
                thousands(c.resent)
            ))
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let tone = if gave_up == 0 { Tone::Good } else { Tone::Bad };
    Some(finding(tone, "codes", parts.join("; ")))
}

/// ` (N missing, mostly CAUSE: index_lag a, quota b, error c)` for a region with missing contacts.
fn missing_causes(data: &RunData, region: &str) -> String {
    let Some(d) = data
        .summary
        .journeys
        .get(region)
        .and_then(|j| j.discovery.as_ref())
    else {
        return String::new();
    };
    let Some(cause) = d.dominant_cause() else {
        return String::new();
    };
    let m = &d.missing_by_cause;
    format!(
        " ({} missing, mostly {cause}: index_lag {}, quota {}, error {})",
        thousands(d.missing),
        thousands(m.index_lag),
        thousands(m.quota),
        thousands(m.error)
    )
}

fn people(data: &RunData, tally_problems: &[String]) -> Finding {
    let started: u64 = data.summary.journeys.values().map(|j| j.started).sum();
    let left = data.summary.unfinished();
    let lost: u64 = data
        .summary
        .journeys
        .values()
        .map(|j| j.lost_with_worker)
        .sum();
    let unknown: u64 = data.summary.journeys.values().map(|j| j.unknown).sum();
    let mut text = format!(
        "{} of {} people unfinished (in flight when the run ended)",
        thousands(left),
        thousands(started)
    );
    if lost > 0 {
        text.push_str(&format!("; {} lost with a worker", thousands(lost)));
    }
    if unknown > 0 {
        text.push_str(&format!("; {} unknown (run killed)", thousands(unknown)));
    }
    for p in tally_problems {
        text.push_str(&format!("; tally does not hold: {p}"));
    }
    let tone = if left + lost + unknown == 0 && tally_problems.is_empty() {
        Tone::Good
    } else {
        Tone::Bad
    };
    finding(tone, "unfinished", text)
}

fn generator(data: &RunData, saturation_ms: f64) -> Finding {
    let g = &data.summary.generator;
    let threshold = if saturation_ms > 0.0 {
        saturation_ms
    } else {
        DEFAULT_SATURATION_MS
    };
    let own = |class: &str| {
        data.summary
            .totals
            .outcomes
            .get(class)
            .copied()
            .unwrap_or(0)
    };
    let (fds, ports) = (own("generator_fd"), own("generator_ports"));
    if fds + ports > 0 {
        return finding(
            Tone::Bad,
            "generator",
            format!(
                "generator saturated: {} requests never reached the target because surge ran out of its own file descriptors ({}) or local ports ({}); not the target's errors (fewer people in flight per process, more worker processes, --source-addresses)",
                crate::units::thousands(fds + ports),
                crate::units::thousands(fds),
                crate::units::thousands(ports)
            ),
        );
    }
    let host = match &g.timer_floor {
        Some(f) if f.above_budget() => format!(
            "; this host's timer floor before the run was p99 {:.0} µs, above the {:.0} µs fine pacing needs: part of it is the host's",
            f.p99_us, f.budget_us
        ),
        _ => String::new(),
    };
    if g.samples > 0 && g.send_lag_p99_ms > threshold {
        finding(
            Tone::Bad,
            "generator",
            format!(
                "generator saturated: send lag p99 {} above {}; latencies include the generator's own lateness{host}",
                ms(g.send_lag_p99_ms),
                ms(threshold)
            ),
        )
    } else {
        finding(
            Tone::Good,
            "generator",
            format!(
                "kept up: send lag p99 {} (saturated above {}){host}",
                ms(g.send_lag_p99_ms),
                ms(threshold)
            ),
        )
    }
}
