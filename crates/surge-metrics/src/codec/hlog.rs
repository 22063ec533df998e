//! HdrHistogram interval logs (`.hlog`, what HdrHistogram's tools read): a header, then one line per
//! tagged histogram of an interval. The writer serialises V2+DEFLATE; the reader takes one line back
//! through surge's own checked decoder ([`decode_histogram`](super::decode_histogram)), never
//! `hdrhistogram`'s, since log files come from outside.

use super::decode_histogram;
use crate::MetricsError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use std::time::{Duration, SystemTime};

/// Writes interval logs into byte buffers (the caller owns the file): reuses its serializer.
pub struct HlogWriter {
    serializer: V2DeflateSerializer,
    max_value_divisor: f64,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("max_value_divisor", &self.max_value_divisor)
            .finish_non_exhaustive()
    }
}

/// One interval line read back: its tag, its start (from the log's base time) and its histogram.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    /// The line's tag, if it has one.
    pub tag: Option<String>,
    /// Start of the interval, from the log's base time.
    pub start: Duration,
    /// The histogram, with surge's bounds.
    pub histogram: Histogram<u64>,
}

impl HlogWriter {
    /// A writer whose `Interval_Max` column is each histogram's maximum divided by
    /// `max_value_divisor` (e.g. 1000.0 for microseconds recorded, milliseconds shown).
    pub fn new(max_value_divisor: f64) -> HlogWriter {
        HlogWriter {
            serializer: V2DeflateSerializer::new(),
            max_value_divisor,
            scratch: Vec::new(),
        }
    }

    /// Appends the log's header to `out`: `comments` (one `#` line each), then the start and base
    /// time `start` and the max-value divisor.
    pub fn header(
        &mut self,
        out: &mut Vec<u8>,
        comments: &[&str],
        start: SystemTime,
    ) -> Result<(), MetricsError> {
        let mut builder = IntervalLogWriterBuilder::new();
        for c in comments {
            builder.add_comment(c);
        }
        builder
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(self.max_value_divisor);
        builder
            .begin_log_with(out, &mut self.serializer)
            .map(drop)
            .map_err(|e| MetricsError::Encode(format!("interval log header: {e}")))
    }

    /// Appends one interval to `out`: a line per `(tag, histogram)` starting at `start` (from the base
    /// time) and lasting `len`, then `closing_comment` as a `#` line. Tags must hold no comma, space,
    /// CR or LF.
    pub fn interval<'h>(
        &mut self,
        out: &mut Vec<u8>,
        start: Duration,
        len: Duration,
        histograms: impl IntoIterator<Item = (&'h str, &'h Histogram<u64>)>,
        closing_comment: &str,
    ) -> Result<(), MetricsError> {
        let mut builder = IntervalLogWriterBuilder::new();
        builder.with_max_value_divisor(self.max_value_divisor);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let written = write_interval(
            &builder,
            &mut scratch,
            &mut self.serializer,
            (start, len),
            histograms,
            closing_comment,
        );
        // A builder with a divisor opens with its `#[MaxValueDivisor: ..]` line, which belongs in the
        // header only (written by `header`): drop it here.
        let skip = if self.max_value_divisor == 1.0 {
            0
        } else {
            scratch
                .iter()
                .position(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
        };
        if written.is_ok() {
            out.extend_from_slice(&scratch[skip..]);
        }
        self.scratch = scratch;
        written
    }
}

fn write_interval<'h>(
    builder: &IntervalLogWriterBuilder,
    out: &mut Vec<u8>,
    serializer: &mut V2DeflateSerializer,
    (start, len): (Duration, Duration),
    histograms: impl IntoIterator<Item = (&'h str, &'h Histogram<u64>)>,
    closing_comment: &str,
) -> Result<(), MetricsError> {
    let mut log = builder
        .begin_log_with(out, serializer)
        .map_err(|e| MetricsError::Encode(format!("interval log: {e}")))?;
    for (name, h) in histograms {
        let tag = Tag::new(name)
            .ok_or_else(|| MetricsError::Encode(format!("hlog tag {name:?}: not a valid tag")))?;
        log.write_histogram(h, start, len, Some(tag))
            .map_err(|e| MetricsError::Encode(format!("hlog histogram {name:?}: {e:?}")))?;
    }
    log.write_comment(closing_comment)
        .map_err(|e| MetricsError::Encode(format!("interval log: {e}")))
}

/// Reads one line of an interval log: `Ok(None)` for a comment, header or legend line, an interval
/// otherwise. The histogram is decoded with surge's bounds (values beyond them saturate).
pub fn parse_hlog_line(line: &str) -> Result<Option<HlogInterval>, MetricsError> {
    let with_nl = format!("{line}\n");
    let entry = match IntervalLogIterator::new(with_nl.as_bytes()).next() {
        Some(Ok(LogEntry::Interval(h))) => h,
        Some(Ok(_)) | None => return Ok(None),
        Some(Err(_)) => {
            return Err(MetricsError::Decode("not an interval log line".into()));
        }
    };
    let bytes = B64
        .decode(entry.encoded_histogram())
        .map_err(|e| MetricsError::Decode(format!("base64: {e}")))?;
    Ok(Some(HlogInterval {
        tag: entry.tag().map(|t| t.as_str().to_string()),
        start: entry.start_timestamp(),
        histogram: decode_histogram(&bytes)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::new_histogram;

    #[test]
    fn writes_and_reads_back_tagged_intervals() -> Result<(), MetricsError> {
        let mut w = HlogWriter::new(1000.0);
        let mut out = Vec::new();
        w.header(&mut out, &["surge test"], SystemTime::UNIX_EPOCH)?;
        let mut h = new_histogram();
        h.saturating_record_n(1_500, 3);
        let sec = Duration::from_secs(1);
        w.interval(&mut out, sec, sec, [("a/b/response", &h)], "done 1")?;
        let text = String::from_utf8(out).map_err(|e| MetricsError::Decode(e.to_string()))?;
        assert_eq!(text.matches("MaxValueDivisor").count(), 1, "{text}");
        let lines: Vec<HlogInterval> = text
            .lines()
            .map(parse_hlog_line)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].tag.as_deref(), Some("a/b/response"));
        assert_eq!(lines[0].start, sec);
        assert_eq!(lines[0].histogram, h);
        assert!(text.ends_with("#done 1\n"), "{text}");
        Ok(())
    }

    #[test]
    fn rejects_a_bad_tag_and_a_bad_line() {
        let mut w = HlogWriter::new(1.0);
        let h = new_histogram();
        let sec = Duration::from_secs(1);
        assert!(
            w.interval(&mut Vec::new(), sec, sec, [("a b", &h)], "x")
                .is_err()
        );
        assert!(parse_hlog_line("Tag=x,1.0,1.0,1.0,!!!").is_err());
        assert!(matches!(parse_hlog_line("#comment"), Ok(None)));
    }
}
