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

/// What the fine pacer's last stretch waits on: a timer on some monotonic clock, armed for absolute
/// points of that clock. The real one is a `timerfd` ([`TimerfdSlots`]); tests inject
/// [`TokioSlots`], tokio's timer, whose clock they can pause and advance.
pub(crate) trait SlotClock {
    /// The clock now, in ns from the clock's own (arbitrary, fixed) origin.
    fn now_ns(&self) -> u64;
    /// Arms the timer to expire at `at_ns` (on [`SlotClock::now_ns`]'s scale), then every `every_ns`
    /// (0: once).
    fn set_at(&mut self, at_ns: u64, every_ns: u64) -> std::io::Result<()>;
    /// Waits for the timer to expire (once or more) and consumes the expirations.
    async fn expired(&mut self) -> std::io::Result<()>;
    /// Stops the timer.
    fn disarm(&mut self);
}

/// The fine pacer's `timerfd`, registered with the runtime's event loop.
#[cfg(target_os = "linux")]
pub(crate) struct TimerfdSlots(surge_timerfd::AsyncTimerFd);

#[cfg(target_os = "linux")]
impl TimerfdSlots {
    fn new() -> std::io::Result<TimerfdSlots> {
        surge_timerfd::AsyncTimerFd::new().map(TimerfdSlots)
    }
}

#[cfg(target_os = "linux")]
impl SlotClock for TimerfdSlots {
    fn now_ns(&self) -> u64 {
        surge_timerfd::monotonic_ns()
    }
    fn set_at(&mut self, at_ns: u64, every_ns: u64) -> std::io::Result<()> {
        self.0.set_at(at_ns, every_ns)
    }
    async fn expired(&mut self) -> std::io::Result<()> {
        self.0.expired().await.map(|_| ())
    }
    fn disarm(&mut self) {
        let _ = self.0.disarm();
    }
}

/// Where the engine has no timerfd, there is no fine pacer: this type is never built.
#[cfg(not(target_os = "linux"))]
pub(crate) type TimerfdSlots = TokioSlots;

/// A [`SlotClock`] on tokio's clock and timer (1 ms granularity): what tests inject to run the fine
/// pacer's own logic under paused time.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct TokioSlots {
    base: Instant,
    next: Option<(u64, u64)>,
    /// Every arming, `(at_ns, every_ns)`, for tests to count.
    pub(crate) armed: Vec<(u64, u64)>,
}

/// [`TokioSlots`] counts from this far before its base, so that instants before it stay positive.
#[cfg_attr(not(test), allow(dead_code))]
const TOKIO_SLOTS_OFFSET_NS: u64 = 1_000_000_000_000;

#[cfg_attr(not(test), allow(dead_code))]
impl TokioSlots {
    /// A disarmed timer counting from `base` (any instant near the run).
    pub(crate) fn new(base: Instant) -> TokioSlots {
        TokioSlots {
            base,
            next: None,
            armed: Vec::new(),
        }
    }

    fn instant(&self, ns: u64) -> Instant {
        match ns.checked_sub(TOKIO_SLOTS_OFFSET_NS) {
            Some(after) => self.base + Duration::from_nanos(after),
            None => self.base - Duration::from_nanos(TOKIO_SLOTS_OFFSET_NS - ns),
        }
    }
}

impl SlotClock for TokioSlots {
    fn now_ns(&self) -> u64 {
        let now = Instant::now();
        if now >= self.base {
            TOKIO_SLOTS_OFFSET_NS.saturating_add(nanos(now - self.base))
        } else {
            TOKIO_SLOTS_OFFSET_NS.saturating_sub(nanos(self.base - now))
        }
    }
    fn set_at(&mut self, at_ns: u64, every_ns: u64) -> std::io::Result<()> {
        self.next = Some((at_ns, every_ns));
        self.armed.push((at_ns, every_ns));
        Ok(())
    }
    async fn expired(&mut self) -> std::io::Result<()> {
        let Some((at, every)) = self.next else {
            return std::future::pending().await;
        };
        if at > self.now_ns() {
            tokio::time::sleep_until(self.instant(at)).await;
        }
        // Consume every expiration due by now, as a read of a timerfd does.
        let now = self.now_ns();
        self.next = (every > 0).then(|| (at + every * ((now - at) / every + 1), every));
        Ok(())
    }
    fn disarm(&mut self) {
        self.next = None;
    }
}

/// The open-model scheduler's clock.
pub(crate) struct Pacer<C: SlotClock = TimerfdSlots> {
    origin: Instant,
    fine: Option<FineTimer<C>>,
}

impl Pacer {
    /// A pacer whose fine grid starts at `origin`. Fine pacing falls back to coarse without a timerfd.
    /// Fine pacing gives the calling thread (the worker's) the [scheduler hints](crate::sched).
    pub fn new(p: Pacing, origin: Instant) -> Pacer {
        #[cfg(target_os = "linux")]
        {
            let fine = match p {
                Pacing::Fine => TimerfdSlots::new()
                    .map_err(|e| tracing::warn!(%e, "no timerfd: coarse pacing"))
                    .ok(),
                Pacing::Coarse => None,
            };
            if fine.is_some() {
                let hints = crate::sched::apply_pacing_hints();
                tracing::debug!(hints = hints.label(), "fine pacing");
            }
            Pacer::with_clock(fine, origin, FINE_GRID)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = p;
            Pacer::with_clock(None, origin, FINE_GRID)
        }
    }
}

impl<C: SlotClock> Pacer<C> {
    /// A pacer waking on a `grid` from `origin` on `clock`'s timer (None: tokio's timer alone, the
    /// coarse pacer).
    pub(crate) fn with_clock(clock: Option<C>, origin: Instant, grid: Duration) -> Pacer<C> {
        Pacer {
            origin,
            fine: clock.map(|c| FineTimer::new(c, origin, grid)),
        }
    }

    /// Waits until `t`; the fine pacer wakes at the first grid point at or after `t`.
    pub async fn wait_until(&mut self, t: Instant) {
        // A timer error falls through to tokio's timer.
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

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The fine pacer: its timer and what it knows of it.
struct FineTimer<C: SlotClock> {
    clock: C,
    /// The grid's origin on the clock's scale (tokio's clock and `CLOCK_MONOTONIC` are the same
    /// clock when time is not paused).
    origin_ns: u64,
    grid_ns: u64,
    armed: Armed,
    last: Option<u64>,
}

impl<C: SlotClock> FineTimer<C> {
    fn new(clock: C, origin: Instant, grid: Duration) -> FineTimer<C> {
        let (now_ns, now) = (clock.now_ns(), Instant::now());
        let origin_ns = if origin <= now {
            now_ns.saturating_sub(nanos(now - origin))
        } else {
            now_ns.saturating_add(nanos(origin - now))
        };
        FineTimer {
            clock,
            origin_ns,
            grid_ns: nanos(grid).max(1),
            armed: Armed::Once,
            last: None,
        }
    }

    /// Waits for the first grid point at or after `t`.
    async fn wait_until(&mut self, origin: Instant, t: Instant) -> std::io::Result<()> {
        let target = slot_at_or_after(nanos(t.saturating_duration_since(origin)), self.grid_ns);
        let wake_ns = self
            .origin_ns
            .saturating_add(target.saturating_mul(self.grid_ns));
        let now_ns = self.clock.now_ns();
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
            let wake = origin + Duration::from_nanos(target * self.grid_ns);
            tokio::time::sleep_until(wake - HANDOVER).await;
        }
        // A periodic timer may hold an expiration of an earlier slot: wait until the target's.
        while self.clock.now_ns() < wake_ns {
            self.clock.expired().await?;
        }
        Ok(())
    }

    fn arm(&mut self, slot: u64, periodic: bool) -> std::io::Result<()> {
        let at = self
            .origin_ns
            .saturating_add(slot.saturating_mul(self.grid_ns));
        self.clock
            .set_at(at, if periodic { self.grid_ns } else { 0 })?;
        self.armed = if periodic {
            Armed::Periodic
        } else {
            Armed::Once
        };
        Ok(())
    }
}

impl<C: SlotClock> Drop for FineTimer<C> {
    fn drop(&mut self) {
        // A periodic timer left armed would wake the thread at every slot through the drain.
        if self.armed == Armed::Periodic {
            self.clock.disarm();
        }
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

    // The fine pacer's own logic (grid slots, hand-over, periodic arming) on tokio's paused clock:
    // the injected timer is tokio's, so time only moves when every task waits, and by exactly as much
    // as the next timer needs. tokio's timer has 1 ms ticks: on a 1 ms grid every wake-up is exact.

    fn paused_fine(origin: Instant, grid: Duration) -> Pacer<TokioSlots> {
        Pacer::with_clock(Some(TokioSlots::new(origin)), origin, grid)
    }

    fn armings(p: &Pacer<TokioSlots>) -> usize {
        p.fine.as_ref().map_or(0, |f| f.clock.armed.len())
    }

    #[tokio::test(start_paused = true)]
    async fn paused_fine_pacing_starts_each_arrival_on_its_grid_slot() {
        let origin = Instant::now();
        let mut pacer = paused_fine(origin, Duration::from_millis(1));
        // (arrival, the slot it must leave on), µs and ms after the origin: every arrival due by a
        // slot leaves at that slot, together; one exactly on a slot leaves on it; a long wait (past
        // the 1.5 ms hand-over) sleeps on tokio's timer first and still wakes on its slot.
        let cases = [
            (300, 1),
            (2_000, 2),
            (2_100, 3),
            (2_900, 3),
            (3_000, 3),
            (3_001, 4),
            (9_500, 10),
            (250_000, 250),
            (250_000, 250),
            (250_001, 251),
        ];
        for (us, slot_ms) in cases {
            pacer.wait_until(origin + Duration::from_micros(us)).await;
            assert_eq!(
                Instant::now() - origin,
                Duration::from_millis(slot_ms),
                "the arrival at {us} µs"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paused_fine_pacing_keeps_a_periodic_timer_through_a_dense_stretch() {
        let origin = Instant::now();
        let mut pacer = paused_fine(origin, Duration::from_millis(1));
        // One arrival per slot for 200 slots: armed once, then made periodic, then kept.
        for k in 1..=200u64 {
            pacer.wait_until(origin + Duration::from_millis(k)).await;
            assert_eq!(Instant::now() - origin, Duration::from_millis(k));
        }
        assert_eq!(armings(&pacer), 2);
        // A gap: the next arrival is armed once again, then the dense stretch goes periodic again.
        for k in [300u64, 301, 302, 303] {
            pacer.wait_until(origin + Duration::from_millis(k)).await;
            assert_eq!(Instant::now() - origin, Duration::from_millis(k));
        }
        assert_eq!(armings(&pacer), 4);
        let every: Vec<u64> = pacer
            .fine
            .as_ref()
            .map(|f| f.clock.armed.iter().map(|(_, e)| *e).collect())
            .unwrap_or_default();
        assert_eq!(every, vec![0, 1_000_000, 0, 1_000_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn paused_fine_pacing_on_the_real_grid_is_never_early_and_at_most_one_tick_late() {
        // The 100 µs grid on tokio's 1 ms ticks: each arrival leaves at or after its slot, within
        // the tick that holds it (a real timerfd would wake on the slot itself).
        let origin = Instant::now();
        let mut pacer = paused_fine(origin, FINE_GRID);
        for &us in &SCHEDULE_US {
            let t = origin + Duration::from_micros(us);
            let slot = origin + FINE_GRID * u32::try_from(us.div_ceil(100)).unwrap_or(u32::MAX);
            pacer.wait_until(t).await;
            let now = Instant::now();
            assert!(now >= slot, "{us} µs left before its slot");
            assert!(now < slot + Duration::from_millis(1), "{us} µs left late");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paused_coarse_pacing_starts_each_arrival_within_tokios_tick() {
        let origin = Instant::now();
        let mut pacer: Pacer<TokioSlots> = Pacer::with_clock(None, origin, FINE_GRID);
        for &us in &SCHEDULE_US {
            let t = origin + Duration::from_micros(us);
            pacer.wait_until(t).await;
            let now = Instant::now();
            assert!(now >= t && now < t + Duration::from_millis(1), "{us} µs");
        }
        // An arrival already due does not wait at all.
        let before = Instant::now();
        pacer.wait_until(origin).await;
        assert_eq!(Instant::now(), before);
    }
}
