//! Process-wide preparation before any filter goes on: things the C library
//! would otherwise do lazily, with system calls no filter should allow.

/// Two malloc parameters set up front, so that glibc's malloc never opens a
/// file on a filtered thread:
/// - glibc caps its arenas at 8 per CPU, and counts the CPUs the first time
///   a thread needs a new arena past the eighth, by reading
///   `/sys/devices/system/cpu/online` (openat). Setting the same cap as
///   `M_ARENA_MAX` leaves malloc as it was and makes it never ask.
/// - Before it first shrinks a thread arena's heap, glibc reads
///   `/proc/sys/vm/overcommit_memory` (openat). A trim threshold of 2 GiB
///   (`M_TRIM_THRESHOLD`; a thread heap is at most 64 MiB) means heaps are
///   never shrunk: freed memory stays for reuse (guest memory and large
///   blocks are separate mappings, returned at once).
#[cfg(target_env = "gnu")]
pub fn malloc_params() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let arenas = libc::c_int::try_from(cpus.saturating_mul(8)).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets a malloc parameter; it fails (returns 0)
    // for an unknown one, and then malloc keeps its default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

/// Other C libraries need nothing here.
#[cfg(not(target_env = "gnu"))]
pub fn malloc_params() {}
