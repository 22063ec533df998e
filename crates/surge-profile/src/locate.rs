//! Turning TOML parser errors into [`ProfileError`]s with a field path.

use crate::error::ProfileError;

/// Largest profile accepted, in bytes (hostile-input guard: a 10 MB string is refused up front).
pub const MAX_PROFILE_BYTES: usize = 1 << 20;

/// Shortens a value for an error message (values can be megabytes long).
pub fn short(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        return value.to_string();
    }
    let head: String = value.chars().take(MAX).collect();
    format!("{head}... ({} bytes)", value.len())
}

/// The field path (`regions[1].share`) that byte `offset` of `text` sits in, from table headers and keys.
pub fn field_path_at(text: &str, offset: usize) -> String {
    let mut header = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let end = pos + line.len();
        let t = line.trim();
        if let Some(name) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let name = name.trim().to_string();
            let n = match arrays.iter_mut().find(|(k, _)| *k == name) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    arrays.push((name.clone(), 0));
                    0
                }
            };
            header = format!("{name}[{n}]");
        } else if let Some(name) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            header = indexed(name.trim(), &arrays);
        } else if offset >= pos
            && offset < end.max(pos + 1)
            && let Some((key, _)) = line.split_once('=')
        {
            let key = key.trim().trim_matches('"');
            if !key.is_empty() && !key.starts_with('#') {
                return join(&header, key);
            }
        }
        if offset < end {
            break;
        }
        pos = end;
    }
    header
}

fn indexed(name: &str, arrays: &[(String, usize)]) -> String {
    for (k, n) in arrays {
        if let Some(rest) = name
            .strip_prefix(k.as_str())
            .and_then(|r| r.strip_prefix('.'))
        {
            return format!("{k}[{n}].{rest}");
        }
    }
    name.to_string()
}

/// `a` + `.` + `b`, or whichever is not empty.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

/// Converts a TOML error into a profile error at its span, naming the field.
pub fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ProfileError {
    let span = e.span().unwrap_or(0..0);
    let msg = e.message().trim();
    let quoted = msg.split('`').nth(1).unwrap_or("").to_string();
    let at = field_path_at(text, span.start);
    let (field, value, rule) = if msg.starts_with("unknown field") {
        let path = match at.rsplit_once('.') {
            Some((parent, _)) if at.ends_with(&quoted) => join(parent, &quoted),
            _ if at == quoted => quoted.clone(),
            _ => join(&at, &quoted),
        };
        let expected = msg
            .split_once(", expected")
            .map(|(_, x)| x.trim())
            .unwrap_or("");
        (
            path,
            String::new(),
            format!("unknown field (expected {expected})"),
        )
    } else if msg.starts_with("missing field") {
        (
            join(&at, &quoted),
            String::new(),
            "missing field".to_string(),
        )
    } else if msg.contains("as i128") || msg.contains("out of range") {
        let value = text.get(span.clone()).map(short).unwrap_or_default();
        (
            at,
            value,
            format!("number out of range (integers are at most {})", i64::MAX),
        )
    } else {
        let value = text.get(span.clone()).map(short).unwrap_or_default();
        (at, value, short_rule(msg))
    };
    ProfileError::at(file, text, span, field, value, rule)
}

fn short_rule(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg);
    let mut s: String = first.chars().take(200).collect();
    if s.is_empty() {
        s = "invalid toml".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_headers_and_array_tables() {
        let t = "name = 'x'\n[event]\nduration = '1s'\n[[regions]]\nname = 'a'\n[[regions]]\nshare = 2\n[regions.diurnal]\nfloor = 3\n";
        assert_eq!(field_path_at(t, t.find("name").unwrap_or(0)), "name");
        assert_eq!(
            field_path_at(t, t.find("duration").unwrap_or(0)),
            "event.duration"
        );
        assert_eq!(
            field_path_at(t, t.find("share").unwrap_or(0) + 8),
            "regions[1].share"
        );
        assert_eq!(
            field_path_at(t, t.find("floor").unwrap_or(0)),
            "regions[1].diurnal.floor"
        );
    }

    #[test]
    fn shortens_long_values() {
        let long = "x".repeat(10_000_000);
        assert!(short(&long).len() < 100);
    }
}
