//! virtio-blk on a raw image (virtio 1.2, 5.2): one request queue; read,
//! write, flush and get-id; VIRTIO_BLK_F_RO for read-only images,
//! VIRTIO_BLK_F_FLUSH, SEG_MAX/SIZE_MAX limits that requests must keep, and
//! on writable images VIRTIO_BLK_F_DISCARD and VIRTIO_BLK_F_WRITE_ZEROES.

pub mod discard;
pub mod disk;
pub mod request;
pub mod status;

#[cfg(test)]
mod tests;

use std::mem::offset_of;

use virtio_bindings::virtio_blk::{
    virtio_blk_config, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
    VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_ID_BYTES,
};
use virtio_bindings::virtio_ids::VIRTIO_ID_BLOCK;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestMemoryMmap};

use self::disk::DiskImage;
use self::request::{execute, parse, Limits, ParseError};
use super::device::{QueueOutcome, VirtioDevice};
use super::queue::walk_chain;

/// Size of the request queue.
pub const QUEUE_SIZE: u16 = 256;
/// seg_max announced: data segments per request (the header and status
/// take two more descriptors of a chain).
pub const SEG_MAX: u32 = 126;
/// size_max announced: bytes per data segment.
pub const SIZE_MAX: u32 = 1 << 20;

/// A virtio block device.
pub struct VirtioBlock {
    disk: DiskImage,
    id: Vec<u8>,
    name: String,
    limits: Limits,
}

impl VirtioBlock {
    /// A device over `disk`, answering get-id with `id` (at most 20 bytes
    /// are used, 5.2.6); `name` names its thread.
    pub fn new(disk: DiskImage, id: &str, name: String) -> Self {
        let mut id = id.as_bytes().to_vec();
        id.truncate(VIRTIO_BLK_ID_BYTES as usize);
        let discard = !disk.readonly();
        Self {
            disk,
            id,
            name,
            limits: Limits {
                seg_max: SEG_MAX,
                size_max: SIZE_MAX,
                discard,
            },
        }
    }
}

impl VirtioDevice for VirtioBlock {
    fn device_type(&self) -> u16 {
        VIRTIO_ID_BLOCK as u16
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        let mut f =
            1 << VIRTIO_BLK_F_FLUSH | 1 << VIRTIO_BLK_F_SEG_MAX | 1 << VIRTIO_BLK_F_SIZE_MAX;
        if self.disk.readonly() {
            f |= 1 << VIRTIO_BLK_F_RO;
        }
        if self.limits.discard {
            f |= 1 << VIRTIO_BLK_F_DISCARD | 1 << VIRTIO_BLK_F_WRITE_ZEROES;
        }
        f
    }

    /// struct virtio_blk_config (5.2.4) up to the write-zeroes fields:
    /// capacity, size_max, seg_max, and the discard and write-zeroes limits
    /// when offered; the rest zero (their features are not offered).
    fn config_space(&self) -> Vec<u8> {
        use virtio_blk_config as C;
        let mut c = vec![0u8; offset_of!(C, max_secure_erase_sectors)];
        let mut put = |off: usize, b: &[u8]| c[off..off + b.len()].copy_from_slice(b);
        put(offset_of!(C, capacity), &self.disk.sectors().to_le_bytes());
        put(offset_of!(C, size_max), &self.limits.size_max.to_le_bytes());
        put(offset_of!(C, seg_max), &self.limits.seg_max.to_le_bytes());
        if self.limits.discard {
            let (sectors, seg) = (
                discard::MAX_SECTORS.to_le_bytes(),
                discard::MAX_SEG.to_le_bytes(),
            );
            put(offset_of!(C, max_discard_sectors), &sectors);
            put(offset_of!(C, max_discard_seg), &seg);
            put(
                offset_of!(C, discard_sector_alignment),
                &discard::SECTOR_ALIGNMENT.to_le_bytes(),
            );
            put(offset_of!(C, max_write_zeroes_sectors), &sectors);
            put(offset_of!(C, max_write_zeroes_seg), &seg);
            put(offset_of!(C, write_zeroes_may_unmap), &[1]);
        }
        c
    }

    fn activate(&mut self, _features: u64) {}

    fn process_queue(
        &mut self,
        _index: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> QueueOutcome {
        let mut used = false;
        let max = usize::from(queue.size());
        loop {
            let chain = match queue.iter(mem) {
                Ok(mut it) => it.next(),
                Err(e) => return QueueOutcome::NeedsReset(format!("available ring: {e}")),
            };
            let Some(chain) = chain else {
                return QueueOutcome::Done { used };
            };
            let head = chain.head_index();
            let bufs = match walk_chain(chain, max) {
                Ok(b) => b,
                Err(e) => return QueueOutcome::NeedsReset(format!("chain at {head}: {e}")),
            };
            let (status_addr, status, written) = match parse(&bufs, mem, self.limits) {
                Ok(req) => {
                    let (s, n) = execute(&req, &self.disk, mem, &self.id);
                    (req.status, s, n)
                }
                Err(ParseError::Fail(addr, s, why)) => {
                    log::debug!("virtio-blk {}: request at {head}: {why}", self.name);
                    (addr, s, 0)
                }
                Err(ParseError::NoStatus) => {
                    return QueueOutcome::NeedsReset(format!(
                        "request at {head} has no device-writable status byte in RAM"
                    ))
                }
            };
            if mem.write_obj(status, status_addr).is_err() {
                return QueueOutcome::NeedsReset("status byte not writable".into());
            }
            // 2.7.8: len counts the bytes written, the status byte included.
            if let Err(e) = queue.add_used(mem, head, written + 1) {
                return QueueOutcome::NeedsReset(format!("used ring: {e}"));
            }
            used = true;
        }
    }
}
