//! virtio-fs through the PCI transport against an in-process vhost-user
//! backend ([`super::fake_vhost_user`]): the configuration space, the
//! handshake at start-up, at DRIVER_OK and at reset, a request the backend
//! serves through the kick and call eventfds with the interrupt relayed to
//! MSI-X, and backends that are absent, unsuitable, refuse, die or hang.

use std::sync::Arc;
use std::time::{Duration, Instant};

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::common_cfg::*;
use super::fake_vhost_user::{req, Behaviour, FakeBackend, Msg, PROTO_MQ, PROTO_REPLY_ACK};
use super::fs::{check_queue_size, check_tag, VirtioFs, CONFIG_LEN};
use super::status::*;
use super::transport::*;
use super::vhost_user::{VhostUserConnection, VhostUserError};
use crate::interrupt::RecordingMsiGroup;
use crate::memory::shared_guest_ram;
use crate::pci::caps::CAP_ID_MSIX;
use crate::pci::config::{COMMAND, COMMAND_MEMORY_SPACE};
use crate::pci::PciDevice;

const BAR: u64 = 0xc000_0000;
const RAM: usize = 0x10_0000;
/// VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC, what the fake offers
/// (no EVENT_IDX) besides PROTOCOL_FEATURES.
const VERSION_1: u64 = 1 << 32;
const INDIRECT: u64 = 1 << 28;
const EVENT_IDX: u64 = 1 << 29;
const PROTOCOL_FEATURES: u64 = 1 << 30;
/// The vhost-user NEED_REPLY header flag.
const NEED_REPLY: u32 = 0x8;

struct Rig {
    dev: Option<VirtioPciDevice>,
    msi: Arc<RecordingMsiGroup>,
    mem: GuestMemoryMmap,
    backend: FakeBackend,
}

fn rig(b: Behaviour) -> Rig {
    let backend = FakeBackend::start(b);
    let mem = shared_guest_ram(&[(GuestAddress(0), RAM)]).unwrap();
    let conn = VhostUserConnection::connect(&backend.path, VirtioFs::queue_count()).unwrap();
    let fs = VirtioFs::new("hostshare", 64, conn, &mem, "virtio-fs-test".into()).unwrap();
    let msi = Arc::new(RecordingMsiGroup::new(3));
    let mut dev = VirtioPciDevice::new(Box::new(fs), msi.clone(), mem.clone()).unwrap();
    dev.config_write(0x10, &(BAR as u32).to_le_bytes());
    dev.config_write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
    Rig {
        dev: Some(dev),
        msi,
        mem,
        backend,
    }
}

impl Rig {
    fn dev(&mut self) -> &mut VirtioPciDevice {
        self.dev.as_mut().unwrap()
    }
    fn cfg32(&mut self, off: u16) -> u32 {
        let mut b = [0u8; 4];
        self.dev().config_read(off, &mut b);
        u32::from_le_bytes(b)
    }
    fn rd(&mut self, off: u64, width: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev().bar_read(0, off, &mut b[..width]);
        u64::from_le_bytes(b)
    }
    fn wr(&mut self, off: u64, width: usize, v: u64) {
        self.dev().bar_write(0, off, &v.to_le_bytes()[..width]);
    }
    fn status(&mut self) -> u8 {
        self.rd(DEVICE_STATUS as u64, 1) as u8
    }
    /// MSI-X on, vectors 0 (config), 1 and 2 (queues) unmasked.
    fn msix(&mut self) {
        let mut ptr = self.cfg32(0x34) as u16 & 0xff;
        while self.cfg32(ptr) as u8 != CAP_ID_MSIX {
            ptr = (self.cfg32(ptr) >> 8) as u16 & 0xff;
            assert_ne!(ptr, 0, "no MSI-X capability");
        }
        self.dev().config_write(ptr + 3, &[0x80]);
        for v in 0..3u64 {
            let e = u64::from(MSIX_TABLE_OFFSET) + 16 * v;
            self.wr(e, 4, 0xfee0_0000);
            self.wr(e + 8, 4, 0x40 + v);
            self.wr(e + 12, 4, 0);
        }
    }
    /// Negotiates VERSION_1 | INDIRECT_DESC and sets up both queues (16
    /// entries each, vectors 1 and 2), then DRIVER_OK.
    fn init(&mut self, queues: &[&MockSplitQueue<GuestMemoryMmap>]) {
        let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        self.wr(DEVICE_STATUS as u64, 1, init);
        self.wr(DRIVER_FEATURE_SELECT as u64, 4, 0);
        self.wr(DRIVER_FEATURE as u64, 4, INDIRECT);
        self.wr(DRIVER_FEATURE_SELECT as u64, 4, 1);
        self.wr(DRIVER_FEATURE as u64, 4, 1);
        self.wr(
            DEVICE_STATUS as u64,
            1,
            init | u64::from(STATUS_FEATURES_OK),
        );
        assert_ne!(self.status() & STATUS_FEATURES_OK, 0);
        self.wr(CONFIG_MSIX_VECTOR as u64, 2, 0);
        for (i, q) in queues.iter().enumerate() {
            self.wr(QUEUE_SELECT as u64, 2, i as u64);
            self.wr(QUEUE_SIZE as u64, 2, 16);
            self.wr(QUEUE_MSIX_VECTOR as u64, 2, i as u64 + 1);
            self.wr(QUEUE_DESC as u64, 8, q.desc_table_addr().0);
            self.wr(QUEUE_DRIVER as u64, 8, q.avail_addr().0);
            self.wr(QUEUE_DEVICE as u64, 8, q.used_addr().0);
            self.wr(QUEUE_ENABLE as u64, 2, 1);
        }
        let ok = init | u64::from(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        self.wr(DEVICE_STATUS as u64, 1, ok);
    }
    fn wait(&mut self, what: &str, mut f: impl FnMut(&mut Self) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    fn reset(&mut self) {
        self.wr(DEVICE_STATUS as u64, 1, 0);
        self.wait("reset", |r| r.status() == 0);
    }
}

/// The driver's two queues in `mem`.
fn queues(mem: &GuestMemoryMmap) -> [MockSplitQueue<'_, GuestMemoryMmap>; 2] {
    [
        MockSplitQueue::create(mem, GuestAddress(0x1_0000), 16),
        MockSplitQueue::create(mem, GuestAddress(0x1_8000), 16),
    ]
}

fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(Descriptor::new(addr, len, flags, next))
}

fn after(log: &[Msg], n: usize) -> Vec<u32> {
    log.iter().skip(n).map(|m| m.code).collect()
}

const HANDSHAKE: [u32; 5] = [
    req::SET_OWNER,
    req::GET_FEATURES,
    req::GET_PROTOCOL_FEATURES,
    req::SET_PROTOCOL_FEATURES,
    req::GET_QUEUE_NUM,
];

#[test]
fn tags_and_queue_sizes() {
    assert!(check_tag("share").is_ok());
    assert!(check_tag(&"t".repeat(36)).is_ok());
    assert!(check_tag(&"t".repeat(37))
        .unwrap_err()
        .contains("1 to 36 bytes"));
    assert!(check_tag("").is_err());
    assert!(check_tag("a\0b").is_err());
    for ok in [2u16, 128, 1024, 32768] {
        assert!(check_queue_size(ok).is_ok(), "{ok}");
    }
    for bad in [0u16, 1, 3, 1000] {
        assert!(check_queue_size(bad).is_err(), "{bad}");
    }
}

#[test]
fn identity_and_configuration_space() {
    let mut r = rig(Behaviour::default());
    // 0x1040 + 26, unclassified device, modern.
    assert_eq!(r.cfg32(0), 0x105a_1af4);
    assert_eq!(r.cfg32(8) >> 8, 0xff_00_00);
    assert_eq!(r.rd(NUM_QUEUES as u64, 2), 2, "hiprio + one request queue");
    // struct virtio_fs_config: tag[36], NUL-padded, num_request_queues.
    let mut cfg = [0xffu8; CONFIG_LEN];
    for (i, b) in cfg.iter_mut().enumerate() {
        *b = r.rd(DEVICE_CFG_OFFSET + i as u64, 1) as u8;
    }
    assert_eq!(&cfg[..9], b"hostshare");
    assert!(cfg[9..36].iter().all(|&b| b == 0));
    assert_eq!(u32::from_le_bytes(cfg[36..40].try_into().unwrap()), 1);
    // Ring features: only what the backend offers (INDIRECT, no EVENT_IDX);
    // VERSION_1 from the transport.
    r.wr(DEVICE_FEATURE_SELECT as u64, 4, 0);
    assert_eq!(r.rd(DEVICE_FEATURE as u64, 4), INDIRECT);
    r.wr(DEVICE_FEATURE_SELECT as u64, 4, 1);
    assert_eq!(r.rd(DEVICE_FEATURE as u64, 4), VERSION_1 >> 32);
    // A backend that offers EVENT_IDX gets it offered.
    let b = Behaviour {
        features: VERSION_1 | INDIRECT | EVENT_IDX | PROTOCOL_FEATURES,
        ..Behaviour::default()
    };
    let mut r = rig(b);
    r.wr(DEVICE_FEATURE_SELECT as u64, 4, 0);
    assert_eq!(r.rd(DEVICE_FEATURE as u64, 4), INDIRECT | EVENT_IDX);
}

#[test]
fn handshake_request_and_reset() {
    let mut r = rig(Behaviour::default());
    // Start-up: owner, features, protocol features (the two cxlvmm uses),
    // queue count; nothing asks for acknowledgements yet.
    let log = r.backend.log();
    assert_eq!(after(&log, 0), HANDSHAKE);
    assert_eq!(log[3].u64_at(0), PROTO_MQ | PROTO_REPLY_ACK);
    assert!(log.iter().all(|m| m.flags & NEED_REPLY == 0));

    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    let t = Instant::now();
    r.init(&[&q0, &q1]);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "DRIVER_OK waits for nobody"
    );
    let n = HANDSHAKE.len();
    let per_queue = [
        req::SET_VRING_NUM,
        req::SET_VRING_ADDR,
        req::SET_VRING_BASE,
        req::SET_VRING_CALL,
        req::SET_VRING_KICK,
        req::SET_VRING_ENABLE,
    ];
    let mut want = vec![req::SET_FEATURES, req::SET_MEM_TABLE];
    want.extend(per_queue);
    want.extend(per_queue);
    r.backend
        .wait_for("both queues enabled", |l| l.len() >= n + want.len());
    let log = r.backend.log();
    assert_eq!(after(&log, n), want);
    assert_eq!(r.status() & STATUS_NEEDS_RESET, 0);
    // The driver's features plus PROTOCOL_FEATURES; every message after it
    // asks for an acknowledgement.
    assert_eq!(log[n].u64_at(0), VERSION_1 | INDIRECT | PROTOCOL_FEATURES);
    assert!(log[n + 1..].iter().all(|m| m.flags & NEED_REPLY != 0));
    // The memory table: guest RAM, its memfd, its host address.
    let table = &log[n + 1];
    assert_eq!((table.u32_at(0), table.fds), (1, 1));
    let host = {
        use vm_memory::GuestMemoryBackend;
        mem.get_host_address(GuestAddress(0)).unwrap() as u64
    };
    assert_eq!(
        (
            table.u64_at(1),
            table.u64_at(2),
            table.u64_at(3),
            table.u64_at(4)
        ),
        (0, RAM as u64, host, 0)
    );
    // Queue 1: size, host addresses of its rings, base 0, call and kick
    // with a descriptor each, enabled.
    let q = &log[n + 2 + per_queue.len()..];
    assert_eq!((q[0].u32_at(0), q[0].u32_at(1)), (1, 16));
    assert_eq!(
        (
            q[1].u32_at(0),
            q[1].u64_at(1),
            q[1].u64_at(2),
            q[1].u64_at(3)
        ),
        (
            1,
            host + q1.desc_table_addr().0,
            host + q1.used_addr().0,
            host + q1.avail_addr().0
        )
    );
    assert_eq!((q[2].u32_at(0), q[2].u32_at(1)), (1, 0));
    assert_eq!((q[3].u64_at(0), q[3].fds), (1, 1));
    assert_eq!((q[4].u64_at(0), q[4].fds), (1, 1));
    assert_eq!((q[5].u32_at(0), q[5].u32_at(1)), (1, 1));

    // A request on queue 1: the notify reaches the backend through the
    // kick eventfd, its answer comes back as MSI-X vector 2.
    let msg = b"FUSE_INIT please";
    mem.write_slice(msg, GuestAddress(0x2_0000)).unwrap();
    let next_w = (VRING_DESC_F_NEXT) as u16;
    q1.add_desc_chains(
        &[
            d(0x2_0000, msg.len() as u32, next_w, 1),
            d(0x3_0000, 64, VRING_DESC_F_WRITE as u16, 0),
        ],
        0,
    )
    .unwrap();
    r.wr(NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER), 2, 1);
    let used = q1.used_addr();
    r.wait("used entry", |r| {
        r.mem.read_obj::<u16>(GuestAddress(used.0 + 2)).unwrap() == 1
    });
    // used.ring[0]: id 0, len = bytes written.
    assert_eq!(
        mem.read_obj::<u32>(GuestAddress(used.0 + 8)).unwrap(),
        msg.len() as u32
    );
    let mut back = [0u8; 16];
    mem.read_slice(&mut back, GuestAddress(0x3_0000)).unwrap();
    assert_eq!(&back, msg);
    r.wait("queue interrupt", |r| !r.msi.fired().is_empty());
    assert_eq!(r.msi.fired()[0].0, 2);
    assert_eq!(r.msi.fired()[0].1.data, 0x42);
    assert_eq!(r.rd(ISR_OFFSET, 1), 1);

    // Reset: each started queue is disabled and stopped (GET_VRING_BASE).
    let before = r.backend.log().len();
    r.reset();
    let stop = [req::SET_VRING_ENABLE, req::GET_VRING_BASE];
    let mut want = stop.to_vec();
    want.extend(stop);
    assert_eq!(after(&r.backend.log(), before), want);
    // And the driver can start again: a second request is served.
    let [q0, q1] = queues(&mem);
    r.msi.clear();
    r.init(&[&q0, &q1]);
    r.backend
        .wait_for("re-enabled", |l| l.len() >= before + 4 + 2 + 12);
    assert_eq!(r.status() & STATUS_NEEDS_RESET, 0);
    q1.add_desc_chains(
        &[
            d(0x2_0000, 4, next_w, 1),
            d(0x4_0000, 4, VRING_DESC_F_WRITE as u16, 0),
        ],
        0,
    )
    .unwrap();
    r.wr(NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER), 2, 1);
    let used = q1.used_addr();
    r.wait("second request", |r| {
        r.mem.read_obj::<u16>(GuestAddress(used.0 + 2)).unwrap() == 1
    });
    let mut back = [0u8; 4];
    mem.read_slice(&mut back, GuestAddress(0x4_0000)).unwrap();
    assert_eq!(&back, b"FUSE");
}

#[test]
fn notify_before_the_rings_are_enabled_is_not_lost() {
    // The driver notifies right after DRIVER_OK, while the device thread is
    // still setting the backend up; the backend drops kicks for rings not
    // yet enabled. The request is served all the same.
    let mut r = rig(Behaviour::default());
    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    mem.write_slice(b"early", GuestAddress(0x2_0000)).unwrap();
    q1.add_desc_chains(
        &[
            d(0x2_0000, 5, VRING_DESC_F_NEXT as u16, 1),
            d(0x3_0000, 8, VRING_DESC_F_WRITE as u16, 0),
        ],
        0,
    )
    .unwrap();
    r.init(&[&q0, &q1]);
    r.wr(NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER), 2, 1);
    let used = q1.used_addr();
    r.wait("the early request served", |r| {
        r.mem.read_obj::<u16>(GuestAddress(used.0 + 2)).unwrap() == 1
    });
    let mut back = [0u8; 5];
    mem.read_slice(&mut back, GuestAddress(0x3_0000)).unwrap();
    assert_eq!(&back, b"early");
}

#[test]
fn absent_or_unsuitable_backends_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-vu-absent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // No such socket.
    let e = VhostUserConnection::connect(&dir.join("none"), 2)
        .err()
        .unwrap();
    assert!(matches!(e, VhostUserError::Connect(..)), "{e}");
    assert!(e.to_string().contains("none"), "{e}");
    // A socket nobody listens on any more.
    let stale = dir.join("stale");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let e = VhostUserConnection::connect(&stale, 2).err().unwrap();
    assert!(matches!(e, VhostUserError::Connect(..)), "{e}");
    let _ = std::fs::remove_dir_all(&dir);

    let refused = |b: Behaviour| {
        let backend = FakeBackend::start(b);
        VhostUserConnection::connect_within(&backend.path, 2, Duration::from_millis(500))
            .err()
            .unwrap()
    };
    // A legacy-only backend.
    let e = refused(Behaviour {
        features: INDIRECT | PROTOCOL_FEATURES,
        ..Behaviour::default()
    });
    assert!(e.to_string().contains("VIRTIO_F_VERSION_1"), "{e}");
    // Fewer queues than the device has.
    let e = refused(Behaviour {
        queue_num: 1,
        ..Behaviour::default()
    });
    assert!(e.to_string().contains("serves 1 queues"), "{e}");
    // Gone during the handshake.
    let e = refused(Behaviour {
        die_at: Some(req::GET_FEATURES),
        ..Behaviour::default()
    });
    assert!(
        matches!(
            e,
            VhostUserError::Protocol {
                what: "GET_FEATURES",
                ..
            }
        ),
        "{e}"
    );
    // Alive but silent: the deadline.
    let t = Instant::now();
    let e = refused(Behaviour {
        hang_at: Some(req::GET_PROTOCOL_FEATURES),
        ..Behaviour::default()
    });
    assert!(matches!(e, VhostUserError::Timeout(..)), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // Private (anonymous) RAM cannot be given to a backend.
    let backend = FakeBackend::start(Behaviour::default());
    let conn = VhostUserConnection::connect(&backend.path, 2).unwrap();
    let private = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM)]).unwrap();
    let e = VirtioFs::new("t", 64, conn, &private, "t".into())
        .err()
        .unwrap();
    assert!(e.contains("not shared memory"), "{e}");
}

/// The config interrupt and DEVICE_NEEDS_RESET, as a driver sees them.
fn assert_needs_reset(r: &mut Rig) {
    r.wait("needs reset", |r| r.status() & STATUS_NEEDS_RESET != 0);
    r.wait("config interrupt", |r| {
        r.msi.fired().iter().any(|(v, _)| *v == 0)
    });
    assert_eq!(r.rd(ISR_OFFSET, 1) & 2, 2);
}

#[test]
fn backend_gone_before_driver_ok() {
    let mut r = rig(Behaviour {
        die_at: Some(req::SET_FEATURES),
        ..Behaviour::default()
    });
    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    r.init(&[&q0, &q1]);
    assert_needs_reset(&mut r);
    // The driver resets and tries again: the device still needs a reset,
    // the VM goes on.
    r.reset();
    r.msi.clear();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    r.init(&[&q0, &q1]);
    assert_needs_reset(&mut r);
    r.reset();
}

#[test]
fn backend_dies_while_live() {
    let mut r = rig(Behaviour::default());
    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    r.init(&[&q0, &q1]);
    r.backend.wait_for("queues enabled", |l| l.len() >= 5 + 14);
    assert_eq!(r.status() & STATUS_NEEDS_RESET, 0);
    r.backend.kill();
    assert_needs_reset(&mut r);
    // A reset completes at once (nothing to take back from a dead backend).
    r.reset();
}

#[test]
fn refused_message_needs_reset() {
    let mut r = rig(Behaviour {
        refuse: Some(req::SET_MEM_TABLE),
        ..Behaviour::default()
    });
    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    r.init(&[&q0, &q1]);
    assert_needs_reset(&mut r);
    // Nothing past the refused table was sent.
    assert_eq!(
        after(&r.backend.log(), 5),
        vec![req::SET_FEATURES, req::SET_MEM_TABLE]
    );
}

#[test]
fn silent_backend_blocks_neither_vcpu_nor_exit() {
    let mut r = rig(Behaviour {
        hang_at: Some(req::SET_MEM_TABLE),
        ..Behaviour::default()
    });
    r.msix();
    let mem = r.mem.clone();
    let [q0, q1] = queues(&mem);
    let t = Instant::now();
    r.init(&[&q0, &q1]);
    // The register write returned at once; the device thread waits.
    assert!(t.elapsed() < Duration::from_secs(1));
    r.backend.wait_for("mem table sent", |l| l.len() == 5 + 2);
    assert_eq!(r.status() & STATUS_DRIVER_OK, STATUS_DRIVER_OK);
    // Dropping the device (VMM exit) cuts the connection and joins.
    let t = Instant::now();
    drop(r.dev.take());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
