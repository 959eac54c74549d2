//! The virtio device threads' filter: waiting on the queues' notification
//! eventfds and a tap, the block I/O on the disk image, packets on the tap,
//! and MSI-X through irqfds.

use super::rules::{self, RuleSet};

/// Every system call a virtio device thread makes after its filter is
/// installed.
pub fn rules() -> rules::Result<RuleSet> {
    let mut r = rules::common()?;
    // Waiting for notifications and commands (epoll on the eventfds; read
    // and write, common, drain them and signal irqfds).
    r.allow(libc::SYS_epoll_wait);
    r.allow(libc::SYS_epoll_pwait);
    // virtio-blk: reads and writes at an offset on the image, flush
    // (VIRTIO_BLK_T_FLUSH), discard and write-zeroes (fallocate: punch hole,
    // zero range).
    r.allow(libc::SYS_pread64);
    r.allow(libc::SYS_pwrite64);
    r.allow(libc::SYS_preadv);
    r.allow(libc::SYS_pwritev);
    r.allow(libc::SYS_fdatasync);
    r.allow(libc::SYS_fsync);
    r.allow(libc::SYS_fallocate);
    // virtio-net: one packet per read(2) or write(2) on the non-blocking tap
    // (both in the common list), epoll for its readiness (above); the tap
    // was opened and configured (TUNSETIFF) at start-up, so no ioctl here.
    Ok(r)
}
