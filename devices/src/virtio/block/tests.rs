//! virtio-blk requests through a real queue in guest memory: good requests,
//! and every way a driver can get one wrong.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU32, Ordering};

use virtio_bindings::virtio_blk::{VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO};
use virtio_bindings::virtio_ring::{VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::disk::DiskImage;
use super::request::{S_IOERR, S_OK, S_UNSUPP};
use super::{VirtioBlock, SEG_MAX, SIZE_MAX};
use crate::virtio::device::{QueueOutcome, VirtioDevice};

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;
const INDIRECT: u16 = VRING_DESC_F_INDIRECT as u16;
const HDR: u64 = 0x1_0000;
const DATA: u64 = 0x2_0000;
const STATUS: u64 = 0x3_0000;
const DISK_SECTORS: u64 = 64;

fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
    RawDescriptor::from(Descriptor::new(addr, len, flags, next))
}

/// A disk of DISK_SECTORS sectors where byte i of sector s is s ^ i.
fn disk_file() -> (File, std::path::PathBuf) {
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "cxlvmm-blk-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    let mut content = Vec::new();
    for s in 0..DISK_SECTORS {
        content.extend((0..512u64).map(|i| (s ^ i) as u8));
    }
    f.write_all(&content).unwrap();
    (f, p)
}

struct Rig {
    mem: GuestMemoryMmap,
    blk: VirtioBlock,
    path: std::path::PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rig(readonly: bool) -> Rig {
    let (f, path) = disk_file();
    let disk = DiskImage::from_file(f, DISK_SECTORS * 512, readonly);
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    Rig {
        mem,
        blk: VirtioBlock::new(disk, "disk-id-0123456789abcdef", "vblk-test".into()),
        path,
    }
}

fn header(mem: &GuestMemoryMmap, at: u64, kind: u32, sector: u64) {
    mem.write_obj(kind.to_le(), GuestAddress(at)).unwrap();
    mem.write_obj(0u32, GuestAddress(at + 4)).unwrap();
    mem.write_obj(sector.to_le(), GuestAddress(at + 8)).unwrap();
}

/// Runs one chain; returns the outcome, the status byte and the used length.
fn run(r: &mut Rig, descs: &[RawDescriptor]) -> (QueueOutcome, u8, u32) {
    r.mem.write_obj(0xeeu8, GuestAddress(STATUS)).unwrap();
    let vq = MockSplitQueue::new(&r.mem, 256);
    vq.add_desc_chains(descs, 0).unwrap();
    let mut q: Queue = vq.create_queue().unwrap();
    let out = r.blk.process_queue(0, &mut q, &r.mem);
    let used_len = vq.used().ring().ref_at(0).unwrap().load().len();
    (out, r.mem.read_obj(GuestAddress(STATUS)).unwrap(), used_len)
}

fn request(data: Option<(u32, u16)>) -> Vec<RawDescriptor> {
    let mut v = vec![d(HDR, 16, NEXT, 1)];
    if let Some((len, flags)) = data {
        v.push(d(DATA, len, NEXT | flags, 2));
    }
    let n = v.len() as u16;
    v.push(d(STATUS, 1, WRITE, n));
    v
}

const DONE: QueueOutcome = QueueOutcome::Done { used: true };

fn file_bytes(r: &Rig, offset: u64, n: usize) -> Vec<u8> {
    let mut f = File::open(&r.path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut b = vec![0; n];
    f.read_exact(&mut b).unwrap();
    b
}

#[test]
fn features_and_config() {
    let r = rig(true);
    assert_eq!(r.blk.device_type(), 2);
    assert_ne!(r.blk.features() & (1 << VIRTIO_BLK_F_RO), 0);
    assert_ne!(r.blk.features() & (1 << VIRTIO_BLK_F_FLUSH), 0);
    assert_eq!(rig(false).blk.features() & (1 << VIRTIO_BLK_F_RO), 0);
    let c = r.blk.config_space();
    assert_eq!(
        u64::from_le_bytes(c[0..8].try_into().unwrap()),
        DISK_SECTORS
    );
    assert_eq!(u32::from_le_bytes(c[8..12].try_into().unwrap()), SIZE_MAX);
    assert_eq!(u32::from_le_bytes(c[12..16].try_into().unwrap()), SEG_MAX);
}

#[test]
fn read_write_flush_get_id() {
    let mut r = rig(false);
    // Read sectors 3..5.
    header(&r.mem, HDR, 0, 3);
    let (out, status, len) = run(&mut r, &request(Some((1024, WRITE))));
    assert_eq!((out, status, len), (DONE, S_OK, 1025));
    let mut got = vec![0u8; 1024];
    r.mem.read_slice(&mut got, GuestAddress(DATA)).unwrap();
    assert_eq!(got, file_bytes(&r, 3 * 512, 1024));
    assert_eq!(got[1], 3 ^ 1);
    // Write sector 7.
    r.mem.write_slice(&[0x5a; 512], GuestAddress(DATA)).unwrap();
    header(&r.mem, HDR, 1, 7);
    let (out, status, len) = run(&mut r, &request(Some((512, 0))));
    assert_eq!((out, status, len), (DONE, S_OK, 1));
    assert_eq!(file_bytes(&r, 7 * 512, 512), vec![0x5a; 512]);
    // Flush.
    header(&r.mem, HDR, 4, 0);
    assert_eq!(run(&mut r, &request(None)).1, S_OK);
    // Get ID: 20 bytes of the id.
    header(&r.mem, HDR, 8, 0);
    let (_, status, len) = run(&mut r, &request(Some((20, WRITE))));
    assert_eq!((status, len), (S_OK, 21));
    let mut id = [0u8; 20];
    r.mem.read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert_eq!(&id, b"disk-id-0123456789ab");
}

#[test]
fn any_layout_header_data_and_status_in_one_buffer() {
    let mut r = rig(false);
    // Write: header and data in one readable buffer.
    header(&r.mem, HDR, 1, 2);
    r.mem
        .write_slice(&[0x77; 512], GuestAddress(HDR + 16))
        .unwrap();
    let descs = [d(HDR, 16 + 512, NEXT, 1), d(STATUS, 1, WRITE, 0)];
    assert_eq!(run(&mut r, &descs).1, S_OK);
    assert_eq!(file_bytes(&r, 2 * 512, 512), vec![0x77; 512]);
    // Read: data and status in one writable buffer.
    header(&r.mem, HDR, 0, 2);
    let descs = [d(HDR, 16, NEXT, 1), d(STATUS - 512, 513, WRITE, 0)];
    let (out, status, len) = run(&mut r, &descs);
    assert_eq!((out, status, len), (DONE, S_OK, 513));
    let mut got = vec![0u8; 512];
    r.mem
        .read_slice(&mut got, GuestAddress(STATUS - 512))
        .unwrap();
    assert_eq!(got, vec![0x77; 512]);
}

#[test]
fn request_errors_answer_in_the_status() {
    let mut r = rig(false);
    let before = file_bytes(&r, 0, (DISK_SECTORS * 512) as usize);
    // Header too short.
    header(&r.mem, HDR, 0, 0);
    let descs = [d(HDR, 8, NEXT, 1), d(STATUS, 1, WRITE, 0)];
    assert_eq!(run(&mut r, &descs), (DONE, S_IOERR, 1));
    // Sector past the end, and one that overflows.
    header(&r.mem, HDR, 1, DISK_SECTORS - 1);
    assert_eq!(run(&mut r, &request(Some((1024, 0)))).1, S_IOERR);
    header(&r.mem, HDR, 0, u64::MAX / 256);
    assert_eq!(run(&mut r, &request(Some((512, WRITE)))).1, S_IOERR);
    // Data of the wrong direction: a read with readable data, a write
    // with writable data.
    header(&r.mem, HDR, 0, 0);
    assert_eq!(run(&mut r, &request(Some((512, 0)))).1, S_IOERR);
    header(&r.mem, HDR, 1, 0);
    assert_eq!(run(&mut r, &request(Some((512, WRITE)))).1, S_IOERR);
    // Not whole sectors.
    header(&r.mem, HDR, 1, 0);
    assert_eq!(run(&mut r, &request(Some((100, 0)))).1, S_IOERR);
    // A segment over size_max.
    header(&r.mem, HDR, 0, 0);
    let big = request(Some((SIZE_MAX + 512, WRITE)));
    assert_eq!(run(&mut r, &big).1, S_IOERR);
    // More segments than seg_max (through an indirect table).
    let n = SEG_MAX as u16 + 1;
    let table = 0x8_0000u64;
    let mut all = vec![d(HDR, 16, NEXT, 1)];
    all.extend((0..n).map(|i| d(DATA + 512 * u64::from(i), 512, NEXT | WRITE, i + 2)));
    all.push(d(STATUS, 1, WRITE, 0));
    for (i, x) in all.iter().enumerate() {
        r.mem
            .write_obj(*x, GuestAddress(table + 16 * i as u64))
            .unwrap();
    }
    header(&r.mem, HDR, 0, 0);
    let ind = [d(table, 16 * all.len() as u32, INDIRECT, 0)];
    let (out, status, _) = run(&mut r, &ind);
    assert_eq!((out, status), (DONE, S_IOERR));
    // Data outside RAM.
    header(&r.mem, HDR, 1, 0);
    let descs = [
        d(HDR, 16, NEXT, 1),
        d(0x4000_0000, 512, NEXT, 2),
        d(STATUS, 1, WRITE, 0),
    ];
    assert_eq!(run(&mut r, &descs).1, S_IOERR);
    // Unknown type.
    header(&r.mem, HDR, 99, 0);
    assert_eq!(run(&mut r, &request(None)).1, S_UNSUPP);
    // Nothing was written to the image.
    assert_eq!(file_bytes(&r, 0, before.len()), before);
}

#[test]
fn read_only_disk_refuses_writes() {
    let mut r = rig(true);
    r.mem.write_slice(&[0x11; 512], GuestAddress(DATA)).unwrap();
    header(&r.mem, HDR, 1, 0);
    assert_eq!(run(&mut r, &request(Some((512, 0)))).1, S_IOERR);
    assert_eq!(file_bytes(&r, 0, 2), vec![0, 1]);
    header(&r.mem, HDR, 0, 1);
    assert_eq!(run(&mut r, &request(Some((512, WRITE)))).1, S_OK);
    header(&r.mem, HDR, 4, 0);
    assert_eq!(run(&mut r, &request(None)).1, S_OK);
}

#[test]
fn broken_chains_need_reset() {
    let mut r = rig(false);
    header(&r.mem, HDR, 0, 0);
    let needs_reset = |o: &QueueOutcome| matches!(o, QueueOutcome::NeedsReset(_));
    // Status descriptor missing (the chain ends readable) or read-only.
    let o = run(&mut r, &[d(HDR, 16, NEXT, 1), d(DATA, 512, 0, 0)]).0;
    assert!(needs_reset(&o), "{o:?}");
    let o = run(&mut r, &[d(HDR, 16, 0, 0)]).0;
    assert!(needs_reset(&o));
    // Status of length 0, or outside RAM.
    let o = run(&mut r, &[d(HDR, 16, NEXT, 1), d(STATUS, 0, WRITE, 0)]).0;
    assert!(needs_reset(&o));
    let o = run(&mut r, &[d(HDR, 16, NEXT, 1), d(0x4000_0000, 1, WRITE, 0)]).0;
    assert!(needs_reset(&o));
    // A loop.
    let o = run(
        &mut r,
        &[d(HDR, 16, NEXT, 1), d(STATUS, 1, NEXT | WRITE, 0)],
    )
    .0;
    assert!(needs_reset(&o));
    // Indirect inside indirect.
    r.mem
        .write_obj(d(0x9000, 32, INDIRECT, 0), GuestAddress(0x8000))
        .unwrap();
    let o = run(&mut r, &[d(0x8000, 16, INDIRECT, 0)]).0;
    assert!(needs_reset(&o));
    // Readable after writable.
    let o = run(
        &mut r,
        &[
            d(DATA, 512, NEXT | WRITE, 1),
            d(HDR, 16, NEXT, 2),
            d(STATUS, 1, WRITE, 0),
        ],
    )
    .0;
    assert!(needs_reset(&o));
}

#[test]
fn avail_index_too_far_ahead_needs_reset() {
    let mut r = rig(false);
    let vq = MockSplitQueue::new(&r.mem, 16);
    let mut q: Queue = vq.create_queue().unwrap();
    vq.avail().idx().store(100);
    let o = r.blk.process_queue(0, &mut q, &r.mem);
    assert!(matches!(o, QueueOutcome::NeedsReset(_)), "{o:?}");
    // An empty queue is simply done.
    vq.avail().idx().store(0);
    let mut q: Queue = vq.create_queue().unwrap();
    assert_eq!(q.size(), 16);
    assert_eq!(
        r.blk.process_queue(0, &mut q, &r.mem),
        QueueOutcome::Done { used: false }
    );
}

fn ranges_at(mem: &GuestMemoryMmap, ranges: &[(u64, u32, u32)]) -> u32 {
    for (i, (sector, n, flags)) in ranges.iter().enumerate() {
        let at = DATA + 16 * i as u64;
        mem.write_obj(sector.to_le(), GuestAddress(at)).unwrap();
        mem.write_obj(n.to_le(), GuestAddress(at + 8)).unwrap();
        mem.write_obj(flags.to_le(), GuestAddress(at + 12)).unwrap();
    }
    16 * ranges.len() as u32
}

#[test]
fn discard_and_write_zeroes() {
    use virtio_bindings::virtio_blk::{VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES};
    let mut r = rig(false);
    let f = r.blk.features();
    assert_ne!(f & (1 << VIRTIO_BLK_F_DISCARD), 0);
    assert_ne!(f & (1 << VIRTIO_BLK_F_WRITE_ZEROES), 0);
    let c = r.blk.config_space();
    let u32_at = |o: usize| u32::from_le_bytes(c[o..o + 4].try_into().unwrap());
    assert_eq!(
        (u32_at(36), u32_at(40), u32_at(44)),
        (super::discard::MAX_SECTORS, 16, 8)
    );
    assert_eq!((u32_at(52), c[56]), (16, 1));

    // Write zeroes over sectors 10..12, and with unmap over 20..21.
    let len = ranges_at(&r.mem, &[(10, 2, 0), (20, 1, 1)]);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))), (DONE, S_OK, 1));
    assert_eq!(file_bytes(&r, 10 * 512, 1024), vec![0; 1024]);
    assert_eq!(file_bytes(&r, 20 * 512, 512), vec![0; 512]);
    assert_eq!(
        file_bytes(&r, 12 * 512, 2),
        vec![12, 13],
        "next sector kept"
    );
    // Discard: advisory, answered OK; the image keeps its size.
    let len = ranges_at(&r.mem, &[(32, 8, 0)]);
    header(&r.mem, HDR, 11, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_OK);
    assert_eq!(
        std::fs::metadata(&r.path).unwrap().len(),
        DISK_SECTORS * 512
    );

    let before = file_bytes(&r, 0, (DISK_SECTORS * 512) as usize);
    // Unmap on a discard, unknown flags on write-zeroes: unsupported.
    let len = ranges_at(&r.mem, &[(0, 1, 1)]);
    header(&r.mem, HDR, 11, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_UNSUPP);
    let len = ranges_at(&r.mem, &[(0, 1, 2)]);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_UNSUPP);
    // Past the end (checked before any range is applied), a partial range,
    // too many ranges, ranges in device-writable memory.
    let len = ranges_at(&r.mem, &[(0, 1, 0), (DISK_SECTORS - 1, 2, 0)]);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_IOERR);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((8, 0)))).1, S_IOERR);
    let many: Vec<_> = (0..17).map(|i| (i, 1, 0)).collect();
    let len = ranges_at(&r.mem, &many);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_IOERR);
    let len = ranges_at(&r.mem, &[(0, 1, 0)]);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, WRITE)))).1, S_IOERR);
    assert_eq!(file_bytes(&r, 0, before.len()), before);

    // Not offered on a read-only disk.
    let mut r = rig(true);
    assert_eq!(r.blk.features() & (1 << VIRTIO_BLK_F_DISCARD), 0);
    let len = ranges_at(&r.mem, &[(0, 1, 0)]);
    header(&r.mem, HDR, 13, 0);
    assert_eq!(run(&mut r, &request(Some((len, 0)))).1, S_UNSUPP);
    assert_eq!(file_bytes(&r, 0, 2), vec![0, 1]);
}
