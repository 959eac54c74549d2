//! The filter of a device thread whose queues a vhost-user backend serves
//! (virtio-fs): it waits on the backend's call eventfds and its socket,
//! raises MSI-X through irqfds, and talks the vhost-user protocol on the
//! socket it connected at start-up. No file I/O of its own.

use super::rules::{self, RuleSet};

/// Every system call a vhost-user device thread makes after its filter is
/// installed.
pub fn rules() -> rules::Result<RuleSet> {
    let mut r = rules::common()?;
    // Waiting for commands, the backend's "used" signals and its hang-up
    // (read and write, common, drain the eventfds and signal irqfds).
    r.allow(libc::SYS_epoll_wait);
    r.allow(libc::SYS_epoll_pwait);
    // vhost-user messages: sendmsg carries the memory table's memfds and the
    // kick and call eventfds (SCM_RIGHTS); recvmsg reads the replies.
    r.allow(libc::SYS_sendmsg);
    r.allow(libc::SYS_recvmsg);
    Ok(r)
}
