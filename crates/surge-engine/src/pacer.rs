//! The open-model scheduler's clock: waits until an intended start, coarse or fine (see
//! [`crate::pacing`] for the two).
//!
//! The fine pacer wakes on a grid ([`FINE_GRID`], from the run's start): an arrival at `t` starts at
//! the first grid point at or after `t`, together with every other arrival due by then, so there is
//! at most one wake-up per grid slot however high the rate. Up to ~1.5 ms before that point it
//! sleeps on tokio's timer; the last stretch is a Linux `timerfd` registered with the runtime's
//! event loop, armed at the grid point's absolute `CLOCK_MONOTONIC` time:
//!
//! - **Dense schedules** (the next arrival falls in the very next slot, as at 10,000 arrivals/s and
//!   up) keep the timer *periodic*, expiring at every slot: a wake-up costs the event loop's
//!   `epoll_wait` and one `read`, with no re-arming.
//! - **Sparse schedules** arm it once per wake-up (`timerfd_settime`, absolute).
//!
//! The thread also gets the [scheduler hints](crate::sched) (1 ns timer slack, a short EEVDF slice)
//! so that the wake-up is not held back by a compiler sharing the core.

use crate::pacing::{FINE_GRID, Pacing};
use std::time::Duration;
use tokio::time::Instant;

/// How long before a wake-up tokio's (1 ms) timer hands over to the timerfd.
const HANDOVER: Duration = Duration::from_micros(1500);

/// How the timer is armed, as far as the pacer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Armed {
    /// Not armed, or armed once for a slot (re-armed for the next wake-up either way).
    Once,
    /// Expiring at every slot.
    Periodic,
}

/// What to do with the timer before waiting for `target` (a slot index on the grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    /// Leave it: it is periodic and its next expiration is `target`.
    Keep,
    /// Arm it to expire at `target` and at every slot after it.
    Periodic(u64),
    /// Arm it to expire once, at `target`.
    Once(u64),
}

/// The first slot (of `grid_ns`) at or after `since_ns` (both from the grid's origin).
pub(crate) fn slot_at_or_after(since_ns: u64, grid_ns: u64) -> u64 {
    since_ns.div_ceil(grid_ns.max(1))
}

/// How to arm the timer for a wake-up at slot `target`, when the clock is in slot `current` (the
/// last slot at or before now) and the last wake-up was for slot `last`.
///
/// A periodic timer is kept while every slot has an arrival (`target` is the next slot); it is
/// made periodic when two wake-ups in a row fall on neighbouring slots; otherwise it is armed once,
/// so that a sparse schedule never pays for empty wake-ups.
pub(crate) fn plan_arm(armed: Armed, current: u64, last: Option<u64>, target: u64) -> Arm {
    let next = current.saturating_add(1);
    match armed {
        Armed::Periodic if target == next => Arm::Keep,
        _ if target == next && last == Some(current) => Arm::Periodic(target),
        _ => Arm::Once(target),
    }
}

/// The open-model scheduler's clock.
pub(crate) struct Pacer {
    origin: Instant,
    #[cfg(target_os = "linux")]
    fine: Option<linux::FineTimer>,
}

impl Pacer {
    /// A pacer whose fine grid starts at `origin`. Fine pacing falls back to coarse without a timerfd.
    /// Fine pacing gives the calling thread (the worker's) the [scheduler hints](crate::sched).
    pub fn new(p: Pacing, origin: Instant) -> Pacer {
        #[cfg(target_os = "linux")]
        {
            let fine = match p {
                Pacing::Fine => linux::FineTimer::new(origin)
                    .map_err(|e| tracing::warn!(%e, "no timerfd: coarse pacing"))
                    .ok(),
                Pacing::Coarse => None,
            };
            if fine.is_some() {
                let hints = crate::sched::apply_pacing_hints();
                tracing::debug!(hints = hints.label(), "fine pacing");
            }
            Pacer { origin, fine }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = p;
            Pacer { origin }
        }
    }

    /// Waits until `t`; the fine pacer wakes at the first grid point at or after `t`.
    pub async fn wait_until(&mut self, t: Instant) {
        #[cfg(target_os = "linux")]
        // A timerfd error falls through to tokio's timer.
        if let Some(fine) = &mut self.fine
            && fine.wait_until(self.origin, t).await.is_ok()
        {
            return;
        }
        if t > Instant::now() {
            tokio::time::sleep_until(t).await;
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{Arm, Armed, FINE_GRID, HANDOVER, plan_arm, slot_at_or_after};
    use rustix::time::{ClockId, Itimerspec, TimerfdTimerFlags, Timespec, clock_gettime};
    use std::os::fd::OwnedFd;
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    fn mono_ns() -> u64 {
        let t = clock_gettime(ClockId::Monotonic);
        (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
    }

    fn timespec(ns: u64) -> Timespec {
        Timespec {
            tv_sec: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
            tv_nsec: i64::try_from(ns % 1_000_000_000).unwrap_or(0),
        }
    }

    /// The fine pacer's timerfd and what it knows of it.
    pub(super) struct FineTimer {
        fd: AsyncFd<OwnedFd>,
        /// `CLOCK_MONOTONIC` of the grid's origin, ns (tokio's clock is the same clock).
        origin_ns: u64,
        grid_ns: u64,
        armed: Armed,
        last: Option<u64>,
    }

    impl FineTimer {
        pub(super) fn new(origin: Instant) -> std::io::Result<FineTimer> {
            use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            // SAFETY: `fd` is an `OwnedFd` moved into the `AsyncFd`, so it stays open and refers to
            // the same timer for the whole life of the registration.
            let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
            let (now_ns, now) = (mono_ns(), Instant::now());
            let origin_ns = if origin <= now {
                now_ns.saturating_sub(nanos(now - origin))
            } else {
                now_ns.saturating_add(nanos(origin - now))
            };
            Ok(FineTimer {
                fd,
                origin_ns,
                grid_ns: nanos(FINE_GRID).max(1),
                armed: Armed::Once,
                last: None,
            })
        }

        /// Waits for the first grid point at or after `t`.
        pub(super) async fn wait_until(
            &mut self,
            origin: Instant,
            t: Instant,
        ) -> std::io::Result<()> {
            let target = slot_at_or_after(nanos(t.saturating_duration_since(origin)), self.grid_ns);
            let wake_ns = self
                .origin_ns
                .saturating_add(target.saturating_mul(self.grid_ns));
            let now_ns = mono_ns();
            if wake_ns <= now_ns {
                return Ok(());
            }
            let current = now_ns.saturating_sub(self.origin_ns) / self.grid_ns;
            let far = wake_ns - now_ns > nanos(HANDOVER);
            // A long wait never keeps a periodic timer: it would wake the thread at every slot.
            let armed = if far { Armed::Once } else { self.armed };
            match plan_arm(armed, current, self.last, target) {
                Arm::Keep => {}
                Arm::Periodic(slot) => self.arm(slot, true)?,
                Arm::Once(slot) => self.arm(slot, false)?,
            }
            self.last = Some(target);
            if far {
                let wake = origin + std::time::Duration::from_nanos(target * self.grid_ns);
                tokio::time::sleep_until(wake - HANDOVER).await;
            }
            // A periodic timer may hold an expiration of an earlier slot: wait until the target's.
            while mono_ns() < wake_ns {
                self.expiration().await?;
            }
            Ok(())
        }

        fn arm(&mut self, slot: u64, periodic: bool) -> std::io::Result<()> {
            let at = self
                .origin_ns
                .saturating_add(slot.saturating_mul(self.grid_ns));
            let spec = Itimerspec {
                it_interval: timespec(if periodic { self.grid_ns } else { 0 }),
                it_value: timespec(at.max(1)),
            };
            rustix::time::timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &spec)?;
            self.armed = if periodic {
                Armed::Periodic
            } else {
                Armed::Once
            };
            Ok(())
        }

        /// Waits for the timer to expire (once or more) and consumes the expirations.
        async fn expiration(&self) -> std::io::Result<()> {
            loop {
                let mut guard = self.fd.readable().await?;
                let mut count = [0u8; 8];
                match rustix::io::read(self.fd.get_ref(), &mut count) {
                    Ok(_) => {
                        // Drained: the next expiration is a new edge for the event loop, so there is
                        // no need to read again to learn that the timer is empty.
                        guard.clear_ready();
                        return Ok(());
                    }
                    Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    impl Drop for FineTimer {
        fn drop(&mut self) {
            // A periodic timer left armed would wake the thread at every slot through the drain.
            if self.armed == Armed::Periodic {
                let off = Itimerspec {
                    it_interval: timespec(0),
                    it_value: timespec(0),
                };
                let _ = rustix::time::timerfd_settime(
                    self.fd.get_ref(),
                    TimerfdTimerFlags::empty(),
                    &off,
                );
            }
        }
    }

    fn nanos(d: std::time::Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_up_to_the_grid() {
        assert_eq!(slot_at_or_after(0, 100), 0);
        assert_eq!(slot_at_or_after(1, 100), 1);
        assert_eq!(slot_at_or_after(100, 100), 1);
        assert_eq!(slot_at_or_after(101, 100), 2);
        assert_eq!(slot_at_or_after(7, 0), 7);
    }

    /// Drives `plan_arm` over a schedule of target slots, each planned right after waking for the
    /// one before it (the clock then in that slot, as when the scheduler keeps up), and counts the
    /// re-armings.
    fn rearmings(targets: &[u64]) -> (usize, Vec<Arm>) {
        let (mut armed, mut last, mut plans) = (Armed::Once, None, Vec::new());
        for &t in targets {
            let arm = plan_arm(armed, last.unwrap_or(t - 1), last, t);
            armed = match arm {
                Arm::Keep => armed,
                Arm::Periodic(_) => Armed::Periodic,
                Arm::Once(_) => Armed::Once,
            };
            last = Some(t);
            plans.push(arm);
        }
        (plans.iter().filter(|a| **a != Arm::Keep).count(), plans)
    }

    #[test]
    fn a_dense_schedule_arms_once_then_keeps_a_periodic_timer() {
        // One wake-up per slot (10,000 arrivals/s and up): armed twice in all.
        let targets: Vec<u64> = (1..=1000).collect();
        let (arms, plans) = rearmings(&targets);
        assert_eq!(arms, 2);
        assert_eq!(plans[0], Arm::Once(1));
        assert_eq!(plans[1], Arm::Periodic(2));
        assert!(plans[2..].iter().all(|a| *a == Arm::Keep));
    }

    #[test]
    fn a_sparse_schedule_never_goes_periodic() {
        // Every other slot (5,000 arrivals/s): a periodic timer would wake twice per arrival.
        let targets: Vec<u64> = (1..=500).map(|k| 2 * k).collect();
        let (arms, plans) = rearmings(&targets);
        assert_eq!(arms, targets.len());
        assert!(plans.iter().all(|a| matches!(a, Arm::Once(_))));
    }

    #[test]
    fn a_gap_in_a_dense_schedule_leaves_periodic_and_comes_back() {
        let (_, plans) = rearmings(&[1, 2, 3, 10, 11, 12]);
        assert_eq!(
            plans,
            vec![
                Arm::Once(1),
                Arm::Periodic(2),
                Arm::Keep,
                Arm::Once(10),
                Arm::Periodic(11),
                Arm::Keep
            ]
        );
    }

    #[test]
    fn a_periodic_timer_is_not_kept_for_a_later_slot() {
        // Behind by a few slots (the scheduler caught up): the next expiration is not the target.
        assert_eq!(plan_arm(Armed::Periodic, 5, Some(3), 9), Arm::Once(9));
        assert_eq!(plan_arm(Armed::Periodic, 8, Some(3), 9), Arm::Keep);
    }

    /// Waits for a schedule of arrivals (ms from now) and says, for each, whether the pacer
    /// returned at or after it. Only that ordering is asserted: how late is the host's business.
    async fn never_early(p: Pacing, schedule_us: &[u64]) -> Vec<(u64, bool)> {
        let origin = Instant::now();
        let mut pacer = Pacer::new(p, origin);
        let mut out = Vec::new();
        for &us in schedule_us {
            let t = origin + Duration::from_micros(us);
            pacer.wait_until(t).await;
            out.push((us, Instant::now() >= t));
        }
        out
    }

    // Sparse, then a dense stretch (one arrival per 100 µs slot and two per slot, which keeps the
    // timer periodic), then a gap long enough for tokio's timer to take over again.
    const SCHEDULE_US: [u64; 12] = [
        300, 2_000, 2_100, 2_200, 2_250, 2_300, 2_350, 2_400, 2_500, 5_000, 5_050, 9_000,
    ];

    #[tokio::test]
    async fn coarse_pacing_never_returns_before_the_arrival() {
        let woke = never_early(Pacing::Coarse, &SCHEDULE_US).await;
        assert!(woke.iter().all(|(_, ok)| *ok), "{woke:?}");
    }

    #[tokio::test]
    async fn fine_pacing_never_returns_before_the_arrival() {
        let woke = never_early(Pacing::Fine, &SCHEDULE_US).await;
        assert!(woke.iter().all(|(_, ok)| *ok), "{woke:?}");
    }
}
