//! The listening socket: mode 0600 from the moment it exists, stale socket
//! files replaced, live ones left alone.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Permissions of the socket file: owner only.
pub const SOCKET_MODE: u32 = 0o600;

/// Connections the kernel queues before the server accepts them (capped
/// by `net.core.somaxconn`, 4096 on current kernels): room for a burst of
/// clients, and for clients that arrive while `accept()` backs off.
const LISTEN_BACKLOG: libc::c_int = 1024;

/// Binds and listens on `path`. An existing socket nobody listens on is
/// replaced; a live socket or any other kind of file is an error.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    clear_stale(path)?;
    let addr = sockaddr(path)?;
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Linux gives the socket file the socket inode's mode (less the umask),
    // so the file never exists with a wider mode than this.
    // SAFETY: fchmod on our descriptor.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), SOCKET_MODE) })?;
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: `addr` is an initialized sockaddr_un and `len` its size.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) })?;
    // Exactly 0600 whatever the umask (a stricter umask would lock the
    // owner out too).
    let ready = fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)).and_then(|()| {
        // SAFETY: listen(2) on our bound socket.
        check(unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) })
    });
    if let Err(e) = ready {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(UnixListener::from(fd))
}

/// Removes `path` if it is a socket nobody listens on.
fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            ErrorKind::AddrInUse,
            format!("{} is in use by a running server", path.display()),
        )),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

fn sockaddr(path: &Path) -> io::Result<libc::sockaddr_un> {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    // Keep a terminating NUL.
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "socket path {} must be 1 to {} bytes without NUL",
                path.display(),
                addr.sun_path.len() - 1
            ),
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(addr)
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
