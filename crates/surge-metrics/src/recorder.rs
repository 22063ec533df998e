//! The recorder on the hot path: one per worker thread, no lock, no allocation after a cell's first use.

use crate::outcome::Outcome;
use crate::snapshot::{Measure, Snapshot};

/// One finished step, as the engine measured it.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord {
    /// Region index.
    pub region: u16,
    /// Metric step index.
    pub step: u16,
    /// Final outcome.
    pub outcome: Outcome,
    /// Intended start to answer, µs.
    pub response_us: u64,
    /// Actual send (last attempt) to answer, µs.
    pub service_us: u64,
    /// Intended start to first send, µs.
    pub send_lag_us: u64,
}

/// Fills the current interval's [`Snapshot`] and hands it over when the interval ends.
#[derive(Debug)]
pub struct Recorder {
    current: Snapshot,
    in_flight: u64,
}

impl Recorder {
    /// A recorder for `regions x steps` cells, starting at interval 0.
    pub fn new(regions: u16, steps: u16) -> Recorder {
        Recorder {
            current: Snapshot::new(0, regions, steps),
            in_flight: 0,
        }
    }

    /// Records a finished step. Out-of-range indexes are ignored (they cannot come from a valid plan).
    pub fn step(&mut self, r: StepRecord) {
        if let Some(c) = self.current.cell_mut(r.region, r.step) {
            c.record(Measure::Response, r.response_us);
            c.record(Measure::Service, r.service_us);
            c.record(Measure::SendLag, r.send_lag_us);
            c.outcomes[r.outcome.index()] += 1;
        }
    }

    /// Records an attempt that failed with `outcome` and will be retried.
    pub fn retry(&mut self, region: u16, step: u16, outcome: Outcome) {
        if let Some(c) = self.current.cell_mut(region, step) {
            c.retries[outcome.index()] += 1;
        }
    }

    /// The target's `Server-Timing` account of a finished step whose response time was
    /// `response_us`: adds to the region's distance, queueing and serving sums.
    pub fn timed(&mut self, region: u16, response_us: u64, t: crate::ServerTiming) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.timed_steps += 1;
            c.timed_response_us = c.timed_response_us.saturating_add(response_us);
            c.distance_us = c.distance_us.saturating_add(t.network_us);
            c.queueing_us = c.queueing_us.saturating_add(t.queue_us);
            c.serving_us = c.serving_us.saturating_add(t.service_us);
        }
    }

    /// A person's journey started.
    pub fn journey_started(&mut self, region: u16) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.started += 1;
        }
        self.in_flight += 1;
    }

    /// A person's journey ended.
    pub fn journey_ended(&mut self, region: u16, ok: bool) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            if ok {
                c.succeeded += 1;
            } else {
                c.failed += 1;
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A person was still in flight when its worker ended: counted as unfinished (with `succeeded` and
    /// `failed` it adds up to `started`). The step it was in, if any, is recorded separately through
    /// [`Recorder::step`] with [`crate::Outcome::Unfinished`].
    pub fn journey_unfinished(&mut self, region: u16) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.unfinished += 1;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// One discovery batch checked against what the tester knew was registered.
    pub fn discovery(
        &mut self,
        region: u16,
        uploaded: u64,
        expected: u64,
        found: u64,
        unexpected: u64,
    ) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.contacts_uploaded += uploaded;
            c.contacts_expected += expected;
            c.contacts_found += found;
            c.contacts_missing += expected.saturating_sub(found);
            c.missing_index_lag += expected.saturating_sub(found);
            c.contacts_unexpected += unexpected;
        }
    }

    /// Contacts the tester expected in a discovery lookup that failed: they count as expected and
    /// missing, by cause (`quota`: the lookup was refused for quota; otherwise an error).
    pub fn discovery_failed(&mut self, region: u16, uploaded: u64, expected: u64, quota: bool) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.contacts_uploaded += uploaded;
            c.contacts_expected += expected;
            c.contacts_missing += expected;
            if quota {
                c.missing_quota += expected;
            } else {
                c.missing_error += expected;
            }
        }
    }

    /// A person starts waiting for a verification code.
    pub fn code_awaited(&mut self, region: u16) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.codes_awaited += 1;
        }
    }

    /// A person asks for the code again because it is late.
    pub fn code_resent(&mut self, region: u16) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.codes_resent += 1;
        }
    }

    /// A person gives up waiting for the code.
    pub fn code_gave_up(&mut self, region: u16) {
        if let Some(c) = self.current.counters.get_mut(region as usize) {
            c.codes_gave_up += 1;
        }
    }

    /// The counters of `region` in the current interval, for the connected phase's counts (None: no
    /// such region).
    pub fn conn(&mut self, region: u16) -> Option<&mut crate::RegionCounters> {
        self.current.counters.get_mut(region as usize)
    }

    /// People in flight right now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Ends the current interval: returns it frozen (with the in-flight gauge) and starts `next`.
    pub fn take(&mut self, next: u64) -> Snapshot {
        let fresh = Snapshot::new(next, self.current.regions, self.current.steps);
        let mut done = std::mem::replace(&mut self.current, fresh);
        done.in_flight = self.in_flight;
        done
    }

    /// The interval being filled.
    pub fn interval(&self) -> u64 {
        self.current.interval
    }
}
