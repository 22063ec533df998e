//! How precisely the open-model scheduler keeps its appointments, and which HTTP/1.1 client runs.
//!
//! tokio's timer wheel has a 1 ms granularity and rounds every sleep up: a schedule paced by
//! `sleep_until` keeps its rate but sends every arrival 0-1 ms late, in 1 ms batches, and that
//! lateness lands in every latency measured from the intended start. [`Pacing::Fine`] sleeps on
//! tokio's timer until about a millisecond before the next arrival, then on a Linux `timerfd`
//! registered with the runtime's event loop, armed for the next point of a small grid
//! ([`FINE_GRID`]) at or after the arrival: every arrival due by that point starts at that wake-up.
//! The grid bounds the wake-ups (at most 1 / grid per second, however high the arrival rate), and
//! each wake-up is what costs CPU on a VM, so the grid is the precision/CPU trade-off.
//! [`Pacing::Coarse`] is tokio's timer alone: the cheapest, for runs where a millisecond of send lag
//! does not matter. The send lag is recorded either way.
//!
//! ```
//! use surge_engine::pacing::{Pacing, set_pacing, pacing};
//! set_pacing(Pacing::Coarse);
//! assert_eq!(pacing(), Pacing::Coarse);
//! assert_eq!("fine".parse::<Pacing>(), Ok(Pacing::Fine));
//! ```

pub use crate::floor::{FloorFigures, floor_probe, preflight};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Wake-ups of the fine pacer fall on this grid (from the run's start).
pub const FINE_GRID: Duration = Duration::from_micros(100);

/// How the open-model scheduler waits for the next arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pacing {
    /// tokio's timer: ~1 ms of send lag, cheapest.
    Coarse,
    /// A timerfd on a 100 µs grid for the last millisecond: sub-millisecond send lag, more CPU.
    #[default]
    Fine,
}

impl Pacing {
    /// The name `--pacing` takes (and the wire carries to remote workers).
    pub fn as_str(self) -> &'static str {
        match self {
            Pacing::Coarse => "coarse",
            Pacing::Fine => "fine",
        }
    }
}

impl std::str::FromStr for Pacing {
    type Err = String;
    fn from_str(s: &str) -> Result<Pacing, String> {
        match s {
            "coarse" => Ok(Pacing::Coarse),
            "fine" => Ok(Pacing::Fine),
            other => Err(format!("unknown pacing {other:?} (coarse or fine)")),
        }
    }
}

/// Which client sends plain `http://` HTTP/1.1 steps (h2 and https always use hyper-util).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Http1Client {
    /// The lean client of [`crate::h1`].
    #[default]
    Fast,
    /// hyper-util's pooled client.
    Hyper,
}

impl Http1Client {
    /// The name `--http1` takes (and the wire carries to remote workers).
    pub fn as_str(self) -> &'static str {
        match self {
            Http1Client::Fast => "fast",
            Http1Client::Hyper => "hyper",
        }
    }
}

impl std::str::FromStr for Http1Client {
    type Err = String;
    fn from_str(s: &str) -> Result<Http1Client, String> {
        match s {
            "fast" => Ok(Http1Client::Fast),
            "hyper" => Ok(Http1Client::Hyper),
            other => Err(format!("unknown HTTP/1.1 client {other:?} (fast or hyper)")),
        }
    }
}

// Process-wide settings, read when a worker starts (kept out of `WorkerSpec` so every place that
// builds one keeps compiling; a worker reads them once).
static PACING: AtomicU8 = AtomicU8::new(0);
static HTTP1: AtomicU8 = AtomicU8::new(0);

/// Sets the pacing of workers started from now on (default [`Pacing::Fine`]).
pub fn set_pacing(p: Pacing) {
    PACING.store(1 + p as u8, Ordering::Relaxed);
}

/// The pacing workers use.
pub fn pacing() -> Pacing {
    match PACING.load(Ordering::Relaxed) {
        1 => Pacing::Coarse,
        2 => Pacing::Fine,
        _ => Pacing::default(),
    }
}

/// Sets the HTTP/1.1 client of workers started from now on (default [`Http1Client::Fast`]).
pub fn set_http1_client(c: Http1Client) {
    HTTP1.store(1 + c as u8, Ordering::Relaxed);
}

/// The HTTP/1.1 client workers use.
pub fn http1_client() -> Http1Client {
    match HTTP1.load(Ordering::Relaxed) {
        1 => Http1Client::Fast,
        2 => Http1Client::Hyper,
        _ => Http1Client::default(),
    }
}

/// The open-model scheduler's clock: waits until an intended start, coarse or fine.
pub(crate) struct Pacer {
    origin: Instant,
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Pacer {
    /// A pacer whose fine grid starts at `origin`. Fine pacing falls back to coarse without a timerfd.
    pub fn new(p: Pacing, origin: Instant) -> Pacer {
        #[cfg(target_os = "linux")]
        {
            let fd = match p {
                Pacing::Fine => fine_fd()
                    .map_err(|e| tracing::warn!(%e, "no timerfd: coarse pacing"))
                    .ok(),
                Pacing::Coarse => None,
            };
            Pacer { origin, fd }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = p;
            Pacer { origin }
        }
    }

    /// Waits until `t`; the fine pacer wakes at the first grid point at or after `t`.
    pub async fn wait_until(&self, t: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            let since = t.saturating_duration_since(self.origin).as_nanos();
            let grid = FINE_GRID.as_nanos();
            let wake = self.origin
                + Duration::from_nanos(
                    u64::try_from(since.div_ceil(grid) * grid).unwrap_or(u64::MAX),
                );
            // tokio's timer for the long part: it wakes at the latest one tick past the target.
            let early = wake
                .checked_sub(Duration::from_micros(1500))
                .unwrap_or(wake);
            if early > Instant::now() {
                tokio::time::sleep_until(early).await;
            }
            let now = Instant::now();
            if wake > now && fine_wait(fd, wake - now).await.is_ok() {
                return;
            }
            // A timerfd error: fall through to tokio's timer.
        }
        if t > Instant::now() {
            tokio::time::sleep_until(t).await;
        }
    }
}

#[cfg(target_os = "linux")]
fn fine_fd() -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    // SAFETY: `fd` is an `OwnedFd` moved into the `AsyncFd`, so it stays open and refers to the same
    // timer for the whole life of the registration.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// Arms the timerfd once for `after` and waits until it fires.
#[cfg(target_os = "linux")]
async fn fine_wait(
    fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    after: Duration,
) -> std::io::Result<()> {
    use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(after.subsec_nanos().max(1)),
        },
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    loop {
        let mut guard = fd.readable().await?;
        let mut expirations = [0u8; 8];
        match guard.try_io(|inner| {
            rustix::io::read(inner.get_ref(), &mut expirations).map_err(std::io::Error::from)
        }) {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}
