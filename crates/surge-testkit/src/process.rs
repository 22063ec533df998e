//! Child processes in tests: the built `surge` binary run for real, signalled, and measured.

use std::process::Child;

pub use libc::{SIGINT, SIGKILL, SIGTERM};
use std::time::{Duration, Instant};

/// How a child ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// Exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// Peak resident set size of the child, in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

/// Waits for `child` (at most `limit`, then SIGKILLs it) and returns its exit and peak RSS, read with
/// `wait4` so it is this child's own figure, not the test process's.
pub fn wait_with_rss(child: &mut Child, limit: Duration) -> std::io::Result<Ended> {
    let pid = child.id() as libc::pid_t;
    let t = Instant::now();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data, fully written by wait4 when it reaps the child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unreaped child; the pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if r == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            let signal = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
            return Ok(Ended {
                code,
                signal,
                max_rss_kib: usage.ru_maxrss.max(0) as u64,
            });
        }
        if t.elapsed() > limit {
            signal(child, libc::SIGKILL)?;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` (e.g. `libc::SIGINT`, `libc::SIGKILL`) to `child`.
pub fn signal(child: &Child, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) with our own child's pid has no memory effects.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Resident set size of the calling process now, in KiB (`VmRSS` of /proc/self/status).
pub fn own_rss_kib() -> Option<u64> {
    rss_kib(std::process::id())
}

/// Resident set size of process `pid` now, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
