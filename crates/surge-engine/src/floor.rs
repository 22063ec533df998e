//! The host's timer floor: how late a bare thread wakes from absolute deadlines, like cyclictest.
//!
//! No pacer can send on time more precisely than a thread of this host can wake on time. The probe
//! is a thread that sleeps to absolute deadlines at a given rate (with the same [scheduler
//! hints](crate::sched) the fine pacer uses) and records how late each wake-up is. The benchmark
//! runs it in the same round as surge, so that surge's send lag is read against what the host
//! allowed at that moment; surge runs a short one at start ([`preflight`]) to say so when the host
//! cannot hold the pacing asked for.
//!
//! ```no_run
//! use std::time::Duration;
//! use surge_engine::floor::{FloorClock, floor_probe};
//! let f = floor_probe(Duration::from_secs(5), 20_000.0, FloorClock::Nanosleep).unwrap();
//! println!("p99 wake-up lateness {:.0} µs over {} wake-ups", f.p99_us, f.wakeups);
//! ```

use crate::sched::{Hints, apply_pacing_hints};
use std::time::Duration;

/// How the probe sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorClock {
    /// `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`, as cyclictest does.
    Nanosleep,
    /// A blocking read of a `timerfd`, armed once as a periodic timer from the first deadline: the
    /// fine pacer's timer as it runs through a dense schedule (one `read` per wake-up, no re-arming).
    Timerfd,
}

impl FloorClock {
    /// The name the `timer-floor` tool takes.
    pub fn as_str(self) -> &'static str {
        match self {
            FloorClock::Nanosleep => "nanosleep",
            FloorClock::Timerfd => "timerfd",
        }
    }
}

/// What the probe measured: wake-up lateness past each absolute deadline.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorFigures {
    /// Deadlines the thread woke for.
    pub wakeups: u64,
    /// Deadlines skipped because the thread woke after the next one had passed too.
    pub missed: u64,
    /// Median lateness, µs.
    pub p50_us: f64,
    /// 99th percentile lateness, µs.
    pub p99_us: f64,
    /// 99.9th percentile lateness, µs.
    pub p999_us: f64,
    /// Largest lateness, µs.
    pub max_us: f64,
    /// The probe thread's own CPU time (user and system) per wake-up, µs: what one wake-up from a
    /// timer costs on this host, the least a pacer pays per wake-up. Timer interrupts and the idle
    /// exit are charged to nobody; a hypervisor's exits on the timer's system calls are.
    pub cpu_us_per_wakeup: f64,
    /// The scheduler hints that took effect on the probe thread.
    pub hints: Hints,
}

/// Why the probe could not run.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The rate is not a positive number, or above 1,000,000 a second.
    #[error("probe rate must be between 1 and 1,000,000 a second, not {0}")]
    Rate(f64),
    /// Not Linux.
    #[error("the timer-floor probe needs Linux")]
    Unsupported,
    /// A syscall failed.
    #[error("timer-floor probe: a system call failed")]
    Io(#[from] std::io::Error),
    /// The probe thread died.
    #[error("timer-floor probe thread panicked")]
    Thread,
}

/// Sleeps to absolute deadlines `rate` times a second for `duration` on a new thread with the fine
/// pacer's scheduler hints, and returns how late it woke.
pub fn floor_probe(
    duration: Duration,
    rate: f64,
    clock: FloorClock,
) -> Result<FloorFigures, FloorError> {
    probe(duration, rate, clock, true)
}

/// [`floor_probe`] on a thread left as the kernel makes it (no hints): what any program would see.
pub fn floor_probe_bare(
    duration: Duration,
    rate: f64,
    clock: FloorClock,
) -> Result<FloorFigures, FloorError> {
    probe(duration, rate, clock, false)
}

fn probe(
    duration: Duration,
    rate: f64,
    clock: FloorClock,
    hints: bool,
) -> Result<FloorFigures, FloorError> {
    if !(rate.is_finite() && (1.0..=1_000_000.0).contains(&rate)) {
        return Err(FloorError::Rate(rate));
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    std::thread::Builder::new()
        .name("surge-floor".into())
        .spawn(move || probe_thread(duration, period, clock, hints))?
        .join()
        .map_err(|_| FloorError::Thread)?
}

/// The share of a core that a thread kept busy for `duration` gets (its CPU time over the wall time):
/// on a core shared with others, what is left for surge. A pacer that needs more CPU than this falls
/// behind however precisely its timer fires.
pub fn cpu_share_probe(duration: Duration) -> Result<f64, FloorError> {
    std::thread::Builder::new()
        .name("surge-cpu-share".into())
        .spawn(move || busy_share(duration))?
        .join()
        .map_err(|_| FloorError::Thread)?
}

#[cfg(target_os = "linux")]
fn busy_share(duration: Duration) -> Result<f64, FloorError> {
    use rustix::time::{ClockId, clock_gettime};
    let ns = |id| {
        let t = clock_gettime(id);
        (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
    };
    let (w0, c0) = (ns(ClockId::Monotonic), ns(ClockId::ThreadCPUTime));
    let end = w0.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    let mut w1 = w0;
    while w1 < end {
        std::hint::spin_loop();
        w1 = ns(ClockId::Monotonic);
    }
    let c1 = ns(ClockId::ThreadCPUTime);
    Ok((c1.saturating_sub(c0)) as f64 / (w1.saturating_sub(w0)).max(1) as f64)
}

#[cfg(not(target_os = "linux"))]
fn busy_share(_: Duration) -> Result<f64, FloorError> {
    Err(FloorError::Unsupported)
}

/// The p99 lateness the fine pacer can live with: its send-lag goal (200 µs) less its grid.
pub const FLOOR_BUDGET: Duration = Duration::from_micros(100);

/// How long the probe before a run lasts.
pub const PREFLIGHT: Duration = Duration::from_millis(150);

/// The fewest wake-ups a second a pre-run probe takes, so that its 150 ms hold enough wake-ups (300)
/// for a p99 that means something; a thread's lateness hardly depends on how often it sleeps.
pub const PREFLIGHT_MIN_RATE: f64 = 2_000.0;

/// The rate a pre-run probe wakes at for a pacer facing `rate` arrivals a second: the pacer's own
/// wake-up rate (at most one per fine-grid slot), and at least [`PREFLIGHT_MIN_RATE`].
pub fn preflight_rate(rate: f64) -> f64 {
    let grid_rate = 1.0 / crate::pacing::FINE_GRID.as_secs_f64();
    if rate.is_finite() {
        rate.clamp(PREFLIGHT_MIN_RATE, grid_rate)
    } else {
        grid_rate
    }
}

/// The short probe ([`PREFLIGHT`]) `surge run` takes before sending with `--pacing fine`, at the wake-up
/// rate of a pacer facing `rate` arrivals a second ([`preflight_rate`]), on the fine pacer's timer.
/// [`preflight_verdict`] says what it means.
pub fn preflight(rate: f64) -> Result<FloorFigures, FloorError> {
    floor_probe(PREFLIGHT, preflight_rate(rate), FloorClock::Timerfd)
}

/// The sentence for stderr when figures `f` measured before a run at `rate` arrivals a second show a
/// floor above what fine pacing needs ([`FLOOR_BUDGET`]); `None` when the host allows it.
pub fn preflight_verdict(f: &FloorFigures, rate: f64) -> Option<String> {
    let budget = FLOOR_BUDGET.as_secs_f64() * 1e6;
    (f.p99_us > budget).then(|| {
        format!(
            "this host's timer floor is above what --pacing fine needs at {rate:.0} arrivals/s: a bare \
             thread woke {:.0} µs late at p99 ({} wake-ups, worst {:.0} µs; fine pacing needs at most \
             {budget:.0} µs to keep send lag p99 within 200 µs). Expect send lag above that: it is the \
             host (other processes on these cores, or the hypervisor), not the load under test; \
             cores of its own, or a session of its own at a higher priority, give surge back its timers",
            f.p99_us, f.wakeups, f.max_us
        )
    })
}

/// The deadline after `deadline` that is still ahead of `now` (all in ns), and how many were skipped.
pub fn next_deadline(deadline: u64, now: u64, period: u64) -> (u64, u64) {
    let period = period.max(1);
    let next = deadline.saturating_add(period);
    if next > now {
        return (next, 0);
    }
    let behind = (now - next) / period + 1;
    (next.saturating_add(behind.saturating_mul(period)), behind)
}

#[cfg(target_os = "linux")]
fn probe_thread(
    duration: Duration,
    period: Duration,
    clock: FloorClock,
    hints: bool,
) -> Result<FloorFigures, FloorError> {
    let hints = if hints {
        apply_pacing_hints()
    } else {
        Hints::default()
    };
    let now = surge_timerfd::monotonic_ns;
    let mut hist = surge_metrics::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let tfd = match clock {
        FloorClock::Timerfd => Some(surge_timerfd::TimerFd::new()?),
        FloorClock::Nanosleep => None,
    };
    let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1);
    let start = now();
    let end = start.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    let (mut deadline, mut missed) = (start.saturating_add(period_ns), 0u64);
    if let Some(fd) = &tfd {
        fd.set_at(deadline, period_ns)?;
    }
    let cpu0 = thread_cpu_ns();
    while deadline < end {
        match &tfd {
            Some(fd) => {
                // A periodic timer answers how many deadlines passed: the wake-up is for the last.
                let expired = fd.wait()?.max(1);
                let skipped = expired - 1;
                let left = end.saturating_sub(1).saturating_sub(deadline) / period_ns;
                missed += skipped.min(left);
                deadline = deadline.saturating_add(skipped.saturating_mul(period_ns));
                let woke = now();
                hist.saturating_record(woke.saturating_sub(deadline).max(1));
                deadline = deadline.saturating_add(period_ns);
            }
            None => {
                sleep_abs(timespec(deadline))?;
                let woke = now();
                hist.saturating_record(woke.saturating_sub(deadline).max(1));
                let (next, skipped) = next_deadline(deadline, woke, period_ns);
                // Only deadlines within the probe's time count as missed.
                let left = end.saturating_sub(1).saturating_sub(deadline) / period_ns;
                missed += skipped.min(left);
                deadline = next;
            }
        }
    }
    let cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    if let Some(fd) = &tfd {
        fd.disarm()?;
    }
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    Ok(FloorFigures {
        cpu_us_per_wakeup: cpu_ns as f64 / 1e3 / hist.len().max(1) as f64,
        wakeups: hist.len(),
        missed,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        max_us: hist.max() as f64 / 1e3,
        hints,
    })
}

/// This thread's CPU time (user and system), ns.
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

#[cfg(not(target_os = "linux"))]
fn probe_thread(
    _: Duration,
    _: Duration,
    _: FloorClock,
    _: bool,
) -> Result<FloorFigures, FloorError> {
    Err(FloorError::Unsupported)
}

#[cfg(target_os = "linux")]
fn timespec(ns: u64) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ns % 1_000_000_000).unwrap_or(0),
    }
}

#[cfg(target_os = "linux")]
fn sleep_abs(ts: rustix::time::Timespec) -> std::io::Result<()> {
    loop {
        match rustix::thread::clock_nanosleep_absolute(rustix::thread::ClockId::Monotonic, &ts) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_deadline_steps_one_period_when_on_time() {
        assert_eq!(next_deadline(1_000, 1_010, 50), (1_050, 0));
    }

    #[test]
    fn next_deadline_skips_the_periods_slept_through() {
        // Woke at 1,170 for the deadline at 1,000: 1,050, 1,100 and 1,150 have passed.
        assert_eq!(next_deadline(1_000, 1_170, 50), (1_200, 3));
        // Exactly on a later deadline: that one is missed too (it cannot be slept to any more).
        assert_eq!(next_deadline(1_000, 1_100, 50), (1_150, 2));
    }

    #[test]
    fn next_deadline_survives_a_zero_period_and_overflow() {
        assert_eq!(next_deadline(5, 5, 0), (6, 0));
        assert_eq!(next_deadline(u64::MAX - 1, 0, 10).0, u64::MAX);
    }

    #[test]
    fn probe_refuses_silly_rates() {
        for r in [0.0, -1.0, f64::NAN, 2e6] {
            assert!(matches!(
                floor_probe(Duration::from_millis(1), r, FloorClock::Nanosleep),
                Err(FloorError::Rate(_))
            ));
        }
    }

    fn figures(p99_us: f64) -> FloorFigures {
        FloorFigures {
            wakeups: 1_500,
            missed: 0,
            p50_us: 10.0,
            p99_us,
            p999_us: p99_us,
            max_us: p99_us,
            cpu_us_per_wakeup: 20.0,
            hints: Hints::default(),
        }
    }

    #[test]
    fn preflight_wakes_at_the_pacers_rate_within_bounds() {
        // The pacer's own rate where it is in range; at least 2,000/s for a p99 over 300 wake-ups;
        // at most one wake-up per 100 µs grid slot.
        assert_eq!(preflight_rate(5_000.0), 5_000.0);
        assert_eq!(preflight_rate(375.0), PREFLIGHT_MIN_RATE);
        assert_eq!(preflight_rate(100_000.0), 10_000.0);
        assert_eq!(preflight_rate(f64::INFINITY), 10_000.0);
        assert_eq!(preflight_rate(f64::NAN), 10_000.0);
    }

    #[test]
    fn preflight_speaks_only_when_the_floor_is_above_the_budget() {
        assert_eq!(preflight_verdict(&figures(60.0), 20_000.0), None);
        let said = preflight_verdict(&figures(450.0), 20_000.0).unwrap_or_default();
        assert!(said.contains("450 µs"), "{said}");
        assert!(said.contains("20000 arrivals/s"), "{said}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_short_probe_counts_its_wakeups() {
        // 20 ms at 1,000/s: about 20 deadlines; on a loaded host some may be missed, none invented.
        let f = floor_probe(Duration::from_millis(20), 1_000.0, FloorClock::Timerfd)
            .expect("probe runs on Linux");
        assert!(f.wakeups >= 1 && f.wakeups + f.missed <= 21, "{f:?}");
        assert!(f.p50_us <= f.p99_us && f.p99_us <= f.max_us, "{f:?}");
        // Each wake-up is at least one system call: some CPU, and not a whole period's.
        assert!(
            f.cpu_us_per_wakeup > 0.0 && f.cpu_us_per_wakeup < 1_000.0,
            "{f:?}"
        );
    }
}
