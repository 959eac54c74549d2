//! vCPUs: configuration before the first run, and the run loop that turns
//! KVM exits into bus accesses.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use arch::cpuid::{vcpu_cpuid, CpuidConfig};
use arch::{msr, regs};
use devices::Bus;
use kvm_bindings::{
    kvm_cpuid_entry2, CpuId, KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET,
    KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{VcpuExit, VcpuFd, VmFd};
use log::{debug, error, info, warn};
use thiserror::Error;
use vmm_sys_util::signal::{register_signal_handler, Killable, SIGRTMIN};

use crate::exit::{ExitReason, ExitState};
use crate::memory::MemoryManager;
use crate::seccomp::{SeccompFilters, ThreadKind};

/// Errors configuring a vCPU.
#[derive(Debug, Error)]
pub enum VcpuError {
    /// A KVM call failed.
    #[error("vCPU {0}: {1}: {2}")]
    Kvm(u32, &'static str, kvm_ioctls::Error),
    /// Building a FAM structure failed.
    #[error("vCPU {0}: {1}")]
    Fam(u32, String),
    /// Spawning the thread failed.
    #[error("vCPU {0}: cannot start thread: {1}")]
    Thread(u32, std::io::Error),
}

/// LAPIC register offset of LVT LINT0 (Intel SDM 11.5.1).
const APIC_LVT0: usize = 0x350;
/// LAPIC register offset of LVT LINT1.
const APIC_LVT1: usize = 0x360;
/// LVT delivery mode ExtINT.
const APIC_MODE_EXTINT: u32 = 0x7;
/// LVT delivery mode NMI.
const APIC_MODE_NMI: u32 = 0x4;

fn set_lvt_mode(regs: &mut [std::os::raw::c_char], offset: usize, mode: u32) {
    let mut b = [0u8; 4];
    for (i, v) in b.iter_mut().enumerate() {
        *v = regs[offset + i] as u8;
    }
    let v = (u32::from_le_bytes(b) & !0x700) | (mode << 8);
    for (i, byte) in v.to_le_bytes().iter().enumerate() {
        regs[offset + i] = *byte as std::os::raw::c_char;
    }
}

/// Where a vCPU sends its port and MMIO exits.
#[derive(Clone)]
pub struct VcpuBuses {
    /// Port I/O bus.
    pub io: Arc<Bus>,
    /// MMIO bus.
    pub mmio: Arc<Bus>,
    /// The memslots: an MMIO exit inside one (some hosts' KVM gives one
    /// when it cannot fault the host page in) is carried out on its host
    /// memory, which raises SIGBUS if the memory is gone.
    pub memory: Option<Arc<MemoryManager>>,
}

impl VcpuBuses {
    fn slot_access(&self, addr: u64, data: &mut [u8], write: bool) -> bool {
        self.memory
            .as_ref()
            .is_some_and(|m| m.access_slot(addr, data, write))
    }
}

/// One vCPU.
pub struct Vcpu {
    id: u32,
    fd: VcpuFd,
    buses: VcpuBuses,
    exit: Arc<ExitState>,
}

impl Vcpu {
    /// Creates vCPU `id` with CPUID, MSRs and LAPIC LINT pins configured.
    pub fn new(
        vm: &VmFd,
        id: u32,
        supported_cpuid: &[kvm_cpuid_entry2],
        cpuid_cfg: &CpuidConfig,
        buses: VcpuBuses,
        exit: Arc<ExitState>,
    ) -> Result<Self, VcpuError> {
        let fd = vm
            .create_vcpu(u64::from(id))
            .map_err(|e| VcpuError::Kvm(id, "KVM_CREATE_VCPU", e))?;
        let entries = vcpu_cpuid(supported_cpuid, id, cpuid_cfg);
        let cpuid =
            CpuId::from_entries(&entries).map_err(|e| VcpuError::Fam(id, format!("{e:?}")))?;
        fd.set_cpuid2(&cpuid)
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_CPUID2", e))?;
        let msrs = msr::boot_msrs().map_err(|e| VcpuError::Fam(id, format!("{e:?}")))?;
        let n = fd
            .set_msrs(&msrs)
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_MSRS", e))?;
        if n != msrs.as_slice().len() {
            warn!(
                "vCPU {id}: KVM accepted {n} of {} boot MSRs",
                msrs.as_slice().len()
            );
        }
        let mut lapic = fd
            .get_lapic()
            .map_err(|e| VcpuError::Kvm(id, "KVM_GET_LAPIC", e))?;
        set_lvt_mode(&mut lapic.regs, APIC_LVT0, APIC_MODE_EXTINT);
        set_lvt_mode(&mut lapic.regs, APIC_LVT1, APIC_MODE_NMI);
        fd.set_lapic(&lapic)
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_LAPIC", e))?;
        fd.set_fpu(&regs::boot_fpu())
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_FPU", e))?;
        Ok(Self {
            id,
            fd,
            buses,
            exit,
        })
    }

    /// Puts the boot vCPU at the 64-bit kernel entry.
    pub fn set_boot_state(&self, entry: u64) -> Result<(), VcpuError> {
        let id = self.id;
        let sregs = self
            .fd
            .get_sregs()
            .map_err(|e| VcpuError::Kvm(id, "KVM_GET_SREGS", e))?;
        self.fd
            .set_sregs(&regs::boot_sregs(sregs))
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_SREGS", e))?;
        self.fd
            .set_regs(&regs::boot_regs(entry))
            .map_err(|e| VcpuError::Kvm(id, "KVM_SET_REGS", e))
    }

    /// The KVM vCPU (for tests that run small programs).
    pub fn fd(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }

    /// Runs until the VM is stopping. Returns when it is.
    pub fn run(&mut self) {
        while !self.exit.stopping() {
            if let Some(reason) = self.run_once() {
                self.exit.request(reason);
            }
        }
    }

    /// One KVM_RUN and the handling of its exit; `Some` ends the VM.
    pub fn run_once(&mut self) -> Option<ExitReason> {
        let io = match self.fd.run() {
            Ok(VcpuExit::IoIn(port, _)) => (port, true),
            Ok(VcpuExit::IoOut(port, _)) => (port, false),
            other => return handle_exit(self.id, &self.buses, other),
        };
        self.port_io(io.0, io.1);
        None
    }

    /// Carries out the port I/O of the last exit one element at a time: a
    /// string instruction (`rep ins`/`rep outs`) exits with `count`
    /// elements of `size` bytes, all for the same port.
    fn port_io(&mut self, port: u16, input: bool) {
        let run = self.fd.get_kvm_run();
        // SAFETY: the last exit was KVM_EXIT_IO, so `io` is the member of
        // the exit union the kernel filled; it is plain integers.
        let io = unsafe { run.__bindgen_anon_1.io };
        let size = usize::from(io.size);
        let len = size.saturating_mul(io.count as usize);
        let base = std::ptr::from_mut(run).cast::<u8>();
        // SAFETY: as kvm-ioctls' `VcpuFd::run` builds the slice for
        // KVM_EXIT_IO: the kernel places the `size * count` data bytes
        // `data_offset` bytes into the kvm_run mapping, which lives as long
        // as the vCPU fd; nothing else refers to them until the next run.
        let data =
            unsafe { std::slice::from_raw_parts_mut(base.add(io.data_offset as usize), len) };
        if size == 0 {
            return;
        }
        let id = self.id;
        for element in data.chunks_exact_mut(size) {
            if input {
                if self.buses.io.read(u64::from(port), element).is_err() {
                    element.fill(0xff);
                }
            } else if self.buses.io.write(u64::from(port), element).is_err() {
                devices::debug_limited!("vCPU {id}: unhandled out {port:#x} <- {element:x?}");
            }
        }
    }
}

/// Handles every exit but port I/O; `Some` ends the VM.
fn handle_exit(
    id: u32,
    buses: &VcpuBuses,
    exit: Result<VcpuExit<'_>, kvm_ioctls::Error>,
) -> Option<ExitReason> {
    match exit {
        Ok(VcpuExit::MmioRead(addr, data)) => {
            if buses.mmio.read(addr, data).is_err() && !buses.slot_access(addr, data, false) {
                devices::debug_limited!("vCPU {id}: unhandled MMIO read at {addr:#x}");
                data.fill(0xff);
            }
            None
        }
        Ok(VcpuExit::MmioWrite(addr, data)) => {
            if buses.mmio.write(addr, data).is_err() {
                // Not a device: perhaps inside a memslot (see `slot_access`).
                let mut bytes = [0u8; 8];
                let n = data.len().min(8);
                bytes[..n].copy_from_slice(&data[..n]);
                if !buses.slot_access(addr, &mut bytes[..n], true) {
                    devices::debug_limited!("vCPU {id}: unhandled MMIO write at {addr:#x}");
                }
            }
            None
        }
        Ok(VcpuExit::Hlt) | Ok(VcpuExit::Intr) => None,
        Ok(VcpuExit::Shutdown) => Some(ExitReason::TripleFault { vcpu: id }),
        Ok(VcpuExit::SystemEvent(kind, _)) => match kind {
            KVM_SYSTEM_EVENT_SHUTDOWN => Some(ExitReason::Poweroff),
            KVM_SYSTEM_EVENT_RESET => Some(ExitReason::Reset),
            KVM_SYSTEM_EVENT_CRASH => Some(ExitReason::GuestCrash("system event crash".into())),
            other => Some(ExitReason::GuestCrash(format!("system event {other}"))),
        },
        Ok(VcpuExit::FailEntry(reason, cpu)) => Some(ExitReason::GuestCrash(format!(
            "vCPU {id}: KVM entry failed (reason {reason:#x}, cpu {cpu})"
        ))),
        Ok(VcpuExit::InternalError) => Some(ExitReason::GuestCrash(format!(
            "vCPU {id}: KVM internal error"
        ))),
        Ok(VcpuExit::MemoryFault { gpa, size, .. }) => Some(ExitReason::GuestMemoryLost(format!(
            "vCPU {id}: KVM could not fault in guest memory at {gpa:#x}+{size:#x} (its backend's file truncated, or the host out of its memory)"
        ))),
        Ok(other) => {
            error!("vCPU {id}: unexpected exit {other:?}");
            Some(ExitReason::GuestCrash(format!(
                "vCPU {id}: unexpected exit"
            )))
        }
        Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => None,
        Err(e) if e.errno() == libc::EFAULT || e.errno() == libc::EHWPOISON => {
            Some(ExitReason::GuestMemoryLost(format!(
                "vCPU {id}: KVM_RUN: {e}: guest memory could not be faulted in (a backend's file truncated, or the host out of its memory)"
            )))
        }
        Err(e) => Some(ExitReason::VmmError(format!("vCPU {id}: KVM_RUN: {e}"))),
    }
}

extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the no-op handler for the signal that kicks vCPUs out of KVM_RUN.
pub fn install_kick_handler() -> Result<(), std::io::Error> {
    register_signal_handler(SIGRTMIN(), kick_handler).map_err(std::io::Error::from)
}

/// A running vCPU thread.
pub struct VcpuThread {
    id: u32,
    handle: JoinHandle<()>,
    tid: Arc<AtomicI32>,
}

impl VcpuThread {
    /// Starts `vcpu` on its own thread, which installs the vCPU seccomp
    /// filter of `seccomp` before it runs the guest (a filter that cannot
    /// be installed ends the VM).
    pub fn spawn(mut vcpu: Vcpu, seccomp: &SeccompFilters) -> Result<Self, VcpuError> {
        let id = vcpu.id;
        let name = format!("vcpu{id}");
        let seccomp = seccomp.clone();
        let tid = Arc::new(AtomicI32::new(0));
        let thread_tid = tid.clone();
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let exit = vcpu.exit.clone();
                // SAFETY: gettid(2) has no preconditions.
                thread_tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
                if let Err(e) = seccomp.install(ThreadKind::Vcpu, &name) {
                    exit.request(ExitReason::VmmError(format!("vCPU {id}: {e}")));
                    return;
                }
                // A bug that panics on this thread must end the VM, not
                // leave it running a vCPU short (or hang it with one).
                if id == 0 {
                    if let Some(t) = crate::uptime::since_start() {
                        info!(
                            "vCPU 0: first KVM_RUN {:.1} ms after start",
                            t.as_secs_f64() * 1e3
                        );
                    }
                }
                let run = std::panic::AssertUnwindSafe(|| vcpu.run());
                if std::panic::catch_unwind(run).is_err() {
                    exit.request(ExitReason::VmmError(format!("vCPU {id} thread panicked")));
                }
                debug!("vCPU {id} stopped");
            })
            .map_err(|e| VcpuError::Thread(id, e))?;
        Ok(Self { id, handle, tid })
    }

    /// The thread's kernel id (for /proc/self/task), once it has started.
    pub fn tid(&self) -> Option<i32> {
        Some(self.tid.load(Ordering::SeqCst)).filter(|&t| t != 0)
    }

    /// Interrupts KVM_RUN (if the thread is in it).
    pub fn kick(&self) {
        if !self.handle.is_finished() {
            let _ = self.handle.kill(SIGRTMIN());
        }
    }

    /// True once the thread has returned.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread.
    pub fn join(self) {
        if self.handle.join().is_err() {
            error!("a vCPU thread panicked");
        }
    }
}

/// Stops every vCPU thread: kicks them until they have all returned.
pub fn stop_all(threads: Vec<VcpuThread>) {
    // A kick can land just before a thread enters KVM_RUN; kick again until
    // every thread has noticed the stop flag. A thread that never does (a
    // kernel bug, a stuck host) must not keep the process alive: give up
    // after a while and let process exit take it.
    let start = std::time::Instant::now();
    while threads.iter().any(|t| !t.is_finished()) {
        if start.elapsed() > STOP_TIMEOUT {
            let stuck: Vec<u32> = threads
                .iter()
                .filter(|t| !t.is_finished())
                .map(|t| t.id)
                .collect();
            error!("vCPU thread(s) {stuck:?} did not stop within {STOP_TIMEOUT:?}; leaving them");
            return;
        }
        threads.iter().for_each(VcpuThread::kick);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    threads.into_iter().for_each(VcpuThread::join);
}

/// How long [`stop_all`] waits for vCPU threads.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
