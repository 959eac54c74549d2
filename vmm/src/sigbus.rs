//! SIGBUS on guest memory ends the VM with a message, not a silent kill.
//!
//! Backends reserve what they need when they are created, so a guest store
//! should never meet a missing page; it still can if the host takes the
//! memory away (a backend file truncated behind cxlvmm's back). The fault
//! then arrives as SIGBUS on whichever thread touched the page (a vCPU
//! thread where KVM passes it on, or a VMM thread reading or writing the
//! backend). The handler, installed at start-up, looks the address up in
//! the table of mapped backends (lock-free), writes one line on stderr and
//! exits with [`EXIT_GUEST_MEMORY`]. A SIGBUS anywhere else is a VMM bug
//! and gets the default action (a core dump) as before.
//!
//! Only async-signal-safe calls: write(2), sigaction(2), raise(3), _exit(2).

use devices::memory::ranges;

use crate::exit::EXIT_GUEST_MEMORY;
use crate::signal_line::Line;

/// The line the handler writes for a fault at `addr` in the backend mapped
/// at `start`, `len` bytes long.
fn message(addr: u64, start: u64, len: u64) -> Line {
    let mut l = Line::new();
    l.push(b"cxlvmm: SIGBUS: guest memory at host address ")
        .hex(addr)
        .push(b" (offset ")
        .hex(addr - start)
        .push(b" of the ")
        .hex(len)
        .push(b"-byte backend mapped at ")
        .hex(start)
        .push(b") is gone: its file was truncated or the host ran out of its memory; stopping the VM\n");
    l
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // si_addr is the faulting address for SIGBUS.
    let addr = if info.is_null() {
        0
    } else {
        unsafe { (*info).si_addr() as u64 }
    };
    if let Some((start, len)) = ranges::find(addr) {
        message(addr, start, len).write_stderr();
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(EXIT_GUEST_MEMORY) };
    }
    // Not guest memory: the default action, as if no handler were set. The
    // signal is blocked in its handler, so it is delivered on return.
    // SAFETY: signal(2)'s reset and raise(3) are async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the handler for the whole process.
pub fn install() -> std::io::Result<()> {
    // SAFETY: a zeroed sigaction with our handler, an empty mask and
    // SA_SIGINFO; the kernel copies it.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_sigbus as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_address_and_the_backend() {
        let l = message(0x7f00_0000_2010, 0x7f00_0000_0000, 0x20_0000);
        let s = std::str::from_utf8(l.bytes()).unwrap();
        assert!(s.starts_with("cxlvmm: SIGBUS: guest memory at host address 0x7f0000002010 (offset 0x2010 of the 0x200000-byte backend mapped at 0x7f0000000000)"), "{s}");
        assert!(s.ends_with('\n'));
    }
}
