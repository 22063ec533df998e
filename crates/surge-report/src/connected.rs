//! Connected people in the reports (issue 14): one row per region (connections, reconnects, the
//! handshake, delivery completeness), a verdict line for delivery, and the charts of the HTML report:
//! open connections over time per region, delivery p99 over time, and the reconnect storm
//! (reconnects and refused handshakes per second, reconnect time p99 per interval).
//!
//! Everything here comes from the results folder: `summary.json`'s `journeys.<region>.messages` and
//! `.connections`, the `connect`, `deliver` and `reconnect` steps of `timeseries.csv`, and the
//! connection counters of `regions.csv`. A run without a connected phase shows none of it.

use crate::svg::{Chart, Series, color};
use crate::units::{html, ms, pct, thousands};
use crate::verdict::{Finding, Tone};
use std::fmt::Write as _;
use surge_results::RunData;

/// Column names of the connected-people table.
pub const CONNECTED_HEAD: [&str; 13] = [
    "region",
    "peak conns",
    "opened",
    "reconnects",
    "reconnect p50",
    "reconnect p99",
    "handshake p99",
    "refused",
    "sent",
    "delivered",
    "late",
    "lost",
    "completeness",
];

/// One region's connected figures, formatted, in [`CONNECTED_HEAD`] order.
pub fn connected_rows(data: &RunData) -> Vec<[String; 13]> {
    let opt_ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), ms);
    data.info
        .regions
        .iter()
        .filter_map(|r| {
            let j = data.summary.journeys.get(r)?;
            let c = j.connections.as_ref()?;
            let m = j.messages.clone().unwrap_or_default();
            let hs = data.summary.step(r, "connect");
            Some([
                r.clone(),
                thousands(c.peak),
                thousands(c.opened),
                thousands(c.reconnects),
                opt_ms(c.reconnect_p50_ms),
                opt_ms(c.reconnect_p99_ms),
                opt_ms(hs.map(|h| h.p99_ms)),
                thousands(hs.map_or(0, |h| h.errors)),
                thousands(m.sent),
                thousands(m.delivered),
                thousands(m.late),
                thousands(m.lost),
                m.completeness.map_or_else(|| "-".to_string(), pct),
            ])
        })
        .collect()
}

/// The verdict's delivery line: per region delivered within the deadline / sent, with late and lost;
/// `None` without a connected phase or without messages.
pub fn delivery_finding(data: &RunData) -> Option<Finding> {
    let mut parts = Vec::new();
    let (mut late, mut lost, mut lowest) = (0u64, 0u64, 1.0f64);
    for r in &data.info.regions {
        let Some(m) = data
            .summary
            .journeys
            .get(r)
            .and_then(|j| j.messages.as_ref())
        else {
            continue;
        };
        let Some(c) = m.completeness else { continue };
        late += m.late;
        lost += m.lost;
        lowest = lowest.min(c);
        parts.push(format!(
            "{r} {} of {} ({})",
            thousands(m.delivered),
            thousands(m.sent),
            pct(c)
        ));
    }
    if parts.is_empty() {
        return None;
    }
    let tone = match (late + lost, lowest) {
        (0, _) => Tone::Good,
        (_, l) if l >= 0.99 => Tone::Info,
        _ => Tone::Bad,
    };
    Some(Finding {
        tone,
        topic: "delivery",
        text: format!(
            "messages delivered within the deadline: {}; {} late, {} lost",
            parts.join(", "),
            thousands(late),
            thousands(lost)
        ),
    })
}

/// The verdict's reconnect-storm line, when people reconnected or handshakes were refused.
pub fn storm_finding(data: &RunData) -> Option<Finding> {
    let mut parts = Vec::new();
    let mut refused_total = 0;
    for r in &data.info.regions {
        let Some(c) = data
            .summary
            .journeys
            .get(r)
            .and_then(|j| j.connections.as_ref())
        else {
            continue;
        };
        let refused = data.summary.step(r, "connect").map_or(0, |h| h.errors);
        refused_total += refused;
        if c.reconnects == 0 && refused == 0 {
            continue;
        }
        let p99 = c.reconnect_p99_ms.map_or_else(|| "-".to_string(), ms);
        parts.push(format!(
            "{r} {} reconnects (p99 {p99}), {} handshakes refused or failed",
            thousands(c.reconnects),
            thousands(refused)
        ));
    }
    (!parts.is_empty()).then(|| Finding {
        tone: if refused_total > 0 {
            Tone::Bad
        } else {
            Tone::Info
        },
        topic: "reconnects",
        text: parts.join("; "),
    })
}

/// Whether the run had a connected phase.
pub fn has_connected(data: &RunData) -> bool {
    data.summary
        .journeys
        .values()
        .any(|j| j.connections.is_some())
}

/// The terminal's lines: the connected-people table (nothing without a connected phase).
pub fn terminal_lines(data: &RunData) -> Vec<Vec<String>> {
    if !has_connected(data) {
        return Vec::new();
    }
    let mut rows = vec![CONNECTED_HEAD.map(String::from).to_vec()];
    rows.extend(connected_rows(data).into_iter().map(|r| r.to_vec()));
    rows
}

/// One line per region whose people reconnected or were refused: the storm's worst interval, e.g.
/// `reconnect storm in americas: peak 412.0 reconnects/s and 3,050.0 refused handshakes/s at 20-21 s`.
pub fn storm_lines(data: &RunData) -> Vec<String> {
    let secs = data.info.interval_s;
    data.info
        .regions
        .iter()
        .filter_map(|r| {
            let pts = storm_points(data, r);
            let worst = pts
                .iter()
                .max_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)))
                .filter(|p| p.1 + p.2 > 0.0)?;
            let p99 = pts
                .iter()
                .filter_map(|p| p.3)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let from = worst.0 - secs / 2.0;
            Some(format!(
                "reconnect storm in {r}: peak {:.1} reconnects/s and {:.1} refused handshakes/s at {from:.0}-{:.0} s; worst interval reconnect p99 {}",
                worst.1,
                worst.2,
                from + secs,
                p99.map_or_else(|| "-".to_string(), ms)
            ))
        })
        .collect()
}

/// The per-interval reconnect storm of one region: (interval mid, reconnects/s, refused
/// handshakes/s, reconnect p99 ms).
fn storm_points(data: &RunData, region: &str) -> Vec<(f64, f64, f64, Option<f64>)> {
    let secs = data.info.interval_s;
    let step_row = |step: &str, k: u64| {
        data.rows
            .iter()
            .find(|x| x.region == region && x.step == step && x.interval == k)
    };
    data.region_rows
        .iter()
        .filter(|x| x.region == region)
        .map(|x| {
            let refused = step_row("connect", x.interval).map_or(0, |c| c.errors);
            let p99 = step_row("reconnect", x.interval)
                .filter(|c| c.count > 0)
                .map(|c| c.p99_ms);
            (
                x.t_s + secs / 2.0,
                x.counters.reconnects as f64 / secs,
                refused as f64 / secs,
                p99,
            )
        })
        .collect()
}

fn line(label: String, i: usize, dash: Option<&'static str>, points: Vec<(f64, f64)>) -> Series {
    Series {
        label,
        color: color(i).into(),
        dash,
        width: 2.0,
        points,
    }
}

fn chart(data: &RunData, title: &str, y: &str) -> Chart {
    let mut c = Chart::new(title, "time (s)", y);
    c.x_span = data
        .intervals
        .last()
        .map(|k| (0.0, (*k as f64 + 1.0) * data.info.interval_s));
    c
}

/// Open connections per region at each interval's end (`opened - closed` cumulated).
fn connections_chart(data: &RunData) -> Chart {
    let secs = data.info.interval_s;
    let mut c = chart(
        data,
        "Open connections per region (at each interval's end)",
        "connections",
    );
    for (i, r) in data.info.regions.iter().enumerate() {
        let mut level = 0i128;
        let pts = data
            .region_rows
            .iter()
            .filter(|x| &x.region == r)
            .map(|x| {
                level += i128::from(x.counters.connections_opened)
                    - i128::from(x.counters.connections_closed);
                (x.t_s + secs, level.max(0) as f64)
            })
            .collect();
        c.series.push(line(r.clone(), i, None, pts));
    }
    c
}

/// Delivery p99 per region per interval (end to end, under the sender's region).
fn delivery_chart(data: &RunData) -> Chart {
    let secs = data.info.interval_s;
    let mut c = chart(
        data,
        "Delivery p99 per region (sender's send to receiver's receipt)",
        "ms (log)",
    );
    c.log_y = true;
    for (i, r) in data.info.regions.iter().enumerate() {
        let pts = data
            .rows
            .iter()
            .filter(|x| &x.region == r && x.step == "deliver" && x.count > 0)
            .map(|x| (x.t_s + secs / 2.0, x.p99_ms))
            .collect();
        c.series.push(line(r.clone(), i, None, pts));
    }
    c
}

/// Reconnects per second (solid) and refused handshakes per second (dashed) per region.
fn storm_chart(data: &RunData) -> Chart {
    let mut c = chart(
        data,
        "Reconnect storm: reconnects/s (solid) and refused or failed handshakes/s (dashed)",
        "per second",
    );
    for (i, r) in data.info.regions.iter().enumerate() {
        let pts = storm_points(data, r);
        c.series.push(line(
            format!("{r} reconnects"),
            i,
            None,
            pts.iter().map(|p| (p.0, p.1)).collect(),
        ));
        c.series.push(line(
            format!("{r} refused"),
            i,
            Some("6 4"),
            pts.iter().map(|p| (p.0, p.2)).collect(),
        ));
    }
    c
}

/// Reconnect time p99 per interval (drop to re-established).
fn reconnect_time_chart(data: &RunData) -> Chart {
    let mut c = chart(
        data,
        "Reconnect time p99 per region (drop to re-established)",
        "ms (log)",
    );
    c.log_y = true;
    for (i, r) in data.info.regions.iter().enumerate() {
        let pts = storm_points(data, r)
            .into_iter()
            .filter_map(|p| p.3.map(|v| (p.0, v)))
            .collect();
        c.series.push(line(r.clone(), i, None, pts));
    }
    c
}

/// The HTML section `#connected` (nothing without a connected phase): the table and four charts,
/// each in a `<figure>` with its own id (`chart-connections`, `chart-delivery-p99`,
/// `chart-reconnect-storm`, `chart-reconnect-p99`).
pub fn html_section(o: &mut String, data: &RunData) {
    if !has_connected(data) {
        return;
    }
    o.push_str("<h2 id=\"connected\">Connected people</h2><p>WebSocket sessions after the signup: connections held, heartbeats, messages between simulated people. Delivery is end to end, from the sender's send to the receiver's receipt, under the sender's region; a reconnect runs from the drop to the re-established connection.</p><table><tr>");
    for h in CONNECTED_HEAD {
        let _ = write!(o, "<th>{}</th>", html(h));
    }
    o.push_str("</tr>");
    for row in connected_rows(data) {
        let _ = write!(o, "<tr><td>{}</td>", html(&row[0]));
        for n in &row[1..] {
            let _ = write!(o, "<td class=\"n\">{}</td>", html(n));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    for (id, c) in [
        ("chart-connections", connections_chart(data)),
        ("chart-delivery-p99", delivery_chart(data)),
        ("chart-reconnect-storm", storm_chart(data)),
        ("chart-reconnect-p99", reconnect_time_chart(data)),
    ] {
        let _ = write!(o, "<figure id=\"{id}\">{}</figure>", c.render());
    }
}

/// The Markdown section (nothing without a connected phase): the table and the storm per interval
/// where anything reconnected or was refused.
pub fn markdown_section(out: &mut String, data: &RunData) {
    if !has_connected(data) {
        return;
    }
    let _ = writeln!(out, "## Connected people\n");
    let _ = writeln!(out, "| {} |", CONNECTED_HEAD.join(" | "));
    let _ = writeln!(out, "|---{}|", "|--:".repeat(CONNECTED_HEAD.len() - 1));
    for r in connected_rows(data) {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    let _ = writeln!(out);
    let mut storm = Vec::new();
    for r in &data.info.regions {
        for (t, rec, refused, p99) in storm_points(data, r) {
            if rec > 0.0 || refused > 0.0 {
                storm.push(format!(
                    "| {t:.1} s | {r} | {rec:.1} | {refused:.1} | {} |",
                    p99.map_or_else(|| "-".to_string(), ms)
                ));
            }
        }
    }
    if !storm.is_empty() {
        let _ = writeln!(
            out,
            "Reconnect storm (intervals with reconnects or refused handshakes):\n\n| interval mid | region | reconnects/s | refused/s | reconnect p99 |\n|--:|---|--:|--:|--:|"
        );
        for l in storm.iter().take(60) {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out);
    }
}
