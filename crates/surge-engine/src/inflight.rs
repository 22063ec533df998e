//! Who is in flight on one worker, and in which step: so that a run ending with people still in flight
//! (the drain ran out, Ctrl-C, a guard) accounts for every one of them as unfinished, and records how
//! long the step each was in had been waiting, from its intended start, instead of letting them vanish.
//!
//! The time of a person whose connection waited for a free descriptor, a connection slot or
//! `--max-in-flight` is never lost either: a step's intended start is fixed before any of those waits,
//! so the wait is part of its send lag (intended start to first send) and of its response time.

use tokio::time::Instant;

/// The step a person is in: metric index, intended start, first send (if sent yet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InStep {
    pub(crate) metric: u16,
    pub(crate) intended: Instant,
    pub(crate) first_send: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    live: bool,
    region: u16,
    step: Option<InStep>,
}

/// A slab of the people in flight on one worker thread (no lock: one per worker).
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

impl InFlight {
    /// A person of `region` starts its journey; returns its slot.
    pub(crate) fn enter(&mut self, region: u16) -> usize {
        let slot = Slot {
            live: true,
            region,
            step: None,
        };
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    /// The person in `id` starts a step intended to start at `intended`.
    pub(crate) fn step_started(&mut self, id: usize, metric: u16, intended: Instant) {
        if let Some(s) = self.slots.get_mut(id) {
            s.step = Some(InStep {
                metric,
                intended,
                first_send: None,
            });
        }
    }

    /// The person in `id` sent its step's first request at `at` (later sends are ignored).
    pub(crate) fn sent(&mut self, id: usize, at: Instant) {
        if let Some(InStep { first_send, .. }) =
            self.slots.get_mut(id).and_then(|s| s.step.as_mut())
        {
            first_send.get_or_insert(at);
        }
    }

    /// The person in `id` finished its step (its sample is recorded).
    pub(crate) fn step_done(&mut self, id: usize) {
        if let Some(s) = self.slots.get_mut(id) {
            s.step = None;
        }
    }

    /// The person in `id` finished its journey.
    pub(crate) fn leave(&mut self, id: usize) {
        if let Some(s) = self.slots.get_mut(id)
            && s.live
        {
            s.live = false;
            s.step = None;
            self.free.push(id);
        }
    }

    /// Everyone still in flight, with the step each is in; empties the slab.
    pub(crate) fn take(&mut self) -> Vec<(u16, Option<InStep>)> {
        let out = self
            .slots
            .iter()
            .filter(|s| s.live)
            .map(|s| (s.region, s.step))
            .collect();
        self.slots.clear();
        self.free.clear();
        out
    }

    /// People in flight.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.live).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_what_is_left_is_taken_with_its_step() {
        let t0 = Instant::now();
        let mut f = InFlight::default();
        let a = f.enter(0);
        let b = f.enter(1);
        f.step_started(a, 2, t0);
        f.sent(a, t0);
        f.step_started(b, 3, t0);
        f.step_done(b);
        f.leave(a);
        f.leave(a);
        assert_eq!(f.len(), 1);
        let c = f.enter(2);
        assert_eq!(c, a, "a freed slot is reused");
        f.step_started(c, 1, t0);
        let left = f.take();
        assert_eq!(left.len(), 2);
        assert!(left.iter().any(|(r, s)| *r == 1 && s.is_none()));
        assert!(
            left.iter()
                .any(|(r, s)| *r == 2 && s.is_some_and(|s| s.metric == 1 && s.first_send.is_none()))
        );
        assert_eq!(f.len(), 0);
    }
}
