//! Port I/O reaches devices one element at a time, string instructions
//! included: KVM hands `rep ins`/`rep outs` over as one exit with `count`
//! elements, which must not become one wide access.

use std::sync::{Arc, Mutex};

use vm_memory::{Bytes, GuestAddress};

use crate::harness::{Asm, Probe, TestVm};

const PORT: u16 = 0x3f8;
const BUF: u64 = 0x20_0000;

/// mov rdi, BUF; mov rsi, BUF; mov rcx, count; mov dx, PORT
fn setup(count: u64) -> Asm {
    let mut a = Asm::default();
    a.0.extend([0x48, 0xbf]);
    a.0.extend(BUF.to_le_bytes());
    a.0.extend([0x48, 0xbe]);
    a.0.extend(BUF.to_le_bytes());
    a.0.extend([0x48, 0xb9]);
    a.0.extend(count.to_le_bytes());
    a.mov_dx(PORT)
}

fn probe(t: &TestVm) -> Arc<Mutex<Probe>> {
    let p = Arc::new(Mutex::new(Probe {
        read_value: 0x8877_6655_4433_2211,
        ..Default::default()
    }));
    t.io.insert(p.clone(), u64::from(PORT), 8).unwrap();
    p
}

#[test]
fn rep_insb_reads_the_port_once_per_byte() {
    let mut code = setup(16);
    code.0.extend([0xf3, 0x6c]); // rep insb
    let mut t = TestVm::new(&code.mov_rax(0x5a).finish());
    let p = probe(&t);
    assert_eq!(t.run(100), Ok(0x5a));
    assert_eq!(p.lock().unwrap().reads, vec![(0, 1); 16]);
    let mut got = [0u8; 17];
    t.memory
        .ram()
        .read_slice(&mut got, GuestAddress(BUF))
        .unwrap();
    assert_eq!(got[..16], [0x11; 16], "each byte is the port's first byte");
    assert_eq!(got[16], 0, "nothing past the count");
}

#[test]
fn rep_insw_reads_the_port_once_per_word() {
    let mut code = setup(4);
    code.0.extend([0x66, 0xf3, 0x6d]); // rep insw
    let mut t = TestVm::new(&code.mov_rax(0x5b).finish());
    let p = probe(&t);
    assert_eq!(t.run(100), Ok(0x5b));
    assert_eq!(p.lock().unwrap().reads, vec![(0, 2); 4]);
    let mut got = [0u8; 8];
    t.memory
        .ram()
        .read_slice(&mut got, GuestAddress(BUF))
        .unwrap();
    assert_eq!(got, [0x11, 0x22, 0x11, 0x22, 0x11, 0x22, 0x11, 0x22]);
}

#[test]
fn rep_outsw_writes_the_port_once_per_word_in_order() {
    let mut code = setup(3);
    code.0.extend([0x66, 0xf3, 0x6f]); // rep outsw
    let mut t = TestVm::new(&code.mov_rax(0x5c).finish());
    t.memory
        .ram()
        .write_slice(&[1, 2, 3, 4, 5, 6, 7, 8], GuestAddress(BUF))
        .unwrap();
    let p = probe(&t);
    assert_eq!(t.run(100), Ok(0x5c));
    let writes = p.lock().unwrap().writes.clone();
    assert_eq!(
        writes,
        vec![(0, vec![1, 2]), (0, vec![3, 4]), (0, vec![5, 6])]
    );
}

/// A device with a bug: it panics on any access.
struct Buggy;

impl devices::BusDevice for Buggy {
    fn read(&mut self, _base: u64, _offset: u64, _data: &mut [u8]) {
        panic!("device bug (on purpose)");
    }
    fn write(&mut self, _base: u64, _offset: u64, _data: &[u8]) {}
}

#[test]
fn a_panic_on_a_vcpu_thread_ends_the_vm_with_a_vmm_error() {
    let mut code = Asm::default().mov_dx(PORT);
    code.0.push(0xec); // in al, dx
    let t = TestVm::new(&code.finish());
    t.io.insert(Arc::new(Mutex::new(Buggy)), u64::from(PORT), 8)
        .unwrap();
    let exit = t.exit.clone();
    let seccomp = vmm::seccomp::SeccompFilters::off();
    let thread = vmm::vcpu::VcpuThread::spawn(t.vcpu, &seccomp).unwrap();
    let start = std::time::Instant::now();
    while !exit.stopping() && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    vmm::vcpu::stop_all(vec![thread]);
    match exit.reason() {
        Some(vmm::exit::ExitReason::VmmError(m)) => assert!(m.contains("panicked"), "{m}"),
        other => panic!("expected a VMM error, got {other:?}"),
    }
}
