//! Per-thread seccomp filters (BPF compiled by `seccompiler`).
//!
//! Each kind of cxlvmm thread has its own list of system calls
//! ([`ThreadKind`]): the vCPU threads, the API thread (and the threads it
//! starts, which inherit its filter), the virtio device threads (those of
//! vhost-user devices apart) and the VMM thread (the main thread, once the machine is built). The filters are compiled once, before any
//! thread starts, and each thread installs its own as its first step (the
//! VMM thread right before its event loop).
//!
//! `--seccomp on` (the default) refuses a call outside the list with
//! SIGSYS: a handler reports the thread and the call and ends cxlvmm with
//! status 1 (see [`sigsys`]). `log` allows it and has the kernel log it
//! (audit, `dmesg`); `off` installs nothing.

mod api;
mod ioctls;
mod prepare;
mod rules;
mod sigsys;
mod vcpu;
mod vhost_user;
mod virtio;
mod vmm_thread;

use std::fmt;
use std::sync::Arc;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use thiserror::Error;

pub use rules::RuleSet;

/// What a filter does with a call that is not on its thread's list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeccompMode {
    /// No filters.
    Off,
    /// Allow it, and have the kernel log it.
    Log,
    /// Refuse it: SIGSYS, a report, and the VMM ends with status 1.
    #[default]
    On,
}

impl SeccompMode {
    /// Parses `off`, `log` or `on`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "log" => Ok(Self::Log),
            "on" => Ok(Self::On),
            _ => Err(format!(
                "invalid seccomp mode '{s}': expected off, log or on"
            )),
        }
    }

    /// The action for calls not on the list; `None` for no filter.
    fn mismatch_action(self) -> Option<SeccompAction> {
        match self {
            Self::Off => None,
            Self::Log => Some(SeccompAction::Log),
            Self::On => Some(SeccompAction::Trap),
        }
    }
}

impl fmt::Display for SeccompMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Log => "log",
            Self::On => "on",
        })
    }
}

/// The kinds of cxlvmm threads, each with its own filter (the value is the
/// filter's place in [`SeccompFilters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadKind {
    /// A vCPU thread: KVM_RUN and the device code of guest accesses.
    Vcpu = 0,
    /// The API thread and the threads it starts: HTTP on the unix socket.
    Api = 1,
    /// The VMM (main) thread: the event loop and API requests applied.
    Vmm = 2,
    /// A virtio device thread: its queues and the I/O behind them.
    Virtio = 3,
    /// A vhost-user device thread (virtio-fs): the backend's socket.
    VhostUser = 4,
    /// The trace's writer thread: lines to the `--trace` file.
    Trace = 5,
}

impl ThreadKind {
    /// Every kind.
    pub const ALL: [ThreadKind; 6] = [
        Self::Vcpu,
        Self::Api,
        Self::Vmm,
        Self::Virtio,
        Self::VhostUser,
        Self::Trace,
    ];

    /// The kind's allowed calls.
    pub fn rules(self) -> Result<RuleSet, seccompiler::Error> {
        match self {
            Self::Vcpu => vcpu::rules(),
            Self::Api => api::rules(),
            Self::Vmm => vmm_thread::rules(),
            Self::Virtio => virtio::rules(),
            Self::VhostUser => vhost_user::rules(),
            // Writes to a file opened before, waits on its queue: nothing
            // beyond what every thread may do.
            Self::Trace => rules::common(),
        }
    }
}

impl fmt::Display for ThreadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vcpu => "vCPU",
            Self::Api => "API",
            Self::Vmm => "VMM",
            Self::Virtio => "virtio device",
            Self::VhostUser => "vhost-user device",
            Self::Trace => "trace writer",
        })
    }
}

/// Errors building or installing a filter.
#[derive(Debug, Error)]
pub enum SeccompError {
    /// The rules did not compile (a bug in the lists).
    #[error("seccomp: cannot build the {0} thread's filter: {1}")]
    Build(ThreadKind, seccompiler::Error),
    /// The kernel refused the filter.
    #[error("seccomp: cannot install the {0} thread's filter: {1}")]
    Install(ThreadKind, seccompiler::Error),
    /// The SIGSYS handler could not be installed.
    #[error("seccomp: cannot install the SIGSYS handler: {0}")]
    Handler(std::io::Error),
}

/// Compiles `kind`'s filter for `mode` (`None` for `off`).
pub fn compile(kind: ThreadKind, mode: SeccompMode) -> Result<Option<BpfProgram>, SeccompError> {
    let Some(mismatch) = mode.mismatch_action() else {
        return Ok(None);
    };
    let build = |e: seccompiler::Error| SeccompError::Build(kind, e);
    let rules = kind.rules().map_err(build)?;
    let filter = SeccompFilter::new(
        rules.into_map(),
        mismatch,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| build(e.into()))?;
    BpfProgram::try_from(filter)
        .map(Some)
        .map_err(|e| build(e.into()))
}

/// The compiled filters of one VMM, shared by the threads that install
/// them (cheap to clone).
#[derive(Clone, Debug)]
pub struct SeccompFilters {
    mode: SeccompMode,
    programs: Arc<[Option<BpfProgram>; ThreadKind::ALL.len()]>,
}

impl SeccompFilters {
    /// Compiles every kind's filter for `mode`, prepares the process (see
    /// [`prepare`]), and in `on` mode installs the SIGSYS handler that
    /// reports a refused call.
    pub fn new(mode: SeccompMode) -> Result<Self, SeccompError> {
        let mut programs: [Option<BpfProgram>; ThreadKind::ALL.len()] = Default::default();
        for kind in ThreadKind::ALL {
            programs[kind as usize] = compile(kind, mode)?;
        }
        if mode != SeccompMode::Off {
            prepare::malloc_params();
        }
        if mode == SeccompMode::On {
            sigsys::install_handler().map_err(SeccompError::Handler)?;
        }
        Ok(Self {
            mode,
            programs: Arc::new(programs),
        })
    }

    /// No filters (`--seccomp off`).
    pub fn off() -> Self {
        Self {
            mode: SeccompMode::Off,
            programs: Arc::new(Default::default()),
        }
    }

    /// The mode they were compiled for.
    pub fn mode(&self) -> SeccompMode {
        self.mode
    }

    /// Installs `kind`'s filter on the calling thread, which `label` names
    /// in a report of a refused call. Nothing in `off` mode. A filter stays
    /// for the thread's life and is inherited by threads it starts.
    pub fn install(&self, kind: ThreadKind, label: &str) -> Result<(), SeccompError> {
        let Some(program) = &self.programs[kind as usize] else {
            return Ok(());
        };
        sigsys::set_thread_label(label);
        seccompiler::apply_filter(program).map_err(|e| SeccompError::Install(kind, e))
    }

    /// `install(kind, label)` as an API server's thread set-up.
    pub fn thread_init(&self, kind: ThreadKind, label: &'static str) -> ::api::ThreadInit {
        let filters = self.clone();
        Arc::new(move || {
            filters
                .install(kind, label)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_compiles_in_every_mode() {
        for kind in ThreadKind::ALL {
            assert!(compile(kind, SeccompMode::Off).unwrap().is_none());
            for mode in [SeccompMode::Log, SeccompMode::On] {
                let prog = compile(kind, mode).unwrap().unwrap();
                // BPF programs are at most 4096 instructions.
                assert!(
                    !prog.is_empty() && prog.len() <= 4096,
                    "{kind}: {}",
                    prog.len()
                );
            }
        }
    }

    #[test]
    fn modes_parse() {
        assert_eq!(SeccompMode::parse("on"), Ok(SeccompMode::On));
        assert_eq!(SeccompMode::parse("log"), Ok(SeccompMode::Log));
        assert_eq!(SeccompMode::parse("off"), Ok(SeccompMode::Off));
        assert_eq!(SeccompMode::default(), SeccompMode::On);
        let e = SeccompMode::parse("strict").unwrap_err();
        assert!(
            e.contains("'strict'") && e.contains("off, log or on"),
            "{e}"
        );
    }

    #[test]
    fn lists_differ_where_the_threads_do() {
        let vcpu = ThreadKind::Vcpu.rules().unwrap();
        let api = ThreadKind::Api.rules().unwrap();
        let vmm = ThreadKind::Vmm.rules().unwrap();
        let virtio = ThreadKind::Virtio.rules().unwrap();
        let vhost = ThreadKind::VhostUser.rules().unwrap();
        // A device thread does its I/O and nothing of KVM, sockets or files.
        assert!(virtio.contains(libc::SYS_pwrite64) && virtio.contains(libc::SYS_fdatasync));
        // virtio-net: packets read and written on the tap, its readiness.
        assert!(virtio.contains(libc::SYS_read) && virtio.contains(libc::SYS_write));
        assert!(virtio.contains(libc::SYS_epoll_wait) && virtio.contains(libc::SYS_epoll_pwait));
        assert!(!virtio.contains(libc::SYS_ioctl) && !virtio.contains(libc::SYS_openat));
        assert!(!virtio.contains(libc::SYS_socket) && !virtio.contains(libc::SYS_clone3));
        assert!(!virtio.contains(libc::SYS_sendmsg));
        // A vhost-user device thread talks on its connected socket only.
        assert!(vhost.contains(libc::SYS_sendmsg) && vhost.contains(libc::SYS_recvmsg));
        for nr in [
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_openat,
            libc::SYS_ioctl,
            libc::SYS_pwrite64,
        ] {
            assert!(!vhost.contains(nr), "{nr}");
        }
        // Only the API thread accepts connections and starts threads.
        assert!(api.contains(libc::SYS_accept4) && api.contains(libc::SYS_clone3));
        assert!(!vcpu.contains(libc::SYS_accept4) && !vmm.contains(libc::SYS_accept4));
        assert!(!vcpu.contains(libc::SYS_clone3) && !vmm.contains(libc::SYS_clone3));
        // Only the VMM thread opens files and creates memfds.
        assert!(vmm.contains(libc::SYS_openat) && vmm.contains(libc::SYS_memfd_create));
        assert!(!vcpu.contains(libc::SYS_openat) && !api.contains(libc::SYS_openat));
        // Nobody execs, forks a process or opens network sockets freely.
        for r in [&vcpu, &api, &vmm, &virtio, &vhost] {
            assert!(!r.contains(libc::SYS_execve) && !r.contains(libc::SYS_fork));
            assert!(!r.contains(libc::SYS_ptrace) && !r.contains(libc::SYS_mount));
        }
        assert!(!vcpu.contains(libc::SYS_socket));
    }
}
