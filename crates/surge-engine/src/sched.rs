//! What a pacing thread asks of the kernel so that it wakes on time on a busy host.
//!
//! Two hints, both unprivileged and per thread, both harmless where they do not apply:
//!
//! - **Timer slack of 1 ns** (`PR_SET_TIMERSLACK`). Linux lets a normal thread's sleeps end up to
//!   50 µs late by default, to merge wake-ups; a pacer cannot afford that.
//! - **A short scheduler slice** (`sched_setattr` with `sched_runtime` on `SCHED_OTHER`, Linux 6.12+).
//!   Under EEVDF a task that asks for a shorter slice gets an earlier virtual deadline, and a waking
//!   task with a shorter slice may preempt the one running (`PREEMPT_SHORT`) instead of waiting for
//!   it to use up its ~3 ms slice. That is what a timer wake-up needs when compilers share the core.
//!   Older kernels refuse the call (`EINVAL`); the thread then keeps the default slice.
//!
//! Nothing here raises a priority or takes CPU from others: the thread still gets its fair share,
//! only sooner after a wake-up, in shorter pieces.

use std::time::Duration;

/// The slice the pacing threads ask for: the kernel's smallest (0.1 ms).
pub const PACING_SLICE: Duration = Duration::from_micros(100);

/// Which of the hints took effect on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hints {
    /// Timer slack is 1 ns.
    pub slack: bool,
    /// The short slice was granted.
    pub slice: bool,
}

impl Hints {
    /// A short label for reports: `slack+slice`, `slack`, `slice` or `none`.
    pub fn label(self) -> &'static str {
        match (self.slack, self.slice) {
            (true, true) => "slack+slice",
            (true, false) => "slack",
            (false, true) => "slice",
            (false, false) => "none",
        }
    }
}

/// Applies both hints to the calling thread; returns which took effect.
pub fn apply_pacing_hints() -> Hints {
    Hints {
        slack: set_timer_slack_1ns(),
        slice: set_slice(PACING_SLICE),
    }
}

#[cfg(target_os = "linux")]
fn set_timer_slack_1ns() -> bool {
    rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1)).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn set_timer_slack_1ns() -> bool {
    false
}

/// `struct sched_attr` of `sched_setattr(2)` (the first, 48-byte version).
#[cfg(target_os = "linux")]
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Asks for a `slice`-long EEVDF slice for the calling thread, keeping `SCHED_OTHER` and its nice.
/// (Not with `SCHED_FLAG_KEEP_PARAMS`: the kernel would then keep the old slice too.)
#[cfg(target_os = "linux")]
fn set_slice(slice: Duration) -> bool {
    // SAFETY: getpriority has no memory effects; on a thread, PRIO_PROCESS 0 is the calling thread.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
        deadline: 0,
        period: 0,
    };
    // SAFETY: `attr` is a valid, initialised `struct sched_attr` whose `size` says how much of it the
    // kernel may read; pid 0 is the calling thread; the kernel does not keep the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &attr as *const SchedAttr,
            0u32,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
fn set_slice(_slice: Duration) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_what_took_effect() {
        let both = Hints {
            slack: true,
            slice: true,
        };
        assert_eq!(both.label(), "slack+slice");
        assert_eq!(Hints::default().label(), "none");
    }

    #[test]
    fn hints_apply_to_a_fresh_thread_without_failing() {
        // Whether the kernel grants them depends on the host; applying them must never panic.
        let h = std::thread::spawn(apply_pacing_hints).join();
        assert!(h.is_ok());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sched_attr_is_the_kernels_first_version() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 48);
    }
}
