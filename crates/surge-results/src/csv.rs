//! `timeseries.csv` and `regions.csv`: their rows, how they are written and parsed back.
//!
//! Hand-written (the values are numbers and names): a field holding a comma, a quote or a newline is
//! quoted with `"` and inner quotes doubled, as RFC 4180 says.

use surge_metrics::{Cell, Measure, Outcome, RegionCounters};

/// One row of `timeseries.csv`: one (interval, region, step) with samples.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeseriesRow {
    /// Interval index.
    pub interval: u64,
    /// Start of the interval, s since the run's start.
    pub t_s: f64,
    /// Region name.
    pub region: String,
    /// Step name.
    pub step: String,
    /// Finished steps.
    pub count: u64,
    /// Of which ok.
    pub ok: u64,
    /// Of which errors (any class).
    pub errors: u64,
    /// Finished steps per second in this interval.
    pub rate_per_s: f64,
    /// Mean response time (from intended start), ms.
    pub mean_ms: f64,
    /// Response-time p50, ms.
    pub p50_ms: f64,
    /// p90, ms.
    pub p90_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// p99.9, ms.
    pub p999_ms: f64,
    /// Max, ms.
    pub max_ms: f64,
    /// Service time (from actual send) p50, ms.
    pub service_p50_ms: f64,
    /// Service time p99, ms.
    pub service_p99_ms: f64,
    /// Send lag p50, ms.
    pub send_lag_p50_ms: f64,
    /// Send lag p99, ms.
    pub send_lag_p99_ms: f64,
    /// Send lag max, ms.
    pub send_lag_max_ms: f64,
    /// Final outcomes by class, in [`Outcome::ALL`] order.
    pub outcomes: [u64; Outcome::COUNT],
    /// Retried attempts by class, in [`Outcome::ALL`] order.
    pub retries: [u64; Outcome::COUNT],
}

impl TimeseriesRow {
    /// Final outcomes of class `o`.
    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes[o.index()]
    }
}

/// One row of `regions.csv`: one (interval, region).
#[derive(Clone, Debug, PartialEq)]
pub struct RegionRow {
    /// Interval index.
    pub interval: u64,
    /// Start of the interval, s since the run's start.
    pub t_s: f64,
    /// Region name.
    pub region: String,
    /// Arrivals the schedule intended in this interval (people).
    pub intended_arrivals: f64,
    /// Journeys, completeness counters of this interval.
    pub counters: RegionCounters,
    /// People in flight at the end of the interval, whole run (same on every row of an interval).
    pub in_flight: u64,
}

const TS_FIXED: [&str; 19] = [
    "interval",
    "t_s",
    "region",
    "step",
    "count",
    "ok",
    "errors",
    "rate_per_s",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "service_p50_ms",
    "service_p99_ms",
    "send_lag_p50_ms",
    "send_lag_p99_ms",
    "send_lag_max_ms",
];

/// `regions.csv`'s columns before the counters ([`RegionCounters::NAMES`]), and after them.
const REGION_HEAD: [&str; 4] = ["interval", "t_s", "region", "intended_arrivals"];
const REGION_TAIL: &str = "in_flight";

/// The header line of `timeseries.csv` (no newline).
pub(crate) fn timeseries_header() -> String {
    let mut cols: Vec<String> = TS_FIXED.iter().map(|s| (*s).to_string()).collect();
    cols.extend(
        Outcome::ALL
            .iter()
            .map(|o| format!("outcome_{}", o.as_str())),
    );
    cols.extend(Outcome::ALL.iter().map(|o| format!("retry_{}", o.as_str())));
    cols.join(",")
}

/// The header line of `regions.csv` (no newline).
pub(crate) fn regions_header() -> String {
    let mut cols: Vec<&str> = REGION_HEAD.to_vec();
    cols.extend(RegionCounters::NAMES);
    cols.push(REGION_TAIL);
    cols.join(",")
}

/// What is wrong with one line of a CSV results file (the file and line are the caller's to name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A header names a column twice.
    #[error("column {0:?} appears twice in the header")]
    TwiceInHeader(String),
    /// A row has another number of fields than the header.
    #[error("want {want} fields (as the header), got {got}")]
    Width {
        /// The header's.
        want: usize,
        /// The row's.
        got: usize,
    },
    /// The header lacks a column that has no default.
    #[error("no column {0:?}")]
    NoColumn(String),
    /// A count that is not a whole number.
    #[error("column {column}: {value:?} is not a count")]
    NotACount {
        /// The column.
        column: String,
        /// Its text.
        value: String,
    },
    /// A number that is not a finite number.
    #[error("column {column}: {value:?} is not a number")]
    NotANumber {
        /// The column.
        column: String,
        /// Its text.
        value: String,
    },
    /// A quoted field that never ends.
    #[error("unterminated quote")]
    UnterminatedQuote,
}

/// A CSV file's columns, from its header line: rows are read by column name, so files written before
/// a column was added still read (the missing counts are 0), and a file whose header lacks a column
/// that has no default is refused naming it.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    names: Vec<String>,
}

impl Columns {
    /// The columns of a header line.
    pub(crate) fn parse(header: &str) -> Result<Columns, CsvError> {
        let names = split(header)?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(CsvError::TwiceInHeader(n.clone()));
            }
        }
        Ok(Columns { names })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The fields of one line, checked against the header's width.
    fn fields(&self, line: &str) -> Result<Vec<String>, CsvError> {
        let f = split(line)?;
        if f.len() != self.names.len() {
            return Err(CsvError::Width {
                want: self.names.len(),
                got: f.len(),
            });
        }
        Ok(f)
    }

    fn text(&self, f: &[String], name: &str) -> Result<String, CsvError> {
        let i = self
            .find(name)
            .ok_or_else(|| CsvError::NoColumn(name.to_string()))?;
        Ok(f[i].clone())
    }

    fn int(&self, f: &[String], name: &str) -> Result<u64, CsvError> {
        let i = self
            .find(name)
            .ok_or_else(|| CsvError::NoColumn(name.to_string()))?;
        int(f, i, name)
    }

    /// A count that reads as 0 when the file has no such column.
    fn count_or_zero(&self, f: &[String], name: &str) -> Result<u64, CsvError> {
        match self.find(name) {
            Some(i) => int(f, i, name),
            None => Ok(0),
        }
    }

    fn num(&self, f: &[String], name: &str) -> Result<f64, CsvError> {
        let i = self
            .find(name)
            .ok_or_else(|| CsvError::NoColumn(name.to_string()))?;
        num(f, i, name)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl TimeseriesRow {
    /// The row for one cell of one interval.
    pub(crate) fn from_cell(
        interval: u64,
        t_s: f64,
        secs: f64,
        region: &str,
        step: &str,
        c: &Cell,
    ) -> TimeseriesRow {
        let q = |m: Measure, q: f64| ms(c.histogram(m).value_at_quantile(q));
        let count = c.count();
        TimeseriesRow {
            interval,
            t_s,
            region: region.to_string(),
            step: step.to_string(),
            count,
            ok: c.outcomes[Outcome::Ok.index()],
            errors: c.errors(),
            rate_per_s: if secs > 0.0 { count as f64 / secs } else { 0.0 },
            mean_ms: c.response.mean() / 1000.0,
            p50_ms: q(Measure::Response, 0.5),
            p90_ms: q(Measure::Response, 0.9),
            p99_ms: q(Measure::Response, 0.99),
            p999_ms: q(Measure::Response, 0.999),
            max_ms: ms(c.response.max()),
            service_p50_ms: q(Measure::Service, 0.5),
            service_p99_ms: q(Measure::Service, 0.99),
            send_lag_p50_ms: q(Measure::SendLag, 0.5),
            send_lag_p99_ms: q(Measure::SendLag, 0.99),
            send_lag_max_ms: ms(c.send_lag.max()),
            outcomes: c.outcomes,
            retries: c.retries,
        }
    }

    /// The CSV line (no newline).
    pub(crate) fn to_line(&self) -> String {
        let mut f = vec![
            self.interval.to_string(),
            format!("{:.3}", self.t_s),
            quote(&self.region),
            quote(&self.step),
            self.count.to_string(),
            self.ok.to_string(),
            self.errors.to_string(),
        ];
        for v in [
            self.rate_per_s,
            self.mean_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.service_p50_ms,
            self.service_p99_ms,
            self.send_lag_p50_ms,
            self.send_lag_p99_ms,
            self.send_lag_max_ms,
        ] {
            f.push(format!("{v:.3}"));
        }
        f.extend(
            self.outcomes
                .iter()
                .chain(&self.retries)
                .map(u64::to_string),
        );
        f.join(",")
    }

    /// Parses a line written by [`TimeseriesRow::to_line`], by the columns of its file's header.
    pub(crate) fn parse(cols: &Columns, line: &str) -> Result<TimeseriesRow, CsvError> {
        let f = cols.fields(line)?;
        let mut outcomes = [0u64; Outcome::COUNT];
        let mut retries = [0u64; Outcome::COUNT];
        for o in Outcome::ALL {
            outcomes[o.index()] = cols.count_or_zero(&f, &format!("outcome_{}", o.as_str()))?;
            retries[o.index()] = cols.count_or_zero(&f, &format!("retry_{}", o.as_str()))?;
        }
        Ok(TimeseriesRow {
            interval: cols.int(&f, "interval")?,
            t_s: cols.num(&f, "t_s")?,
            region: cols.text(&f, "region")?,
            step: cols.text(&f, "step")?,
            count: cols.int(&f, "count")?,
            ok: cols.int(&f, "ok")?,
            errors: cols.int(&f, "errors")?,
            rate_per_s: cols.num(&f, "rate_per_s")?,
            mean_ms: cols.num(&f, "mean_ms")?,
            p50_ms: cols.num(&f, "p50_ms")?,
            p90_ms: cols.num(&f, "p90_ms")?,
            p99_ms: cols.num(&f, "p99_ms")?,
            p999_ms: cols.num(&f, "p999_ms")?,
            max_ms: cols.num(&f, "max_ms")?,
            service_p50_ms: cols.num(&f, "service_p50_ms")?,
            service_p99_ms: cols.num(&f, "service_p99_ms")?,
            send_lag_p50_ms: cols.num(&f, "send_lag_p50_ms")?,
            send_lag_p99_ms: cols.num(&f, "send_lag_p99_ms")?,
            send_lag_max_ms: cols.num(&f, "send_lag_max_ms")?,
            outcomes,
            retries,
        })
    }
}

impl RegionRow {
    /// The CSV line (no newline).
    pub(crate) fn to_line(&self) -> String {
        let mut f = vec![
            self.interval.to_string(),
            format!("{:.3}", self.t_s),
            quote(&self.region),
            format!("{:.3}", self.intended_arrivals),
        ];
        f.extend(self.counters.values().iter().map(u64::to_string));
        f.push(self.in_flight.to_string());
        f.join(",")
    }

    /// Parses a line written by [`RegionRow::to_line`], by the columns of its file's header.
    pub(crate) fn parse(cols: &Columns, line: &str) -> Result<RegionRow, CsvError> {
        let f = cols.fields(line)?;
        let mut counters = RegionCounters::default();
        for name in RegionCounters::NAMES {
            counters.set_named(name, cols.count_or_zero(&f, name)?);
        }
        Ok(RegionRow {
            interval: cols.int(&f, "interval")?,
            t_s: cols.num(&f, "t_s")?,
            region: cols.text(&f, "region")?,
            intended_arrivals: cols.num(&f, "intended_arrivals")?,
            counters,
            in_flight: cols.int(&f, REGION_TAIL)?,
        })
    }
}

fn int(f: &[String], i: usize, name: &str) -> Result<u64, CsvError> {
    f[i].parse().map_err(|_| CsvError::NotACount {
        column: name.to_string(),
        value: f[i].clone(),
    })
}

fn num(f: &[String], i: usize, name: &str) -> Result<f64, CsvError> {
    match f[i].parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(CsvError::NotANumber {
            column: name.to_string(),
            value: f[i].clone(),
        }),
    }
}

/// Quotes a field when it needs it.
pub(crate) fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits one CSV line into fields (RFC 4180 quoting).
pub(crate) fn split(line: &str) -> Result<Vec<String>, CsvError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() => quoted = true,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(CsvError::UnterminatedQuote);
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_column_name_and_missing_counts_are_zero() {
        // A regions.csv written before `unfinished` existed, with its columns in another order.
        let cols = Columns::parse(
            "region,interval,t_s,intended_arrivals,started,succeeded,failed,in_flight",
        )
        .unwrap();
        let row = RegionRow::parse(&cols, "americas,3,3.000,10.5,7,5,1,1").unwrap();
        assert_eq!(
            (row.interval, row.counters.started, row.counters.failed),
            (3, 7, 1)
        );
        assert_eq!(row.counters.unfinished, 0);
        assert_eq!(row.in_flight, 1);
        let no_region = Columns::parse("interval,t_s,intended_arrivals,in_flight").unwrap();
        let e = RegionRow::parse(&no_region, "1,1.0,2.0,0").unwrap_err();
        assert_eq!(e, CsvError::NoColumn("region".into()));
        assert!(Columns::parse("a,b,a").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        let fields = ["a", "b,c", "say \"hi\"", ""];
        let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        assert_eq!(
            split(&line.join(",")).ok(),
            Some(fields.iter().map(|s| s.to_string()).collect())
        );
        assert!(split("\"open").is_err());
    }

    #[test]
    fn headers_match_row_widths() {
        assert_eq!(
            timeseries_header().split(',').count(),
            TS_FIXED.len() + 2 * Outcome::COUNT
        );
        assert!(timeseries_header().contains("outcome_http_429,"));
        assert_eq!(
            regions_header().split(',').count(),
            REGION_HEAD.len() + RegionCounters::NAMES.len() + 1
        );
    }
}
