//! `report.md`: the same content as the HTML report, as tables.

use crate::analysis::{Timeline, cells, error_classes, headline, retry_classes, timeline};
use crate::model::{self, JOURNEY_HEAD, SUMMARY_HEAD};
use crate::units::{md, ms, thousands};
use crate::verdict::{Finding, Tone};
use std::fmt::Write as _;
use surge_results::RunData;

/// The Markdown report of one run.
pub fn render_markdown(data: &RunData) -> String {
    let tl = timeline(data);
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md(&headline(data)));
    let findings = crate::verdict::verdict(
        data,
        &data.tally_problems(),
        crate::analysis::DEFAULT_SATURATION_MS,
    );
    verdict(&mut out, &findings);
    summary_table(&mut out, data);
    journeys(&mut out, data);
    crate::distance::markdown_section(&mut out, data);
    crate::connected::markdown_section(&mut out, data);
    slos(&mut out, data, &tl);
    taxonomy(&mut out, data);
    generator(&mut out, data, &tl, crate::analysis::DEFAULT_SATURATION_MS);
    scenario(&mut out, data);
    events(&mut out, data);
    out
}

fn verdict(out: &mut String, findings: &[Finding]) {
    let _ = writeln!(out, "## Verdict\n");
    for f in findings {
        let text = md(&f.text);
        let _ = match f.tone {
            Tone::Bad => writeln!(out, "- **{}: {text}**", f.topic),
            Tone::Good | Tone::Info => writeln!(out, "- {}: {text}", f.topic),
        };
    }
    let _ = writeln!(out);
}

/// A Markdown table: header, alignment row (`align` has an `l` or `r` per column), rows.
fn table(
    out: &mut String,
    head: &[&str],
    align: &str,
    rows: impl IntoIterator<Item = Vec<String>>,
) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let align: Vec<&str> = align
        .chars()
        .map(|c| if c == 'r' { "--:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(out);
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
    let rows = model::summary_rows(data).into_iter().map(|r| {
        let mut cells = r.cells();
        if r.total {
            cells[0] = "**all**".into();
            cells[1] = "**all**".into();
        }
        cells
    });
    table(out, &SUMMARY_HEAD, "llrrrrrrrl", rows);
}

fn journeys(out: &mut String, data: &RunData) {
    let _ = writeln!(out, "## Journeys and discovery completeness\n");
    let rows = model::journey_rows(data)
        .into_iter()
        .map(|j| j.cells.to_vec());
    table(out, &JOURNEY_HEAD, "lrrrrrrrrr", rows);
}

fn slos(out: &mut String, data: &RunData, tl: &Timeline) {
    let _ = writeln!(out, "## SLOs\n");
    if data.summary.slos.is_empty() {
        let _ = writeln!(out, "No SLO in this profile.\n");
        return;
    }
    let rows = model::slo_rows(data, tl).into_iter().map(|v| {
        let verdict = match v.status {
            surge_metrics::VerdictStatus::Pass => "PASS".to_string(),
            s => format!("**{}**", s.label()),
        };
        vec![
            v.slo,
            verdict,
            v.observed,
            v.threshold,
            v.breaches.unwrap_or_else(|| "-".into()),
        ]
    });
    table(
        out,
        &[
            "SLO",
            "verdict",
            "observed",
            "threshold",
            "breached intervals",
        ],
        "llrrl",
        rows,
    );
    let line = model::slo_conclusion(data);
    let line = format!("{}{}", line[..1].to_uppercase(), &line[1..]);
    let _ = if data.summary.all_slos_pass {
        writeln!(out, "{line}.\n")
    } else {
        writeln!(out, "**{line}.**\n")
    };
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
    if let Some(f) = &g.timer_floor {
        let _ = writeln!(out, "{}\n", md(&crate::model::timer_floor_sentence(f)));
    }
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
