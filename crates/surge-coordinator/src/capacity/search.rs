//! The search itself, pure: which rate to probe next given the probes so far, and when to stop.
//!
//! Upwards first: from the start rate, each passing probe multiplies the rate by [`SearchSpec::growth`]
//! (never beyond `--up-to`), until one fails. Then bisection between the last pass and the first fail
//! until the bracket is within [`SearchSpec::precision`] of the last pass. A first probe that fails
//! bisects downwards (towards zero) instead, down to [`SearchSpec::floor`]. A probe where the
//! generator fell behind ends the search at once: it says nothing about the target.
//!
//! ```
//! use surge_coordinator::capacity::search::{Search, SearchSpec, Next, Verdict, End};
//! let mut s = Search::new(SearchSpec { start: 10.0, up_to: None, precision: 0.05, growth: 2.0,
//!                                      floor: 1.0, max_probes: 40 });
//! // A target that holds up to 95/s.
//! while let Next::Probe(rate) = s.next() {
//!     s.record(rate, if rate <= 95.0 { Verdict::Pass } else { Verdict::Fail });
//! }
//! let Next::Done(End::Found { last_pass, first_fail }) = s.next() else { panic!() };
//! assert!(last_pass <= 95.0 && first_fail > 95.0 && first_fail - last_pass <= 0.05 * last_pass);
//! ```

/// How to search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchSpec {
    /// First probe, journeys/s.
    pub start: f64,
    /// Hard ceiling: no probe above it.
    pub up_to: Option<f64>,
    /// Stop when `first_fail - last_pass <= precision x last_pass`.
    pub precision: f64,
    /// Factor between probes while every probe passes.
    pub growth: f64,
    /// Below this rate a search whose probes all fail gives up.
    pub floor: f64,
    /// At most this many probes.
    pub max_probes: u32,
}

/// A probe's result as the search sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every SLO held.
    Pass,
    /// An SLO failed.
    Fail,
    /// Surge itself fell behind: the probe says nothing about the target.
    GeneratorBehind,
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum End {
    /// Bracketed to the precision.
    Found {
        /// The highest passing rate.
        last_pass: f64,
        /// The lowest failing rate above it.
        first_fail: f64,
    },
    /// The ceiling passed: the capacity is at least `last_pass` (= `--up-to`).
    Ceiling {
        /// The ceiling.
        last_pass: f64,
    },
    /// Every probe failed down to the floor.
    NonePassed {
        /// The lowest rate probed.
        first_fail: f64,
    },
    /// The generator fell behind at `at`.
    GeneratorBehind {
        /// The highest passing rate before, if any.
        last_pass: Option<f64>,
        /// The lowest failing rate, if any.
        first_fail: Option<f64>,
        /// The flagged probe's rate.
        at: f64,
    },
    /// The probe budget ran out.
    ProbeLimit {
        /// The highest passing rate, if any.
        last_pass: Option<f64>,
        /// The lowest failing rate, if any.
        first_fail: Option<f64>,
    },
}

impl End {
    /// `[last pass, first fail]`.
    pub fn bracket(&self) -> [Option<f64>; 2] {
        match *self {
            End::Found {
                last_pass,
                first_fail,
            } => [Some(last_pass), Some(first_fail)],
            End::Ceiling { last_pass } => [Some(last_pass), None],
            End::NonePassed { first_fail } => [None, Some(first_fail)],
            End::GeneratorBehind {
                last_pass,
                first_fail,
                ..
            }
            | End::ProbeLimit {
                last_pass,
                first_fail,
            } => [last_pass, first_fail],
        }
    }
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Probe at this rate, journeys/s.
    Probe(f64),
    /// The search is over.
    Done(End),
}

/// The search's state: the probes so far, reduced to what matters.
#[derive(Clone, Debug)]
pub struct Search {
    spec: SearchSpec,
    last_pass: Option<f64>,
    first_fail: Option<f64>,
    behind: Option<f64>,
    probes: u32,
}

/// Rates are probed rounded to 0.1 journeys/s (folder names and charts read better).
pub fn round_rate(r: f64) -> f64 {
    (r * 10.0).round() / 10.0
}

impl Search {
    /// A search that has probed nothing yet.
    pub fn new(spec: SearchSpec) -> Search {
        Search {
            spec,
            last_pass: None,
            first_fail: None,
            behind: None,
            probes: 0,
        }
    }

    /// Records the result of the probe at `rate`.
    pub fn record(&mut self, rate: f64, verdict: Verdict) {
        self.probes += 1;
        match verdict {
            Verdict::Pass => {
                // A pass above a fail (noise near the knee) narrows the bracket from below only.
                if self.last_pass.is_none_or(|p| rate > p)
                    && self.first_fail.is_none_or(|f| rate < f)
                {
                    self.last_pass = Some(rate);
                }
            }
            Verdict::Fail => {
                if self.first_fail.is_none_or(|f| rate < f) {
                    self.first_fail = Some(rate);
                }
                if self.last_pass.is_some_and(|p| p >= rate) {
                    self.last_pass = None;
                }
            }
            Verdict::GeneratorBehind => self.behind = Some(rate),
        }
    }

    /// The next probe, or how the search ended.
    pub fn next(&self) -> Next {
        let s = &self.spec;
        if let Some(at) = self.behind {
            return Next::Done(End::GeneratorBehind {
                last_pass: self.last_pass,
                first_fail: self.first_fail,
                at,
            });
        }
        let ceiling = s.up_to.unwrap_or(f64::INFINITY);
        let next = match (self.last_pass, self.first_fail) {
            (None, None) => return Next::Probe(round_rate(s.start.min(ceiling))),
            (Some(p), None) => {
                if p >= ceiling {
                    return Next::Done(End::Ceiling { last_pass: p });
                }
                round_rate((p * s.growth).min(ceiling))
            }
            (None, Some(f)) => {
                if f / 2.0 < s.floor {
                    return Next::Done(End::NonePassed { first_fail: f });
                }
                round_rate(f / 2.0)
            }
            (Some(p), Some(f)) => {
                let mid = round_rate((p + f) / 2.0);
                if f - p <= s.precision * p || mid <= p || mid >= f {
                    return Next::Done(End::Found {
                        last_pass: p,
                        first_fail: f,
                    });
                }
                mid
            }
        };
        if self.probes >= s.max_probes {
            return Next::Done(End::ProbeLimit {
                last_pass: self.last_pass,
                first_fail: self.first_fail,
            });
        }
        Next::Probe(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SearchSpec {
        SearchSpec {
            start: 37.5,
            up_to: None,
            precision: 0.05,
            growth: 2.0,
            floor: 1.0,
            max_probes: 40,
        }
    }

    /// Runs a search against a synthetic target whose SLO holds up to `knee`; the probes made.
    fn run(spec: SearchSpec, verdict: impl Fn(f64) -> Verdict) -> (End, Vec<f64>) {
        let mut s = Search::new(spec);
        let mut probes = Vec::new();
        loop {
            match s.next() {
                Next::Probe(r) => {
                    probes.push(r);
                    s.record(r, verdict(r));
                }
                Next::Done(end) => return (end, probes),
            }
        }
    }

    /// A synthetic queue: p99 of an M/M/1-like server grows as 1/(1 - rate/capacity).
    fn queue(capacity: f64) -> impl Fn(f64) -> Verdict {
        move |r: f64| {
            let p99_ms = if r >= capacity {
                f64::INFINITY
            } else {
                60.0 / (1.0 - r / capacity)
            };
            if p99_ms < 800.0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
    }

    #[test]
    fn brackets_the_knee_within_the_precision() {
        for capacity in [12.0, 95.0, 240.0, 5000.0] {
            let knee = capacity * (1.0 - 60.0 / 800.0);
            let (end, probes) = run(spec(), queue(capacity));
            let End::Found {
                last_pass,
                first_fail,
            } = end
            else {
                panic!("{capacity}: {end:?}")
            };
            assert!(
                last_pass < knee && first_fail >= knee,
                "{capacity}: {end:?}"
            );
            assert!(first_fail - last_pass <= 0.05 * last_pass + 0.1, "{end:?}");
            assert!(probes.len() < 20, "{capacity}: {probes:?}");
        }
    }

    #[test]
    fn first_probes_go_upwards_by_the_growth_factor_then_bisect() {
        let (_, probes) = run(spec(), queue(95.0));
        assert_eq!(&probes[..4], &[37.5, 75.0, 150.0, 112.5]);
    }

    #[test]
    fn never_probes_above_the_ceiling_and_says_when_it_held_there() {
        let up = SearchSpec {
            up_to: Some(60.0),
            ..spec()
        };
        let (end, probes) = run(up, queue(95.0));
        assert_eq!(end, End::Ceiling { last_pass: 60.0 });
        assert!(probes.iter().all(|&p| p <= 60.0), "{probes:?}");
        assert_eq!(probes, vec![37.5, 60.0]);
    }

    #[test]
    fn a_failing_first_probe_searches_downwards_and_gives_up_at_the_floor() {
        let (end, probes) = run(spec(), queue(20.0));
        assert!(matches!(end, End::Found { first_fail, .. } if first_fail <= 37.5));
        assert_eq!(probes[1], 18.8);
        let (end, probes) = run(spec(), |_| Verdict::Fail);
        assert!(matches!(end, End::NonePassed { first_fail } if first_fail < 2.0));
        assert!(probes.iter().all(|&p| p >= 1.0));
    }

    #[test]
    fn a_generator_that_falls_behind_ends_the_search_at_once() {
        let (end, probes) = run(spec(), |r| {
            if r > 100.0 {
                Verdict::GeneratorBehind
            } else {
                Verdict::Pass
            }
        });
        assert_eq!(
            end,
            End::GeneratorBehind {
                last_pass: Some(75.0),
                first_fail: None,
                at: 150.0
            }
        );
        assert_eq!(probes, vec![37.5, 75.0, 150.0]);
    }

    #[test]
    fn the_probe_budget_bounds_the_search() {
        let few = SearchSpec {
            max_probes: 3,
            ..spec()
        };
        let (end, probes) = run(few, queue(95.0));
        assert_eq!(probes.len(), 3);
        assert_eq!(
            end,
            End::ProbeLimit {
                last_pass: Some(75.0),
                first_fail: Some(150.0)
            }
        );
    }

    #[test]
    fn noise_near_the_knee_keeps_the_bracket_consistent() {
        // Passes above a fail (noise) never widen the bracket or make it inverted.
        let mut s = Search::new(spec());
        s.record(100.0, Verdict::Fail);
        s.record(120.0, Verdict::Pass);
        s.record(80.0, Verdict::Pass);
        s.record(90.0, Verdict::Fail);
        assert_eq!(s.next(), Next::Probe(85.0));
        s.record(85.0, Verdict::Pass);
        s.record(87.1, Verdict::Pass);
        assert!(matches!(
            s.next(),
            Next::Done(End::Found { last_pass, first_fail }) if last_pass == 87.1 && first_fail == 90.0
        ));
    }
}
