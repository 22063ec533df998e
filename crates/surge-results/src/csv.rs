//! `timeseries.csv` and `regions.csv`: their rows, how they are written and parsed back.
//!
//! Hand-written (the values are numbers and names): a field holding a comma, a quote or a newline is
//! quoted with `"` and inner quotes doubled, as RFC 4180 says.

use surge_metrics::{Cell, ConnCounters, Measure, Outcome, RegionCounters};

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

const REGION_COLS: [&str; 13] = [
    "interval",
    "t_s",
    "region",
    "intended_arrivals",
    "started",
    "succeeded",
    "failed",
    "contacts_uploaded",
    "contacts_expected",
    "contacts_found",
    "contacts_missing",
    "contacts_unexpected",
    "in_flight",
];

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

/// The header line of `regions.csv` (no newline): the fixed columns, then the connected phase's
/// counters ([`surge_metrics::ConnCounters::NAMES`]).
pub(crate) fn regions_header() -> String {
    let mut cols = REGION_COLS.to_vec();
    cols.extend(ConnCounters::NAMES);
    cols.join(",")
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

    /// Parses a line written by [`TimeseriesRow::to_line`].
    pub(crate) fn parse(line: &str) -> Result<TimeseriesRow, String> {
        let f = split(line)?;
        let want = TS_FIXED.len() + 2 * Outcome::COUNT;
        if f.len() != want {
            return Err(format!("want {want} fields, got {}", f.len()));
        }
        let mut outcomes = [0u64; Outcome::COUNT];
        let mut retries = [0u64; Outcome::COUNT];
        for i in 0..Outcome::COUNT {
            outcomes[i] = int(&f, TS_FIXED.len() + i, "outcome")?;
            retries[i] = int(&f, TS_FIXED.len() + Outcome::COUNT + i, "retry")?;
        }
        Ok(TimeseriesRow {
            interval: int(&f, 0, "interval")?,
            t_s: num(&f, 1, "t_s")?,
            region: f[2].clone(),
            step: f[3].clone(),
            count: int(&f, 4, "count")?,
            ok: int(&f, 5, "ok")?,
            errors: int(&f, 6, "errors")?,
            rate_per_s: num(&f, 7, "rate_per_s")?,
            mean_ms: num(&f, 8, "mean_ms")?,
            p50_ms: num(&f, 9, "p50_ms")?,
            p90_ms: num(&f, 10, "p90_ms")?,
            p99_ms: num(&f, 11, "p99_ms")?,
            p999_ms: num(&f, 12, "p999_ms")?,
            max_ms: num(&f, 13, "max_ms")?,
            service_p50_ms: num(&f, 14, "service_p50_ms")?,
            service_p99_ms: num(&f, 15, "service_p99_ms")?,
            send_lag_p50_ms: num(&f, 16, "send_lag_p50_ms")?,
            send_lag_p99_ms: num(&f, 17, "send_lag_p99_ms")?,
            send_lag_max_ms: num(&f, 18, "send_lag_max_ms")?,
            outcomes,
            retries,
        })
    }
}

impl RegionRow {
    /// The CSV line (no newline).
    pub(crate) fn to_line(&self) -> String {
        let c = &self.counters;
        let ints = [
            c.started,
            c.succeeded,
            c.failed,
            c.contacts_uploaded,
            c.contacts_expected,
            c.contacts_found,
            c.contacts_missing,
            c.contacts_unexpected,
            self.in_flight,
        ];
        let mut f = vec![
            self.interval.to_string(),
            format!("{:.3}", self.t_s),
            quote(&self.region),
            format!("{:.3}", self.intended_arrivals),
        ];
        f.extend(ints.iter().map(u64::to_string));
        f.extend(c.conn.values().iter().map(u64::to_string));
        f.join(",")
    }

    /// Parses a line written by [`RegionRow::to_line`] (or by a surge from before the connected
    /// phase's columns, which then read as zero).
    pub(crate) fn parse(line: &str) -> Result<RegionRow, String> {
        let f = split(line)?;
        let (old, new) = (
            REGION_COLS.len(),
            REGION_COLS.len() + ConnCounters::NAMES.len(),
        );
        if f.len() != old && f.len() != new {
            return Err(format!("want {new} fields, got {}", f.len()));
        }
        let mut conn = [0u64; 17];
        for (i, (v, name)) in conn.iter_mut().zip(ConnCounters::NAMES).enumerate() {
            if f.len() == new {
                *v = int(&f, old + i, name)?;
            }
        }
        Ok(RegionRow {
            interval: int(&f, 0, "interval")?,
            t_s: num(&f, 1, "t_s")?,
            region: f[2].clone(),
            intended_arrivals: num(&f, 3, "intended_arrivals")?,
            counters: RegionCounters {
                started: int(&f, 4, "started")?,
                succeeded: int(&f, 5, "succeeded")?,
                failed: int(&f, 6, "failed")?,
                contacts_uploaded: int(&f, 7, "contacts_uploaded")?,
                contacts_expected: int(&f, 8, "contacts_expected")?,
                contacts_found: int(&f, 9, "contacts_found")?,
                contacts_missing: int(&f, 10, "contacts_missing")?,
                contacts_unexpected: int(&f, 11, "contacts_unexpected")?,
                conn: ConnCounters::from_values(conn),
            },
            in_flight: int(&f, 12, "in_flight")?,
        })
    }
}

fn int(f: &[String], i: usize, name: &str) -> Result<u64, String> {
    f[i].parse()
        .map_err(|_| format!("column {name}: {:?} is not a count", f[i]))
}

fn num(f: &[String], i: usize, name: &str) -> Result<f64, String> {
    match f[i].parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("column {name}: {:?} is not a number", f[i])),
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
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
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
        return Err("unterminated quote".into());
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            REGION_COLS.len() + ConnCounters::NAMES.len()
        );
    }
}
