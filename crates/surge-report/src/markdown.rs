//! `report.md`: the same content as the HTML report, as tables.

use crate::analysis::{
    Timeline, cells, cut_short_banner, error_classes, headline, retry_classes, slo_figures,
    timeline,
};
use crate::units::{md, ms, pct, rate, thousands};
use std::fmt::Write as _;
use surge_results::RunData;

/// The Markdown report of one run.
pub fn render_markdown(data: &RunData) -> String {
    let tl = timeline(data);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md(&headline(data)));
    if let Some(b) = cut_short_banner(data) {
        let _ = writeln!(out, "> **{b}**\n");
    }
    scenario(&mut out, data);
    summary_table(&mut out, data);
    journeys(&mut out, data);
    slos(&mut out, data, &tl);
    taxonomy(&mut out, data);
    generator(&mut out, data, &tl, crate::analysis::DEFAULT_SATURATION_MS);
    events(&mut out, data);
    out
}

/// The scenario as `(label, value)` pairs, shared with the HTML report.
pub(crate) fn scenario_pairs(data: &RunData) -> Vec<(&'static str, String)> {
    let i = &data.info;
    vec![
        ("profile", format!("{} ({})", i.name, i.profile_path)),
        ("started", i.started_at.clone()),
        ("target", i.target.clone()),
        ("plan", i.plan.clone().unwrap_or_else(|| "-".into())),
        ("model", i.model.clone()),
        ("population", thousands(i.population)),
        ("scale", format!("{}", i.scale)),
        ("seed", i.seed.to_string()),
        (
            "duration",
            format!(
                "{:.1} s planned, {:.1} s covered",
                i.run_duration_s, data.summary.duration_s
            ),
        ),
        ("interval", format!("{} s", i.interval_s)),
        (
            "workers",
            if i.workers.is_empty() {
                "-".into()
            } else {
                i.workers.join(", ")
            },
        ),
        ("regions", i.regions.join(", ")),
        ("steps", i.steps.join(", ")),
        ("command", i.args.join(" ")),
        (
            "versions",
            i.versions
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

fn scenario(out: &mut String, data: &RunData) {
    let _ = writeln!(out, "## Scenario\n\n| | |\n|---|---|");
    for (k, v) in scenario_pairs(data) {
        let _ = writeln!(out, "| {k} | {} |", md(&v));
    }
    let _ = writeln!(out);
}

fn summary_table(out: &mut String, data: &RunData) {
    let _ = writeln!(out, "## Summary (response time from intended start)\n");
    let _ = writeln!(
        out,
        "| region | step | count | rate | p50 | p90 | p99 | p99.9 | max | errors |\n|---|---|--:|--:|--:|--:|--:|--:|--:|---|"
    );
    let mut row = |r: &str, s: &str, c: &surge_results::StepSummary| {
        let classes = error_classes(c);
        let errors = if c.errors == 0 {
            "0".to_string()
        } else {
            format!("{} ({classes})", thousands(c.errors))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(r),
            md(s),
            thousands(c.count),
            rate(c.rate_per_s),
            ms(c.p50_ms),
            ms(c.p90_ms),
            ms(c.p99_ms),
            ms(c.p999_ms),
            ms(c.max_ms),
            errors
        );
    };
    for (r, s, c) in cells(data) {
        row(&r, &s, c);
    }
    row("**all**", "**all**", &data.summary.totals);
    let _ = writeln!(out);
}

fn journeys(out: &mut String, data: &RunData) {
    let _ = writeln!(
        out,
        "## Journeys and discovery completeness\n\n| region | started | succeeded | failed | contacts expected | found | missing | unexpected | completeness |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for r in &data.info.regions {
        let Some(j) = data.summary.journeys.get(r) else {
            continue;
        };
        let comp = j.completeness.map_or_else(|| "-".to_string(), pct);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {comp} |",
            md(r),
            thousands(j.started),
            thousands(j.succeeded),
            thousands(j.failed),
            thousands(j.contacts_expected),
            thousands(j.contacts_found),
            thousands(j.contacts_missing),
            thousands(j.contacts_unexpected)
        );
    }
    let _ = writeln!(out);
}

fn slos(out: &mut String, data: &RunData, tl: &Timeline) {
    let _ = writeln!(out, "## SLOs\n");
    if data.summary.slos.is_empty() {
        let _ = writeln!(out, "No SLO in this profile.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| SLO | verdict | observed | threshold | breached intervals |\n|---|---|--:|--:|---|"
    );
    for v in &data.summary.slos {
        let (observed, threshold) = slo_figures(v, &data.slo_specs);
        let breaches = data
            .slo_specs
            .iter()
            .position(|s| s.text == v.slo)
            .and_then(|i| tl.slo.get(i))
            .map_or_else(
                || "-".to_string(),
                |per| breach_ranges(per, &tl.t, data.info.interval_s),
            );
        let _ = writeln!(
            out,
            "| {} | {} | {observed} | {threshold} | {breaches} |",
            md(&v.slo),
            if v.pass { "PASS" } else { "**FAIL**" }
        );
    }
    let _ = writeln!(
        out,
        "\n{}\n",
        if data.summary.all_slos_pass {
            "All SLOs pass."
        } else {
            "**An SLO failed.**"
        }
    );
}

/// Breached intervals as time ranges: `1-7 s, 12-13 s` (or `none`).
pub(crate) fn breach_ranges(per: &[Option<bool>], t: &[f64], secs: f64) -> String {
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

fn taxonomy(out: &mut String, data: &RunData) {
    let _ = writeln!(out, "## Error taxonomy\n");
    let rows: Vec<_> = cells(data)
        .into_iter()
        .filter(|c| c.2.errors > 0 || !c.2.retries.is_empty())
        .collect();
    if rows.is_empty() {
        let _ = writeln!(out, "No errors and no retries.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| region | step | errors | by class | retried attempts |\n|---|---|--:|---|---|"
    );
    for (r, s, c) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            md(&r),
            md(&s),
            thousands(c.errors),
            error_classes(c),
            retry_classes(c)
        );
    }
    let _ = writeln!(out);
}

fn generator(out: &mut String, data: &RunData, tl: &Timeline, threshold_ms: f64) {
    let g = &data.summary.generator;
    let _ = writeln!(
        out,
        "## Generator health\n\nSend lag (intended start to actual send) over {} samples: p50 {}, p99 {}, p99.9 {}, max {}.\n",
        thousands(g.samples),
        ms(g.send_lag_p50_ms),
        ms(g.send_lag_p99_ms),
        ms(g.send_lag_p999_ms),
        ms(g.send_lag_max_ms)
    );
    let windows = tl.saturated(data.info.interval_s, threshold_ms);
    if windows.is_empty() {
        let _ = writeln!(
            out,
            "No interval with send-lag p99 above {}: the latencies are the target's.\n",
            ms(threshold_ms)
        );
    }
    for (a, b, worst) in windows {
        let _ = writeln!(
            out,
            "- **generator saturated — latency in this window is not the target's**: {a:.0}-{b:.0} s (send-lag p99 up to {})",
            ms(worst)
        );
    }
    if let Some(e) = &tl.error {
        let _ = writeln!(out, "\n(per-interval figures incomplete: {})", md(e));
    }
    let _ = writeln!(out);
}

fn events(out: &mut String, data: &RunData) {
    if data.events.is_empty() && data.summary.lost_workers.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Events\n");
    for w in &data.summary.lost_workers {
        let _ = writeln!(
            out,
            "- worker **{}** lost at {:.1} s; intervals never reported: {:?}",
            md(&w.worker),
            w.lost_at_s,
            w.missing_intervals
        );
    }
    for e in &data.events {
        let who = e
            .worker
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {:.1} s {}{}: {}",
            e.t_s,
            md(&e.kind),
            md(&who),
            md(&e.detail)
        );
    }
    let _ = writeln!(out);
}
