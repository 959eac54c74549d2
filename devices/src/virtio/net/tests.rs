//! virtio-net through real queues in guest memory, with a unix datagram
//! socket pair standing in for the tap (one read or write is one packet,
//! EAGAIN when empty or full, as on a tap): good packets both ways, merged
//! receive buffers, and every way a driver can get a chain wrong. The last
//! tests drive the device through the PCI transport and its thread, where
//! the tap is an event source.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;

use virtio_bindings::virtio_net::{VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS};
use virtio_bindings::virtio_ring::{VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::Queue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;

use super::*;
use crate::virtio::device::{QueueOutcome, VirtioDevice};

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;
const INDIRECT: u16 = VRING_DESC_F_INDIRECT as u16;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xc0, 0x00, 0x01];
const RAM: u64 = 0x20_0000;
/// Buffers live from here on.
const BUF: u64 = 0x4_0000;
const DONE: QueueOutcome = QueueOutcome::Done { used: true };
const IDLE: QueueOutcome = QueueOutcome::Done { used: false };

fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(Descriptor::new(addr, len, flags, next))
}

/// A device end (non-blocking, as a File, as the tap is) and the host's end.
fn tap_pair() -> (File, UnixDatagram) {
    let (dev, host) = UnixDatagram::pair().unwrap();
    dev.set_nonblocking(true).unwrap();
    host.set_nonblocking(true).unwrap();
    (File::from(OwnedFd::from(dev)), host)
}

struct Rig {
    mem: GuestMemoryMmap,
    net: VirtioNet,
    host: UnixDatagram,
}

fn rig(mergeable: bool) -> Rig {
    let (tap, host) = tap_pair();
    let mut net = VirtioNet::new(tap, MAC, "vnet-test".into());
    let features = if mergeable {
        1 << VIRTIO_NET_F_MRG_RXBUF
    } else {
        0
    };
    net.activate(features);
    Rig {
        mem: GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap(),
        net,
        host,
    }
}

/// A frame of `len` bytes: broadcast destination, MAC source, then `seed`
/// and a counting pattern.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&MAC);
    f
}

/// What the tap hands the device: a zero header, then the frame.
fn tap_packet(frame: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER_SIZE];
    p.extend_from_slice(frame);
    p
}

fn host_recv(host: &UnixDatagram) -> Option<Vec<u8>> {
    let mut b = vec![0u8; 70_000];
    match host.recv(&mut b) {
        Ok(n) => Some(b[..n].to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => panic!("{e}"),
    }
}

fn used(vq: &MockSplitQueue<'_, GuestMemoryMmap>, i: usize) -> (u32, u32) {
    let e = vq.used().ring().ref_at(i).unwrap().load();
    (e.id(), e.len())
}

fn used_idx(vq: &MockSplitQueue<'_, GuestMemoryMmap>) -> u16 {
    vq.used().idx().load()
}

fn read(mem: &GuestMemoryMmap, addr: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    mem.read_slice(&mut b, GuestAddress(addr)).unwrap();
    b
}

impl Rig {
    fn rx(&mut self, q: &mut Queue) -> QueueOutcome {
        self.net.process_queue(RX_QUEUE, q, &self.mem)
    }
    fn tx(&mut self, q: &mut Queue) -> QueueOutcome {
        self.net.process_queue(TX_QUEUE, q, &self.mem)
    }
    fn send(&self, packet: &[u8]) {
        assert_eq!(self.host.send(packet).unwrap(), packet.len());
    }
}

#[test]
fn features_and_config() {
    let r = rig(false);
    assert_eq!(r.net.device_type(), 1);
    assert_eq!(r.net.queue_max_sizes(), vec![QUEUE_SIZE, QUEUE_SIZE]);
    let f = r.net.features();
    for bit in [
        VIRTIO_NET_F_MAC,
        VIRTIO_NET_F_STATUS,
        VIRTIO_NET_F_MRG_RXBUF,
    ] {
        assert_ne!(f & (1 << bit), 0, "feature {bit}");
    }
    // Nothing else: no offloads, no control queue.
    assert_eq!(f & !(1 << 5 | 1 << 15 | 1 << 16), 0);
    let c = r.net.config_space();
    assert_eq!(&c[0..6], &MAC);
    assert_eq!(u16::from_le_bytes([c[6], c[7]]), 1, "VIRTIO_NET_S_LINK_UP");
    assert_eq!(u16::from_le_bytes([c[8], c[9]]), 1, "max_virtqueue_pairs");
    assert_eq!(HEADER_SIZE, 12);
    assert_eq!(NUM_BUFFERS_OFFSET, 10);
    assert_eq!(format_mac(&MAC), "52:54:00:c0:00:01");
}

#[test]
fn transmit_any_layout_with_a_zero_header() {
    let mut r = rig(false);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    let f = frame(100, 1);
    // Header and frame in separate buffers; the driver's header has
    // offload bits the device must not pass on.
    r.mem.write_slice(&[0xaa; 12], GuestAddress(BUF)).unwrap();
    r.mem.write_slice(&f, GuestAddress(BUF + 0x100)).unwrap();
    vq.add_desc_chains(&[d(BUF, 12, NEXT, 1), d(BUF + 0x100, 100, 0, 0)], 0)
        .unwrap();
    assert_eq!(r.tx(&mut q), DONE);
    assert_eq!(host_recv(&r.host).unwrap(), tap_packet(&f));
    assert_eq!((used_idx(&vq), used(&vq, 0)), (1, (0, 0)));
    // Header and frame in one buffer; a frame split across three.
    let g = frame(60, 2);
    r.mem
        .write_slice(&tap_packet(&g), GuestAddress(BUF + 0x1000))
        .unwrap();
    let h = frame(300, 3);
    r.mem
        .write_slice(&[0; 12], GuestAddress(BUF + 0x2000))
        .unwrap();
    r.mem
        .write_slice(&h[..7], GuestAddress(BUF + 0x3000))
        .unwrap();
    r.mem
        .write_slice(&h[7..200], GuestAddress(BUF + 0x4000))
        .unwrap();
    r.mem
        .write_slice(&h[200..], GuestAddress(BUF + 0x5000))
        .unwrap();
    vq.add_desc_chains(
        &[
            d(BUF + 0x1000, 72, 0, 0),
            d(BUF + 0x2000, 12, NEXT, 3),
            d(BUF + 0x3000, 7, NEXT, 4),
            d(BUF + 0x4000, 193, NEXT, 5),
            d(BUF + 0x5000, 100, 0, 0),
        ],
        1,
    )
    .unwrap();
    assert_eq!(r.tx(&mut q), DONE);
    assert_eq!(host_recv(&r.host).unwrap(), tap_packet(&g));
    assert_eq!(host_recv(&r.host).unwrap(), tap_packet(&h));
    assert_eq!(used_idx(&vq), 3);
    assert_eq!((used(&vq, 1), used(&vq, 2)), ((1, 0), (2, 0)));
    assert_eq!(r.net.tx_stats().packets, 3);
    // Nothing more available: nothing done.
    assert_eq!(r.tx(&mut q), IDLE);
}

#[test]
fn malformed_transmit_packets_are_dropped() {
    let mut r = rig(false);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    r.mem
        .write_slice(&tap_packet(&frame(100, 9)), GuestAddress(BUF))
        .unwrap();
    let chains = [
        // A device-writable buffer.
        d(BUF, 12, NEXT, 1),
        d(BUF + 12, 100, WRITE, 0),
        // Shorter than the header.
        d(BUF, 10, 0, 0),
        // A header and less than an Ethernet header.
        d(BUF, 12 + 13, 0, 0),
        // Longer than the largest frame.
        d(BUF, (HEADER_SIZE + MAX_FRAME_LEN + 1) as u32, 0, 0),
        // Outside guest RAM.
        d(BUF, 12, NEXT, 6),
        d(RAM - 50, 100, 0, 0),
        // A good one after them all.
        d(BUF, 112, 0, 0),
    ];
    vq.add_desc_chains(&chains, 0).unwrap();
    assert_eq!(r.tx(&mut q), DONE);
    // Six chains, every one given back, written nothing.
    assert_eq!(used_idx(&vq), 6);
    for (i, head) in [0, 2, 3, 4, 5, 7].into_iter().enumerate() {
        assert_eq!(used(&vq, i), (head, 0));
    }
    // Only the good one reached the tap.
    assert_eq!(host_recv(&r.host).unwrap(), tap_packet(&frame(100, 9)));
    assert_eq!(host_recv(&r.host), None);
    let s = r.net.tx_stats();
    assert_eq!((s.packets, s.dropped), (1, 5));
}

#[test]
fn broken_transmit_chains_need_reset() {
    let r = rig(false);
    let mem = r.mem.clone();
    let mut r = r;
    let needs_reset = |o: &QueueOutcome| matches!(o, QueueOutcome::NeedsReset(_));
    let cases: Vec<Vec<RawDescriptor>> = vec![
        // A loop.
        vec![d(BUF, 12, NEXT, 1), d(BUF, 100, NEXT, 0)],
        // A next index past the table.
        vec![d(BUF, 12, NEXT, 40)],
        // Readable after writable.
        vec![d(BUF, 12, NEXT | WRITE, 1), d(BUF, 100, 0, 0)],
        // An indirect table outside RAM.
        vec![d(RAM + 0x1000, 32, INDIRECT, 0)],
    ];
    for descs in cases {
        let vq = MockSplitQueue::new(&mem, 16);
        let mut q: Queue = vq.create_queue().unwrap();
        vq.add_desc_chains(&descs, 0).unwrap();
        let o = r.tx(&mut q);
        assert!(needs_reset(&o), "{descs:?}: {o:?}");
        assert_eq!(host_recv(&r.host), None);
    }
    // A chain longer than the queue (through an indirect table of 20).
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    let table = BUF + 0x8000;
    for i in 0..20u16 {
        let flags = if i == 19 { 0 } else { NEXT };
        let at = GuestAddress(table + 16 * u64::from(i));
        mem.write_obj(d(BUF, 12, flags, i + 1), at).unwrap();
    }
    vq.add_desc_chains(&[d(table, 320, INDIRECT, 0)], 0)
        .unwrap();
    assert!(needs_reset(&r.tx(&mut q)));
    // An available index too far ahead.
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.avail().idx().store(100);
    assert!(needs_reset(&r.tx(&mut q)));
}

#[test]
fn transmit_waits_while_the_tap_is_full() {
    let mut r = rig(false);
    let mem = r.mem.clone();
    // A small send buffer on the device's end, so it fills after a few
    // packets while the host does not read.
    let small: libc::c_int = 4096;
    // SAFETY: setsockopt on a socket we own, with an int we own.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&r.net.tap),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    let vq = MockSplitQueue::new(&mem, 64);
    let mut q: Queue = vq.create_queue().unwrap();
    let n = 40u16;
    let mut descs = Vec::new();
    for i in 0..n {
        let at = BUF + 0x200 * u64::from(i);
        r.mem
            .write_slice(&tap_packet(&frame(200, i as u8)), GuestAddress(at))
            .unwrap();
        descs.push(d(at, 212, 0, 0));
    }
    vq.add_desc_chains(&descs, 0).unwrap();
    // The socket takes a few packets, then EAGAIN: the rest wait, their buffers not yet used.
    assert_eq!(r.tx(&mut q), DONE);
    let sent = used_idx(&vq);
    assert!(sent > 0 && sent < n, "sent {sent}");
    let s = r.net.tx_stats();
    assert_eq!((s.packets, s.dropped, s.blocked), (u64::from(sent), 0, 1));
    // Writable again: the tap event asks for the transmit queue.
    let mut got = Vec::new();
    while let Some(p) = host_recv(&r.host) {
        got.push(p);
    }
    assert_eq!(
        r.net.process_event(0, EventSet::OUT),
        vec![TX_QUEUE],
        "writable tap with packets waiting"
    );
    while used_idx(&vq) < n {
        let before = used_idx(&vq);
        r.tx(&mut q);
        assert!(used_idx(&vq) > before, "no progress");
        while let Some(p) = host_recv(&r.host) {
            got.push(p);
        }
    }
    // Every packet, in order, once.
    assert_eq!(got.len(), usize::from(n));
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p, &tap_packet(&frame(200, i as u8)), "packet {i}");
    }
    assert_eq!(r.net.process_event(0, EventSet::OUT), Vec::<usize>::new());
    assert_eq!(r.net.process_event(0, EventSet::IN), vec![RX_QUEUE]);
    assert_eq!(r.net.process_event(1, EventSet::IN), Vec::<usize>::new());
}

#[test]
fn receive_into_merged_buffers() {
    let mut r = rig(true);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    // Three chains of 256 bytes; the second made of two buffers.
    vq.add_desc_chains(
        &[
            d(BUF, 256, WRITE, 0),
            d(BUF + 0x1000, 100, NEXT | WRITE, 2),
            d(BUF + 0x2000, 156, WRITE, 0),
            d(BUF + 0x3000, 256, WRITE, 0),
        ],
        0,
    )
    .unwrap();
    // No packet yet: the chains are taken and held, nothing used.
    assert_eq!(r.rx(&mut q), IDLE);
    assert_eq!(used_idx(&vq), 0);
    // 12 + 600 bytes: 256 + 256 + 100, published together.
    let f = frame(600, 5);
    r.send(&tap_packet(&f));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!(used_idx(&vq), 3);
    assert_eq!(
        (used(&vq, 0), used(&vq, 1), used(&vq, 2)),
        ((0, 256), (1, 256), (3, 100))
    );
    let mut got = read(&r.mem, BUF, 256);
    got.extend(read(&r.mem, BUF + 0x1000, 100));
    got.extend(read(&r.mem, BUF + 0x2000, 156));
    got.extend(read(&r.mem, BUF + 0x3000, 100));
    let mut want = vec![0u8; 12];
    want[10] = 3; // num_buffers
    want.extend_from_slice(&f);
    assert_eq!(got, want);
    assert_eq!(r.net.rx_stats().packets, 1);
}

#[test]
fn merged_packet_waits_for_enough_buffers() {
    let mut r = rig(true);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.add_desc_chains(&[d(BUF, 100, WRITE, 0)], 0).unwrap();
    let f = frame(150, 6);
    r.send(&tap_packet(&f));
    r.send(&tap_packet(&frame(50, 7)));
    // 162 bytes do not fit in 100: the packet waits, nothing is used.
    assert_eq!(r.rx(&mut q), IDLE);
    assert_eq!(used_idx(&vq), 0);
    // Another chain: the first packet goes into both, the second waits.
    vq.add_desc_chains(&[d(BUF + 0x1000, 100, WRITE, 0)], 1)
        .unwrap();
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!(used_idx(&vq), 2);
    assert_eq!((used(&vq, 0), used(&vq, 1)), ((0, 100), (1, 62)));
    let mut got = read(&r.mem, BUF + 12, 88);
    got.extend(read(&r.mem, BUF + 0x1000, 62));
    assert_eq!(got, f);
    vq.add_desc_chains(&[d(BUF + 0x2000, 100, WRITE, 0)], 2)
        .unwrap();
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!((used_idx(&vq), used(&vq, 2)), (3, (2, 62)));
    assert_eq!(read(&r.mem, BUF + 0x2000 + 12, 50), frame(50, 7));
}

#[test]
fn merged_packet_larger_than_the_whole_ring_is_dropped() {
    let mut r = rig(true);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 4);
    let mut q: Queue = vq.create_queue().unwrap();
    let descs: Vec<_> = (0..4).map(|i| d(BUF + 0x100 * i, 32, WRITE, 0)).collect();
    vq.add_desc_chains(&descs, 0).unwrap();
    // 4 x 32 bytes < 12 + 200, and the ring has no more entries to give.
    r.send(&tap_packet(&frame(200, 1)));
    r.send(&tap_packet(&frame(100, 2)));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!(r.net.rx_stats().dropped, 1);
    // The next packet fits: 12 + 100 in 32 + 32 + 32 + 16.
    assert_eq!(used_idx(&vq), 4);
    assert_eq!(used(&vq, 3), (3, 16));
    let got: Vec<u8> = (0..4)
        .flat_map(|i| read(&r.mem, BUF + 0x100 * i, 32))
        .collect();
    assert_eq!(got[10], 4, "num_buffers");
    assert_eq!(&got[12..112], &frame(100, 2)[..]);
}

#[test]
fn receive_without_merging_one_chain_per_packet() {
    let mut r = rig(false);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.add_desc_chains(
        &[d(BUF, 1526, WRITE, 0), d(BUF + 0x1000, 1526, WRITE, 0)],
        0,
    )
    .unwrap();
    // Too large for the chain at hand: dropped, the chain kept.
    r.send(&tap_packet(&frame(2000, 1)));
    r.send(&tap_packet(&frame(1514, 2)));
    r.send(&tap_packet(&frame(60, 3)));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!(used_idx(&vq), 2);
    assert_eq!((used(&vq, 0), used(&vq, 1)), ((0, 1526), (1, 72)));
    let hdr = read(&r.mem, BUF, 12);
    assert_eq!(hdr, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], "num_buffers 1");
    assert_eq!(read(&r.mem, BUF + 12, 1514), frame(1514, 2));
    assert_eq!(read(&r.mem, BUF + 0x1000 + 12, 60), frame(60, 3));
    let s = r.net.rx_stats();
    assert_eq!((s.packets, s.dropped), (2, 1));
}

#[test]
fn receive_chains_that_cannot_take_a_packet_are_given_back() {
    let mut r = rig(true);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    r.mem.write_slice(&[0x5a; 64], GuestAddress(BUF)).unwrap();
    let chains = [
        // A device-readable buffer.
        d(BUF, 64, 0, 0),
        // Readable then writable: readable buffers have no place here.
        d(BUF, 16, NEXT, 2),
        d(BUF + 0x100, 256, WRITE, 0),
        // Outside RAM.
        d(RAM - 16, 256, WRITE, 0),
        // Shorter than the header.
        d(BUF + 0x200, 8, WRITE, 0),
        // A good one.
        d(BUF + 0x1000, 256, WRITE, 0),
    ];
    vq.add_desc_chains(&chains, 0).unwrap();
    r.send(&tap_packet(&frame(100, 4)));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!(used_idx(&vq), 5);
    for (i, head) in [0, 1, 3, 4].into_iter().enumerate() {
        assert_eq!(used(&vq, i), (head, 0));
    }
    assert_eq!(used(&vq, 4), (5, 112));
    assert_eq!(read(&r.mem, BUF + 0x1000 + 12, 100), frame(100, 4));
    // The readable buffer was not written.
    assert_eq!(read(&r.mem, BUF, 64), vec![0x5a; 64]);
    assert_eq!(r.net.rx_stats().bad_chains, 4);
}

#[test]
fn bad_packets_from_the_tap_are_dropped() {
    let mut r = rig(false);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.add_desc_chains(&[d(BUF, 1526, WRITE, 0)], 0).unwrap();
    // Too short, a GSO packet, a partial checksum, then a good one.
    r.send(&[0u8; 20]);
    let mut gso = tap_packet(&frame(100, 1));
    gso[1] = 1;
    r.send(&gso);
    let mut csum = tap_packet(&frame(100, 2));
    csum[0] = 1;
    r.send(&csum);
    r.send(&tap_packet(&frame(100, 3)));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!((used_idx(&vq), used(&vq, 0)), (1, (0, 112)));
    assert_eq!(read(&r.mem, BUF + 12, 100), frame(100, 3));
    assert_eq!(r.net.rx_stats().dropped, 3);
}

#[test]
fn broken_receive_chains_need_reset() {
    let r = rig(true);
    let mem = r.mem.clone();
    let mut r = r;
    for descs in [
        vec![d(BUF, 256, NEXT | WRITE, 1), d(BUF, 256, NEXT | WRITE, 0)],
        vec![d(BUF, 12, NEXT | WRITE, 1), d(BUF, 100, 0, 0)],
    ] {
        let vq = MockSplitQueue::new(&mem, 16);
        let mut q: Queue = vq.create_queue().unwrap();
        vq.add_desc_chains(&descs, 0).unwrap();
        let o = r.rx(&mut q);
        assert!(matches!(o, QueueOutcome::NeedsReset(_)), "{o:?}");
    }
}

#[test]
fn reset_forgets_held_chains_and_the_waiting_packet() {
    let mut r = rig(true);
    let mem = r.mem.clone();
    let vq = MockSplitQueue::new(&mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.add_desc_chains(&[d(BUF, 64, WRITE, 0)], 0).unwrap();
    r.send(&tap_packet(&frame(200, 1)));
    assert_eq!(r.rx(&mut q), IDLE);
    r.net.reset();
    assert_eq!(r.net.rx_stats().dropped, 1);
    // A new queue after the reset: only its own chains are used.
    r.net.activate(1 << VIRTIO_NET_F_MRG_RXBUF);
    let vq = MockSplitQueue::create(&mem, GuestAddress(0x1_0000), 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.add_desc_chains(&[d(BUF + 0x1000, 256, WRITE, 0)], 0)
        .unwrap();
    r.send(&tap_packet(&frame(100, 2)));
    assert_eq!(r.rx(&mut q), DONE);
    assert_eq!((used_idx(&vq), used(&vq, 0)), (1, (0, 112)));
    assert_eq!(read(&r.mem, BUF + 0x1000 + 12, 100), frame(100, 2));
}

/// The device on the PCI transport with its own thread.
mod transport {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::interrupt::RecordingMsiGroup;
    use crate::pci::caps::CAP_ID_MSIX;
    use crate::pci::config::{COMMAND, COMMAND_MEMORY_SPACE};
    use crate::pci::PciDevice;
    use crate::virtio::common_cfg as cc;
    use crate::virtio::status::*;
    use crate::virtio::transport::*;

    const BAR: u64 = 0xc000_0000;

    struct Pci {
        dev: VirtioPciDevice,
        msi: Arc<RecordingMsiGroup>,
    }

    impl Pci {
        fn rd(&mut self, off: u64, width: usize) -> u64 {
            let mut b = [0u8; 8];
            self.dev.bar_read(0, off, &mut b[..width]);
            u64::from_le_bytes(b)
        }
        fn wr(&mut self, off: u64, width: usize, v: u64) {
            self.dev.bar_write(0, off, &v.to_le_bytes()[..width]);
        }
        fn cfg32(&mut self, off: u16) -> u32 {
            let mut b = [0u8; 4];
            self.dev.config_read(off, &mut b);
            u32::from_le_bytes(b)
        }
        fn msix_on(&mut self) {
            let mut ptr = self.cfg32(0x34) as u16 & 0xff;
            while self.cfg32(ptr) as u8 != CAP_ID_MSIX {
                ptr = (self.cfg32(ptr) >> 8) as u16 & 0xff;
            }
            self.dev.config_write(ptr + 3, &[0x80]);
            for v in 0..3u64 {
                let e = u64::from(MSIX_TABLE_OFFSET) + 16 * v;
                self.wr(e, 4, 0xfee0_0000);
                self.wr(e + 8, 4, 0x40 + v);
                self.wr(e + 12, 4, 0);
            }
        }
        fn queue(&mut self, index: u64, vq: &MockSplitQueue<'_, GuestMemoryMmap>, vector: u64) {
            self.wr(cc::QUEUE_SELECT as u64, 2, index);
            self.wr(cc::QUEUE_SIZE as u64, 2, 16);
            self.wr(cc::QUEUE_MSIX_VECTOR as u64, 2, vector);
            self.wr(cc::QUEUE_DESC as u64, 8, vq.desc_table_addr().0);
            self.wr(cc::QUEUE_DRIVER as u64, 8, vq.avail_addr().0);
            self.wr(cc::QUEUE_DEVICE as u64, 8, vq.used_addr().0);
            self.wr(cc::QUEUE_ENABLE as u64, 2, 1);
        }
        fn wait(&mut self, what: &str, mut f: impl FnMut(&mut Self) -> bool) {
            let t = Instant::now();
            while !f(self) {
                assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    #[test]
    fn packets_both_ways_through_the_device_thread() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
        let (tap, host) = tap_pair();
        let net = VirtioNet::new(tap, MAC, "vnet-thread".into());
        let msi = Arc::new(RecordingMsiGroup::new(3));
        let dev = VirtioPciDevice::new(Box::new(net), msi.clone(), mem.clone()).unwrap();
        let mut p = Pci { dev, msi };
        p.dev.config_write(0x10, &(BAR as u32).to_le_bytes());
        p.dev
            .config_write(COMMAND, &COMMAND_MEMORY_SPACE.to_le_bytes());
        // Network controller, modern virtio-net device ID, the MAC.
        assert_eq!(p.cfg32(0), 0x1041_1af4);
        assert_eq!(p.cfg32(8) >> 8, 0x02_00_00);
        let mac: Vec<u8> = (0..6)
            .map(|i| p.rd(DEVICE_CFG_OFFSET + i, 1) as u8)
            .collect();
        assert_eq!(mac, MAC);
        assert_eq!(p.rd(cc::NUM_QUEUES as u64, 2), 2);

        // A packet from the host before the driver is there waits in the tap.
        host.send(&tap_packet(&frame(80, 1))).unwrap();

        p.msix_on();
        let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        p.wr(cc::DEVICE_STATUS as u64, 1, init);
        p.wr(cc::DRIVER_FEATURE_SELECT as u64, 4, 0);
        p.wr(
            cc::DRIVER_FEATURE as u64,
            4,
            1 << VIRTIO_NET_F_MAC | 1 << VIRTIO_NET_F_MRG_RXBUF,
        );
        p.wr(cc::DRIVER_FEATURE_SELECT as u64, 4, 1);
        p.wr(cc::DRIVER_FEATURE as u64, 4, 1);
        p.wr(
            cc::DEVICE_STATUS as u64,
            1,
            init | u64::from(STATUS_FEATURES_OK),
        );
        p.wr(cc::CONFIG_MSIX_VECTOR as u64, 2, 0);
        let rxq = MockSplitQueue::create(&mem, GuestAddress(0x1_0000), 16);
        let txq = MockSplitQueue::create(&mem, GuestAddress(0x2_0000), 16);
        p.queue(0, &rxq, 1);
        p.queue(1, &txq, 2);
        rxq.add_desc_chains(
            &[d(BUF, 2048, WRITE, 0), d(BUF + 0x1000, 2048, WRITE, 0)],
            0,
        )
        .unwrap();
        let ok = init | u64::from(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        p.wr(cc::DEVICE_STATUS as u64, 1, ok);

        // DRIVER_OK serves the receive queue: the early packet arrives.
        p.wait("early packet", |_| used_idx(&rxq) == 1);
        assert_eq!(used(&rxq, 0), (0, 92));
        assert_eq!(read(&mem, BUF + 12, 80), frame(80, 1));
        // A packet now: the tap's event wakes the thread, the receive
        // vector fires.
        p.wait("rx interrupt", |p| p.msi.fired().iter().any(|f| f.0 == 1));
        p.msi.clear();
        host.send(&tap_packet(&frame(1000, 2))).unwrap();
        p.wait("second packet", |_| used_idx(&rxq) == 2);
        assert_eq!(read(&mem, BUF + 0x1000 + 12, 1000), frame(1000, 2));
        p.wait("rx interrupt", |p| p.msi.fired().iter().any(|f| f.0 == 1));

        // Transmit: a notify, the packet on the host side, the tx vector.
        let f = frame(500, 3);
        mem.write_slice(&tap_packet(&f), GuestAddress(BUF + 0x4000))
            .unwrap();
        txq.add_desc_chains(&[d(BUF + 0x4000, 512, 0, 0)], 0)
            .unwrap();
        p.wr(NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER), 2, 1);
        p.wait("tx used", |_| used_idx(&txq) == 1);
        let mut got = None;
        p.wait("packet on the host", |_| {
            got = host_recv(&host);
            got.is_some()
        });
        assert_eq!(got.unwrap(), tap_packet(&f));
        p.wait("tx interrupt", |p| p.msi.fired().iter().any(|f| f.0 == 2));
        assert_eq!(
            p.rd(cc::DEVICE_STATUS as u64, 1) & u64::from(STATUS_NEEDS_RESET),
            0
        );

        // A broken receive chain: DEVICE_NEEDS_RESET and the config vector;
        // the device thread carries on (reset, and it works again).
        rxq.add_desc_chains(
            &[d(BUF, 64, NEXT | WRITE, 3), d(BUF, 64, NEXT | WRITE, 2)],
            2,
        )
        .unwrap();
        p.wr(NOTIFY_OFFSET, 2, 0);
        p.wait("needs reset", |p| {
            p.rd(cc::DEVICE_STATUS as u64, 1) & u64::from(STATUS_NEEDS_RESET) != 0
        });
        assert!(p.msi.fired().iter().any(|f| f.0 == 0));
        p.wr(cc::DEVICE_STATUS as u64, 1, 0);
        p.wait("reset", |p| p.rd(cc::DEVICE_STATUS as u64, 1) == 0);
    }
}
