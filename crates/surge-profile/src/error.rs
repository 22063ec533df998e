//! Profile errors: every one names the file, line, column, field path, value and rule broken.

use std::fmt;
use std::ops::Range;

/// Where a problem sits in a profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (or `<string>` / another origin label).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl Location {
    /// Computes line and column of byte offset `offset` in `text`.
    pub fn of_offset(file: &str, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before
            .get(line_start..)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Location {
            file: file.to_string(),
            line,
            column,
        }
    }
}

/// A profile that cannot be used, and exactly why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError {
    /// Where; `None` only when the file could not be read at all.
    pub location: Option<Location>,
    /// Field path, e.g. `regions[1].share` or `journey.steps[2].body`.
    pub field: String,
    /// The offending value as written (may be empty when a field is missing).
    pub value: String,
    /// The rule broken, lowercase, e.g. `shares must sum to 1 (got 0.9)`.
    pub rule: String,
}

impl ProfileError {
    /// An error at byte range `span` of `text`.
    pub fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        field: impl Into<String>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> ProfileError {
        ProfileError {
            location: Some(Location::of_offset(file, text, span.start)),
            field: field.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }

    /// 1-based line, if known.
    pub fn line(&self) -> Option<usize> {
        self.location.as_ref().map(|l| l.line)
    }

    /// 1-based column, if known.
    pub fn column(&self) -> Option<usize> {
        self.location.as_ref().map(|l| l.column)
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.location {
            write!(f, "{}:{}:{}: ", l.file, l.line, l.column)?;
        } else if self.field.is_empty() && !self.value.is_empty() {
            // A file that could not be read at all: the value is its path.
            write!(f, "{}: ", self.value)?;
        }
        if !self.field.is_empty() {
            write!(f, "field `{}`", self.field)?;
            if !self.value.is_empty() {
                write!(f, " = {}", self.value)?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.rule)
    }
}
