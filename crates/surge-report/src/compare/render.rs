//! Rendering a [`Comparison`]: the terminal table, `compare.md` and `compare.html`.

use super::{Comparison, Delta};
use crate::units::{change, html, md};
use std::fmt::Write as _;

impl Delta {
    fn stat_text(&self, s: Option<super::Stat>) -> String {
        match s {
            None => "-".into(),
            Some(s) if s.n > 1 => format!(
                "{} ({}..{})",
                self.metric.fmt(s.mean),
                self.metric.fmt(s.min),
                self.metric.fmt(s.max)
            ),
            Some(s) => self.metric.fmt(s.mean),
        }
    }

    fn verdict_text(&self) -> String {
        let sig = match self.significant {
            Some(true) => ", significant",
            Some(false) => ", within spread",
            None => "",
        };
        format!("{}{sig}", self.direction())
    }
}

impl Comparison {
    /// The "differs:" block (empty when A and B ran the same thing).
    fn differs_lines(&self) -> Vec<String> {
        if self.differs.is_empty() {
            return Vec::new();
        }
        let mut out =
            vec!["differs: A and B did not run the same test; read changes with care".to_string()];
        out.extend(self.differs.iter().map(|d| format!("  {d}")));
        out
    }

    fn table(&self) -> Vec<[String; 7]> {
        self.deltas
            .iter()
            .map(|d| {
                [
                    d.region.clone(),
                    d.step.clone(),
                    d.metric.name().into(),
                    d.stat_text(d.a),
                    d.stat_text(d.b),
                    d.change.map_or("-".into(), change),
                    d.verdict_text(),
                ]
            })
            .collect()
    }

    /// Plain-text table for the terminal.
    pub fn to_terminal(&self) -> String {
        let mut rows =
            vec![["region", "step", "metric", "A", "B", "change", "verdict"].map(String::from)];
        rows.extend(self.table());
        let widths: Vec<usize> = (0..7)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for l in self.differs_lines() {
            let _ = writeln!(out, "{l}");
        }
        if !self.differs.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "{}\n{}\n\n", self.a_label, self.b_label);
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if (3..6).contains(&i) {
                        format!("{c:>w$}", w = widths[i])
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        for s in &self.slos {
            let _ = writeln!(
                out,
                "SLO {}: A {}/{} pass, B {}/{} pass",
                s.slo, s.a.0, s.a.1, s.b.0, s.b.1
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }

    /// Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = "# surge compare\n\n".to_string();
        if !self.differs.is_empty() {
            out.push_str(
                "**differs:** A and B did not run the same test; read changes with care.\n\n",
            );
            for d in &self.differs {
                let _ = writeln!(out, "- {}", md(d));
            }
            out.push('\n');
        }
        let _ = write!(
            out,
            "- {}\n- {}\n\n| region | step | metric | A | B | change | verdict |\n|---|---|---|--:|--:|--:|---|\n",
            md(&self.a_label),
            md(&self.b_label)
        );
        for r in self.table() {
            let _ = writeln!(out, "| {} |", r.map(|c| md(&c)).join(" | "));
        }
        if !self.slos.is_empty() {
            out.push_str("\n| SLO | A pass | B pass |\n|---|--:|--:|\n");
            for s in &self.slos {
                let _ = writeln!(
                    out,
                    "| {} | {}/{} | {}/{} |",
                    md(&s.slo),
                    s.a.0,
                    s.a.1,
                    s.b.0,
                    s.b.1
                );
            }
        }
        out.push('\n');
        for n in &self.notes {
            let _ = writeln!(out, "> {}\n", md(n));
        }
        out
    }

    /// One self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut o = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>surge compare</title><style>{}</style></head><body><h1>surge compare</h1>",
            crate::html::STYLE,
        );
        if !self.differs.is_empty() {
            o.push_str("<div class=\"banner\" id=\"differs\">differs: A and B did not run the same test; read changes with care<ul>");
            for d in &self.differs {
                let _ = write!(o, "<li>{}</li>", html(d));
            }
            o.push_str("</ul></div>");
        }
        let _ = write!(
            o,
            "<ul><li>{}</li><li>{}</li></ul>",
            html(&self.a_label),
            html(&self.b_label)
        );
        o.push_str("<table><tr><th>region</th><th>step</th><th>metric</th><th>A</th><th>B</th><th>change</th><th>verdict</th></tr>");
        for (d, r) in self.deltas.iter().zip(self.table()) {
            let class = match d.direction() {
                "better" if d.significant != Some(false) => " class=\"PASS\"",
                "worse" if d.significant != Some(false) => " class=\"FAIL\"",
                _ => "",
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td{class}>{}</td></tr>",
                html(&r[0]),
                html(&r[1]),
                html(&r[2]),
                html(&r[3]),
                html(&r[4]),
                html(&r[5]),
                html(&r[6])
            );
        }
        o.push_str("</table>");
        if !self.slos.is_empty() {
            o.push_str("<table><tr><th>SLO</th><th>A pass</th><th>B pass</th></tr>");
            for s in &self.slos {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{}/{}</td></tr>",
                    html(&s.slo),
                    s.a.0,
                    s.a.1,
                    s.b.0,
                    s.b.1
                );
            }
            o.push_str("</table>");
        }
        for n in &self.notes {
            let _ = write!(o, "<p class=\"warn\">{}</p>", html(n));
        }
        o.push_str("</body></html>\n");
        o
    }
}
