//! The timerfd itself (Linux only).

use rustix::io::Errno;
use rustix::time::{
    ClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, clock_gettime,
    timerfd_create, timerfd_settime,
};
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// `CLOCK_MONOTONIC` now, in ns: the clock a timerfd of this crate counts on.
pub fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

fn timespec(ns: u64) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ns % 1_000_000_000).unwrap_or(0),
    }
}

fn create(flags: TimerfdFlags) -> io::Result<OwnedFd> {
    Ok(timerfd_create(
        TimerfdClockId::Monotonic,
        flags | TimerfdFlags::CLOEXEC,
    )?)
}

/// Arms `fd` to expire at `at_ns` (absolute, `CLOCK_MONOTONIC`) and then every `every_ns` (0: once).
fn set_at(fd: &OwnedFd, at_ns: u64, every_ns: u64) -> io::Result<()> {
    let spec = Itimerspec {
        it_interval: timespec(every_ns),
        // 0 would disarm the timer: a deadline at the clock's origin is long past anyway.
        it_value: timespec(at_ns.max(1)),
    };
    timerfd_settime(fd, TimerfdTimerFlags::ABSTIME, &spec)?;
    Ok(())
}

/// Arms `fd` to expire once, `after` from now (at least 1 ns: 0 would disarm it).
fn set_after(fd: &OwnedFd, after: Duration) -> io::Result<()> {
    let ns = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX).max(1);
    let spec = Itimerspec {
        it_interval: timespec(0),
        it_value: timespec(ns),
    };
    timerfd_settime(fd, TimerfdTimerFlags::empty(), &spec)?;
    Ok(())
}

fn disarm(fd: &OwnedFd) -> io::Result<()> {
    let off = Itimerspec {
        it_interval: timespec(0),
        it_value: timespec(0),
    };
    timerfd_settime(fd, TimerfdTimerFlags::empty(), &off)?;
    Ok(())
}

/// One read of the expiration counter.
fn read(fd: &OwnedFd) -> Result<u64, Errno> {
    let mut count = [0u8; 8];
    rustix::io::read(fd, &mut count)?;
    Ok(u64::from_ne_bytes(count))
}

/// A blocking timerfd: [`TimerFd::wait`] puts the calling thread to sleep until it expires.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// A disarmed timer.
    pub fn new() -> io::Result<TimerFd> {
        Ok(TimerFd {
            fd: create(TimerfdFlags::empty())?,
        })
    }

    /// Expire at `at_ns` of `CLOCK_MONOTONIC` ([`monotonic_ns`]), then every `every_ns` (0: once).
    pub fn set_at(&self, at_ns: u64, every_ns: u64) -> io::Result<()> {
        set_at(&self.fd, at_ns, every_ns)
    }

    /// Expire once, `after` from now.
    pub fn set_after(&self, after: Duration) -> io::Result<()> {
        set_after(&self.fd, after)
    }

    /// Stop the timer.
    pub fn disarm(&self) -> io::Result<()> {
        disarm(&self.fd)
    }

    /// Blocks until the timer has expired (at once if it already has) and answers how many times it
    /// expired since the last read. A timer that is not armed blocks for ever.
    pub fn wait(&self) -> io::Result<u64> {
        loop {
            match read(&self.fd) {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A timerfd registered with the current tokio runtime's event loop: [`AsyncTimerFd::expired`]
/// waits for it without holding the thread.
#[derive(Debug)]
pub struct AsyncTimerFd {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncTimerFd {
    /// A disarmed timer, registered with the current runtime. Call it inside a tokio runtime with
    /// its I/O driver enabled (tokio panics otherwise, as for any of its sockets).
    pub fn new() -> io::Result<AsyncTimerFd> {
        let fd = create(TimerfdFlags::NONBLOCK)?;
        // SAFETY: `fd` is an `OwnedFd` moved into the `AsyncFd`, so it stays open and refers to the
        // same timer for the whole life of the registration.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(AsyncTimerFd { fd })
    }

    /// Expire at `at_ns` of `CLOCK_MONOTONIC` ([`monotonic_ns`]), then every `every_ns` (0: once).
    pub fn set_at(&self, at_ns: u64, every_ns: u64) -> io::Result<()> {
        set_at(self.fd.get_ref(), at_ns, every_ns)
    }

    /// Expire once, `after` from now.
    pub fn set_after(&self, after: Duration) -> io::Result<()> {
        set_after(self.fd.get_ref(), after)
    }

    /// Stop the timer.
    pub fn disarm(&self) -> io::Result<()> {
        disarm(self.fd.get_ref())
    }

    /// Waits until the timer has expired (once or more), consumes the expirations and answers how
    /// many there were.
    pub async fn expired(&self) -> io::Result<u64> {
        loop {
            let mut guard = self.fd.readable().await?;
            match read(self.fd.get_ref()) {
                Ok(n) => {
                    // Drained: the next expiration is a new edge for the event loop, so there is no
                    // need to read again to learn that the timer is empty. (An expiration between the
                    // read and this clear carries a newer readiness tick, which this does not clear.)
                    guard.clear_ready();
                    return Ok(n);
                }
                Err(Errno::AGAIN) => guard.clear_ready(),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocking_timer_never_wakes_before_its_deadline() -> io::Result<()> {
        let t = TimerFd::new()?;
        for _ in 0..20 {
            let at = monotonic_ns() + 100_000;
            t.set_at(at, 0)?;
            assert_eq!(t.wait()?, 1);
            assert!(monotonic_ns() >= at);
        }
        let start = monotonic_ns();
        t.set_after(Duration::from_micros(300))?;
        t.wait()?;
        assert!(monotonic_ns() >= start + 300_000);
        Ok(())
    }

    #[test]
    fn a_deadline_in_the_past_expires_at_once() -> io::Result<()> {
        let t = TimerFd::new()?;
        t.set_at(0, 0)?;
        assert_eq!(t.wait()?, 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_periodic_timer_counts_every_expiration_and_stops_when_disarmed() -> io::Result<()> {
        let t = AsyncTimerFd::new()?;
        let (start, every) = (monotonic_ns(), 100_000);
        t.set_at(start + every, every)?;
        let mut seen = 0;
        while seen < 5 {
            seen += t.expired().await?;
        }
        // Five periods have gone by at least (more if the host was slow to wake us).
        assert!(monotonic_ns() >= start + 5 * every);
        t.disarm()?;
        // Disarmed: one more wait would block for ever; a fresh one-shot arming wakes it again.
        t.set_after(Duration::from_micros(200))?;
        assert!(t.expired().await? >= 1);
        Ok(())
    }
}
