//! Numbers as people read them: thousands separators, units on every figure, escaping.

pub use surge_metrics::thousands;

/// A float with `decimals` places and thousands separators on its integer part.
pub fn grouped(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let int = int
        .parse::<u64>()
        .map(thousands)
        .unwrap_or_else(|_| int.to_string());
    let sign = if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    }
}

/// A latency in ms with a unit and a precision that suits its size: `0.42 ms`, `12.3 ms`,
/// `1,234 ms`, `12.5 s`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 10_000.0 {
        format!("{} s", grouped(v / 1000.0, 1))
    } else if v >= 100.0 {
        format!("{} ms", grouped(v, 0))
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// A rate per second: `41.2/s`, `1,234/s`.
pub fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{}/s", grouped(v, 0))
    } else {
        format!("{v:.1}/s")
    }
}

/// A 0..1 ratio as a percentage: `99.52%`.
pub fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// A signed relative change: `+12.3%`, `-74.9%`.
pub fn change(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.1}%", v * 100.0)
    } else {
        "n/a".into()
    }
}

/// Escapes text for HTML; also breaks `://` so that no text reads as an external URL.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out.replace("://", "&#58;//")
}

/// Escapes a Markdown table cell.
pub fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(grouped(-1234.5, 1), "-1,234.5");
        assert_eq!(ms(0.4213), "0.42 ms");
        assert_eq!(ms(12.34), "12.3 ms");
        assert_eq!(ms(1234.4), "1,234 ms");
        assert_eq!(ms(12_500.0), "12.5 s");
        assert_eq!(rate(41.23), "41.2/s");
        assert_eq!(rate(1234.0), "1,234/s");
        assert_eq!(pct(0.99523), "99.52%");
        assert_eq!(change(-0.749), "-74.9%");
        assert_eq!(
            html("<a href=\"http://x\">"),
            "&lt;a href=&quot;http&#58;//x&quot;&gt;"
        );
    }
}
