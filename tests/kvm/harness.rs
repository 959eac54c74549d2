//! A tiny machine for running hand-assembled 64-bit guest programs on the
//! host's KVM: long mode with identity paging, code at [`CODE_ADDR`], and
//! buses the test fills with devices.

use std::sync::{Arc, Mutex};

use arch::cpuid::CpuidConfig;
use devices::{Bus, BusDevice};
use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use vm_memory::{Bytes, GuestAddress};
use vmm::config::VmConfig;
use vmm::device_manager::DeviceManager;
use vmm::exit::{ExitReason, ExitState};
use vmm::machine::MachineError;
use vmm::memory::{MemoryManager, RamKind};
use vmm::platform::Platform;
use vmm::vcpu::{Vcpu, VcpuBuses};
use vmm::vm::Vm;

/// Where programs are loaded (and where RIP starts).
pub const CODE_ADDR: u64 = 0x10_0000;
/// Guest RAM size.
pub const RAM_SIZE: u64 = 64 << 20;
/// Two free pages for extra page tables.
pub const EXTRA_PT: u64 = 0x3_0000;
/// Port a program writes to say "done" (the byte written is its result).
pub const DONE_PORT: u16 = 0xf4;

/// A machine description around `cxl` (finished) for [`TestVm::with_config`]:
/// one vCPU, [`RAM_SIZE`] of RAM, no console; the kernel is never loaded.
pub fn vm_config(cxl: vmm::cxl_config::CxlConfig) -> VmConfig {
    VmConfig {
        kernel: Some(std::path::PathBuf::from("/nonexistent")),
        initramfs: None,
        cmdline: String::new(),
        cpus: 1,
        memory: RAM_SIZE,
        serial: vmm::config::SerialOutput::Null,
        hide_hypervisor: false,
        cxl: cxl.finish().unwrap(),
        api_socket: None,
        disks: Vec::new(),
        nets: Vec::new(),
        fs: Default::default(),
        seccomp: vmm::seccomp::SeccompMode::On,
    }
}

/// Records every write and answers reads from a queue of values.
#[derive(Default)]
pub struct Probe {
    /// (offset, bytes) of every write.
    pub writes: Vec<(u64, Vec<u8>)>,
    /// (offset, size) of every read.
    pub reads: Vec<(u64, usize)>,
    /// Value returned for reads.
    pub read_value: u64,
}

impl BusDevice for Probe {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        self.reads.push((offset, data.len()));
        let v = self.read_value.to_le_bytes();
        let n = data.len().min(8);
        data[..n].copy_from_slice(&v[..n]);
    }
    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        self.writes.push((offset, data.to_vec()));
    }
}

/// A VM with one vCPU in long mode.
#[allow(dead_code)] // fields kept alive or used by some tests only
pub struct TestVm {
    pub vm: Vm,
    pub memory: Arc<MemoryManager>,
    pub io: Arc<Bus>,
    pub mmio: Arc<Bus>,
    pub exit: Arc<ExitState>,
    pub vcpu: Vcpu,
    pub done: Arc<Mutex<Probe>>,
    /// The full device set, when built from a configuration.
    pub devices: Option<Arc<DeviceManager>>,
}

impl TestVm {
    /// Builds the VM and loads `code` at [`CODE_ADDR`].
    pub fn new(code: &[u8]) -> Self {
        Self::build(code, None)
    }

    /// Builds the VM with every device `cfg` describes (legacy, PCI, CXL),
    /// on the device manager's buses.
    pub fn with_config(code: &[u8], cfg: &VmConfig) -> Self {
        Self::build(code, Some(cfg))
    }

    fn build(code: &[u8], cfg: Option<&VmConfig>) -> Self {
        // As the machine does: shared RAM when a vhost-user backend maps
        // it, installed before the irqchip exists.
        let ram = match cfg {
            Some(c) if c.fs.any() => RamKind::Shared,
            _ => RamKind::Private,
        };
        let (vm, memory) = Vm::new_with(|kvm, fd| {
            let slots = kvm.get_nr_memslots() as u32;
            let mm = MemoryManager::with_ram(fd.clone(), &[(0, RAM_SIZE)], slots, ram)?;
            Ok::<_, MachineError>(mm)
        })
        .expect("KVM VM with RAM");
        let memory = Arc::new(memory);
        arch::paging::write_identity_map(memory.ram()).unwrap();
        arch::regs::write_gdt_idt(memory.ram()).unwrap();
        memory
            .ram()
            .write_slice(code, GuestAddress(CODE_ADDR))
            .unwrap();
        let exit = Arc::new(ExitState::new().unwrap());
        let devices = cfg.map(|cfg| {
            let platform = Platform::new(cfg).unwrap();
            Arc::new(DeviceManager::new(&platform, cfg, &vm.router, &memory, exit.clone()).unwrap())
        });
        let (io, mmio) = match &devices {
            Some(d) => (d.io_bus.clone(), d.mmio_bus.clone()),
            None => (Arc::new(Bus::new()), Arc::new(Bus::new())),
        };
        let done = Arc::new(Mutex::new(Probe::default()));
        io.insert(done.clone(), u64::from(DONE_PORT), 1).unwrap();
        let supported = vm.kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).unwrap();
        let vcpu = Vcpu::new(
            &vm.fd,
            0,
            supported.as_slice(),
            &CpuidConfig {
                cpus: 1,
                hide_hypervisor: false,
            },
            VcpuBuses {
                io: io.clone(),
                mmio: mmio.clone(),
                memory: Some(memory.clone()),
            },
            exit.clone(),
        )
        .unwrap();
        vcpu.set_boot_state(CODE_ADDR).unwrap();
        Self {
            vm,
            memory,
            io,
            mmio,
            exit,
            vcpu,
            done,
            devices,
        }
    }

    /// Identity-maps the 1 GiB at `gpa` (1 GiB aligned, above 512 GiB so it
    /// gets its own PML4 entry) with 2 MiB pages, using page-table pages at
    /// [`EXTRA_PT`].
    pub fn map_high_gib(&self, gpa: u64) {
        assert_eq!(gpa % (1 << 30), 0);
        assert!(gpa >= 1 << 39);
        let ram = self.memory.ram();
        let pdpt = EXTRA_PT;
        let pd = EXTRA_PT + 0x1000;
        let pml4e = arch::paging::BOOT_CR3 + ((gpa >> 39) & 511) * 8;
        ram.write_obj(pdpt | 3, GuestAddress(pml4e)).unwrap();
        ram.write_obj(pd | 3, GuestAddress(pdpt + ((gpa >> 30) & 511) * 8))
            .unwrap();
        for i in 0..512u64 {
            ram.write_obj((gpa + (i << 21)) | 0x83, GuestAddress(pd + i * 8))
                .unwrap();
        }
    }

    /// Runs until the program writes [`DONE_PORT`] (returns the byte) or the
    /// VM stops (returns the reason). Gives up after `max_exits` exits.
    pub fn run(&mut self, max_exits: usize) -> Result<u8, ExitReason> {
        for _ in 0..max_exits {
            if let Some(r) = self.vcpu.run_once() {
                return Err(r);
            }
            if self.exit.stopping() {
                return Err(self.exit.reason().unwrap());
            }
            if let Some((_, b)) = self.done.lock().unwrap().writes.pop() {
                return Ok(b[0]);
            }
        }
        panic!("guest program did not finish in {max_exits} exits");
    }
}

/// A tiny x86-64 assembler for the handful of instructions the tests use.
#[derive(Default)]
pub struct Asm(pub Vec<u8>);

impl Asm {
    /// mov dx, imm16
    pub fn mov_dx(mut self, v: u16) -> Self {
        self.0.extend([0x66, 0xba]);
        self.0.extend(v.to_le_bytes());
        self
    }
    /// out dx, al
    pub fn out_dx_al(mut self) -> Self {
        self.0.push(0xee);
        self
    }
    /// mov rax, imm64
    pub fn mov_rax(mut self, v: u64) -> Self {
        self.0.extend([0x48, 0xb8]);
        self.0.extend(v.to_le_bytes());
        self
    }
    /// mov rbx, imm64
    pub fn mov_rbx(mut self, v: u64) -> Self {
        self.0.extend([0x48, 0xbb]);
        self.0.extend(v.to_le_bytes());
        self
    }
    /// mov rax, [rbx]
    pub fn load_rax_rbx(mut self) -> Self {
        self.0.extend([0x48, 0x8b, 0x03]);
        self
    }
    /// mov [rbx], rax
    pub fn store_rbx_rax(mut self) -> Self {
        self.0.extend([0x48, 0x89, 0x03]);
        self
    }
    /// mov eax, [rbx]
    pub fn load_eax_rbx(mut self) -> Self {
        self.0.extend([0x8b, 0x03]);
        self
    }
    /// Writes `al` to the done port: `mov dx, DONE_PORT; out dx, al`.
    pub fn done_al(self) -> Self {
        self.mov_dx(DONE_PORT).out_dx_al()
    }
    /// Writes the low byte of rax to the done port and spins.
    pub fn finish(self) -> Vec<u8> {
        let mut s = self.done_al();
        s.0.extend([0xeb, 0xfe]); // jmp $
        s.0
    }
}

/// A bzImage with protocol 2.15 whose 64-bit entry runs `code`.
pub fn bzimage(code: &[u8]) -> Vec<u8> {
    let setup_sects = 1u8;
    let mut img = vec![0u8; (setup_sects as usize + 1) * 512];
    img[0x1f1] = setup_sects;
    img[0x1fe..0x200].copy_from_slice(&0xaa55u16.to_le_bytes());
    img[0x202..0x206].copy_from_slice(b"HdrS");
    img[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes()); // version
    img[0x211] = 0x01; // loadflags: LOADED_HIGH
    img[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes()); // code32_start
    img[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes()); // initrd_addr_max
    img[0x236..0x238].copy_from_slice(&1u16.to_le_bytes()); // xloadflags: XLF_KERNEL_64
    img[0x238..0x23c].copy_from_slice(&2048u32.to_le_bytes()); // cmdline_size
    img[0x260..0x264].copy_from_slice(&(1u32 << 20).to_le_bytes()); // init_size

    // Protected-mode part: 0x200 bytes of 32-bit entry we never use, then
    // the 64-bit entry.
    img.extend(std::iter::repeat_n(0xf4, 0x200));
    img.extend_from_slice(code);
    img
}
