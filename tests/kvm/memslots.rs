//! Memslots map where the memory manager says, and only while mapped.

use std::sync::{Arc, Mutex};

use devices::memory::{BackendConfig, BackendKind, HostMemory};
use vmm::vm::{Vm, VmError};

use crate::harness::{Asm, Probe, TestVm};

const WINDOW: u64 = 0x80_0000_0000; // the CXL window region

fn backend(size: u64) -> HostMemory {
    HostMemory::new(BackendConfig {
        id: "test".into(),
        kind: BackendKind::Memfd,
        path: None,
        size,
        share: true,
        prealloc: false,
        tag: None,
    })
    .unwrap()
}

#[test]
fn guest_reads_and_writes_a_mapped_backend() {
    let mem = backend(2 << 20);
    mem.write(0x1000, &0x1122_3344_5566_7788u64.to_le_bytes())
        .unwrap();
    // rax = [WINDOW + 0x1000]; [WINDOW + 0x2000] = rax + 1 (via inc); done(al)
    let mut code = Asm::default().mov_rbx(WINDOW + 0x1000).load_rax_rbx();
    code.0.extend([0x48, 0xff, 0xc0]); // inc rax
    let code = code.mov_rbx(WINDOW + 0x2000).store_rbx_rax().finish();
    let mut t = TestVm::new(&code);
    t.map_high_gib(WINDOW);
    // SAFETY: `mem` outlives the slot (unmapped below before drop).
    let slot = unsafe { t.memory.map(WINDOW, mem.size(), mem.host_addr()) }.unwrap();
    assert_eq!(t.memory.slot_at(WINDOW + 0x1fffff), Some(slot));
    assert_eq!(t.run(100), Ok(0x89));
    let mut b = [0u8; 8];
    mem.read(0x2000, &mut b).unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x1122_3344_5566_7789);
    t.memory.unmap(WINDOW).unwrap();
    assert_eq!(t.memory.slot_at(WINDOW), None);
}

#[test]
fn unmapped_window_exits_to_the_mmio_bus() {
    let code = Asm::default()
        .mov_rbx(WINDOW + 0x10)
        .load_eax_rbx()
        .mov_rax(0xdead_beef)
        .store_rbx_rax()
        .finish();
    let mut t = TestVm::new(&code);
    t.map_high_gib(WINDOW);
    let probe = Arc::new(Mutex::new(Probe {
        read_value: 0x42,
        ..Default::default()
    }));
    t.mmio.insert(probe.clone(), WINDOW, 0x1000).unwrap();
    assert_eq!(t.run(100), Ok(0xef));
    let p = probe.lock().unwrap();
    assert_eq!(p.reads, vec![(0x10, 4)]);
    assert_eq!(
        p.writes,
        vec![(0x10, 0xdead_beefu64.to_le_bytes().to_vec())]
    );
}

#[test]
fn remapping_moves_the_memory() {
    let a = backend(1 << 20);
    let b = backend(1 << 20);
    a.write(0, &[0xaa]).unwrap();
    b.write(0, &[0xbb]).unwrap();
    let code = Asm::default().mov_rbx(WINDOW).load_rax_rbx().finish();
    let mut t = TestVm::new(&code);
    t.map_high_gib(WINDOW);
    // SAFETY: both backends outlive their slots.
    unsafe { t.memory.map(WINDOW, a.size(), a.host_addr()) }.unwrap();
    assert!(unsafe { t.memory.map(WINDOW, b.size(), b.host_addr()) }.is_err());
    t.memory.unmap(WINDOW).unwrap();
    unsafe { t.memory.map(WINDOW, b.size(), b.host_addr()) }.unwrap();
    assert_eq!(t.run(100), Ok(0xbb));
    t.memory.unmap(WINDOW).unwrap();
}

#[test]
fn unmapped_page_without_idt_is_a_triple_fault() {
    // The window is not in the boot page tables: #PF with an empty IDT.
    let code = Asm::default().mov_rbx(WINDOW).load_rax_rbx().finish();
    let mut t = TestVm::new(&code);
    assert_eq!(
        t.run(100),
        Err(vmm::exit::ExitReason::TripleFault { vcpu: 0 })
    );
}

/// `Vm::new_with` runs its set-up (the machine's RAM memslots) before the
/// in-kernel irqchip exists: KVM's first memslot change after
/// KVM_CREATE_IRQCHIP waits out a grace period (docs/PERFORMANCE.md).
#[test]
fn early_setup_runs_before_the_irqchip() {
    let chip = || kvm_bindings::kvm_irqchip {
        chip_id: kvm_bindings::KVM_IRQCHIP_PIC_MASTER,
        ..Default::default()
    };
    let (vm, chip_before) =
        Vm::new_with(|_, fd| Ok::<_, VmError>(fd.get_irqchip(&mut chip()).is_ok()))
            .expect("KVM VM");
    assert!(!chip_before, "the irqchip existed during the early set-up");
    assert!(vm.fd.get_irqchip(&mut chip()).is_ok(), "no irqchip after");
}
