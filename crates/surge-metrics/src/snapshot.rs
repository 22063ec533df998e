//! Interval snapshots: what one worker recorded during one interval, frozen, mergeable and encodable.

use crate::outcome::Outcome;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Lowest discernible latency, in microseconds.
pub const LOWEST_US: u64 = 1;
/// Highest trackable latency, in microseconds (60 s); larger values saturate.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGFIG: u8 = 3;

/// A new, empty latency histogram with surge's bounds (1 µs to 60 s, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants known to be valid, so this cannot fail.
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .unwrap_or_else(|_| unreachable!("constant histogram bounds are valid"))
}

/// Which latency a histogram holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// From the step's intended start to its answer: the coordinated-omission-free figure.
    Response,
    /// From the actual send of the last attempt to its answer.
    Service,
    /// From the intended start to the actual send of the first attempt: the generator's own lateness.
    SendLag,
}

impl Measure {
    /// All measures in file order.
    pub const ALL: [Measure; 3] = [Measure::Response, Measure::Service, Measure::SendLag];

    /// Stable name used in tags and columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Response => "response",
            Measure::Service => "service",
            Measure::SendLag => "send_lag",
        }
    }
}

/// Everything recorded for one (region, step) in one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Response time from intended start, µs. One sample per finished step.
    pub response: Histogram<u64>,
    /// Service time from actual send, µs.
    pub service: Histogram<u64>,
    /// Send lag, µs.
    pub send_lag: Histogram<u64>,
    /// Final outcome of each finished step, indexed by [`Outcome::index`]. Sums to `response.len()`.
    pub outcomes: [u64; Outcome::COUNT],
    /// Outcomes of attempts that were retried (not final), by class: a retry storm shows here.
    pub retries: [u64; Outcome::COUNT],
}

impl Default for Cell {
    fn default() -> Self {
        Cell {
            response: new_histogram(),
            service: new_histogram(),
            send_lag: new_histogram(),
            outcomes: [0; Outcome::COUNT],
            retries: [0; Outcome::COUNT],
        }
    }
}

impl Cell {
    /// The histogram for `m`.
    pub fn histogram(&self, m: Measure) -> &Histogram<u64> {
        match m {
            Measure::Response => &self.response,
            Measure::Service => &self.service,
            Measure::SendLag => &self.send_lag,
        }
    }

    /// Mutable histogram for `m`.
    pub fn histogram_mut(&mut self, m: Measure) -> &mut Histogram<u64> {
        match m {
            Measure::Response => &mut self.response,
            Measure::Service => &mut self.service,
            Measure::SendLag => &mut self.send_lag,
        }
    }

    /// Finished steps (all outcomes).
    pub fn count(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Finished steps whose final outcome was an error.
    pub fn errors(&self) -> u64 {
        self.count() - self.outcomes[Outcome::Ok.index()]
    }

    /// Retried attempts.
    pub fn retried(&self) -> u64 {
        self.retries.iter().sum()
    }

    /// Adds `other` into `self` exactly (counters saturate rather than wrap).
    pub fn merge(&mut self, other: &Cell) {
        for m in Measure::ALL {
            // Same bounds on both sides, so `add` cannot fail; saturate defensively anyway.
            let _ = self.histogram_mut(m).add(other.histogram(m));
        }
        crate::sparse::add_counts(&mut self.outcomes, &other.outcomes);
        crate::sparse::add_counts(&mut self.retries, &other.retries);
    }

    /// Records one value (µs) into `m`, clamped into the trackable range.
    pub fn record(&mut self, m: Measure, us: u64) {
        let v = us.clamp(LOWEST_US, HIGHEST_US);
        self.histogram_mut(m).saturating_record(v);
    }
}

/// Declares [`RegionCounters`] from one list, so that its fields, their stable names (CSV columns,
/// summary keys) and its merge can never disagree: adding a counter is adding one line here.
macro_rules! region_counters {
    ($($(#[$doc:meta])* $name:ident,)+) => {
        /// Per-region counters that are not latencies. Every field is a count that adds up exactly when
        /// snapshots merge; absent fields read as 0 (older files and peers).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct RegionCounters {
            $($(#[$doc])* #[serde(default)] pub $name: u64,)+
        }

        impl RegionCounters {
            /// The counters' stable names, in column order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),+];

            /// The counters' values, in [`RegionCounters::NAMES`] order.
            pub fn values(&self) -> Vec<u64> {
                vec![$(self.$name),+]
            }

            /// Sets the counter called `name`; `false` when there is none by that name.
            pub fn set_named(&mut self, name: &str, v: u64) -> bool {
                match name {
                    $(stringify!($name) => { self.$name = v; true })+
                    _ => false,
                }
            }

            /// Adds `o` into `self` (saturating: counts from other processes must not wrap or panic).
            pub fn merge(&mut self, o: &RegionCounters) {
                $(self.$name = self.$name.saturating_add(o.$name);)+
            }
        }
    };
}

region_counters! {
    /// People whose journey started.
    started,
    /// Journeys that ended with every step ok.
    succeeded,
    /// Journeys that ended on an error.
    failed,
    /// Journeys still in flight when their worker ended (drain cut, stop): with `succeeded` and `failed`
    /// they add up to `started`.
    unfinished,
    /// Contacts uploaded in total (registered or not).
    contacts_uploaded,
    /// Contacts in discovery uploads that the tester knew were registered when it sent the batch.
    contacts_expected,
    /// Of those, found in the answer.
    contacts_found,
    /// Of those, missing from the answer ("some people don't see all their contacts").
    contacts_missing,
    /// Missing ones the target answered without (its index had not caught up with the registration).
    missing_index_lag,
    /// Missing ones whose lookup was refused for quota (429) after the client's retries.
    missing_quota,
    /// Missing ones whose lookup failed otherwise (errors, timeouts, wrong answers).
    missing_error,
    /// Numbers the answer called registered that the tester never saw registered and that are not people
    /// of the population (a wrong answer), or that were never uploaded.
    contacts_unexpected,
    /// People who waited for a verification code whose delivery time the target announced.
    codes_awaited,
    /// Code requests sent again because the code was late (the person's patience ran out).
    codes_resent,
    /// People who gave up waiting: their code was still late after their last request.
    codes_gave_up,
    /// Connected phase (see [`crate::conn`]): messages sent, under the sender's region.
    messages_sent,
    /// Delivered within the deadline (sender's region).
    messages_delivered,
    /// Delivered after the deadline (sender's region).
    messages_late,
    /// Sends the server refused with an error frame.
    messages_refused,
    /// Deliveries surge cannot attribute (an id, `sent_at` or region it did not send), under the
    /// receiver's region.
    deliveries_unknown,
    /// Connections established (handshake answered 101).
    connections_opened,
    /// Established connections that ended (any reason). The open level at an interval's end, across
    /// workers, is `opened - closed` cumulated.
    connections_closed,
    /// Connections re-established after a drop or a refused handshake.
    reconnects,
    /// Heartbeats whose reply did not come within the timeout.
    heartbeats_missed,
    /// Frames the server sent that break RFC 6455 or the limits, and text frames that are not JSON.
    frames_bad,
    /// Server closes with code 1000.
    closes_1000,
    /// Server closes with code 1001 (going away).
    closes_1001,
    /// Server closes with code 1008 (policy).
    closes_1008,
    /// Server closes with code 1009 (too big).
    closes_1009,
    /// Server closes with code 1013 (try again later).
    closes_1013,
    /// Server closes with any other code or none, and connections cut without a close frame.
    closes_other,
    /// Finished steps whose answers carried the target's `Server-Timing` (`net`, `queue`, `svc`):
    /// the split below covers these steps only.
    timed_steps,
    /// Their response times (from intended start), summed, µs.
    timed_response_us,
    /// Network time between the region and its data centre the target reported for them (the
    /// distance), summed over the rounds of each step's last attempt, µs.
    distance_us,
    /// Time they waited in the target's queue for a slot (the queueing), summed likewise, µs.
    queueing_us,
    /// Service time the target reported, summed likewise, µs.
    serving_us,
}

impl RegionCounters {
    /// found / expected, or `None` when nothing was expected.
    pub fn completeness(&self) -> Option<f64> {
        (self.contacts_expected > 0)
            .then(|| self.contacts_found as f64 / self.contacts_expected as f64)
    }
}

/// One interval of one worker (or several merged): cells by (region, step), region counters, gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Interval index from the run's start (interval k covers [k*I, (k+1)*I)).
    pub interval: u64,
    /// Number of regions (cells are `regions x steps`).
    pub regions: u16,
    /// Number of metric steps.
    pub steps: u16,
    /// `cells[region * steps + step]`; `None` when nothing was recorded there.
    pub cells: Vec<Option<Box<Cell>>>,
    /// Per region.
    pub counters: Vec<RegionCounters>,
    /// People in flight at the end of the interval (summed across workers on merge).
    pub in_flight: u64,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new(interval: u64, regions: u16, steps: u16) -> Snapshot {
        let n = regions as usize * steps as usize;
        Snapshot {
            interval,
            regions,
            steps,
            cells: (0..n).map(|_| None).collect(),
            counters: vec![RegionCounters::default(); regions as usize],
            in_flight: 0,
        }
    }

    /// Index of a cell, or `None` when out of range.
    pub fn cell_index(&self, region: u16, step: u16) -> Option<usize> {
        (region < self.regions && step < self.steps)
            .then(|| region as usize * self.steps as usize + step as usize)
    }

    /// The cell for (region, step), if anything was recorded there.
    pub fn cell(&self, region: u16, step: u16) -> Option<&Cell> {
        self.cell_index(region, step)
            .and_then(|i| self.cells[i].as_deref())
    }

    /// The cell for (region, step), created on first use. `None` when out of range.
    pub fn cell_mut(&mut self, region: u16, step: u16) -> Option<&mut Cell> {
        let i = self.cell_index(region, step)?;
        Some(self.cells[i].get_or_insert_with(Box::default))
    }

    /// Whether the shapes agree so that `merge` is meaningful.
    pub fn same_shape(&self, o: &Snapshot) -> bool {
        self.regions == o.regions && self.steps == o.steps
    }

    /// Adds `o` into `self` exactly (histograms added bucket by bucket, counters summed). Shapes must
    /// agree; a snapshot of another shape is refused.
    pub fn merge(&mut self, o: &Snapshot) -> Result<(), crate::MetricsError> {
        if !self.same_shape(o) {
            return Err(crate::MetricsError::Shape {
                want: (self.regions, self.steps),
                got: (o.regions, o.steps),
            });
        }
        for (mine, theirs) in self.cells.iter_mut().zip(&o.cells) {
            if let Some(t) = theirs {
                mine.get_or_insert_with(Box::default).merge(t);
            }
        }
        for (mine, theirs) in self.counters.iter_mut().zip(&o.counters) {
            mine.merge(theirs);
        }
        self.in_flight = self.in_flight.saturating_add(o.in_flight);
        Ok(())
    }

    /// All cells of a region (any step) or a step (any region), merged; `None` selects all.
    pub fn merged_cell(&self, region: Option<u16>, step: Option<u16>) -> Cell {
        let mut out = Cell::default();
        for r in 0..self.regions {
            if region.is_some_and(|x| x != r) {
                continue;
            }
            for s in 0..self.steps {
                if step.is_some_and(|x| x != s) {
                    continue;
                }
                if let Some(c) = self.cell(r, s) {
                    out.merge(c);
                }
            }
        }
        out
    }

    /// Region counters summed over all regions (or one).
    pub fn merged_counters(&self, region: Option<u16>) -> RegionCounters {
        let mut out = RegionCounters::default();
        for (r, c) in self.counters.iter().enumerate() {
            if region.is_none_or(|x| x as usize == r) {
                out.merge(c);
            }
        }
        out
    }
}
