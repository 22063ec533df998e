//! Text helpers for plan files: durations, and turning byte offsets into line, column and field.

use std::time::Duration;

/// Why a plan duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// A number without a unit.
    #[error("duration `{0}` needs a unit (ns, us, ms, s, m, h)")]
    NoUnit(String),
    /// A unit that is not one of `ns`, `us`, `ms`, `s`, `m`, `h`.
    #[error("unknown duration unit `{unit}` in `{text}`")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration as written.
        text: String,
    },
    /// The number is not a non-negative decimal.
    #[error("`{0}` is not a duration like \"4ms\" or \"1.5s\"")]
    NotANumber(String),
    /// More nanoseconds than a `u64` holds.
    #[error("duration `{0}` is too large")]
    TooLarge(String),
}

/// Parses a duration written like `"4ms"`, `"1.5s"`, `"250us"`, `"2m"` or `"0ms"`.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. The number may have a fraction; it may not be
/// negative. The result is rounded to the nanosecond.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "" => return Err(DurationError::NoUnit(text.to_string())),
        other => {
            return Err(DurationError::UnknownUnit {
                unit: other.to_string(),
                text: text.to_string(),
            });
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| DurationError::NotANumber(text.to_string()))?;
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(DurationError::TooLarge(text.to_string()));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration in the plan's notation (`"4ms"`, `"250us"`, `"1.5s"`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        "0ms".to_owned()
    } else if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Best-effort dotted field path of the value or key at `offset`: the last table header above it,
/// then the keys of inline tables enclosing it on its line, then its own key.
pub fn field_path_at(text: &str, offset: usize) -> String {
    let offset = floor_char_boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    if let Some(header) = table_header(line) {
        return header;
    }
    let mut parts: Vec<String> = text[..line_start]
        .lines()
        .rev()
        .find_map(table_header)
        .map(|h| h.split('.').map(|p| p.trim().to_owned()).collect())
        .unwrap_or_default();
    parts.extend(keys_on_line(line, offset - line_start));
    parts.retain(|p| !p.is_empty());
    parts.join(".")
}

fn table_header(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix('[')?;
    let rest = rest.trim_start_matches('[');
    let end = rest.find(']')?;
    Some(rest[..end].trim().replace('"', ""))
}

/// Keys enclosing position `at` on one line: `a = { b = { c = 1 } }` at `1` gives `[a, b, c]`.
fn keys_on_line(line: &str, at: usize) -> Vec<String> {
    let bytes = line.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() && i <= at {
        let c = bytes[i];
        if c == b'#' {
            break;
        } else if c == b'"' || c == b'\'' {
            i = skip_string(bytes, i);
            continue;
        } else if c == b'{' {
            stack.extend(current.take());
        } else if c == b'}' {
            current = stack.pop();
        } else if is_key_byte(c) {
            let start = i;
            while i < bytes.len() && is_key_byte(bytes[i]) {
                i += 1;
            }
            let rest = line[i..].trim_start();
            if rest.starts_with('=') {
                current = Some(line[start..i].to_owned());
            }
            continue;
        }
        i += 1;
    }
    stack.extend(current);
    stack
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != quote {
        if bytes[i] == b'\\' && quote == b'"' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("4ms"), Ok(Duration::from_millis(4)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert!(parse_duration("4").is_err());
        assert!(parse_duration("-4ms").is_err());
        assert!(parse_duration("4 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn durations_format_back() {
        for text in ["4ms", "250us", "3s", "0ms", "7ns"] {
            let parsed = parse_duration(text);
            assert_eq!(parsed.map(format_duration).as_deref(), Ok(text));
        }
    }

    #[test]
    fn field_paths_follow_tables_and_inline_tables() {
        let text = "a = 1\n[dcs.us]\nslots = 4\n[dcs.us.service]\nregister = { median = \"x\", p99 = \"2ms\" }\n";
        let at = text.find("\"x\"").unwrap_or(0);
        assert_eq!(field_path_at(text, at), "dcs.us.service.register.median");
        let at = text.find("4").unwrap_or(0);
        assert_eq!(field_path_at(text, at), "dcs.us.slots");
        assert_eq!(field_path_at(text, 4), "a");
        assert_eq!(line_column(text, at), (3, 9));
    }
}
