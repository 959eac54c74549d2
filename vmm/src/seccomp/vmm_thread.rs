//! The VMM (main) thread's filter, installed once the machine is built and
//! every other thread started: the event loop, the API requests it applies
//! (memory backends, DC capacity, memslots), and the shutdown.

use super::ioctls;
use super::rules::{self, arg_eq, RuleSet};

/// Every system call the VMM thread makes after its filter is installed.
pub fn rules() -> rules::Result<RuleSet> {
    let mut r = rules::common()?;
    // The event loop: epoll on the exit eventfd, stdin and the API's
    // eventfd (a subscriber may remove itself, e.g. stdin at EOF).
    r.allow(libc::SYS_epoll_wait);
    r.allow(libc::SYS_epoll_pwait);
    r.allow(libc::SYS_epoll_pwait2);
    r.allow(libc::SYS_epoll_ctl);
    // The CXL background-operation timerfd: drained (read) and re-armed
    // for an operation still running.
    r.allow(libc::SYS_timerfd_settime);
    r.allow_ioctls(&[
        // Memslots for DC extents the API adds or force-releases, and for
        // backends going away.
        ioctls::kvm_set_user_memory_region(),
        // Interrupt routing and irqfds, should an API request touch them.
        ioctls::kvm_set_gsi_routing(),
        ioctls::kvm_irqfd(),
        // The console's terminal settings, restored at exit.
        ioctls::TCGETS,
        ioctls::TCSETS,
    ])?;
    // Stopping the vCPUs: each is kicked out of KVM_RUN with SIGRTMIN.
    r.allow_when(libc::SYS_tgkill, arg_eq(2, libc::SIGRTMIN() as u64)?);
    // Memory backends created, checked and dropped through the API: memfd,
    // files (created, opened, sized, space reserved, removed), hugetlbfs
    // (free pages from statfs), shared mappings, pages dropped or flushed
    // on sanitize.
    r.allow(libc::SYS_memfd_create);
    r.allow(libc::SYS_openat);
    r.allow(libc::SYS_open);
    r.allow(libc::SYS_ftruncate);
    r.allow(libc::SYS_fallocate);
    r.allow(libc::SYS_fstatfs);
    r.allow(libc::SYS_statfs);
    r.allow(libc::SYS_fcntl);
    r.allow(libc::SYS_lseek);
    r.allow(libc::SYS_pread64);
    r.allow(libc::SYS_pwrite64);
    r.allow(libc::SYS_fsync);
    r.allow(libc::SYS_fdatasync);
    r.allow(libc::SYS_msync);
    r.allow(libc::SYS_unlink);
    r.allow(libc::SYS_unlinkat);
    r.allow(libc::SYS_readlink);
    r.allow(libc::SYS_readlinkat);
    rules::allow_stat(&mut r);
    // Stopping the API server: a connection to its own socket wakes its
    // accept loop, then the socket file is removed.
    r.allow_when(libc::SYS_socket, arg_eq(0, libc::AF_UNIX as u64)?);
    r.allow(libc::SYS_connect);
    r.allow(libc::SYS_shutdown);
    r.allow(libc::SYS_sendto);
    r.allow(libc::SYS_recvfrom);
    // Events other threads wait on (a runtime's waker, the API's stop).
    r.allow(libc::SYS_eventfd2);
    r.allow(libc::SYS_poll);
    r.allow(libc::SYS_ppoll);
    // At exit, the virtiofsd children of --share are stopped (SIGTERM, then
    // SIGKILL), reaped, and their private directories removed.
    r.allow_when(libc::SYS_kill, arg_eq(1, libc::SIGTERM as u64)?);
    r.allow_when(libc::SYS_kill, arg_eq(1, libc::SIGKILL as u64)?);
    r.allow(libc::SYS_wait4);
    r.allow(libc::SYS_rmdir);
    Ok(r)
}
