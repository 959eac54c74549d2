//! The PCI transport driven as a driver would: capabilities, BAR, feature
//! negotiation, queue set-up, MSI-X, notifications served by the device
//! thread, misprogrammed queues, and reset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::block::disk::DiskImage;
use super::block::VirtioBlock;
use super::common_cfg::*;
use super::pci_caps::CAP_ID_VENDOR;
use super::status::*;
use super::transport::*;
use crate::interrupt::RecordingMsiGroup;
use crate::pci::caps::CAP_ID_MSIX;
use crate::pci::config::{COMMAND, COMMAND_MEMORY_SPACE};
use crate::pci::PciDevice;

const BAR: u64 = 0xc000_0000;
const QUEUE_AT: u64 = 0x1_0000;

struct Rig {
    dev: VirtioPciDevice,
    msi: Arc<RecordingMsiGroup>,
    mem: GuestMemoryMmap,
    path: std::path::PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rig() -> Rig {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "cxlvmm-vpci-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, vec![0xabu8; 64 * 512]).unwrap();
    let disk = DiskImage::open(&path, false).unwrap();
    let blk = VirtioBlock::new(disk, "vpci-test", "vblk-test".into());
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    let msi = Arc::new(RecordingMsiGroup::new(2));
    let mut dev = VirtioPciDevice::new(Box::new(blk), msi.clone(), mem.clone()).unwrap();
    dev.config_write(0x10, &(BAR as u32).to_le_bytes());
    dev.config_write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    Rig {
        dev,
        msi,
        mem,
        path,
    }
}

impl Rig {
    fn cfg32(&mut self, off: u16) -> u32 {
        let mut b = [0u8; 4];
        self.dev.config_read(off, &mut b);
        u32::from_le_bytes(b)
    }
    fn rd(&mut self, off: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev.bar_read(0, off as u64, &mut b[..width]);
        u64::from_le_bytes(b)
    }
    fn wr(&mut self, off: usize, width: usize, v: u64) {
        self.dev.bar_write(0, off as u64, &v.to_le_bytes()[..width]);
    }
    fn status(&mut self) -> u8 {
        self.rd(DEVICE_STATUS, 1) as u8
    }
    /// Enables MSI-X with vector 0 (config) and 1 (queue) unmasked.
    fn msix(&mut self) {
        let cap = self.dev_cap(CAP_ID_MSIX);
        self.dev.config_write(cap + 3, &[0x80]);
        for v in 0..2u64 {
            let e = u64::from(MSIX_TABLE_OFFSET) + 16 * v;
            self.dev.bar_write(0, e, &0xfee0_0000u32.to_le_bytes());
            self.dev
                .bar_write(0, e + 8, &(0x40 + v as u32).to_le_bytes());
            self.dev.bar_write(0, e + 12, &0u32.to_le_bytes());
        }
    }
    fn dev_cap(&mut self, id: u8) -> u16 {
        let mut ptr = self.cfg32(0x34) as u16 & 0xff;
        while ptr != 0 {
            let h = self.cfg32(ptr);
            if h as u8 == id {
                return ptr;
            }
            ptr = (h >> 8) as u16 & 0xff;
        }
        panic!("no capability {id:#x}");
    }
    /// Negotiates VERSION_1 | FLUSH and programs queue 0 at `desc`.
    fn init(&mut self, desc: u64, avail: u64, used: u64) {
        let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        self.wr(DEVICE_STATUS, 1, init);
        self.wr(DRIVER_FEATURE_SELECT, 4, 0);
        self.wr(DRIVER_FEATURE, 4, 1 << 9);
        self.wr(DRIVER_FEATURE_SELECT, 4, 1);
        self.wr(DRIVER_FEATURE, 4, 1);
        self.wr(DEVICE_STATUS, 1, init | u64::from(STATUS_FEATURES_OK));
        assert_ne!(self.status() & STATUS_FEATURES_OK, 0);
        self.wr(CONFIG_MSIX_VECTOR, 2, 0);
        self.wr(QUEUE_SELECT, 2, 0);
        self.wr(QUEUE_SIZE, 2, 16);
        self.wr(QUEUE_MSIX_VECTOR, 2, 1);
        self.wr(QUEUE_DESC, 8, desc);
        self.wr(QUEUE_DRIVER, 4, avail);
        self.wr(QUEUE_DRIVER + 4, 4, avail >> 32);
        self.wr(QUEUE_DEVICE, 8, used);
        self.wr(QUEUE_ENABLE, 2, 1);
        let ok = init | u64::from(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        self.wr(DEVICE_STATUS, 1, ok);
    }
    fn wait(&mut self, what: &str, mut f: impl FnMut(&mut Self) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    fn reset(&mut self) {
        self.wr(DEVICE_STATUS, 1, 0);
        self.wait("reset", |r| r.status() == 0);
    }
}

fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(Descriptor::new(addr, len, flags, next))
}

#[test]
fn identity_capabilities_and_bar() {
    let mut r = rig();
    assert_eq!(r.cfg32(0), 0x1042_1af4);
    assert_eq!(r.cfg32(8) >> 8, 0x01_80_00);
    assert_eq!(r.cfg32(8) & 0xff, 1, "revision 1: modern");
    // Vendor capabilities: common, notify, ISR, device.
    let mut types = Vec::new();
    let mut ptr = r.cfg32(0x34) as u16 & 0xff;
    while ptr != 0 {
        let h = r.cfg32(ptr);
        if h as u8 == CAP_ID_VENDOR {
            let bar_off = r.cfg32(ptr + 8);
            types.push(((h >> 24) as u8, bar_off));
        }
        ptr = (h >> 8) as u16 & 0xff;
    }
    assert_eq!(
        types,
        vec![(1, 0), (2, 0x3000), (3, 0x1000), (4, 0x2000), (5, 0)]
    );
    let bars = r.dev.bars();
    assert_eq!((bars[0].address, bars[0].size()), (BAR, VIRTIO_BAR_SIZE));
    let ev = r.dev.notify_events().unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].addr, BAR + NOTIFY_OFFSET);
    // Device configuration: capacity in sectors.
    assert_eq!(r.rd(DEVICE_CFG_OFFSET as usize, 8), 64);
    assert_eq!(r.rd(NUM_QUEUES, 2), 1);
}

#[test]
fn request_served_with_msix_then_reset() {
    let mut r = rig();
    r.msix();
    let mem = r.mem.clone();
    let vq = MockSplitQueue::create(&mem, GuestAddress(QUEUE_AT), 16);
    r.init(vq.desc_table_addr().0, vq.avail_addr().0, vq.used_addr().0);
    assert_eq!(r.status() & STATUS_DRIVER_OK, STATUS_DRIVER_OK);
    // GET_ID.
    r.mem.write_obj(8u32, GuestAddress(0x2_0000)).unwrap();
    let descs = [
        d(0x2_0000, 16, VRING_DESC_F_NEXT as u16, 1),
        d(
            0x3_0000,
            20,
            (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE) as u16,
            2,
        ),
        d(0x4_0000, 1, VRING_DESC_F_WRITE as u16, 0),
    ];
    r.mem.write_obj(0xffu8, GuestAddress(0x4_0000)).unwrap();
    vq.add_desc_chains(&descs, 0).unwrap();
    // The notify as an MMIO write (no ioeventfd in this test).
    r.wr(NOTIFY_OFFSET as usize, 2, 0);
    let used = vq.used_addr();
    r.wait("used entry", |r| {
        r.mem.read_obj::<u16>(GuestAddress(used.0 + 2)).unwrap() == 1
    });
    assert_eq!(r.mem.read_obj::<u8>(GuestAddress(0x4_0000)).unwrap(), 0);
    let mut id = [0u8; 9];
    r.mem.read_slice(&mut id, GuestAddress(0x3_0000)).unwrap();
    assert_eq!(&id, b"vpci-test");
    r.wait("interrupt", |r| !r.msi.fired().is_empty());
    assert_eq!(r.msi.fired()[0].0, 1);
    assert_eq!(r.msi.fired()[0].1.data, 0x41);
    // ISR shows the queue interrupt and clears on read.
    assert_eq!(r.rd(ISR_OFFSET as usize, 1), 1);
    assert_eq!(r.rd(ISR_OFFSET as usize, 1), 0);
    r.reset();
    assert_eq!(r.rd(QUEUE_ENABLE, 2), 0);
    assert_eq!(r.rd(QUEUE_DESC, 8), 0);
}

#[test]
fn misprogrammed_queue_needs_reset() {
    let mut r = rig();
    r.msix();
    // Rings outside RAM: DEVICE_NEEDS_RESET at DRIVER_OK, config vector.
    r.init(0x4000_0000, 0x4001_0000, 0x4002_0000);
    assert_ne!(r.status() & STATUS_NEEDS_RESET, 0);
    assert_eq!(r.msi.fired()[0].0, 0);
    assert_eq!(r.rd(ISR_OFFSET as usize, 1), 2);
    r.reset();
    // A good queue afterwards works; a looping chain breaks it.
    let mem = r.mem.clone();
    let vq = MockSplitQueue::create(&mem, GuestAddress(QUEUE_AT), 16);
    r.init(vq.desc_table_addr().0, vq.avail_addr().0, vq.used_addr().0);
    assert_eq!(r.status() & STATUS_NEEDS_RESET, 0);
    let next = VRING_DESC_F_NEXT as u16;
    vq.add_desc_chains(&[d(0x2_0000, 16, next, 1), d(0x2_0000, 16, next, 0)], 0)
        .unwrap();
    r.wr(NOTIFY_OFFSET as usize, 2, 0);
    r.wait("needs reset", |r| r.status() & STATUS_NEEDS_RESET != 0);
    r.reset();
    assert_eq!(r.status(), 0);
    // A queue size that is not a power of two.
    let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    r.wr(DEVICE_STATUS, 1, init);
    r.wr(DRIVER_FEATURE_SELECT, 4, 1);
    r.wr(DRIVER_FEATURE, 4, 1);
    r.wr(DEVICE_STATUS, 1, init | u64::from(STATUS_FEATURES_OK));
    r.wr(QUEUE_SIZE, 2, 12);
    r.wr(QUEUE_DESC, 8, QUEUE_AT);
    r.wr(QUEUE_ENABLE, 2, 1);
    r.wr(
        DEVICE_STATUS,
        1,
        init | u64::from(STATUS_FEATURES_OK | STATUS_DRIVER_OK),
    );
    assert_ne!(r.status() & STATUS_NEEDS_RESET, 0);
}

#[test]
fn legacy_driver_refused() {
    let mut r = rig();
    let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    r.wr(DEVICE_STATUS, 1, init);
    r.wr(DRIVER_FEATURE, 4, 1 << 9);
    r.wr(DEVICE_STATUS, 1, init | u64::from(STATUS_FEATURES_OK));
    assert_eq!(
        u64::from(r.status()),
        init,
        "no VERSION_1: FEATURES_OK refused"
    );
    r.wr(DEVICE_STATUS, 1, init | u64::from(STATUS_DRIVER_OK));
    assert_eq!(u64::from(r.status()), init);
}

#[test]
fn pci_cfg_capability_reaches_the_bar() {
    let mut r = rig();
    // The last vendor capability is VIRTIO_PCI_CAP_PCI_CFG.
    let mut cap = 0;
    let mut ptr = r.cfg32(0x34) as u16 & 0xff;
    while ptr != 0 {
        let h = r.cfg32(ptr);
        if h as u8 == CAP_ID_VENDOR && (h >> 24) == 5 {
            cap = ptr;
        }
        ptr = (h >> 8) as u16 & 0xff;
    }
    assert_ne!(cap, 0);
    // Read num_queues (2 bytes at 0x12 of the common configuration).
    r.dev.config_write(cap + 4, &[0]);
    r.dev
        .config_write(cap + 8, &(NUM_QUEUES as u32).to_le_bytes());
    r.dev.config_write(cap + 12, &2u32.to_le_bytes());
    assert_eq!(r.cfg32(cap + 16) & 0xffff, 1);
    // Write the status byte through it.
    r.dev
        .config_write(cap + 8, &(DEVICE_STATUS as u32).to_le_bytes());
    r.dev.config_write(cap + 12, &1u32.to_le_bytes());
    r.dev.config_write(cap + 16, &[STATUS_ACKNOWLEDGE]);
    assert_eq!(r.status(), STATUS_ACKNOWLEDGE);
    assert_eq!(r.cfg32(cap + 16) & 0xff, u32::from(STATUS_ACKNOWLEDGE));
    // A bad length or a misaligned offset reads zero and writes nothing.
    r.dev.config_write(cap + 12, &3u32.to_le_bytes());
    assert_eq!(r.cfg32(cap + 16), 0);
    r.dev.config_write(cap + 16, &[0]);
    assert_eq!(r.status(), STATUS_ACKNOWLEDGE);
    r.dev.config_write(cap + 8, &0x13u32.to_le_bytes());
    r.dev.config_write(cap + 12, &2u32.to_le_bytes());
    assert_eq!(r.cfg32(cap + 16), 0);
}
