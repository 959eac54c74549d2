//! What happens when a filter in `on` mode refuses a call: the kernel sends
//! the thread SIGSYS (SECCOMP_RET_TRAP); this handler writes one line naming
//! the thread and the system call, and ends the process with the VMM error
//! status. It runs on the thread that made the call and only uses what every
//! filter allows (write, exit_group).

use std::cell::Cell;

use crate::exit::EXIT_VMM_ERROR;
use crate::signal_line::Line;

/// Longest thread label kept for the report.
const LABEL_MAX: usize = 24;

/// `si_code` of a SIGSYS sent by seccomp.
const SYS_SECCOMP: libc::c_int = 1;

/// Offset of `_sigsys._syscall` in x86_64's `siginfo_t`: three ints, padding
/// to 16, then `void *_call_addr`.
const SIGSYS_SYSCALL_OFFSET: usize = 24;

thread_local! {
    /// This thread's label and kernel thread id, set when its filter is
    /// installed; read by the handler (no allocation, no lazy init).
    static LABEL: Cell<([u8; LABEL_MAX], usize, i32)> =
        const { Cell::new(([0; LABEL_MAX], 0, 0)) };
}

/// Records the calling thread's label for a later report.
pub fn set_thread_label(label: &str) {
    let mut buf = [0u8; LABEL_MAX];
    let n = label.len().min(LABEL_MAX);
    buf[..n].copy_from_slice(&label.as_bytes()[..n]);
    // SAFETY: gettid(2) has no preconditions.
    let tid = unsafe { libc::gettid() };
    LABEL.with(|l| l.set((buf, n, tid)));
}

/// Installs the handler for the whole process.
pub fn install_handler() -> std::io::Result<()> {
    vmm_sys_util::signal::register_signal_handler(libc::SIGSYS, on_sigsys)
        .map_err(std::io::Error::from)
}

/// Formats the report for a refused call `nr` on thread `label`/`tid`.
fn report(label: &[u8], tid: i32, nr: Option<i64>) -> Line {
    let mut line = Line::new();
    line.push(b"cxlvmm: seccomp: thread '");
    line.push(if label.is_empty() { b"?" } else { label });
    line.push(b"' (tid ");
    line.dec(i64::from(tid));
    match nr {
        Some(nr) => {
            line.push(b") made system call ");
            line.dec(nr);
            line.push(b", which its filter does not allow; stopping the VMM");
            line.push(b" (--seccomp log allows and logs it)\n");
        }
        None => {
            line.push(b") got a SIGSYS not sent by seccomp; stopping the VMM\n");
        }
    }
    line
}

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let nr = if info.is_null() {
        None
    } else {
        // SAFETY: the kernel passes a valid siginfo_t (SA_SIGINFO); for
        // si_code SYS_SECCOMP its `_sigsys` member is filled, whose
        // `_syscall` int sits at SIGSYS_SYSCALL_OFFSET.
        unsafe {
            if (*info).si_code == SYS_SECCOMP {
                let p = info.cast::<u8>().add(SIGSYS_SYSCALL_OFFSET).cast::<i32>();
                Some(i64::from(p.read_unaligned()))
            } else {
                None
            }
        }
    };
    let (mut buf, mut n, mut tid) = LABEL.with(Cell::get);
    if n == 0 {
        // A thread cxlvmm did not label (started by a library): its kernel
        // name, at most 16 bytes with the NUL.
        let mut comm = [0u8; 16];
        // SAFETY: PR_GET_NAME writes at most 16 bytes into `comm`; gettid
        // has no preconditions. Both are allowed by every filter.
        unsafe {
            if libc::prctl(libc::PR_GET_NAME, comm.as_mut_ptr()) == 0 {
                n = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
                buf[..n].copy_from_slice(&comm[..n]);
            }
            tid = libc::gettid();
        }
    }
    report(&buf[..n], tid, nr).write_stderr();
    // SAFETY: _exit(2) is async-signal-safe.
    unsafe { libc::_exit(EXIT_VMM_ERROR) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_thread_and_call() {
        let l = report(b"vcpu0", 1234, Some(41));
        let s = std::str::from_utf8(l.bytes()).unwrap();
        assert_eq!(
            s,
            "cxlvmm: seccomp: thread 'vcpu0' (tid 1234) made system call 41, which its \
             filter does not allow; stopping the VMM (--seccomp log allows and logs it)\n"
        );
        let l = report(b"", 7, None);
        let s = std::str::from_utf8(l.bytes()).unwrap();
        assert!(s.contains("thread '?' (tid 7) got a SIGSYS not sent by seccomp"));
        let mut l = report(b"x", 0, Some(0));
        l.dec(i64::MIN + 1);
        assert!(std::str::from_utf8(l.bytes()).is_ok());
    }
}
