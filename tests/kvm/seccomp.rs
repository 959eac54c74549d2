//! A guest program runs on a real vCPU thread with the vCPU seccomp filter
//! installed in `on` mode (a refused call would end this test process with
//! status 1 and a report on stderr), and the kernel shows the filter on
//! that thread.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vmm::exit::ExitReason;
use vmm::seccomp::{SeccompFilters, SeccompMode};
use vmm::vcpu::{self, VcpuThread};

use crate::boot::{run, Scratch};
use crate::harness::bzimage;
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
    // Anything the vCPU thread reported first would win over this.
    let first = exit.reason();
    exit.request(ExitReason::Shutdown);
    vcpu::stop_all(vec![thread]);

    assert_eq!(result, Some(0x5a), "exit: {:?}", exit.reason());
    assert_eq!(
        mmio.lock().unwrap().writes,
        vec![(0, 0x1122_3344_5566_7788u64.to_le_bytes().to_vec())]
    );
    // 2 = SECCOMP_MODE_FILTER.
    assert_eq!(status.as_deref(), Some("2"));
    // Stopped on request, not by an error on the vCPU thread.
    assert_eq!(first, None);
    assert_eq!(exit.reason(), Some(ExitReason::Shutdown));
}

#[test]
fn api_requests_are_applied_under_the_vmm_filter() {
    // A whole cxlvmm (default: --seccomp on) with an API socket and a
    // DC-only device, its guest spinning; the operator creates backends of
    // each kind, offers capacity, lists, deletes and shuts down. Every
    // request is applied on the VMM thread under its filter (and served on
    // the API thread under its own): a refused call would end this process.
    let s = Scratch::new("seccomp-api");
    let kernel = s.file("bzImage", &bzimage(&[0xeb, 0xfe]));
    let sock = s.0.join("api.sock");
    let file = s.0.join("tm1.mem");
    let vm = {
        let (kernel, sock, console) = (kernel.clone(), sock.clone(), s.0.join("console"));
        std::thread::spawn(move || {
            let sock = sock.to_str().unwrap().to_string();
            run(
                &kernel,
                &[
                    "--api-socket",
                    &sock,
                    "--cxl-host-bridge",
                    "id=hb0",
                    "--cxl-root-port",
                    "id=rp0,bus=hb0",
                    "--cxl-type3",
                    "id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M",
                    "--cxl-fmw",
                    "targets=hb0,size=256M",
                ],
                &console,
            )
        })
    };
    let start = Instant::now();
    while !sock.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let client = api::ApiClient::new(&sock);
    assert_eq!(client.vm_info().unwrap().devices, 1);
    let tag = |n: u8| uuid::Uuid::from_bytes([n; 16]);
    let backend = |id: &str, kind, path, prealloc, t| api::BackendConfig {
        id: id.into(),
        kind,
        path,
        size: 2 << 20,
        share: true,
        prealloc,
        tag: Some(tag(t)),
    };
    client
        .backend_add(backend("tm0", api::BackendKind::Memfd, None, false, 1))
        .unwrap();
    client
        .backend_add(backend(
            "tm1",
            api::BackendKind::File,
            Some(file.clone()),
            true,
            2,
        ))
        .unwrap();
    let offer = api::AddRequest {
        host_id: 0,
        selection_policy: api::SelectionPolicy::Prescriptive,
        region: 0,
        tag: Some(tag(1)),
        extents: vec![api::RequestedExtent {
            offset: 0,
            len: 2 << 20,
        }],
        backend: None,
    };
    client.dc_add("dcd0", offer).unwrap();
    assert_eq!(client.dc_extents("dcd0").unwrap().len(), 1);
    assert_eq!(client.devices().unwrap().len(), 1);
    assert_eq!(client.backends().unwrap().len(), 2);
    client.backend_remove("tm1").unwrap();
    assert!(client.backend_remove("tm0").is_err(), "tm0 is offered");
    client.shutdown().unwrap();
    let out = vm.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
}
