//! # surge-timerfd
//!
//! surge's one wrapper of a Linux `timerfd` on `CLOCK_MONOTONIC` (the clock std's and tokio's
//! `Instant` read). Three places wait on one: the engine's fine pacer ([`AsyncTimerFd`], absolute
//! and sometimes periodic), the reference target's service-time timer ([`AsyncTimerFd`], relative,
//! once) and the engine's timer floor probe ([`TimerFd`], blocking, absolute). They share the
//! arming, the reading of expirations and the handling of `EINTR`/`EAGAIN` here.
//!
//! A leaf crate: it depends on nothing of surge's, so that the target (which must not depend on the
//! engine) and the engine both can use it. Elsewhere than on Linux it is empty; callers fall back to
//! tokio's timer.
//!
//! ```
//! # #[cfg(target_os = "linux")]
//! # fn main() -> std::io::Result<()> {
//! use surge_timerfd::{TimerFd, monotonic_ns};
//! let timer = TimerFd::new()?;
//! let at = monotonic_ns() + 200_000; // 200 µs from now
//! timer.set_at(at, 0)?;
//! assert_eq!(timer.wait()?, 1);
//! assert!(monotonic_ns() >= at);
//! # Ok(())
//! # }
//! # #[cfg(not(target_os = "linux"))]
//! # fn main() {}
//! ```
//!
//! # Errors
//! Every operation answers the system call's [`std::io::Error`]; none is retried but `EINTR`.

#![warn(missing_docs)]

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::{AsyncTimerFd, TimerFd, monotonic_ns};
