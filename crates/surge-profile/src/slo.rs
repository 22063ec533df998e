//! Service-level objectives in their text form.
//!
//! Grammar: `STAT [of STEP] [in REGION] OP THRESHOLD`, e.g. `"p99 of register in americas < 800ms"`,
//! `"error rate of discover < 1%"`, `"completeness > 99.5%"`, `"p99.9 < 2s"`, `"rate of register > 50/s"`.
//! Without `of` the SLO covers all steps; without `in`, all regions.
//! - `pNN` (percentile of response time from intended start): threshold in `ms`/`s`/`us`, kept in ms.
//! - `error rate`, `completeness`: threshold `1%` or a fraction `0.01`, kept as a fraction (0..1).
//! - `rate` (completed requests per second): threshold `50/s` or `50`.

/// The statistic and the comparison are `surge-metrics`' own types: the profile names them, the
/// metrics evaluate them, one definition for both.
pub use surge_metrics::{SloOp, SloStat};

/// One SLO, as the profile wrote it: regions and steps by name. Its twin `surge_metrics::Slo` holds
/// them as indexes resolved against a compiled plan (`surge_coordinator::resolve_slos`), which is what
/// the guard and the reports evaluate and what `slos.json` stores. Two types because a name means
/// nothing before the plan is compiled and an index nothing without it; `SloStat` and `SloOp` are
/// shared (this crate uses `surge-metrics`' own).
#[derive(Debug, Clone, PartialEq)]
pub struct SloSpec {
    /// Statistic.
    pub stat: SloStat,
    /// Step name (None: all steps).
    pub step: Option<String>,
    /// Region name (None: all regions).
    pub region: Option<String>,
    /// Comparison.
    pub op: SloOp,
    /// Threshold: ms for percentiles, fraction for rates of errors and completeness, per second for rate.
    pub threshold: f64,
    /// As written.
    pub text: String,
}

/// Why an SLO does not parse: the rule broken, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SloParseError {
    /// No `<`, `<=`, `>` or `>=`.
    #[error("expected a comparison (<, <=, > or >=)")]
    NoComparison,
    /// The left side does not start with a statistic.
    #[error("expected pNN, error rate, completeness or rate")]
    NoStatistic,
    /// A word where `of STEP` or `in REGION` was expected (or either given twice).
    #[error("unexpected `{0}` (expected `of STEP` or `in REGION`)")]
    Keyword(String),
    /// Words left over on the left side.
    #[error("unexpected `{0}`")]
    Trailing(String),
    /// `pNN` whose NN is not a number.
    #[error("`{0}` is not a percentile like p99 or p99.9")]
    NotAPercentile(String),
    /// `pNN` outside (0, 100).
    #[error("`{0}`: percentile must be between 0 and 100")]
    PercentileRange(String),
    /// The threshold is not a number.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// The threshold is negative or not finite.
    #[error("`{0}` must be a finite, non-negative number")]
    NotFinite(String),
    /// A latency threshold without `ms`, `s` or `us`.
    #[error("latency threshold needs a unit: ms, s or us")]
    NoUnit,
    /// A share above 100%.
    #[error("a share must be at most 100%")]
    ShareAbove100,
}

/// Parses one SLO.
pub fn parse(text: &str) -> Result<SloSpec, SloParseError> {
    let t = text.trim();
    let (op_at, op, op_len) = find_op(t).ok_or(SloParseError::NoComparison)?;
    let (lhs, rhs) = (t[..op_at].trim(), t[op_at + op_len..].trim());
    let words: Vec<&str> = lhs.split_whitespace().collect();
    let (stat, mut rest) = match words.as_slice() {
        ["error", "rate", rest @ ..] => (SloStat::ErrorRate, rest),
        ["completeness", rest @ ..] => (SloStat::Completeness, rest),
        ["rate", rest @ ..] => (SloStat::Rate, rest),
        [p, rest @ ..] if p.starts_with('p') => (SloStat::Percentile(percentile(p)?), rest),
        _ => return Err(SloParseError::NoStatistic),
    };
    let mut step = None;
    let mut region = None;
    while let [kw, name, tail @ ..] = rest {
        match *kw {
            "of" if step.is_none() => step = Some(name.to_string()),
            "in" if region.is_none() => region = Some(name.to_string()),
            _ => return Err(SloParseError::Keyword(kw.to_string())),
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(SloParseError::Trailing(rest.join(" ")));
    }
    let threshold = threshold(stat, rhs)?;
    Ok(SloSpec {
        stat,
        step,
        region,
        op,
        threshold,
        text: t.to_string(),
    })
}

fn find_op(t: &str) -> Option<(usize, SloOp, usize)> {
    let i = t.find(['<', '>'])?;
    let b = t.as_bytes();
    let eq = b.get(i + 1) == Some(&b'=');
    let op = match (b[i], eq) {
        (b'<', false) => SloOp::Lt,
        (b'<', true) => SloOp::Le,
        (_, false) => SloOp::Gt,
        (_, true) => SloOp::Ge,
    };
    Some((i, op, if eq { 2 } else { 1 }))
}

fn percentile(word: &str) -> Result<f64, SloParseError> {
    let v: f64 = word[1..]
        .parse()
        .map_err(|_| SloParseError::NotAPercentile(word.to_string()))?;
    if !(v > 0.0 && v < 100.0) {
        return Err(SloParseError::PercentileRange(word.to_string()));
    }
    Ok(v)
}

fn number(s: &str) -> Result<f64, SloParseError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| SloParseError::NotANumber(s.to_string()))?;
    if !v.is_finite() || v < 0.0 {
        return Err(SloParseError::NotFinite(s.to_string()));
    }
    Ok(v)
}

fn threshold(stat: SloStat, rhs: &str) -> Result<f64, SloParseError> {
    let s = rhs.replace(' ', "");
    match stat {
        SloStat::Percentile(_) => {
            if let Some(v) = s.strip_suffix("ms") {
                number(v)
            } else if let Some(v) = s.strip_suffix("us") {
                Ok(number(v)? / 1000.0)
            } else if let Some(v) = s.strip_suffix('s') {
                Ok(number(v)? * 1000.0)
            } else {
                Err(SloParseError::NoUnit)
            }
        }
        SloStat::ErrorRate | SloStat::Completeness => {
            let v = match s.strip_suffix('%') {
                Some(v) => number(v)? / 100.0,
                None => number(&s)?,
            };
            if v > 1.0 {
                return Err(SloParseError::ShareAbove100);
            }
            Ok(v)
        }
        SloStat::Rate => number(s.strip_suffix("/s").unwrap_or(&s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = parse("p99 of register in americas < 800ms").unwrap();
        assert_eq!(s.stat, SloStat::Percentile(99.0));
        assert_eq!(s.step.as_deref(), Some("register"));
        assert_eq!(s.region.as_deref(), Some("americas"));
        assert_eq!((s.op, s.threshold), (SloOp::Lt, 800.0));
        let s = parse("error rate of discover < 1%").unwrap();
        assert_eq!(
            (s.stat, s.step.as_deref(), s.region, s.threshold),
            (SloStat::ErrorRate, Some("discover"), None, 0.01)
        );
        let s = parse("completeness > 99.5%").unwrap();
        assert_eq!((s.stat, s.op), (SloStat::Completeness, SloOp::Gt));
        assert!((s.threshold - 0.995).abs() < 1e-12);
        let s = parse("p99.9 <= 2s").unwrap();
        assert_eq!(
            (s.stat, s.op, s.threshold),
            (SloStat::Percentile(99.9), SloOp::Le, 2000.0)
        );
        let s = parse("rate in europe >= 50/s").unwrap();
        assert_eq!(
            (s.stat, s.region.as_deref(), s.threshold),
            (SloStat::Rate, Some("europe"), 50.0)
        );
    }

    #[test]
    fn refuses_bad_forms() {
        for bad in [
            "p99 800ms",
            "p99 < 800",
            "p200 < 1s",
            "error rate < 150%",
            "latency < 1s",
            "p99 of a of b < 1s",
            "p99 < -1ms",
            "p99 < nanms",
            "completeness > 1e400%",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
