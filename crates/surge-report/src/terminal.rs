//! The table printed at the end of a run and by `surge report`.

use crate::analysis::{Timeline, cells, cut_short_banner, headline, retry_classes};
use crate::model::{self, SUMMARY_HEAD, SummaryRow};
use std::fmt::Write as _;
use surge_metrics::VerdictStatus;
use surge_results::RunData;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("{code}{s}{RESET}")
    } else {
        s.to_string()
    }
}

/// Lays out rows as columns: the first `left` columns left-aligned, the rest right-aligned, the last
/// left-aligned (free text).
fn columns(rows: &[Vec<String>], left: usize) -> Vec<String> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| match i {
                    i if i < left => format!("{c:<w$}", w = widths[i]),
                    i if i + 1 == n => c.clone(),
                    i => format!("{c:>w$}", w = widths[i]),
                })
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// The per region x step table: count, rate, p50, p90, p99, p99.9, max, errors by class; then
/// journeys and discovery completeness per region, SLO verdicts and lost workers. `color` adds ANSI
/// colours (pass in green, failures and errors in red); pass `false` for files, pipes and NO_COLOR.
pub fn terminal_table(data: &RunData, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint(&headline(data), BOLD, color));
    if let Some(b) = cut_short_banner(data) {
        let _ = writeln!(out, "{}", paint(&format!("!! {b}"), RED, color));
    }
    for l in columns(&summary_rows(data), 2) {
        let l = if color && (l.contains(" (") || l.ends_with(model::NEVER_REACHED)) {
            paint(&l, RED, true)
        } else {
            l
        };
        let _ = writeln!(out, "{l}");
    }
    write_retries(&mut out, data);
    write_journeys(&mut out, data);
    if let Some(f) = crate::verdict::codes_finding(data) {
        let _ = writeln!(out, "verification {}: {}", f.topic, f.text);
    }
    write_distance(&mut out, data);
    write_connected(&mut out, data);
    write_slos(&mut out, data, color);
    for w in &data.summary.lost_workers {
        let _ = writeln!(
            out,
            "{}",
            paint(
                &format!(
                    "worker {} lost at {:.1} s; intervals never reported: {:?}",
                    w.worker, w.lost_at_s, w.missing_intervals
                ),
                RED,
                color
            )
        );
    }
    if let Some(r) = &data.summary.reason {
        let _ = writeln!(out, "stopped: {r}");
    }
    out
}

fn summary_rows(data: &RunData) -> Vec<Vec<String>> {
    let mut rows = vec![SUMMARY_HEAD.map(String::from).to_vec()];
    rows.extend(model::summary_rows(data).iter().map(SummaryRow::cells));
    rows
}

fn write_retries(out: &mut String, data: &RunData) {
    let retried: Vec<String> = cells(data)
        .into_iter()
        .filter(|c| !c.2.retries.is_empty())
        .map(|(r, s, c)| format!("{r}/{s}: {}", retry_classes(c)))
        .collect();
    if !retried.is_empty() {
        let _ = writeln!(out, "retried attempts: {}", retried.join("; "));
    }
}

fn write_journeys(out: &mut String, data: &RunData) {
    // Found and unexpected contacts are in the reports; a terminal keeps to the rest.
    let columns_shown: Vec<&str> = model::JOURNEY_HEAD
        .into_iter()
        .filter(|c| !matches!(*c, "found" | "unexpected"))
        .collect();
    let mut rows = vec![columns_shown.iter().map(|c| c.to_string()).collect()];
    rows.extend(
        model::journey_rows(data)
            .iter()
            .map(|j| j.pick(&columns_shown)),
    );
    let _ = writeln!(out);
    for l in columns(&rows, 1) {
        let _ = writeln!(out, "{l}");
    }
}

fn write_distance(out: &mut String, data: &RunData) {
    let rows = crate::distance::terminal_lines(data);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\ndistance and queueing (mean per step, by the target's Server-Timing):"
    );
    for l in columns(&rows, 1) {
        let _ = writeln!(out, "{l}");
    }
}

fn write_connected(out: &mut String, data: &RunData) {
    let rows = crate::connected::terminal_lines(data);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nconnected people:");
    for l in columns(&rows, 1) {
        let _ = writeln!(out, "{l}");
    }
    for l in crate::connected::storm_lines(data) {
        let _ = writeln!(out, "{l}");
    }
    if let Some(f) = crate::connected::delivery_finding(data) {
        let _ = writeln!(out, "{}: {}", f.topic, f.text);
    }
}

fn write_slos(out: &mut String, data: &RunData, color: bool) {
    if data.summary.slos.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nSLOs:");
    let rows = model::slo_rows(data, &Timeline::default());
    let width = rows
        .iter()
        .map(|r| r.status.label().len())
        .max()
        .unwrap_or(4);
    for v in rows {
        let label = format!("{:<width$}", v.status.label());
        let mark = match v.status {
            VerdictStatus::Pass => paint(&label, GREEN, color),
            _ => paint(&label, RED, color),
        };
        let _ = writeln!(
            out,
            "  {mark}  {}  (observed {}, threshold {})",
            v.slo, v.observed, v.threshold
        );
    }
    let code = if data.summary.all_slos_pass {
        GREEN
    } else {
        RED
    };
    let _ = writeln!(out, "  {}", paint(model::slo_conclusion(data), code, color));
}
