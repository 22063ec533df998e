//! The Prometheus text exposition format (0.0.4) of a list of families.

use super::families::Family;
use std::fmt::Write as _;

/// Renders `families`: `# HELP`, `# TYPE`, then one line per series. A family without series keeps its
/// header, so a scraper sees every name from the first scrape on.
pub fn render(families: &[Family]) -> String {
    let mut out = String::with_capacity(8192);
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for s in &f.samples {
            out.push_str(f.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", value(s.value));
        }
    }
    out
}

/// Escapes a label value (backslash, double quote, newline).
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as Prometheus reads it (`NaN`, `+Inf`, `-Inf` spelled its way).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::families::{Kind, Sample};

    #[test]
    fn renders_headers_labels_and_escapes() {
        let f = Family {
            name: "surge_x_total",
            kind: Kind::Counter,
            help: "Things.",
            samples: vec![
                Sample {
                    labels: vec![("region", "a\"b\\c\nd".into()), ("step", "s".into())],
                    value: 3.0,
                },
                Sample {
                    labels: vec![],
                    value: f64::INFINITY,
                },
            ],
        };
        let text = render(&[f]);
        assert_eq!(
            text,
            "# HELP surge_x_total Things.\n# TYPE surge_x_total counter\nsurge_x_total{region=\"a\\\"b\\\\c\\nd\",step=\"s\"} 3\nsurge_x_total +Inf\n"
        );
    }
}
