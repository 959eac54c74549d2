//! Building blocks of the filters: a set of allowed system calls with
//! optional argument conditions, and the calls every cxlvmm thread makes.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};

/// A filter's result type.
pub type Result<T> = std::result::Result<T, seccompiler::Error>;

/// The system calls one kind of thread may make. A call allowed without
/// conditions stays allowed whatever conditional rules are added for it.
#[derive(Debug, Default)]
pub struct RuleSet(BTreeMap<i64, Vec<SeccompRule>>);

impl RuleSet {
    /// Allows `nr` whatever its arguments.
    pub fn allow(&mut self, nr: i64) {
        self.0.insert(nr, Vec::new());
    }

    /// Allows `nr` when `rule` matches its arguments (or any earlier rule).
    pub fn allow_when(&mut self, nr: i64, rule: SeccompRule) {
        match self.0.entry(nr) {
            Entry::Occupied(e) if e.get().is_empty() => {}
            Entry::Occupied(mut e) => e.get_mut().push(rule),
            Entry::Vacant(e) => {
                e.insert(vec![rule]);
            }
        }
    }

    /// Allows `ioctl` with each of these request numbers.
    pub fn allow_ioctls(&mut self, requests: &[u64]) -> Result<()> {
        for &r in requests {
            self.allow_when(libc::SYS_ioctl, arg_eq(1, r)?);
        }
        Ok(())
    }

    /// True if `nr` is allowed, with or without conditions.
    pub fn contains(&self, nr: i64) -> bool {
        self.0.contains_key(&nr)
    }

    /// The rules, for [`seccompiler::SeccompFilter::new`].
    pub fn into_map(self) -> BTreeMap<i64, Vec<SeccompRule>> {
        self.0
    }
}

/// A rule: argument `arg` (its low 32 bits) equals `value`.
pub fn arg_eq(arg: u8, value: u64) -> Result<SeccompRule> {
    Ok(SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        value,
    )?])?)
}

/// A rule: the bits `mask` of argument `arg` equal `value`.
pub fn arg_masked(arg: u8, mask: u64, value: u64) -> Result<SeccompRule> {
    Ok(SeccompRule::new(vec![SeccompCondition::new(
        arg,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(mask),
        value,
    )?])?)
}

/// Allows `mmap` and `mprotect` of memory that is not executable: all
/// cxlvmm maps after start-up is heap, stacks and guest memory.
fn allow_memory(rules: &mut RuleSet) -> Result<()> {
    let no_exec = libc::PROT_EXEC as u64;
    rules.allow_when(libc::SYS_mmap, arg_masked(2, no_exec, 0)?);
    rules.allow_when(libc::SYS_mprotect, arg_masked(2, no_exec, 0)?);
    Ok(())
}

/// What every cxlvmm thread needs, whatever it does: memory allocation,
/// locks, logging, time, ending itself, and the process's end.
pub fn common() -> Result<RuleSet> {
    let mut r = RuleSet::default();
    // Heap and stack: malloc (brk for the main arena, mmap/munmap for
    // large blocks and thread arenas, mremap for realloc, madvise to give
    // pages back), guard pages (mprotect).
    allow_memory(&mut r)?;
    r.allow(libc::SYS_brk);
    r.allow(libc::SYS_munmap);
    r.allow(libc::SYS_mremap);
    r.allow(libc::SYS_madvise);
    // Mutexes, condition variables, thread joins, parking.
    r.allow(libc::SYS_futex);
    r.allow(libc::SYS_sched_yield);
    // Log lines and messages to stderr; eventfd signals and reads.
    r.allow(libc::SYS_write);
    r.allow(libc::SYS_writev);
    r.allow(libc::SYS_read);
    // Dropping descriptors (eventfds, files, the kvm_run mapping's fd).
    r.allow(libc::SYS_close);
    // Queries of a descriptor's flags: std's debug builds check that a
    // descriptor is open (F_GETFD) whenever one is borrowed or dropped.
    r.allow_when(libc::SYS_fcntl, arg_eq(1, libc::F_GETFD as u64)?);
    r.allow_when(libc::SYS_fcntl, arg_eq(1, libc::F_GETFL as u64)?);
    // Time: Instant/SystemTime when the vDSO falls back to the kernel
    // (nested or unstable TSC), sleeps and timed waits.
    r.allow(libc::SYS_clock_gettime);
    r.allow(libc::SYS_gettimeofday);
    r.allow(libc::SYS_clock_nanosleep);
    r.allow(libc::SYS_nanosleep);
    // A sleep or wait interrupted by a signal (the vCPU kick) restarts.
    r.allow(libc::SYS_restart_syscall);
    // Returning from signal handlers (the vCPU kick, SIGINT/SIGTERM).
    r.allow(libc::SYS_rt_sigreturn);
    // A fault handler (std's SIGSEGV/SIGBUS handler, when the fault is not
    // a stack overflow) restores the default action and lets the fault
    // happen again: a crash must show as that crash, not as a refused call.
    r.allow(libc::SYS_rt_sigaction);
    // glibc masks signals around thread start/exit and in abort().
    r.allow(libc::SYS_rt_sigprocmask);
    // std removes a thread's alternate signal stack when the thread ends.
    r.allow(libc::SYS_sigaltstack);
    // std's HashMap seeds its hasher from the kernel, once per thread.
    r.allow(libc::SYS_getrandom);
    // The SIGSYS report names a thread by its kernel name when cxlvmm did
    // not label it (threads a library started).
    r.allow_when(libc::SYS_prctl, arg_eq(0, libc::PR_GET_NAME as u64)?);
    // glibc's raise()/abort() (an allocation failure aborts): who am I.
    r.allow(libc::SYS_gettid);
    r.allow(libc::SYS_getpid);
    // ... and the SIGABRT it sends itself, so an abort is still an abort.
    r.allow_when(libc::SYS_tgkill, arg_eq(2, libc::SIGABRT as u64)?);
    // The SIGBUS handler (`sigbus.rs`) re-raises a fault that is not on
    // guest memory with the default action, so it still shows as a SIGBUS.
    r.allow_when(libc::SYS_tgkill, arg_eq(2, libc::SIGBUS as u64)?);
    // A thread returning; the process ending (also from the SIGSYS
    // handler that reports a refused call).
    r.allow(libc::SYS_exit);
    r.allow(libc::SYS_exit_group);
    Ok(r)
}

/// What a thread needs to start threads (std::thread, glibc's
/// pthread_create); the new threads inherit the filter and run the start-up
/// code under it.
pub fn allow_spawning(r: &mut RuleSet) -> Result<()> {
    // glibc tries clone3 first (its arguments are in memory, out of the
    // filter's sight) and falls back to clone; clone only for threads.
    r.allow(libc::SYS_clone3);
    let thread = libc::CLONE_THREAD as u64;
    r.allow_when(libc::SYS_clone, arg_masked(0, thread, thread)?);
    // The new thread's start-up: robust futex list, restartable sequences,
    // its alternate signal stack (sigaltstack, common), its name.
    r.allow(libc::SYS_set_robust_list);
    r.allow(libc::SYS_rseq);
    r.allow_when(libc::SYS_prctl, arg_eq(0, libc::PR_SET_NAME as u64)?);
    // std and runtimes size pools from the CPUs this thread may run on.
    r.allow(libc::SYS_sched_getaffinity);
    Ok(())
}

/// File status in every form a dynamic or static glibc and std use
/// (`statx` first, `newfstatat` for fstat/stat in recent glibc, the old
/// calls otherwise).
pub fn allow_stat(r: &mut RuleSet) {
    r.allow(libc::SYS_statx);
    r.allow(libc::SYS_newfstatat);
    r.allow(libc::SYS_fstat);
    r.allow(libc::SYS_stat);
    r.allow(libc::SYS_lstat);
}
