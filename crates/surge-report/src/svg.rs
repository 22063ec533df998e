//! Hand-written SVG charts: a line chart (linear or log y axis, optional shaded bands) and a
//! pass/fail strip timeline. Self-contained markup: no script, no font, no external reference.

use crate::units::html;
use std::fmt::Write as _;

/// Colours for series, picked by index.
pub const PALETTE: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The colour of series `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// One line.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Stroke colour.
    pub color: String,
    /// SVG dash array, e.g. `"6 3"`.
    pub dash: Option<&'static str>,
    /// Stroke width.
    pub width: f64,
    /// (x, y) points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A shaded x range with a label (e.g. a saturated-generator window).
#[derive(Clone, Debug)]
pub struct Band {
    /// Start x.
    pub x0: f64,
    /// End x.
    pub x1: f64,
    /// Tooltip and legend text.
    pub label: String,
}

/// A line chart.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Log-scaled y axis (values <= 0 are left out).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Shaded x ranges.
    pub bands: Vec<Band>,
    /// Explicit x ticks (value, label); evenly spaced numbers when empty.
    pub x_ticks: Vec<(f64, String)>,
    /// Formats a y tick.
    pub y_fmt: fn(f64) -> String,
    /// Lower bound of a linear y axis (usually 0).
    pub y_min: Option<f64>,
    /// Upper bound of a linear y axis (computed when `None`).
    pub y_max: Option<f64>,
    /// Fixed x range (computed from the data when `None`).
    pub x_span: Option<(f64, f64)>,
}

const W: f64 = 820.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 42.0;

/// Plain tick labels: `0.01`, `2.5`, `10`, `1,000`.
pub fn fmt_num(v: f64) -> String {
    if v.abs() >= 10.0 || (v - v.round()).abs() < 1e-9 {
        crate::units::grouped(v, 0)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Chart {
    /// A chart with defaults: linear y from 0, numeric ticks.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_y: false,
            series: Vec::new(),
            bands: Vec::new(),
            x_ticks: Vec::new(),
            y_fmt: fmt_num,
            y_min: Some(0.0),
            y_max: None,
            x_span: None,
        }
    }

    fn ys(&self) -> impl Iterator<Item = f64> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && (!self.log_y || *y > 0.0))
    }

    fn x_range(&self) -> Option<(f64, f64)> {
        if let Some((a, b)) = self.x_span.filter(|(a, b)| b > a) {
            return Some((a, b));
        }
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.bands.iter().flat_map(|b| [b.x0, b.x1]));
        let (lo, hi) = xs
            .filter(|x| x.is_finite())
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        (lo <= hi).then_some(if hi > lo { (lo, hi) } else { (lo, lo + 1.0) })
    }

    /// y -> axis units (log10 when log-scaled), and the axis range in those units.
    fn y_range(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self
            .ys()
            .fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
        if lo > hi {
            return None;
        }
        if self.log_y {
            let (a, b) = (lo.log10().floor(), hi.log10().ceil());
            Some((a, if b > a { b } else { a + 1.0 }))
        } else {
            let lo = self.y_min.unwrap_or(lo).min(lo);
            let hi = self.y_max.unwrap_or(hi * 1.08);
            Some((lo, if hi > lo { hi } else { lo + 1.0 }))
        }
    }

    /// The SVG markup.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><title>{t}</title><text x="{LEFT}" y="18" class="ct">{t}</text>"#,
            t = html(&self.title)
        );
        let (Some((x0, x1)), Some((y0, y1))) = (self.x_range(), self.y_range()) else {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" class="nd">no data</text></svg>"#,
                W / 2.0 - 30.0,
                H / 2.0
            );
            return s;
        };
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let yv = |y: f64| if self.log_y { y.log10() } else { y };
        let sy = |y: f64| TOP + ph - (yv(y) - y0) / (y1 - y0) * ph;
        for b in &self.bands {
            let (a, e) = (sx(b.x0.max(x0)), sx(b.x1.min(x1)));
            let _ = write!(
                s,
                r#"<rect class="band" x="{a:.1}" y="{TOP}" width="{:.1}" height="{ph}"><title>{}</title></rect>"#,
                (e - a).max(1.0),
                html(&b.label)
            );
        }
        self.axes(&mut s, (x0, x1), (y0, y1), &sx);
        for se in &self.series {
            let pts: Vec<String> = se
                .points
                .iter()
                .filter(|p| p.1.is_finite() && (!self.log_y || p.1 > 0.0))
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let dash = se
                .dash
                .map(|d| format!(r#" stroke-dasharray="{d}""#))
                .unwrap_or_default();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="{}"{dash} points="{}"><title>{}</title></polyline>"#,
                se.color,
                se.width,
                pts.join(" "),
                html(&se.label)
            );
        }
        self.legend(&mut s);
        s.push_str("</svg>");
        s
    }

    fn axes(
        &self,
        s: &mut String,
        (x0, x1): (f64, f64),
        (y0, y1): (f64, f64),
        sx: &dyn Fn(f64) -> f64,
    ) {
        let ph = H - TOP - BOTTOM;
        let bottom = TOP + ph;
        let _ = write!(
            s,
            r#"<line class="ax" x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}"/><line class="ax" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>"#,
            W - RIGHT
        );
        let yticks: Vec<f64> = if self.log_y {
            (y0 as i32..=y1 as i32).map(f64::from).collect()
        } else {
            nice_ticks(y0, y1)
        };
        for t in yticks {
            let y = bottom - (t - y0) / (y1 - y0) * ph;
            let label = (self.y_fmt)(if self.log_y { 10f64.powf(t) } else { t });
            let _ = write!(
                s,
                r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}"/><text class="tk" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                LEFT - 4.0,
                y + 4.0,
                html(&label)
            );
        }
        self.x_axis(s, (x0, x1), sx);
    }

    fn x_axis(&self, s: &mut String, (x0, x1): (f64, f64), sx: &dyn Fn(f64) -> f64) {
        let ph = H - TOP - BOTTOM;
        let bottom = TOP + ph;
        let xticks: Vec<(f64, String)> = if self.x_ticks.is_empty() {
            nice_ticks(x0, x1)
                .into_iter()
                .map(|v| (v, fmt_num(v)))
                .collect()
        } else {
            self.x_ticks
                .iter()
                .filter(|(v, _)| *v >= x0 && *v <= x1)
                .cloned()
                .collect()
        };
        for (v, label) in xticks {
            let _ = write!(
                s,
                r#"<text class="tk" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                sx(v),
                bottom + 14.0,
                html(&label)
            );
        }
        let _ = write!(
            s,
            r#"<text class="al" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + (W - LEFT - RIGHT) / 2.0,
            H - 6.0,
            html(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text class="al" x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
            TOP + ph / 2.0,
            TOP + ph / 2.0,
            html(&self.y_label)
        );
    }

    fn legend(&self, s: &mut String) {
        let x = W - RIGHT + 12.0;
        let mut y = TOP + 6.0;
        for se in self.series.iter().take(14) {
            let dash = se
                .dash
                .map(|d| format!(r#" stroke-dasharray="{d}""#))
                .unwrap_or_default();
            let _ = write!(
                s,
                r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="{}"{dash}/><text class="lg" x="{}" y="{}">{}</text>"#,
                x + 22.0,
                se.color,
                se.width.max(1.5),
                x + 28.0,
                y + 4.0,
                html(&se.label)
            );
            y += 16.0;
        }
        if let Some(b) = self.bands.first() {
            let _ = write!(
                s,
                r#"<rect class="band" x="{x}" y="{}" width="22" height="10"/><text class="lg" x="{}" y="{}">{}</text>"#,
                y - 5.0,
                x + 28.0,
                y + 4.0,
                html(b.label.split(" —").next().unwrap_or_default())
            );
        }
    }
}

/// Round tick values (steps of 1, 2 or 5 x 10^k) covering `lo..=hi`, about five of them.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// One row of a pass/fail timeline: a label and, per interval, (start s, end s, verdict).
pub type StripRow = (String, Vec<(f64, f64, Option<bool>)>);

fn strip_row(
    s: &mut String,
    (label, cells): &StripRow,
    y: f64,
    row_h: f64,
    sx: &dyn Fn(f64) -> f64,
) {
    let short: String = label.chars().take(40).collect();
    let _ = write!(
        s,
        r#"<text class="lg" x="10" y="{:.1}">{}</text>"#,
        y + 14.0,
        html(&short)
    );
    for &(a, b, v) in cells {
        let (class, what) = match v {
            Some(true) => ("pass", "pass"),
            Some(false) => ("fail", "breach"),
            None => ("none", "nothing measured"),
        };
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{:.1}" y="{y:.1}" width="{:.1}" height="{}"><title>{a:.0}-{b:.0} s: {what}</title></rect>"#,
            sx(a),
            (sx(b) - sx(a)).max(0.5),
            row_h - 4.0
        );
    }
}

/// A pass/fail timeline: one strip per row, red where the row failed, green where it passed, grey
/// where there was nothing to measure.
pub fn strip_chart(title: &str, rows: &[StripRow]) -> String {
    let row_h = 22.0;
    let h = TOP + row_h * rows.len() as f64 + BOTTOM;
    let pw = W - LEFT - 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{t}"><title>{t}</title><text x="10" y="18" class="ct">{t}</text>"#,
        t = html(title)
    );
    let end = rows
        .iter()
        .flat_map(|r| r.1.iter().map(|c| c.1))
        .fold(0.0f64, f64::max);
    if rows.is_empty() || end <= 0.0 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="nd">no data</text></svg>"#,
            W / 2.0 - 30.0,
            h / 2.0
        );
        return s;
    }
    let label_w = 250.0;
    let sx = |x: f64| label_w + x / end * (pw - label_w + LEFT);
    for (i, row) in rows.iter().enumerate() {
        strip_row(&mut s, row, TOP + row_h * i as f64, row_h, &sx);
    }
    let bottom = TOP + row_h * rows.len() as f64;
    for v in nice_ticks(0.0, end) {
        let _ = write!(
            s,
            r#"<text class="tk" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            sx(v),
            bottom + 12.0,
            fmt_num(v)
        );
    }
    let _ = write!(
        s,
        r#"<text class="al" x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text></svg>"#,
        (label_w + W) / 2.0,
        h - 6.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_chart_places_decades_and_skips_nonpositive_values() {
        let mut c = Chart::new("p99", "time (s)", "ms");
        c.log_y = true;
        c.series.push(Series {
            label: "a".into(),
            color: color(0).into(),
            dash: None,
            width: 2.0,
            points: vec![(0.0, 1.0), (1.0, 0.0), (2.0, 1000.0)],
        });
        let svg = c.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        // Two points kept (the zero is dropped), decades 1, 10, 100, 1000 ticked.
        let pts = svg
            .split("points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        assert_eq!(pts.split(' ').count(), 2, "{pts}");
        for t in [">1<", ">10<", ">100<", ">1,000<"] {
            assert!(svg.contains(t), "tick {t} missing");
        }
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 8.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(
            nice_ticks(0.0, 100.0),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(3.0, 3.0), vec![3.0]);
    }

    #[test]
    fn empty_charts_say_so() {
        assert!(Chart::new("x", "t", "y").render().contains("no data"));
        assert!(strip_chart("slo", &[]).contains("no data"));
    }
}
