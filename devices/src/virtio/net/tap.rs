//! A tap device opened through /dev/net/tun (Linux's
//! Documentation/networking/tuntap.rst): TUNSETIFF with IFF_TAP | IFF_NO_PI
//! | IFF_VNET_HDR attaches to the tap of that name, creating it when there
//! is none (which needs CAP_NET_ADMIN); TUNSETVNETHDRSZ makes every packet
//! carry the 12-byte virtio-net header of VIRTIO_F_VERSION_1 (5.1.6), and
//! TUNSETOFFLOAD(0) keeps checksum and segmentation offloads off, so the
//! host never hands over a packet with a partial checksum or one larger
//! than the MTU. The descriptor is non-blocking: one read(2) is one packet
//! or EAGAIN, one write(2) one packet.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use super::frame::HEADER_SIZE;

/// The clone device.
pub const TUN_DEVICE: &str = "/dev/net/tun";
/// Longest interface name (IFNAMSIZ less the terminating NUL).
pub const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Why `name` cannot name a network interface (Linux's dev_valid_name:
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space); we also
/// refuse `%`, which would let the kernel pick the name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty interface name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "interface name '{name}' is longer than {MAX_NAME_LEN} bytes"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("'{name}' is not an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | ':' | '%') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "interface name '{name}' has a {c:?}, which interface names cannot have"
        ));
    }
    Ok(())
}

fn ioctl_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Opens (or creates) the tap `name`, non-blocking and close-on-exec, with
/// the virtio-net header on every packet and no offloads.
pub fn open_tap(name: &str) -> io::Result<File> {
    check_name(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(TUN_DEVICE)
        .map_err(|e| io::Error::new(e.kind(), format!("{TUN_DEVICE}: {e}")))?;
    let fd = file.as_raw_fd();

    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(cname.as_bytes()) {
        *d = *s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the ifreq we own, on our descriptor.
    if unsafe { libc::ioctl(fd, libc::TUNSETIFF, &mut ifr) } < 0 {
        return Err(ioctl_err("TUNSETIFF"));
    }
    let hdr = HEADER_SIZE as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int we own.
    if unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &hdr) } < 0 {
        return Err(ioctl_err("TUNSETVNETHDRSZ"));
    }
    // SAFETY: TUNSETOFFLOAD takes its flags by value.
    if unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, 0 as libc::c_uint) } < 0 {
        return Err(ioctl_err("TUNSETOFFLOAD"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        for good in ["tap0", "t", "a-b_c.d", "fifteen-bytes-x"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert!(check_name("").unwrap_err().contains("empty"));
        assert!(check_name("sixteen-bytes-xx")
            .unwrap_err()
            .contains("longer than 15"));
        for bad in [".", "..", "a/b", "a:1", "a b", "tap%d", "a\tb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_name_refused_before_anything_is_opened() {
        let e = open_tap("no/slash").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("'/'"), "{e}");
    }
}
