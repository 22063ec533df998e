//! `report.html`: one self-contained file (inline CSS and SVG; no script, font, image or link fetched
//! from anywhere).

use crate::analysis::{
    DEFAULT_SATURATION_MS, Timeline, cells, error_classes, headline, retry_classes, timeline,
};
use crate::markdown::scenario_pairs;
use crate::model::{self, JOURNEY_HEAD, SUMMARY_HEAD};
use crate::svg::{Band, Chart, Series, color, strip_chart};
use crate::units::{html, ms, pct, thousands};
use crate::verdict::Finding;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use surge_metrics::Outcome;
use surge_results::RunData;

/// Options of the HTML report.
#[derive(Clone, Debug)]
pub struct HtmlOptions {
    /// Send-lag p99 (ms) above which an interval is flagged "generator saturated".
    pub saturation_ms: f64,
}

impl Default for HtmlOptions {
    fn default() -> HtmlOptions {
        HtmlOptions {
            saturation_ms: DEFAULT_SATURATION_MS,
        }
    }
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;padding:0 24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}td.nr{color:#d62728;font-style:italic}\
.banner{background:#fde2e1;border:2px solid #d62728;padding:10px;font-weight:bold}\
.warn{background:#fff3cd;border:1px solid #e0a800;padding:8px}\
.PASS{color:#1a7f37;font-weight:bold}.FAIL,.NO_DATA{color:#d62728;font-weight:bold}\
section.verdict{border:2px solid #444;border-radius:6px;padding:4px 16px 8px;margin:16px 0}\
section.verdict h2{margin-top:8px}section.verdict ul{list-style:none;padding:0;margin:0;font-size:15px}\
section.verdict li{display:flex;gap:8px;padding:4px 0 4px 10px;border-left:5px solid #bbb;margin:4px 0}\
section.verdict li.bad{border-left-color:#d62728;font-weight:bold}section.verdict li.good{border-left-color:#1a7f37}\
section.verdict .topic{flex:0 0 88px;color:#555;font-weight:normal}\
svg.chart{display:block;margin:8px 0;background:#fff;width:100%;height:auto}.ct{font-size:14px;font-weight:bold}\
.tk,.lg{font-size:11px}.al{font-size:12px}.nd{font-size:14px;fill:#888}.ax{stroke:#444}.grid{stroke:#eee}\
.band{fill:#ffb3b3;opacity:.45}.pass{fill:#7bc97b}.fail{fill:#d62728}.none{fill:#ddd}\
@media print{@page{margin:12mm}body{margin:0;padding:0;max-width:none;font-size:11px}\
h2{break-after:avoid;margin-top:16px}svg.chart,table,section.verdict,li{break-inside:avoid}\
section.verdict{border-width:1px}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// The HTML report of one run, with default options.
pub fn render_html(data: &RunData) -> String {
    render_html_with(data, &HtmlOptions::default())
}

/// The HTML report of one run.
pub fn render_html_with(data: &RunData, opts: &HtmlOptions) -> String {
    let tl = timeline(data);
    let mut o = String::new();
    let title = html(&headline(data));
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
    );
    let findings = crate::verdict::verdict(data, &data.tally_problems(), opts.saturation_ms);
    verdict(&mut o, &findings);
    latency(&mut o, data);
    arrivals(&mut o, data);
    errors_over_time(&mut o, data);
    completeness(&mut o, data);
    crate::distance::html_section(&mut o, data);
    crate::connected::html_section(&mut o, data);
    distribution(&mut o, data);
    slos(&mut o, data, &tl);
    generator(&mut o, data, &tl, opts.saturation_ms);
    summary_table(&mut o, data);
    journeys(&mut o, data);
    taxonomy(&mut o, data);
    scenario(&mut o, data);
    events(&mut o, data);
    o.push_str("</body></html>\n");
    o
}

fn scenario(o: &mut String, data: &RunData) {
    o.push_str("<h2 id=\"scenario\">Scenario</h2><table>");
    for (k, v) in scenario_pairs(data) {
        let _ = write!(o, "<tr><th>{k}</th><td>{}</td></tr>", html(&v));
    }
    o.push_str("</table>");
}

/// The verdict block: the first section after the title.
fn verdict(o: &mut String, findings: &[Finding]) {
    o.push_str("<section id=\"verdict\" class=\"verdict\"><h2>Verdict</h2><ul>");
    for f in findings {
        let _ = write!(
            o,
            "<li class=\"{}\"><span class=\"topic\">{}</span><span>{}</span></li>",
            f.tone.as_str(),
            html(f.topic),
            html(&f.text)
        );
    }
    o.push_str("</ul></section>");
}

fn header_row(o: &mut String, head: &[&str]) {
    o.push_str("<tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", html(h));
    }
    o.push_str("</tr>");
}

fn summary_table(o: &mut String, data: &RunData) {
    o.push_str("<h2 id=\"summary\">Summary</h2><p>Response time from each step's intended start (coordinated-omission free).</p><table>");
    header_row(o, &SUMMARY_HEAD);
    for r in model::summary_rows(data) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td>",
            html(&r.region),
            html(&r.step)
        );
        match &r.figures {
            Some(nums) => {
                for n in nums {
                    let _ = write!(o, "<td class=\"n\">{}</td>", html(n));
                }
                let _ = write!(o, "<td>{}</td></tr>", html(&r.errors_text()));
            }
            None => {
                let _ = write!(
                    o,
                    "<td class=\"nr\" colspan=\"8\">{}</td></tr>",
                    model::NEVER_REACHED
                );
            }
        }
    }
    o.push_str("</table>");
}

fn journeys(o: &mut String, data: &RunData) {
    o.push_str("<h2 id=\"journeys\">Journeys and discovery completeness</h2><table>");
    header_row(o, &JOURNEY_HEAD);
    for j in model::journey_rows(data) {
        let (region, nums) = j.cells.split_at(1);
        let _ = write!(o, "<tr><td>{}</td>", html(&region[0]));
        for n in nums {
            let _ = write!(o, "<td class=\"n\">{}</td>", html(n));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}

/// The time axis of a run: 0 to the end of its last complete interval.
fn time_span(data: &RunData) -> Option<(f64, f64)> {
    data.intervals
        .last()
        .map(|k| (0.0, (*k as f64 + 1.0) * data.info.interval_s))
}

/// A chart over the run's time axis.
fn time_chart(data: &RunData, title: &str, y_label: &str) -> Chart {
    let mut c = Chart::new(title, "time (s)", y_label);
    c.x_span = time_span(data);
    c
}

fn series(
    label: String,
    i: usize,
    dash: Option<&'static str>,
    width: f64,
    points: Vec<(f64, f64)>,
) -> Series {
    Series {
        label,
        color: color(i).into(),
        dash,
        width,
        points,
    }
}

fn arrivals(o: &mut String, data: &RunData) {
    let secs = data.info.interval_s;
    let mut c = time_chart(
        data,
        "Arrivals per region: intended (dashed) vs achieved (solid)",
        "people/s",
    );
    for (i, r) in data.info.regions.iter().enumerate() {
        let rows: Vec<_> = data.region_rows.iter().filter(|x| &x.region == r).collect();
        c.series.push(series(
            format!("{r} achieved"),
            i,
            None,
            2.0,
            rows.iter()
                .map(|x| (x.t_s + secs / 2.0, x.counters.started as f64 / secs))
                .collect(),
        ));
        c.series.push(series(
            format!("{r} intended"),
            i,
            Some("6 4"),
            1.5,
            rows.iter()
                .map(|x| (x.t_s + secs / 2.0, x.intended_arrivals / secs))
                .collect(),
        ));
    }
    let _ = write!(o, "<h2 id=\"arrivals\">Arrival rate</h2>{}", c.render());
}

fn latency(o: &mut String, data: &RunData) {
    o.push_str("<h2 id=\"latency\">Latency over time per step</h2><p>One chart per step, a colour per region; p50 dotted, p99 solid, p99.9 dashed; log scale.</p>");
    for step in &data.info.steps {
        let mid = data.info.interval_s / 2.0;
        let mut c = time_chart(
            data,
            &format!("{step}: response time p50 / p99 / p99.9"),
            "ms (log)",
        );
        c.log_y = true;
        for (i, r) in data.info.regions.iter().enumerate() {
            let rows: Vec<_> = data
                .rows
                .iter()
                .filter(|x| &x.region == r && &x.step == step && x.count > 0)
                .collect();
            c.series.push(series(
                format!("{r} p50"),
                i,
                Some("2 3"),
                1.5,
                rows.iter().map(|x| (x.t_s + mid, x.p50_ms)).collect(),
            ));
            c.series.push(series(
                format!("{r} p99"),
                i,
                None,
                2.2,
                rows.iter().map(|x| (x.t_s + mid, x.p99_ms)).collect(),
            ));
            c.series.push(series(
                format!("{r} p99.9"),
                i,
                Some("7 4"),
                1.5,
                rows.iter().map(|x| (x.t_s + mid, x.p999_ms)).collect(),
            ));
        }
        o.push_str(&c.render());
    }
}

fn errors_over_time(o: &mut String, data: &RunData) {
    let secs = data.info.interval_s;
    let mut by_class: BTreeMap<usize, BTreeMap<u64, f64>> = BTreeMap::new();
    for row in &data.rows {
        for oc in Outcome::ALL.iter().filter(|o| o.is_error()) {
            let n = row.outcome(*oc);
            if n > 0 {
                *by_class
                    .entry(oc.index())
                    .or_default()
                    .entry(row.interval)
                    .or_default() += n as f64 / secs;
            }
        }
    }
    let mut c = time_chart(
        data,
        "Errors per second by class (all regions and steps; http_429 = shed)",
        "errors/s",
    );
    for (i, (class, pts)) in by_class.iter().enumerate() {
        let all: Vec<(f64, f64)> = data
            .intervals
            .iter()
            .map(|k| ((*k as f64 + 0.5) * secs, pts.get(k).copied().unwrap_or(0.0)))
            .collect();
        c.series.push(series(
            Outcome::ALL[*class].as_str().to_string(),
            i,
            None,
            2.0,
            all,
        ));
    }
    let _ = write!(o, "<h2 id=\"errors\">Errors and shed load over time</h2>");
    if c.series.is_empty() {
        o.push_str("<p>No errors during the run.</p>");
    } else {
        o.push_str(&c.render());
    }
}

fn completeness(o: &mut String, data: &RunData) {
    let mut c = time_chart(
        data,
        "Discovery completeness per region (found / expected registered contacts)",
        "%",
    );
    for (i, r) in data.info.regions.iter().enumerate() {
        let pts = data
            .region_rows
            .iter()
            .filter(|x| &x.region == r && x.counters.contacts_expected > 0)
            .map(|x| {
                (
                    x.t_s + data.info.interval_s / 2.0,
                    100.0 * x.counters.contacts_found as f64 / x.counters.contacts_expected as f64,
                )
            })
            .collect();
        c.series.push(series(r.clone(), i, None, 2.0, pts));
    }
    c.y_max = Some(100.0);
    let _ = write!(
        o,
        "<h2 id=\"completeness\">Discovery completeness</h2>{}",
        c.render()
    );
}

fn distribution(o: &mut String, data: &RunData) {
    let Some(si) =
        data.info
            .steps
            .iter()
            .position(|s| s == "register")
            .or(if data.info.steps.is_empty() {
                None
            } else {
                Some(0)
            })
    else {
        return;
    };
    let step = &data.info.steps[si];
    let qs = [
        0.0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999,
    ];
    let mut c = Chart::new(
        &format!("{step}: latency by percentile (whole run)"),
        "percentile",
        "ms (log)",
    );
    c.log_y = true;
    c.x_ticks = [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
    ]
    .map(|(v, l)| (v, l.to_string()))
    .to_vec();
    for (ri, r) in data.info.regions.iter().enumerate() {
        let Some(cell) = data
            .totals
            .cell(ri as u16, si as u16)
            .filter(|c| !c.response.is_empty())
        else {
            continue;
        };
        let n = cell.response.len() as f64;
        let pts = qs
            .iter()
            .filter(|q| **q == 0.0 || 1.0 / (1.0 - **q) <= n)
            .map(|&q| {
                (
                    (1.0 / (1.0 - q)).log10(),
                    cell.response.value_at_quantile(q) as f64 / 1000.0,
                )
            })
            .collect();
        c.series.push(series(r.clone(), ri, None, 2.0, pts));
    }
    let _ = write!(
        o,
        "<h2 id=\"distribution\">Percentile distribution: {}</h2>{}",
        html(step),
        c.render()
    );
}

fn slos(o: &mut String, data: &RunData, tl: &Timeline) {
    o.push_str("<h2 id=\"slos\">SLOs</h2>");
    if data.summary.slos.is_empty() {
        o.push_str("<p>No SLO in this profile.</p>");
        return;
    }
    o.push_str("<table class=\"slos\"><tr><th>SLO</th><th>verdict</th><th>observed</th><th>threshold</th></tr>");
    for v in model::slo_rows(data, tl) {
        let label = v.status.label();
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"{}\">{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            html(&v.slo),
            label.replace(' ', "_"),
            html(&v.observed),
            html(&v.threshold)
        );
    }
    let _ = write!(o, "</table><p>{}.</p>", model::slo_conclusion(data));
    if data.slo_specs.is_empty() {
        o.push_str(
            "<p>No slos.json in this folder: the breach timeline needs the SLO specifications.</p>",
        );
        return;
    }
    let secs = data.info.interval_s;
    let rows: Vec<_> = data
        .slo_specs
        .iter()
        .zip(&tl.slo)
        .map(|(s, per)| {
            (
                s.text.clone(),
                tl.t.iter()
                    .zip(per)
                    .map(|(t, v)| (*t, t + secs, *v))
                    .collect(),
            )
        })
        .collect();
    o.push_str(&strip_chart(
        "SLO breach timeline: each SLO re-evaluated per interval (red = breach)",
        &rows,
    ));
}

fn taxonomy(o: &mut String, data: &RunData) {
    o.push_str("<h2 id=\"taxonomy\">Error taxonomy by region and step</h2>");
    let rows: Vec<_> = cells(data)
        .into_iter()
        .filter(|c| c.2.errors > 0 || !c.2.retries.is_empty())
        .collect();
    if rows.is_empty() {
        o.push_str("<p>No errors and no retries.</p>");
        return;
    }
    o.push_str("<table><tr><th>region</th><th>step</th><th>errors</th><th>error rate</th><th>by class</th><th>retried attempts</th></tr>");
    for (r, s, c) in rows {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            html(&r),
            html(&s),
            thousands(c.errors),
            pct(c.error_rate()),
            html(&error_classes(c)),
            html(&retry_classes(c))
        );
    }
    o.push_str("</table>");
}

fn generator(o: &mut String, data: &RunData, tl: &Timeline, threshold_ms: f64) {
    let g = &data.summary.generator;
    let _ = write!(
        o,
        "<h2 id=\"generator\">Generator health</h2><p>Send lag (intended start to actual send) over {} samples: p50 {}, p99 {}, p99.9 {}, max {}. Windows where the send-lag p99 exceeds {} are shaded.</p>",
        thousands(g.samples),
        ms(g.send_lag_p50_ms),
        ms(g.send_lag_p99_ms),
        ms(g.send_lag_p999_ms),
        ms(g.send_lag_max_ms),
        ms(threshold_ms)
    );
    if let Some(f) = &g.timer_floor {
        let _ = write!(
            o,
            "<p{}>{}</p>",
            if f.above_budget() {
                " class=\"warn\""
            } else {
                ""
            },
            html(&crate::model::timer_floor_sentence(f))
        );
    }
    let windows = tl.saturated(data.info.interval_s, threshold_ms);
    let label = "generator saturated — latency in this window is not the target's";
    for (a, b, worst) in &windows {
        let _ = write!(
            o,
            "<p class=\"warn\">{}: {a:.0}-{b:.0} s (send-lag p99 up to {})</p>",
            html(label),
            ms(*worst)
        );
    }
    o.push_str(&send_lag_chart(data, tl, threshold_ms, &windows, label));
    if let Some(e) = &tl.error {
        let _ = write!(
            o,
            "<p class=\"warn\">per-interval figures incomplete: {}</p>",
            html(e)
        );
    }
}

fn send_lag_chart(
    data: &RunData,
    tl: &Timeline,
    threshold_ms: f64,
    windows: &[(f64, f64, f64)],
    label: &str,
) -> String {
    let secs = data.info.interval_s;
    let mut c = time_chart(
        data,
        "Send lag p99 per interval (all regions and steps)",
        "ms (log)",
    );
    c.log_y = true;
    let lag =
        tl.t.iter()
            .map(|t| t + secs / 2.0)
            .zip(tl.send_lag_p99_ms.iter().copied())
            .collect();
    c.series
        .push(series("send lag p99".into(), 1, None, 2.0, lag));
    let line =
        tl.t.first()
            .zip(tl.t.last())
            .map(|(a, b)| vec![(*a, threshold_ms), (*b + secs, threshold_ms)]);
    c.series.push(series(
        format!("threshold {}", ms(threshold_ms)),
        0,
        Some("4 4"),
        1.0,
        line.unwrap_or_default(),
    ));
    c.bands = windows
        .iter()
        .map(|(a, b, _)| Band {
            x0: *a,
            x1: *b,
            label: label.into(),
        })
        .collect();
    c.render()
}

fn events(o: &mut String, data: &RunData) {
    if data.events.is_empty()
        && data.summary.lost_workers.is_empty()
        && data.summary.reason.is_none()
    {
        return;
    }
    o.push_str("<h2 id=\"events\">Events</h2><ul>");
    if let Some(r) = &data.summary.reason {
        let _ = write!(o, "<li><b>stopped</b>: {}</li>", html(r));
    }
    for w in &data.summary.lost_workers {
        let _ = write!(
            o,
            "<li><b>worker {} lost</b> at {:.1} s; intervals never reported: {}</li>",
            html(&w.worker),
            w.lost_at_s,
            html(&format!("{:?}", w.missing_intervals))
        );
    }
    for e in &data.events {
        let who = e
            .worker
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<li>{:.1} s <b>{}</b>{}: {}</li>",
            e.t_s,
            html(&e.kind),
            html(&who),
            html(&e.detail)
        );
    }
    o.push_str("</ul>");
}
