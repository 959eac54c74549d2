//! virtio-fs under real KVM with a real virtiofsd (the one
//! `scripts/fetch-virtiofsd.sh` provides, or `CXLVMM_VIRTIOFSD`; the test
//! fails without one unless `CXLVMM_SKIP_VIRTIOFSD=1`), started the way
//! `--share` starts it. Guest RAM is memfd-backed memslots; the guest's
//! notify reaches virtiofsd through the KVM ioeventfd (no MMIO exit); a
//! FUSE_INIT request gets virtiofsd's answer in guest memory. When virtiofsd
//! dies, the device sets DEVICE_NEEDS_RESET and the vCPU runs on.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arch::layout::PCI_ECAM_START;
use devices::virtio::common_cfg::{
    DEVICE_STATUS, DRIVER_FEATURE, DRIVER_FEATURE_SELECT, QUEUE_DESC, QUEUE_DEVICE, QUEUE_DRIVER,
    QUEUE_ENABLE, QUEUE_SELECT, QUEUE_SIZE,
};
use devices::virtio::status::STATUS_NEEDS_RESET;
use devices::virtio::transport::{NOTIFY_OFFSET, NOTIFY_OFF_MULTIPLIER};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};
use vmm::fs_config::{Sandbox, ShareConfig};
use vmm::virtiofsd::Virtiofsd;

use crate::harness::{vm_config, Asm, TestVm};

const QUEUE0: u64 = 0x20_0000;
const QUEUE1: u64 = 0x21_0000;
const REQ: u64 = 0x30_0000;
const REPLY: u64 = 0x31_0000;
const RESULT: u64 = 0x5000;
/// FUSE_INIT (include/uapi/linux/fuse.h).
const FUSE_INIT: u32 = 26;
const UNIQUE: u64 = 0x1234_5678;

/// The virtiofsd to run, or None when the test is skipped on purpose.
fn virtiofsd() -> Option<PathBuf> {
    if std::env::var_os("CXLVMM_SKIP_VIRTIOFSD").is_some_and(|v| v == "1") {
        return None;
    }
    let candidates = [
        std::env::var_os("CXLVMM_VIRTIOFSD").map(PathBuf::from),
        std::env::var_os("CXLVMM_CACHE").map(|c| PathBuf::from(c).join("bin/virtiofsd")),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/virtiofsd")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    assert!(
        found.is_some(),
        "no virtiofsd: run scripts/fetch-virtiofsd.sh (or set CXLVMM_VIRTIOFSD, or \
         CXLVMM_SKIP_VIRTIOFSD=1 to skip)"
    );
    found
}

#[test]
fn fuse_init_answered_by_virtiofsd_then_backend_death() {
    let Some(bin) = virtiofsd() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("cxlvmm-kvm-vfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let share = ShareConfig {
        dir: dir.clone(),
        tag: "kvmfs".into(),
        sandbox: Sandbox::None,
    };
    let daemon = Virtiofsd::start(&bin, &share).unwrap();
    let mut cfg = vm_config(Default::default());
    cfg.fs.fs.push(daemon.fs_config(64));

    // A probe VM only to learn where the BAR went (the program needs it);
    // virtiofsd serves one connection, so the probe gets its own daemon.
    let probe_daemon = Virtiofsd::start(&bin, &share).unwrap();
    let mut probe_cfg = vm_config(Default::default());
    probe_cfg.fs.fs.push(probe_daemon.fs_config(64));
    let probe = TestVm::with_config(&Asm::default().finish(), &probe_cfg);
    let notify0 = probe
        .devices
        .as_ref()
        .unwrap()
        .virtio
        .notify_events()
        .unwrap()[0]
        .addr;
    drop(probe);
    drop(probe_daemon);

    let notify1 = notify0 + u64::from(NOTIFY_OFF_MULTIPLIER);
    let program = Asm::default()
        .mov_rbx(PCI_ECAM_START + (1 << 15))
        .load_eax_rbx()
        .mov_rbx(RESULT)
        .store_rbx_rax()
        // Notify the request queue (1).
        .mov_rax(1)
        .mov_rbx(notify1)
        .store_rbx_rax()
        .mov_rax(1)
        .finish();
    let mut t = TestVm::with_config(&program, &cfg);
    let devs = t.devices.clone().unwrap();
    devs.virtio.register_ioeventfds(&t.vm.fd).unwrap();
    let bar = notify0 - NOTIFY_OFFSET;
    let ram = t.memory.ram().clone();

    // The driver: VERSION_1 only, both queues, DRIVER_OK.
    let wr = |off: usize, bytes: &[u8]| t.mmio.write(bar + off as u64, bytes).unwrap();
    wr(DEVICE_STATUS, &[3]);
    wr(DRIVER_FEATURE_SELECT, &1u32.to_le_bytes());
    wr(DRIVER_FEATURE, &1u32.to_le_bytes());
    wr(DEVICE_STATUS, &[11]);
    let q0 = MockSplitQueue::create(&ram, GuestAddress(QUEUE0), 16);
    let q1 = MockSplitQueue::create(&ram, GuestAddress(QUEUE1), 16);
    for (i, q) in [&q0, &q1].iter().enumerate() {
        wr(QUEUE_SELECT, &(i as u16).to_le_bytes());
        wr(QUEUE_SIZE, &16u16.to_le_bytes());
        wr(QUEUE_DESC, &q.desc_table_addr().0.to_le_bytes());
        wr(QUEUE_DRIVER, &q.avail_addr().0.to_le_bytes());
        wr(QUEUE_DEVICE, &q.used_addr().0.to_le_bytes());
        wr(QUEUE_ENABLE, &1u16.to_le_bytes());
    }
    wr(DEVICE_STATUS, &[15]);
    let status = |t: &TestVm| {
        let mut s = [0u8];
        t.mmio.read(bar + DEVICE_STATUS as u64, &mut s).unwrap();
        s[0]
    };
    assert_eq!(status(&t), 15);

    // FUSE_INIT: fuse_in_header (40 bytes) + fuse_init_in (64 bytes, 7.31);
    // the answer: fuse_out_header (16) + fuse_init_out (64).
    let mut req = Vec::new();
    req.extend_from_slice(&104u32.to_le_bytes());
    req.extend_from_slice(&FUSE_INIT.to_le_bytes());
    req.extend_from_slice(&UNIQUE.to_le_bytes());
    req.extend_from_slice(&[0u8; 24]);
    req.extend_from_slice(&7u32.to_le_bytes());
    req.extend_from_slice(&31u32.to_le_bytes());
    req.extend_from_slice(&(128u32 << 10).to_le_bytes());
    req.extend_from_slice(&[0u8; 52]);
    assert_eq!(req.len(), 104);
    ram.write_slice(&req, GuestAddress(REQ)).unwrap();
    ram.write_slice(&[0xee; 80], GuestAddress(REPLY)).unwrap();
    let d = |a, l, f, n| RawDescriptor::from(Descriptor::new(a, l, f, n));
    q1.add_desc_chains(&[d(REQ, 104, 1, 1), d(REPLY, 80, 2, 0)], 0)
        .unwrap();

    // Two exits: the ECAM read and the done port. The notify went from KVM
    // to virtiofsd through the eventfd.
    assert_eq!(t.run(2).unwrap(), 1);
    assert_eq!(
        ram.read_obj::<u32>(GuestAddress(RESULT)).unwrap(),
        0x105a_1af4
    );
    let start = Instant::now();
    while ram
        .read_obj::<u16>(GuestAddress(q1.used_addr().0 + 2))
        .unwrap()
        != 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "FUSE_INIT not answered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let len = ram.read_obj::<u32>(GuestAddress(REPLY)).unwrap();
    let error = ram.read_obj::<i32>(GuestAddress(REPLY + 4)).unwrap();
    let unique = ram.read_obj::<u64>(GuestAddress(REPLY + 8)).unwrap();
    let major = ram.read_obj::<u32>(GuestAddress(REPLY + 16)).unwrap();
    let used_len = ram
        .read_obj::<u32>(GuestAddress(q1.used_addr().0 + 8))
        .unwrap();
    assert_eq!((error, unique, major), (0, UNIQUE, 7));
    assert_eq!(used_len, len, "used length is the answer's length");

    // virtiofsd dies: DEVICE_NEEDS_RESET; the VM goes on.
    drop(daemon);
    let start = Instant::now();
    while status(&t) & STATUS_NEEDS_RESET == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no DEVICE_NEEDS_RESET"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The program again from the start: the guest still reaches the
    // device (its notify now goes nowhere, harmlessly).
    ram.write_obj(0u32, GuestAddress(RESULT)).unwrap();
    t.vcpu.set_boot_state(crate::harness::CODE_ADDR).unwrap();
    assert_eq!(t.run(2).unwrap(), 1, "the vCPU runs on");
    assert_eq!(
        ram.read_obj::<u32>(GuestAddress(RESULT)).unwrap(),
        0x105a_1af4
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}
