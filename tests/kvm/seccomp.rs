//! A guest program runs on a real vCPU thread with the vCPU seccomp filter
//! installed in `on` mode (a refused call would end this test process with
//! status 1 and a report on stderr), and the kernel shows the filter on
//! that thread.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vmm::seccomp::{SeccompFilters, SeccompMode};
use vmm::vcpu::{self, VcpuThread};

use crate::harness::{Asm, Probe, TestVm};

const MMIO: u64 = 0xd000_0000;

/// `Seccomp:` of thread `tid` of this process.
fn seccomp_of_thread(tid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_string())
}

#[test]
fn a_guest_program_runs_on_a_vcpu_thread_under_the_vcpu_filter() {
    // MMIO write and read, then the read's low byte to the done port.
    let code = Asm::default()
        .mov_rbx(MMIO)
        .mov_rax(0x1122_3344_5566_7788)
        .store_rbx_rax()
        .load_rax_rbx()
        .finish();
    let t = TestVm::new(&code);
    let mmio = Arc::new(Mutex::new(Probe {
        read_value: 0x5a,
        ..Default::default()
    }));
    t.mmio.insert(mmio.clone(), MMIO, 0x1000).unwrap();
    let (exit, done) = (t.exit.clone(), t.done.clone());

    let filters = SeccompFilters::new(SeccompMode::On).unwrap();
    let thread = VcpuThread::spawn(t.vcpu, &filters).unwrap();
    let start = Instant::now();
    let result = loop {
        if let Some((_, b)) = done.lock().unwrap().writes.first() {
            break Some(b[0]);
        }
        if exit.stopping() || start.elapsed() > Duration::from_secs(20) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The program spins after reporting: the thread is still in KVM_RUN.
    let status = thread.tid().and_then(seccomp_of_thread);
    vcpu::stop_all(vec![thread]);

    assert_eq!(result, Some(0x5a), "exit: {:?}", exit.reason());
    assert_eq!(
        mmio.lock().unwrap().writes,
        vec![(0, 0x1122_3344_5566_7788u64.to_le_bytes().to_vec())]
    );
    // 2 = SECCOMP_MODE_FILTER.
    assert_eq!(status.as_deref(), Some("2"));
    // Stopped on request, not by an error on the vCPU thread.
    assert_eq!(exit.reason(), None);
}
