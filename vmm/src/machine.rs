//! A whole machine: build it from a [`VmConfig`], run it, say why it ended.

use std::path::Path;
use std::sync::Arc;

use arch::cpuid::CpuidConfig;
use arch::layout::{ACPI_TABLES_SIZE, ACPI_TABLES_START};
use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use thiserror::Error;
use vm_memory::{Bytes, GuestAddress};

use crate::api_handler::ApiContext;
use crate::boot::{self, KernelConfig, LoadError};
use crate::config::VmConfig;
use crate::device_manager::{DeviceError, DeviceManager};
use crate::event_loop;
use crate::exit::{ExitReason, ExitState};
use crate::memory::{MemoryError, MemoryManager, RamKind};
use crate::platform::Platform;
use crate::seccomp::{SeccompError, SeccompFilters, SeccompMode, ThreadKind};
use crate::vcpu::{self, Vcpu, VcpuBuses, VcpuError, VcpuThread};
use crate::virtio_devices::VirtioKind;
use crate::virtiofsd;
use crate::vm::{Vm, VmError};

/// Errors building or starting a machine.
#[derive(Debug, Error)]
pub enum MachineError {
    /// Configuration refused.
    #[error("{0}")]
    Config(String),
    /// KVM VM creation failed.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// Memory setup failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Device setup failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// ACPI table generation failed.
    #[error("ACPI: {0}")]
    Acpi(String),
    /// Kernel loading failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// vCPU setup failed.
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    /// A host call failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// Seccomp filters could not be built or installed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
}

/// The ACPI tables for `platform`.
pub fn acpi_tables(platform: &Platform) -> Result<acpi::AcpiTables, MachineError> {
    let tables = acpi::build(&platform.acpi_config(), ACPI_TABLES_START)
        .map_err(|e| MachineError::Acpi(e.to_string()))?;
    let end = tables
        .tables
        .iter()
        .map(|t| t.gpa + t.bytes.len() as u64)
        .max()
        .unwrap_or(ACPI_TABLES_START);
    if end > ACPI_TABLES_START + ACPI_TABLES_SIZE {
        return Err(MachineError::Acpi(format!(
            "tables end at {end:#x}, past their area"
        )));
    }
    Ok(tables)
}

/// Writes every ACPI table of the configured machine as DIR/SIG.dat.
/// Returns how many were written.
pub fn dump_acpi(cfg: &VmConfig, dir: &Path) -> Result<usize, MachineError> {
    let platform = Platform::new(cfg).map_err(MachineError::Config)?;
    let tables = acpi_tables(&platform)?;
    std::fs::create_dir_all(dir).map_err(|e| MachineError::Io("creating the dump directory", e))?;
    for t in &tables.tables {
        std::fs::write(dir.join(format!("{}.dat", t.signature)), &t.bytes)
            .map_err(|e| MachineError::Io("writing a table", e))?;
    }
    Ok(tables.tables.len())
}

/// A built machine, ready to run.
pub struct Machine {
    vm: Vm,
    memory: Arc<MemoryManager>,
    devices: Arc<DeviceManager>,
    vcpus: Vec<Vcpu>,
    exit: Arc<ExitState>,
    api_socket: Option<std::path::PathBuf>,
    seccomp: SeccompMode,
    cpus: u32,
    ram: u64,
}

impl Machine {
    /// Builds everything: VM, RAM, devices, ACPI tables, kernel, vCPUs.
    pub fn new(cfg: &VmConfig) -> Result<Self, MachineError> {
        let kernel = cfg
            .kernel
            .clone()
            .ok_or_else(|| MachineError::Config("no kernel given".into()))?;
        let platform = Platform::new(cfg).map_err(MachineError::Config)?;
        let exit = Arc::new(ExitState::new().map_err(|e| MachineError::Io("eventfd", e))?);
        // A vhost-user backend maps guest RAM from its descriptors.
        let ram_kind = if cfg.fs.any() {
            RamKind::Shared
        } else {
            RamKind::Private
        };
        // Guest RAM goes in as memslots before the irqchip exists, where a
        // memslot costs 0.1 ms instead of a grace period (Vm::new_with).
        let (vm, memory) = Vm::new_with(|kvm, fd| {
            let slots = kvm.get_nr_memslots() as u32;
            let memory = MemoryManager::with_ram(fd.clone(), &platform.ram, slots, ram_kind)?;
            Ok::<_, MachineError>(Arc::new(memory))
        })?;
        crate::uptime::phase_done("VM, guest RAM memslots, irqchip");
        if cfg.cpus > vm.max_vcpus() {
            return Err(MachineError::Config(format!(
                "--cpus {}: KVM allows at most {}",
                cfg.cpus,
                vm.max_vcpus()
            )));
        }
        let (devices, entry, vcpus) = Self::build(cfg, kernel, &platform, &vm, &memory, &exit)?;
        if let Some(bsp) = vcpus.first() {
            bsp.set_boot_state(entry)?;
        }
        Ok(Self {
            vm,
            memory,
            devices,
            vcpus,
            exit,
            api_socket: cfg.api_socket.clone(),
            seccomp: cfg.seccomp,
            cpus: cfg.cpus,
            ram: cfg.memory,
        })
    }

    /// Everything but the RAM memslots: devices, ACPI tables and kernel in
    /// RAM, vCPUs. Returns the devices, the kernel's entry and the vCPUs.
    fn build(
        cfg: &VmConfig,
        kernel: std::path::PathBuf,
        platform: &Platform,
        vm: &Vm,
        memory: &Arc<MemoryManager>,
        exit: &Arc<ExitState>,
    ) -> Result<(Arc<DeviceManager>, u64, Vec<Vcpu>), MachineError> {
        let tables = acpi_tables(platform)?;
        let devices = Arc::new(DeviceManager::new(
            platform,
            cfg,
            &vm.router,
            memory,
            exit.clone(),
        )?);
        devices
            .virtio
            .register_ioeventfds(&vm.fd)
            .map_err(|e| MachineError::Device(DeviceError::Virtio(e)))?;
        crate::uptime::phase_done("ACPI tables, devices");

        for t in &tables.tables {
            memory
                .ram()
                .write_slice(&t.bytes, GuestAddress(t.gpa))
                .map_err(|e| MachineError::Acpi(format!("writing {}: {e}", t.signature)))?;
        }
        let entry = boot::load_linux(
            memory.ram(),
            cfg.memory,
            &KernelConfig {
                kernel,
                initramfs: cfg.initramfs.clone(),
                cmdline: cfg.cmdline.clone(),
            },
            tables.rsdp_addr(),
        )?;

        crate::uptime::phase_done("kernel and initramfs in RAM");
        let supported = vm
            .kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| MachineError::Vm(VmError::Kvm("KVM_GET_SUPPORTED_CPUID", e)))?;
        let cpuid_cfg = CpuidConfig {
            cpus: cfg.cpus,
            hide_hypervisor: cfg.hide_hypervisor,
        };
        let buses = VcpuBuses {
            io: devices.io_bus.clone(),
            mmio: devices.mmio_bus.clone(),
            memory: Some(memory.clone()),
        };
        let mut vcpus = Vec::with_capacity(cfg.cpus as usize);
        for id in 0..cfg.cpus {
            vcpus.push(Vcpu::new(
                &vm.fd,
                id,
                supported.as_slice(),
                &cpuid_cfg,
                buses.clone(),
                exit.clone(),
            )?);
        }
        crate::uptime::phase_done("vCPUs");
        Ok((devices, entry, vcpus))
    }

    /// Runs the guest until it stops, and says why.
    pub fn run(
        self,
        trace: Option<&crate::trace_sink::TraceHandle>,
    ) -> Result<ExitReason, MachineError> {
        vcpu::install_kick_handler().map_err(|e| MachineError::Io("signal handler", e))?;
        // Compiled before any thread starts; each thread installs its own.
        let seccomp = SeccompFilters::new(self.seccomp)?;
        if let Some(t) = trace {
            let filters = seccomp.clone();
            t.on_writer(Box::new(move || {
                if let Err(e) = filters.install(ThreadKind::Trace, "trace") {
                    log::error!("{e}");
                }
            }));
        }
        let api = match &self.api_socket {
            None => None,
            Some(path) => {
                let config = api::ApiServerConfig {
                    thread_init: Some(seccomp.thread_init(ThreadKind::Api, "api")),
                    events: crate::trace_sink::events_ring(),
                    ..api::ApiServerConfig::default()
                };
                let (handle, rx) = api::ApiServer::start(path, config)
                    .map_err(|e| MachineError::Io("API socket", e))?;
                let ctx = ApiContext {
                    devices: self.devices.clone(),
                    exit: self.exit.clone(),
                    cpus: self.cpus,
                    memory: self.ram,
                };
                Some((handle, rx, ctx))
            }
        };
        let (api_handle, api) = match api {
            Some((h, rx, ctx)) => (Some(h), Some((rx, ctx))),
            None => (None, None),
        };
        // Device threads run their filter's installation before anything
        // else they do (queued ahead of any work a guest can give them).
        let virtio = &self.devices.virtio;
        for (i, (dev, kind)) in virtio.devices.iter().zip(&virtio.kinds).enumerate() {
            let filters = seccomp.clone();
            let label = format!("virtio{i}");
            let kind = match kind {
                VirtioKind::Block | VirtioKind::Net => ThreadKind::Virtio,
                VirtioKind::Fs => ThreadKind::VhostUser,
            };
            let setup = Box::new(move || filters.install(kind, &label).map_err(|e| e.to_string()));
            dev.lock()
                .unwrap_or_else(|e| e.into_inner())
                .setup_thread(setup);
        }
        let mut threads = Vec::with_capacity(self.vcpus.len());
        for v in self.vcpus {
            match VcpuThread::spawn(v, &seccomp) {
                Ok(t) => threads.push(t),
                Err(e) => {
                    self.exit.request(ExitReason::VmmError(e.to_string()));
                    vcpu::stop_all(threads);
                    return Err(e.into());
                }
            }
        }
        // The VMM thread's filter goes on once the loop is set up (signal
        // handlers, epoll) and every other thread has started.
        let ready = || {
            seccomp
                .install(ThreadKind::Vmm, "main")
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        devices::trace::emit(
            devices::trace::Kind::Vm,
            None,
            || devices::trace::json!({ "state": "started", "cpus": self.cpus }),
        );
        let result = event_loop::run(&self.exit, &self.devices, api, ready);
        devices::trace::emit(devices::trace::Kind::Vm, None, || {
            devices::trace::json!({
                "state": "stopping",
                "reason": self.exit.reason().map(|r| r.to_string()),
            })
        });
        if let Err(e) = &result {
            self.exit.request(ExitReason::VmmError(e.to_string()));
        }
        vcpu::stop_all(threads);
        if let Some(h) = api_handle {
            h.shutdown();
        }
        let _ = (&self.vm, &self.memory);
        result.map_err(|e| MachineError::Io("event loop", e))?;
        Ok(self
            .exit
            .reason()
            .unwrap_or_else(|| ExitReason::VmmError("stopped without a reason".into())))
    }
}

/// Builds and runs a machine. virtiofsd for each `--share` starts first
/// (before any other thread or filter), its share becomes a virtio-fs device
/// on its socket, and it is stopped once the machine is gone.
pub fn run(
    mut cfg: VmConfig,
    trace: Option<&crate::trace_sink::TraceHandle>,
) -> Result<ExitReason, MachineError> {
    let daemons = virtiofsd::start_all(&cfg.fs).map_err(MachineError::Config)?;
    cfg.fs.fs.extend(
        daemons
            .iter()
            .map(|d| d.fs_config(devices::virtio::fs::DEFAULT_QUEUE_SIZE)),
    );
    cfg.fs.shares.clear();
    let result = Machine::new(&cfg).and_then(|m| m.run(trace));
    // The devices (and their connections) are gone: virtiofsd may go.
    drop(daemons);
    result
}
