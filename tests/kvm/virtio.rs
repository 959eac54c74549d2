//! A virtio-blk function on PCI0 under real KVM: the guest finds it through
//! ECAM, and its notify write reaches the device thread through the KVM
//! ioeventfd without leaving the kernel (no MMIO exit).

use std::time::{Duration, Instant};

use arch::layout::PCI_ECAM_START;
use devices::virtio::common_cfg::{
    DEVICE_STATUS, DRIVER_FEATURE, DRIVER_FEATURE_SELECT, QUEUE_DESC, QUEUE_DEVICE, QUEUE_DRIVER,
    QUEUE_ENABLE, QUEUE_SIZE,
};
use devices::virtio::transport::NOTIFY_OFFSET;
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

use crate::harness::{vm_config, Asm, TestVm};

const QUEUE_AT: u64 = 0x20_0000;
const REQ: u64 = 0x30_0000;
const RESULT: u64 = 0x5000;

#[test]
fn guest_notify_through_ioeventfd_serves_a_read() {
    let img = std::env::temp_dir().join(format!("cxlvmm-kvm-virtio-{}", std::process::id()));
    let mut content = vec![0u8; 64 * 512];
    content[5 * 512..6 * 512].fill(0x3c);
    std::fs::write(&img, &content).unwrap();
    let mut cfg = vm_config(Default::default());
    cfg.disks
        .push(vmm::disk_config::parse_disk(&format!("path={},id=kvm", img.display()), 0).unwrap());

    // First build a VM only to learn where firmware-style assignment put the
    // BAR: the program needs the address.
    let probe = TestVm::with_config(&Asm::default().finish(), &cfg);
    let virtio = &probe.devices.as_ref().unwrap().virtio;
    let notify = virtio.notify_events().unwrap()[0].addr;
    drop(probe);

    let program = Asm::default()
        // The device's vendor/device ID through ECAM (00:01.0), kept in RAM.
        .mov_rbx(PCI_ECAM_START + (1 << 15))
        .load_eax_rbx()
        .mov_rbx(RESULT)
        .store_rbx_rax()
        // Notify queue 0.
        .mov_rax(0)
        .mov_rbx(notify)
        .store_rbx_rax()
        .mov_rax(1)
        .finish();
    let mut t = TestVm::with_config(&program, &cfg);
    let devs = t.devices.clone().unwrap();
    devs.virtio.register_ioeventfds(&t.vm.fd).unwrap();
    let bar = notify - NOTIFY_OFFSET;
    let ram = t.memory.ram().clone();

    // The driver's set-up, through the MMIO bus as a guest would.
    let wr = |off: usize, bytes: &[u8]| t.mmio.write(bar + off as u64, bytes).unwrap();
    wr(DEVICE_STATUS, &[3]);
    wr(DRIVER_FEATURE_SELECT, &1u32.to_le_bytes());
    wr(DRIVER_FEATURE, &1u32.to_le_bytes());
    wr(DEVICE_STATUS, &[11]);
    let vq = MockSplitQueue::create(&ram, GuestAddress(QUEUE_AT), 16);
    wr(QUEUE_SIZE, &16u16.to_le_bytes());
    wr(QUEUE_DESC, &vq.desc_table_addr().0.to_le_bytes());
    wr(QUEUE_DRIVER, &vq.avail_addr().0.to_le_bytes());
    wr(QUEUE_DEVICE, &vq.used_addr().0.to_le_bytes());
    wr(QUEUE_ENABLE, &1u16.to_le_bytes());
    wr(DEVICE_STATUS, &[15]);
    let mut status = [0u8];
    t.mmio
        .read(bar + DEVICE_STATUS as u64, &mut status)
        .unwrap();
    assert_eq!(status[0], 15);

    // A read of sector 5 into REQ + 0x100, status at REQ + 0x1000.
    ram.write_obj(0u32, GuestAddress(REQ)).unwrap();
    ram.write_obj(5u64, GuestAddress(REQ + 8)).unwrap();
    ram.write_obj(0xffu8, GuestAddress(REQ + 0x1000)).unwrap();
    let d = |a, l, f, n| RawDescriptor::from(Descriptor::new(a, l, f, n));
    vq.add_desc_chains(
        &[
            d(REQ, 16, 1, 1),
            d(REQ + 0x100, 512, 3, 2),
            d(REQ + 0x1000, 1, 2, 0),
        ],
        0,
    )
    .unwrap();

    // Two exits only: the ECAM read and the done port. The notify never
    // reached the MMIO bus.
    assert_eq!(t.run(2).unwrap(), 1);
    assert_eq!(
        ram.read_obj::<u32>(GuestAddress(RESULT)).unwrap(),
        0x1042_1af4
    );
    let start = Instant::now();
    while ram
        .read_obj::<u16>(GuestAddress(vq.used_addr().0 + 2))
        .unwrap()
        != 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "request not served"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ram.read_obj::<u8>(GuestAddress(REQ + 0x1000)).unwrap(), 0);
    let mut data = [0u8; 512];
    ram.read_slice(&mut data, GuestAddress(REQ + 0x100))
        .unwrap();
    assert_eq!(data, [0x3c; 512]);
    let _ = std::fs::remove_file(&img);
}
