//! Giving memory back: what a worker does once the signup phase's buffers are no longer needed, and
//! the allocator setting a tester process starts with.
//!
//! A person's HTTP steps use buffers (a [`crate::person`] scratch set, boxed futures, replies) that
//! are freed when the person goes on to hold a connection. glibc's allocator keeps freed memory in
//! its arenas (one per thread that met contention, each growing on its own) and returns to the
//! kernel only the top of a heap, so after a ramp of signups a process holding idle connections
//! keeps the ramp's peak in its RSS. Two remedies, both only on Linux with glibc (elsewhere they do
//! nothing):
//!
//! - [`limit_arenas`]: at most [`ARENAS`] arenas for the whole process (glibc's default is 8 per
//!   core), so the worker threads share their free lists instead of each keeping its own peak;
//! - [`release_freed`]: `malloc_trim(0)`, which hands every whole free page of every arena back to
//!   the kernel (`madvise(MADV_DONTNEED)`); a worker calls it when its idle pools shrank.

/// Arenas a tester process allows itself when `MALLOC_ARENA_MAX` is not set: two, so that two
/// worker threads (the default on a 2-core host) rarely wait on each other's allocations while
/// their freed memory stays in two free lists, not sixteen.
pub const ARENAS: i32 = 2;

/// Caps glibc's malloc arenas at [`ARENAS`], unless the environment already sets
/// `MALLOC_ARENA_MAX` (glibc reads it at start and it wins). Call once, first thing in `main`,
/// before any thread is started. Returns whether the cap was set.
pub fn limit_arenas() -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return false;
    }
    set_arena_max(ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(n: i32) -> bool {
    // SAFETY: mallopt only changes an allocator parameter; M_ARENA_MAX takes any positive count.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_n: i32) -> bool {
    false
}

/// Returns the allocator's whole free pages to the kernel; true when some memory was released.
/// Costs a walk over the free lists of every arena (about a millisecond per hundred MiB of heap), so
/// a worker calls it only when its idle pools have shrunk, not on a timer.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed() -> bool {
    // SAFETY: malloc_trim takes the arenas' locks itself; it is safe from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Returns the allocator's whole free pages to the kernel (nothing to do without glibc).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_after_a_burst_of_frees_returns_memory() {
        // 64 MiB in 16 KiB blocks, freed: a trim afterwards must find whole pages to give back
        // (glibc only: elsewhere it reports nothing).
        let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 16 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.iter().step_by(512).cloned().collect();
        drop(blocks);
        let released = release_freed();
        assert_eq!(released, cfg!(all(target_os = "linux", target_env = "gnu")));
        assert_eq!(kept.len(), 8);
    }
}
