//! Typed durations as written in profiles: `"250ms"`, `"30s"`, `"10m"`, `"1.5h"`, `"2d"`, `"1h30m"`.
//!
//! Units: `us`, `ms`, `s`, `m`, `h`, `d`. Several parts may follow each other (`"1h30m"`).
//! [`parse_signed`] also takes a leading `+` or `-` (used for UTC offsets such as `"-5h"`).

use std::time::Duration;

/// The longest duration a profile may name (about 10 years): keeps arithmetic finite.
pub const MAX_SECS: f64 = 10.0 * 366.0 * 86_400.0;

/// Why a duration does not parse: the rule broken, lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number followed by a unit, part after part.
    #[error("expected a duration like \"250ms\", \"30s\", \"10m\", \"1.5h\" or \"2d\"")]
    Malformed,
    /// Negative where only non-negative durations make sense.
    #[error("duration must not be negative")]
    Negative,
    /// Beyond [`MAX_SECS`].
    #[error("duration is too long (at most 10 years)")]
    TooLong,
}

/// Parses a non-negative duration.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let secs = parse_secs(text.trim())?;
    if secs < 0.0 {
        return Err(DurationError::Negative);
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a signed duration into seconds, e.g. `"-5h"` -> `-18000.0`, `"+5h30m"` -> `19800.0`.
pub fn parse_signed(text: &str) -> Result<f64, DurationError> {
    let t = text.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    Ok(sign * parse_secs(rest)?)
}

fn parse_secs(text: &str) -> Result<f64, DurationError> {
    if text.is_empty() || text.len() > 64 {
        return Err(DurationError::Malformed);
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut total = 0.0f64;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'_')
        {
            i += 1;
        }
        let number: String = text[start..i].chars().filter(|c| *c != '_').collect();
        let value: f64 = number.parse().map_err(|_| DurationError::Malformed)?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &text[ustart..i] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(DurationError::Malformed),
        };
        total += value * factor;
    }
    if !total.is_finite() || total > MAX_SECS {
        return Err(DurationError::TooLong);
    }
    Ok(total)
}

/// Formats a duration compactly for tables and messages: `"250ms"`, `"30s"`, `"10m"`, `"1h30m"`.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_signed("-5h"), Ok(-18_000.0));
        assert_eq!(parse_signed("+5h30m"), Ok(19_800.0));
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "30",
            "s",
            "10x",
            "1e400s",
            "-3s",
            "1..2s",
            "99999999999999d",
            "nan s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(30)), "30s");
    }
}
