//! Reports of a capacity search (`capacity.json`): the terminal table, `capacity.md`,
//! `capacity.html` with a knee chart per region (p99 and error rate against the offered rate, the SLO
//! threshold drawn, the bracket shaded), and the comparison of two searches
//! (`americas: 92/s -> 188/s (2.04x)`).

use crate::analysis::{slo_is_percentile, slo_value_for};
use crate::svg::{Band, Chart, Series, color};
use crate::units::{html, md, pct};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use surge_results::capacity::{CapacityResult, CapacityStatus, RegionCapacity};

/// A rate for people: `95/s` from 10/s up, else `4.7/s`; `-` when none.
pub fn per_s(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 10.0 => format!("{v:.0}/s"),
        Some(v) => format!("{v:.1}/s"),
        None => "-".into(),
    }
}

/// A probed rate to its 0.1/s: `37.5/s`; `-` when none.
fn exact(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}/s"))
}

/// The bracket to 0.1/s (reports).
fn bracket(r: &RegionCapacity) -> String {
    format!("[{}, {}]", exact(r.bracket[0]), exact(r.bracket[1]))
}

/// The bracket as the terminal shows it.
fn bracket_short(r: &RegionCapacity) -> String {
    format!("[{}, {}]", per_s(r.bracket[0]), per_s(r.bracket[1]))
}

fn end(r: &RegionCapacity) -> String {
    r.end.as_str().to_string()
}

/// The table printed at the end of `surge capacity`.
pub fn capacity_table(c: &CapacityResult) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "capacity of {} ({} s probes, precision {}), SLOs: {}",
        c.name,
        c.probe_s,
        pct(c.precision),
        c.slos.join("; ")
    );
    let _ = writeln!(
        o,
        "{:<12} {:>10} {:>22} {:>7}  {:<16} spread",
        "region", "max rate", "[last pass, first fail]", "probes", "end"
    );
    for (name, r) in &c.regions {
        let spread = r.repeats.as_ref().map_or(String::new(), |s| {
            format!(
                "{} searches: {}..{} (cv {})",
                s.answers.len(),
                per_s(Some(s.min)),
                per_s(Some(s.max)),
                pct(s.cv)
            )
        });
        let _ = writeln!(
            o,
            "{:<12} {:>10} {:>22} {:>7}  {:<16} {spread}",
            name,
            per_s(r.max_rate_per_s),
            bracket_short(r),
            r.probes.len(),
            end(r),
        );
    }
    for (name, r) in &c.regions {
        let _ = writeln!(o, "  {name}: {}", r.note);
    }
    if let Some(why) = &c.reason {
        let _ = writeln!(o, "stopped: {why}");
    }
    o
}

/// `capacity.md`.
pub fn render_capacity_markdown(c: &CapacityResult) -> String {
    let mut o = format!("# Capacity of {}\n\n", md(&c.name));
    let _ = writeln!(
        o,
        "Target: {}. Probes of {} s, precision {}, {} search(es) per region, {} worker(s).\n",
        md(&c.target),
        c.probe_s,
        pct(c.precision),
        c.repeat,
        c.workers
    );
    if c.status != CapacityStatus::Complete {
        let _ = writeln!(
            o,
            "> **{}**\n",
            md(c.reason.as_deref().unwrap_or("search incomplete"))
        );
    }
    o.push_str("| region | max rate | bracket [last pass, first fail] | probes | end |\n|---|---:|---|---:|---|\n");
    for (name, r) in &c.regions {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            md(name),
            per_s(r.max_rate_per_s),
            bracket(r),
            r.probes.len(),
            end(r)
        );
    }
    for (name, r) in &c.regions {
        let _ = writeln!(o, "\n## {}\n\n{}\n", md(name), md(&r.note));
        o.push_str("| # | offered | pass | observed per SLO | finished | error rate | flagged | results |\n|---:|---:|---|---|---:|---:|---|---|\n");
        for (i, p) in r.probes.iter().enumerate() {
            let slos: Vec<String> = p
                .slos
                .iter()
                .filter(|s| s.applies)
                .map(|s| {
                    let v = s.observed.map_or("-".into(), |v| slo_value_for(&s.slo, v));
                    format!("{} {v}", s.slo)
                })
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                exact(Some(p.rate_per_s)),
                if p.pass { "pass" } else { "FAIL" },
                md(&slos.join("; ")),
                p.completed_ratio.map_or("-".into(), pct),
                pct(p.error_rate),
                md(p.flagged.as_deref().unwrap_or("")),
                md(&p.dir)
            );
        }
    }
    o
}

/// The knee charts of one region: the deciding SLOs' observations and the error rate against the
/// offered rate, the thresholds dashed, the bracket shaded.
pub fn knee_charts(name: &str, r: &RegionCapacity) -> (Chart, Chart) {
    let mut probes: Vec<_> = r.probes.iter().filter(|p| p.flagged.is_none()).collect();
    probes.sort_by(|a, b| a.rate_per_s.total_cmp(&b.rate_per_s));
    let bands: Vec<Band> = match r.bracket {
        [Some(a), Some(b)] => vec![Band {
            x0: a,
            x1: b,
            label: format!("bracket [{}, {}]", per_s(Some(a)), per_s(Some(b))),
        }],
        _ => Vec::new(),
    };
    let xs: Vec<f64> = probes.iter().map(|p| p.rate_per_s).collect();
    let (x0, x1) = (
        xs.first().copied().unwrap_or(0.0),
        xs.last().copied().unwrap_or(1.0),
    );
    let mut lat = Chart::new(
        &format!("{name}: knee (observed per SLO vs offered rate)"),
        "offered arrival rate, journeys/s",
        "observed, ms",
    );
    lat.log_y = true;
    lat.bands = bands.clone();
    let texts: Vec<&str> = r
        .probes
        .first()
        .map(|p| {
            p.slos
                .iter()
                .filter(|s| s.applies)
                .map(|s| s.slo.as_str())
                .collect()
        })
        .unwrap_or_default();
    // Percentile SLOs on the latency chart (ms); error-rate SLOs' thresholds on the error chart.
    let (texts, err_texts): (Vec<&str>, Vec<&str>) =
        texts.into_iter().partition(|t| slo_is_percentile(t));
    let threshold_of = |text: &str| {
        r.probes
            .iter()
            .flat_map(|p| p.slos.iter())
            .find(|s| s.slo == text)
            .map(|s| s.threshold)
    };
    for (i, text) in texts.iter().enumerate() {
        let points: Vec<(f64, f64)> = probes
            .iter()
            .filter_map(|p| {
                let s = p.slos.iter().find(|s| s.slo == *text)?;
                Some((p.rate_per_s, s.observed?))
            })
            .collect();
        let threshold = threshold_of(text);
        lat.series.push(Series {
            label: text.to_string(),
            color: color(i).into(),
            dash: None,
            width: 2.0,
            points,
        });
        if let Some(t) = threshold {
            lat.series.push(Series {
                label: format!("threshold {}", fmt_threshold(t)),
                color: color(i).into(),
                dash: Some("6 3"),
                width: 1.0,
                points: vec![(x0, t), (x1, t)],
            });
        }
    }
    let mut err = Chart::new(
        &format!("{name}: error rate vs offered rate"),
        "offered arrival rate, journeys/s",
        "errors, % of finished steps",
    );
    err.bands = bands;
    err.series.push(Series {
        label: "error rate".into(),
        color: color(1).into(),
        dash: None,
        width: 2.0,
        points: probes
            .iter()
            .map(|p| (p.rate_per_s, p.error_rate * 100.0))
            .collect(),
    });
    for (i, text) in err_texts.iter().enumerate() {
        if let Some(t) = threshold_of(text) {
            err.series.push(Series {
                label: format!("{text}: threshold {}%", fmt_threshold(t * 100.0)),
                color: color(i + 2).into(),
                dash: Some("6 3"),
                width: 1.0,
                points: vec![(x0, t * 100.0), (x1, t * 100.0)],
            });
        }
    }
    (lat, err)
}

fn fmt_threshold(t: f64) -> String {
    crate::svg::fmt_num(t)
}

/// `capacity.html`: the table, then each region's knee charts and probes.
pub fn render_capacity_html(c: &CapacityResult) -> String {
    let title = html(&format!("surge capacity: {}", c.name));
    let mut o = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{}</style></head><body><h1>{title}</h1>",
        crate::html::STYLE
    );
    let _ = write!(
        o,
        "<p>Target: {}. Probes of {} s, precision {}, {} search(es) per region, {} worker(s). SLOs: {}.</p>",
        html(&c.target),
        c.probe_s,
        pct(c.precision),
        c.repeat,
        c.workers,
        html(&c.slos.join("; "))
    );
    if c.status != CapacityStatus::Complete {
        let _ = write!(
            o,
            "<div class=\"banner\">{}</div>",
            html(c.reason.as_deref().unwrap_or("search incomplete"))
        );
    }
    o.push_str("<table><tr><th>region</th><th>max rate</th><th>bracket [last pass, first fail]</th><th>probes</th><th>end</th><th>note</th></tr>");
    for (name, r) in &c.regions {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            html(name),
            per_s(r.max_rate_per_s),
            bracket(r),
            r.probes.len(),
            end(r),
            html(&r.note)
        );
    }
    o.push_str("</table>");
    for (name, r) in &c.regions {
        let _ = write!(o, "<h2>{}</h2>", html(name));
        let (lat, err) = knee_charts(name, r);
        o.push_str(&lat.render());
        o.push_str(&err.render());
    }
    o.push_str("</body></html>\n");
    o
}

/// Writes `capacity.html` and `capacity.md` into `dir`; returns their paths.
pub fn write_capacity_reports(
    dir: &Path,
    c: &CapacityResult,
) -> Result<(PathBuf, PathBuf), crate::ReportError> {
    let h = crate::write(dir.join("capacity.html"), &render_capacity_html(c))?;
    let m = crate::write(dir.join("capacity.md"), &render_capacity_markdown(c))?;
    Ok((h, m))
}

/// Per region of both, `americas: 92/s -> 188/s (2.04x)`; regions only one has are said so.
pub fn compare_capacity(a: &CapacityResult, b: &CapacityResult) -> String {
    let mut o = String::new();
    let mut names: Vec<&String> = a.regions.keys().chain(b.regions.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (ra, rb) = (a.regions.get(name), b.regions.get(name));
        let (va, vb) = (
            ra.and_then(|r| r.max_rate_per_s),
            rb.and_then(|r| r.max_rate_per_s),
        );
        let ratio = match (va, vb) {
            (Some(x), Some(y)) if x > 0.0 => format!(" ({:.2}x)", y / x),
            _ => String::new(),
        };
        let mark = |r: Option<&RegionCapacity>| match r {
            None => " (not searched)".to_string(),
            Some(r) if !matches!(r.end, surge_results::capacity::SearchEnd::Found) => {
                format!(" ({})", end(r))
            }
            Some(_) => String::new(),
        };
        let _ = writeln!(
            o,
            "{name}: {}{} -> {}{}{ratio}",
            per_s(va),
            mark(ra),
            per_s(vb),
            mark(rb)
        );
    }
    o
}
