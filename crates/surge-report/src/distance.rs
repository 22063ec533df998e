//! Distance against queueing in the reports (issue 18): where each region's response time went by
//! the target's own account (`Server-Timing`: `net`, `queue`, `svc`), as one row per region (means
//! and shares over the run, and the interval where distance and queueing peaked), and in the HTML
//! report a chart of both per interval. A geo failover shows as a region's distance jumping to the
//! new data centre's round trip while the data centre that took it over queues.
//!
//! From `summary.json`'s `journeys.<region>.latency_split` and the `timed_steps`, `distance_us`,
//! `queueing_us` counters of `regions.csv`. A run whose target sent no `Server-Timing` shows none.

use crate::svg::{Chart, Series, color};
use crate::units::{html, ms, thousands};
use std::fmt::Write as _;
use surge_results::{LatencySplit, RunData};

/// Column names of the distance-and-queueing table.
pub const SPLIT_HEAD: [&str; 9] = [
    "region",
    "timed steps",
    "response",
    "distance",
    "queueing",
    "service",
    "other",
    "distance peak",
    "queueing peak",
];

fn splits(data: &RunData) -> Vec<(&String, &LatencySplit)> {
    data.summary
        .journeys
        .iter()
        .filter_map(|(r, j)| j.latency_split.as_ref().map(|s| (r, s)))
        .collect()
}

/// Per interval of `region` with timed steps: (interval mid, s; mean distance, ms; mean queueing, ms).
fn points(data: &RunData, region: &str) -> Vec<(f64, f64, f64)> {
    let secs = data.info.interval_s;
    data.region_rows
        .iter()
        .filter(|x| x.region == region && x.counters.timed_steps > 0)
        .map(|x| {
            let n = x.counters.timed_steps as f64 * 1000.0;
            (
                x.t_s + secs / 2.0,
                x.counters.distance_us as f64 / n,
                x.counters.queueing_us as f64 / n,
            )
        })
        .collect()
}

/// `120 ms at 35.0 s`: the highest interval mean of one part, `-` when there is none above 0.
fn peak(pts: &[(f64, f64, f64)], pick: fn(&(f64, f64, f64)) -> f64) -> String {
    pts.iter()
        .max_by(|a, b| pick(a).total_cmp(&pick(b)))
        .filter(|p| pick(p) > 0.0)
        .map_or_else(
            || "-".into(),
            |p| format!("{} at {:.1} s", ms(pick(p)), p.0),
        )
}

fn part(mean: f64, share: f64) -> String {
    format!("{} ({:.0}%)", ms(mean), share * 100.0)
}

/// The table's rows (without the head), one per region with a split.
pub fn split_rows(data: &RunData) -> Vec<Vec<String>> {
    splits(data)
        .into_iter()
        .map(|(r, s)| {
            let pts = points(data, r);
            vec![
                r.clone(),
                thousands(s.steps),
                ms(s.response_mean_ms),
                part(s.distance_mean_ms, s.distance_share),
                part(s.queueing_mean_ms, s.queueing_share),
                part(s.service_mean_ms, s.service_share),
                part(s.other_mean_ms, s.other_share),
                peak(&pts, |p| p.1),
                peak(&pts, |p| p.2),
            ]
        })
        .collect()
}

/// The terminal's table, head first; empty when the target sent no `Server-Timing`.
pub fn terminal_lines(data: &RunData) -> Vec<Vec<String>> {
    let rows = split_rows(data);
    if rows.is_empty() {
        return rows;
    }
    let mut out = vec![SPLIT_HEAD.map(String::from).to_vec()];
    out.extend(rows);
    out
}

const INTRO: &str = "Mean time per step by the target's own account (Server-Timing): distance is the round trip between the region and the data centre that served it, queueing the wait for a slot there, service the work; other is the rest of the response time (send lag, retries, connection set-up). Peaks are the highest interval means.";

/// The Markdown section.
pub fn markdown_section(out: &mut String, data: &RunData) {
    let rows = split_rows(data);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## Distance and queueing\n\n{INTRO}\n");
    let _ = writeln!(out, "| {} |", SPLIT_HEAD.join(" | "));
    let _ = writeln!(out, "|---{}|", "|--:".repeat(SPLIT_HEAD.len() - 1));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    let _ = writeln!(out);
}

/// The HTML section: the table and a chart of distance (solid) and queueing (dashed) per interval.
pub fn html_section(o: &mut String, data: &RunData) {
    let rows = split_rows(data);
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<h2 id=\"distance\">Distance and queueing</h2><p>{}</p><table><tr>",
        html(INTRO)
    );
    for h in SPLIT_HEAD {
        let _ = write!(o, "<th>{}</th>", html(h));
    }
    o.push_str("</tr>");
    for row in rows {
        let _ = write!(o, "<tr><td>{}</td>", html(&row[0]));
        for n in &row[1..] {
            let _ = write!(o, "<td class=\"n\">{}</td>", html(n));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    let _ = write!(
        o,
        "<figure id=\"chart-distance-queueing\">{}</figure>",
        chart(data).render()
    );
}

fn chart(data: &RunData) -> Chart {
    let mut c = Chart::new(
        "Distance (solid) and queueing (dashed) per region, mean per step",
        "time (s)",
        "ms",
    );
    c.x_span = data
        .intervals
        .last()
        .map(|k| (0.0, (*k as f64 + 1.0) * data.info.interval_s));
    for (i, r) in data.info.regions.iter().enumerate() {
        let pts = points(data, r);
        for (label, dash, pick) in [
            (
                "distance",
                None,
                (|p: &(f64, f64, f64)| p.1) as fn(&_) -> f64,
            ),
            ("queueing", Some("6 4"), |p| p.2),
        ] {
            c.series.push(Series {
                label: format!("{r} {label}"),
                color: color(i).into(),
                dash,
                width: 2.0,
                points: pts.iter().map(|p| (p.0, pick(p))).collect(),
            });
        }
    }
    c
}
