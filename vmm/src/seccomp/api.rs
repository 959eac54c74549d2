//! The API thread's filter: serving HTTP on the unix socket. It covers the
//! thread-per-connection server and an event-driven one (an epoll-based
//! async runtime on this one thread), and the threads the API thread starts,
//! which inherit it. The API never touches KVM, devices or backends: it
//! queues requests for the VMM thread and waits for the answers.

use super::ioctls;
use super::rules::{self, arg_eq, RuleSet};

/// Every system call the API thread (and its threads) make after the
/// filter is installed.
pub fn rules() -> rules::Result<RuleSet> {
    let mut r = rules::common()?;
    // Threads for connections or requests.
    rules::allow_spawning(&mut r)?;
    // Unix sockets only: accepting clients, and (to stop an accept loop or
    // to check a stale socket) connecting to its own; never the network.
    r.allow_when(libc::SYS_socket, arg_eq(0, libc::AF_UNIX as u64)?);
    // An async runtime's signal plumbing is a unix socket pair.
    r.allow_when(libc::SYS_socketpair, arg_eq(0, libc::AF_UNIX as u64)?);
    r.allow(libc::SYS_accept4);
    r.allow(libc::SYS_accept);
    r.allow(libc::SYS_connect);
    r.allow(libc::SYS_bind);
    r.allow(libc::SYS_listen);
    r.allow(libc::SYS_shutdown);
    // Requests in, answers out.
    r.allow(libc::SYS_recvfrom);
    r.allow(libc::SYS_sendto);
    r.allow(libc::SYS_recvmsg);
    r.allow(libc::SYS_sendmsg);
    r.allow(libc::SYS_readv);
    // Timeouts and options on connections; peer and local addresses.
    r.allow(libc::SYS_setsockopt);
    r.allow(libc::SYS_getsockopt);
    r.allow(libc::SYS_getsockname);
    r.allow(libc::SYS_getpeername);
    // Non-blocking and close-on-exec flags on sockets.
    r.allow(libc::SYS_fcntl);
    r.allow_ioctls(&[ioctls::FIONBIO, ioctls::FIOCLEX, ioctls::TCGETS])?;
    // An async runtime's reactor and waker: epoll and an eventfd, its
    // timers through epoll's timeout; poll for one-off waits.
    r.allow(libc::SYS_epoll_create1);
    r.allow(libc::SYS_epoll_ctl);
    r.allow(libc::SYS_epoll_wait);
    r.allow(libc::SYS_epoll_pwait);
    r.allow(libc::SYS_epoll_pwait2);
    r.allow(libc::SYS_eventfd2);
    r.allow(libc::SYS_poll);
    r.allow(libc::SYS_ppoll);
    // The socket file: its mode (0600), a stale one replaced, removed when
    // the server stops.
    r.allow(libc::SYS_fchmod);
    r.allow(libc::SYS_fchmodat);
    r.allow(libc::SYS_chmod);
    r.allow(libc::SYS_unlink);
    r.allow(libc::SYS_unlinkat);
    rules::allow_stat(&mut r);
    Ok(r)
}
