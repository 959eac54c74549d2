//! Discard and write-zeroes requests (virtio 1.2, 5.2.6: VIRTIO_BLK_T_DISCARD
//! and VIRTIO_BLK_T_WRITE_ZEROES): device-readable data is an array of
//! struct virtio_blk_discard_write_zeroes (sector le64, num_sectors le32,
//! flags le32), one range each.
//!
//! Discard punches a hole in the image (advisory: a host file system that
//! cannot punch holes leaves the data). Write-zeroes zeroes the range in
//! place, or punches a hole when the driver allows unmapping; where the host
//! cannot do either it writes zeroes.

use vm_memory::{Bytes, GuestMemoryMmap};

use super::disk::{DiskImage, SECTOR_SIZE};
use super::status::{Segment, S_IOERR, S_OK, S_UNSUPP};
use virtio_bindings::virtio_blk::VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

/// Size of one range (struct virtio_blk_discard_write_zeroes).
pub const RANGE_SIZE: u64 = 16;
/// max_discard_sectors / max_write_zeroes_sectors announced.
pub const MAX_SECTORS: u32 = u32::MAX >> 9;
/// max_discard_seg / max_write_zeroes_seg announced.
pub const MAX_SEG: u32 = 16;
/// discard_sector_alignment announced (4 KiB, the usual hole granularity).
pub const SECTOR_ALIGNMENT: u32 = 8;

/// Which of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// VIRTIO_BLK_T_DISCARD.
    Discard,
    /// VIRTIO_BLK_T_WRITE_ZEROES.
    WriteZeroes,
}

/// One range as the driver sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    sector: u64,
    sectors: u32,
    flags: u32,
}

fn ranges(data: &[Segment], mem: &GuestMemoryMmap) -> Option<Vec<Range>> {
    // Read no more than MAX_SEG ranges' worth of guest memory.
    let total: u64 = data.iter().map(|s| u64::from(s.1)).sum();
    if total > u64::from(MAX_SEG) * RANGE_SIZE {
        return Some(Vec::new());
    }
    let mut bytes = Vec::new();
    for (addr, len) in data {
        let start = bytes.len();
        bytes.resize(start + *len as usize, 0);
        mem.read_slice(&mut bytes[start..], *addr).ok()?;
    }
    if bytes.is_empty() || !(bytes.len() as u64).is_multiple_of(RANGE_SIZE) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(RANGE_SIZE as usize)
            .map(|c| {
                let u = |o: usize| u32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]]);
                Range {
                    sector: u64::from(u(0)) | (u64::from(u(4)) << 32),
                    sectors: u(8),
                    flags: u(12),
                }
            })
            .collect(),
    )
}

/// Carries out a discard or write-zeroes request; returns its status.
pub fn execute(op: Op, data: &[Segment], disk: &DiskImage, mem: &GuestMemoryMmap) -> u8 {
    if disk.readonly() {
        return S_IOERR;
    }
    let Some(ranges) = ranges(data, mem) else {
        log::debug!("virtio-blk: {op:?} without whole ranges");
        return S_IOERR;
    };
    if ranges.is_empty() || ranges.len() > MAX_SEG as usize {
        return S_IOERR;
    }
    // Check every range before touching the image.
    let unmap = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    for r in &ranges {
        // 5.2.6.2: unknown flags, or unmap on a discard, are unsupported.
        let allowed = if op == Op::WriteZeroes { unmap } else { 0 };
        if r.flags & !allowed != 0 {
            return S_UNSUPP;
        }
        let end = r.sector.checked_add(u64::from(r.sectors));
        if r.sectors > MAX_SECTORS || end.is_none_or(|e| e > disk.sectors()) {
            return S_IOERR;
        }
    }
    for r in &ranges {
        let (off, len) = (r.sector * SECTOR_SIZE, u64::from(r.sectors) * SECTOR_SIZE);
        let res = match op {
            Op::Discard => disk.discard(off, len),
            Op::WriteZeroes => disk.write_zeroes(off, len, r.flags & unmap != 0),
        };
        if let Err(e) = res {
            log::warn!("virtio-blk: {op:?} of {len} bytes at {off:#x}: {e}");
            return S_IOERR;
        }
    }
    S_OK
}
