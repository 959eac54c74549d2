//! The vCPU threads' filter: `KVM_RUN` and what a device does on a guest
//! access (the exit handlers run device code on this thread).

use super::ioctls;
use super::rules::{self, RuleSet};

/// Every system call a vCPU thread makes after its filter is installed.
pub fn rules() -> rules::Result<RuleSet> {
    let mut r = rules::common()?;
    r.allow_ioctls(&[
        // Running the guest.
        ioctls::kvm_run(),
        // The memory path maps and unmaps CXL memory when the guest commits
        // or resets an HDM decoder, enables memory, or accepts or releases
        // a DC extent through the mailbox.
        ioctls::kvm_set_user_memory_region(),
        // The guest programs an MSI/MSI-X vector: the routing table is
        // pushed again.
        ioctls::kvm_set_gsi_routing(),
        // Interrupt lines are irqfds (set up before the vCPUs start, but a
        // device may (re)connect one on a guest access).
        ioctls::kvm_irqfd(),
    ])?;
    // Device emulation on a guest access: the serial console and LSA files
    // are written at an offset (pwrite64) and flushed (fdatasync, Set LSA);
    // sanitize-on-release drops a backend's pages (fallocate punch-hole,
    // madvise) and flushes shared mappings (msync).
    r.allow(libc::SYS_pread64);
    r.allow(libc::SYS_pwrite64);
    r.allow(libc::SYS_lseek);
    r.allow(libc::SYS_fdatasync);
    r.allow(libc::SYS_fsync);
    r.allow(libc::SYS_fallocate);
    r.allow(libc::SYS_msync);
    // A CXL background operation (Sanitize, Transfer FW, Scan Media) arms
    // the VMM's timerfd for its deadline.
    r.allow(libc::SYS_timerfd_settime);
    Ok(r)
}
