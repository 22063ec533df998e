//! The generator's own limits, named before a run instead of blamed on the target during it.
//!
//! Every person in flight may hold a connection, and a connection is a file descriptor; with the
//! reference backend embedded in the same process, each loopback connection costs two (both ends).
//! A process may open at most `RLIMIT_NOFILE` descriptors: surge raises its soft limit to the hard one
//! at start ([`raise_nofile`]), then derives the in-flight cap it can really hold ([`FdBudget`]). A
//! descriptor that still runs out mid-run is the outcome `generator_fd`, never a target error.
//!
//! A connected person (`[journey.connect]`) stays in flight for its whole dwell and holds its
//! WebSocket all along, so a run with a connected phase needs a descriptor per held connection (two
//! with the embedded target) for as long as the plan keeps people connected. The plan estimates the
//! most connections open at once (`Plan::peak_connections`: arrivals x dwell); when they cannot fit,
//! [`FdBudget::connections_shortfall`] says so before anything is sent, and the run is refused.

/// Descriptors kept aside for everything that is not a person's connection: listeners, the results
/// files, the runtime's own (epoll, eventfd, timerfd per worker), the coordinator's links.
pub const RESERVED_FDS: u64 = 256;

/// The process's descriptor limits after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The soft limit in force now.
    pub soft: u64,
    /// The hard limit (the most the soft limit can be raised to without privileges).
    pub hard: u64,
    /// The soft limit before surge raised it.
    pub was: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limits. When the limit cannot be
/// read (not Linux), `None`: nothing is derived from it.
pub fn raise_nofile() -> Option<NoFile> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let now = getrlimit(Resource::Nofile);
        let was = now.current?;
        let hard = now.maximum.unwrap_or(u64::MAX);
        let raised = Rlimit {
            current: Some(hard),
            maximum: now.maximum,
        };
        let soft = match setrlimit(Resource::Nofile, raised) {
            Ok(()) => hard,
            Err(_) => was,
        };
        Some(NoFile { soft, hard, was })
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// How many people this process can hold in flight within its descriptor limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The descriptor limit.
    pub limit: u64,
    /// Descriptors one person in flight may need (2 when the target is embedded: both ends).
    pub per_person: u64,
    /// People in flight that fit: `(limit - RESERVED_FDS) / per_person`.
    pub max_in_flight: u64,
}

impl FdBudget {
    /// The budget of a process whose soft limit is `limit`.
    pub fn new(limit: u64, embedded_target: bool) -> FdBudget {
        let per_person = if embedded_target { 2 } else { 1 };
        FdBudget {
            limit,
            per_person,
            max_in_flight: (limit.saturating_sub(RESERVED_FDS) / per_person).max(1),
        }
    }

    /// When `asked` people in flight do not fit: the sentence that says so, with the numbers and the
    /// fix. `None` when they fit.
    pub fn shortfall(&self, asked: u64) -> Option<String> {
        (asked > self.max_in_flight).then(|| {
            format!(
                "{asked} people in flight need up to {} file descriptors ({} each{}) but this process may open {} (RLIMIT_NOFILE, raised to its hard limit); in-flight cap lowered to {}. To hold more: run more worker processes (`surge coordinator` + `surge worker`), or raise the hard limit (`ulimit -Hn`, LimitNOFILE=)",
                asked.saturating_mul(self.per_person) + RESERVED_FDS,
                self.per_person,
                if self.per_person == 2 {
                    ": the embedded target holds the other end"
                } else {
                    ""
                },
                self.limit,
                self.max_in_flight
            )
        })
    }
}

impl FdBudget {
    /// When `peak` WebSocket connections held at once (the plan's estimate, `at_s` seconds into the
    /// run) do not fit in this process's descriptors: the sentence that says so, with the numbers and
    /// the fix. `None` when they fit. Unlike [`FdBudget::shortfall`] this is not lowered away: a
    /// connected person waiting for a descriptor would not be connected, and the run would measure
    /// the generator.
    pub fn connections_shortfall(&self, peak: u64, at_s: f64) -> Option<String> {
        (peak > self.max_in_flight).then(|| {
            let processes = peak.div_ceil(self.max_in_flight.max(1));
            format!(
                "this run holds about {peak} WebSocket connections at once ({at_s:.0} s into the run: the plan's arrivals x dwell), which need {} file descriptors ({} each{}, plus {RESERVED_FDS} reserved), but this process may open {} (RLIMIT_NOFILE, raised to its hard limit) and holds at most {} connections. Fix: run at least {processes} worker processes (`surge coordinator` + `surge worker`, each holds its share), or raise the hard limit (`ulimit -Hn`, LimitNOFILE=), or lower --scale",
                peak.saturating_mul(self.per_person) + RESERVED_FDS,
                self.per_person,
                if self.per_person == 2 {
                    ": the embedded target holds the other end"
                } else {
                    ""
                },
                self.limit,
                self.max_in_flight
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_both_ends_of_an_embedded_target() {
        let b = FdBudget::new(20_000, true);
        assert_eq!(b.max_in_flight, (20_000 - RESERVED_FDS) / 2);
        let s = b.shortfall(50_000).unwrap();
        assert!(s.contains("20000") && s.contains("9872"), "{s}");
        assert!(b.shortfall(9_000).is_none());
        assert_eq!(FdBudget::new(20_000, false).max_in_flight, 19_744);
        assert_eq!(FdBudget::new(10, false).max_in_flight, 1);
    }

    #[test]
    fn held_connections_that_do_not_fit_are_named_with_the_fix() {
        let b = FdBudget::new(20_000, false);
        assert!(b.connections_shortfall(19_000, 30.0).is_none());
        let s = b.connections_shortfall(200_000, 30.0).unwrap();
        assert!(s.contains("about 200000 WebSocket connections"), "{s}");
        assert!(s.contains("200256 file descriptors"), "{s}");
        assert!(s.contains("may open 20000"), "{s}");
        assert!(s.contains("at least 11 worker processes"), "{s}");
        let e = FdBudget::new(20_000, true).connections_shortfall(10_000, 1.0);
        assert!(e.is_some_and(|s| s.contains("2 each: the embedded target")));
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        if let Some(l) = raise_nofile() {
            assert_eq!(l.soft, l.hard, "{l:?}");
            assert!(l.was <= l.hard);
        }
    }
}
