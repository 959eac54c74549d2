//! Process-wide preparation before any filter goes on: things the C library
//! would otherwise do lazily, with system calls no filter should allow.

/// glibc's malloc caps its arenas at 8 per CPU, and counts the CPUs the
/// first time a thread needs a new arena past the eighth, by reading
/// `/sys/devices/system/cpu/online` (openat): on a vCPU or API thread that
/// is a refused call. Setting the same cap up front (as `M_ARENA_MAX`)
/// leaves malloc as it was and makes it never ask.
#[cfg(target_env = "gnu")]
pub fn malloc_arenas() {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let arenas = libc::c_int::try_from(cpus.saturating_mul(8)).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets a malloc parameter; it fails (returns 0)
    // for an unknown one, and then malloc keeps its default.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}

/// Other C libraries need nothing here.
#[cfg(not(target_env = "gnu"))]
pub fn malloc_arenas() {}
