//! Virtqueue helpers on the rust-vmm `virtio-queue` crate (virtio 1.2, 2.7
//! split virtqueues).
//!
//! [`build_queue`] turns the registers a driver programmed into a
//! [`Queue`] and refuses sizes that are not powers of two up to the maximum,
//! misaligned rings and rings outside guest RAM (2.7.1, 2.7.2).
//! [`walk_chain`] lists the buffers of a descriptor chain and refuses what
//! the `virtio-queue` iterator only stops at: loops and chains longer than
//! allowed (2.7.5.3.1), a next or indirect descriptor that cannot be read,
//! nested indirect tables (2.7.5.3.1), and device-readable buffers after
//! device-writable ones (2.7.4.2).
//! [`add_used_batch`] publishes several used entries with one store of the
//! used index (the buffers of one merged packet, 5.1.6.4), and
//! [`needs_interrupt`] decides on the used-buffer notification for every
//! entry added since a given index (2.7.10, EVENT_IDX).

use std::ops::Deref;
use std::sync::atomic::{fence, Ordering};

use thiserror::Error;
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

use super::common_cfg::QueueRegs;

/// Why a queue cannot go live.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum QueueSetupError {
    /// Not a power of two, zero, or above the maximum (2.7).
    #[error("queue size {size} (maximum {max}, a power of two)")]
    Size {
        /// What the driver wrote.
        size: u16,
        /// The maximum.
        max: u16,
    },
    /// A ring is misaligned (2.7: 16, 2 and 4 bytes).
    #[error("misaligned {0}")]
    Alignment(&'static str),
    /// A ring lies (partly) outside guest RAM.
    #[error("rings outside guest RAM (desc {desc:#x}, avail {avail:#x}, used {used:#x})")]
    OutsideRam {
        /// Descriptor table.
        desc: u64,
        /// Available ring.
        avail: u64,
        /// Used ring.
        used: u64,
    },
}

/// The live queue for these registers, with EVENT_IDX as negotiated.
pub fn build_queue(
    regs: &QueueRegs,
    event_idx: bool,
    mem: &GuestMemoryMmap,
) -> Result<Queue, QueueSetupError> {
    let size_err = QueueSetupError::Size {
        size: regs.size,
        max: regs.max_size,
    };
    let mut q = <Queue as QueueT>::new(regs.max_size).map_err(|_| size_err.clone())?;
    q.try_set_size(regs.size).map_err(|_| size_err)?;
    q.try_set_desc_table_address(GuestAddress(regs.desc))
        .map_err(|_| QueueSetupError::Alignment("descriptor table"))?;
    q.try_set_avail_ring_address(GuestAddress(regs.driver))
        .map_err(|_| QueueSetupError::Alignment("available ring"))?;
    q.try_set_used_ring_address(GuestAddress(regs.device))
        .map_err(|_| QueueSetupError::Alignment("used ring"))?;
    q.set_event_idx(event_idx);
    q.set_ready(true);
    if !q.is_valid(mem) {
        return Err(QueueSetupError::OutsideRam {
            desc: regs.desc,
            avail: regs.driver,
            used: regs.device,
        });
    }
    Ok(q)
}

/// One buffer of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Guest physical address.
    pub addr: GuestAddress,
    /// Length in bytes.
    pub len: u32,
    /// Device-writable (VIRTQ_DESC_F_WRITE).
    pub writable: bool,
}

/// Why a chain is unusable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChainError {
    /// The head names no descriptor, or the chain yields none (bad head
    /// index, an indirect table that is unreadable, misaligned, or nests).
    #[error("descriptor chain with no usable descriptor")]
    Empty,
    /// The chain ends on a descriptor that still has NEXT: a loop, a chain
    /// longer than the table, a next index past it, an unreadable
    /// descriptor or more than 4 GiB in total.
    #[error("descriptor chain cut short (loop, bad next, or over 4 GiB)")]
    Truncated,
    /// More descriptors than the queue allows.
    #[error("descriptor chain longer than {0}")]
    TooLong(usize),
    /// A device-readable buffer follows a device-writable one.
    #[error("readable descriptor after a writable one")]
    Order,
}

/// The buffers of `chain`, at most `max` of them.
pub fn walk_chain<M>(chain: DescriptorChain<M>, max: usize) -> Result<Vec<Buffer>, ChainError>
where
    M: Deref,
    M::Target: GuestMemory,
{
    let mut out: Vec<Buffer> = Vec::new();
    let mut last_has_next = false;
    for d in chain {
        if out.len() == max {
            return Err(ChainError::TooLong(max));
        }
        let b = Buffer {
            addr: d.addr(),
            len: d.len(),
            writable: d.is_write_only(),
        };
        if !b.writable && out.last().is_some_and(|p| p.writable) {
            return Err(ChainError::Order);
        }
        last_has_next = d.has_next();
        out.push(b);
    }
    if out.is_empty() {
        return Err(ChainError::Empty);
    }
    if last_has_next {
        return Err(ChainError::Truncated);
    }
    Ok(out)
}

/// Size of the used ring's header (flags, idx; 2.7.8).
const USED_RING_HEADER: u64 = 4;
/// Size of one used ring element (id, len; 2.7.8).
const USED_ELEMENT: u64 = 8;
/// Size of the available ring's header (flags, idx; 2.7.6).
const AVAIL_RING_HEADER: u64 = 4;

/// Why the used ring could not be written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UsedError {
    /// A head index the queue cannot have.
    #[error("descriptor index {0} out of range")]
    Index(u16),
    /// The ring is not in guest RAM (checked at DRIVER_OK, so not expected).
    #[error("used ring not writable")]
    Memory,
}

/// Adds `entries` (head index, bytes written) to the used ring in order and
/// then makes them all visible with one store of the used index, so the
/// driver never sees part of them (the buffers of one merged receive
/// packet, which Linux reads as a unit).
pub fn add_used_batch(
    queue: &mut Queue,
    mem: &GuestMemoryMmap,
    entries: &[(u16, u32)],
) -> Result<(), UsedError> {
    let size = queue.size();
    if size == 0 {
        return Err(UsedError::Memory);
    }
    let base = queue.used_ring();
    let first = queue.next_used();
    for (k, &(head, len)) in entries.iter().enumerate() {
        if head >= size {
            return Err(UsedError::Index(head));
        }
        let slot = u64::from(first.wrapping_add(k as u16) % size);
        let addr = base
            .checked_add(USED_RING_HEADER + slot * USED_ELEMENT)
            .ok_or(UsedError::Memory)?;
        // struct virtq_used_elem: le32 id, le32 len.
        let mut elem = [0u8; USED_ELEMENT as usize];
        elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        mem.write_slice(&elem, GuestAddress(addr))
            .map_err(|_| UsedError::Memory)?;
    }
    let next = first.wrapping_add(entries.len() as u16);
    let idx = base.checked_add(2).ok_or(UsedError::Memory)?;
    // The elements before the index (2.7.8.2: the driver reads them after
    // it reads the index).
    mem.store(next.to_le(), GuestAddress(idx), Ordering::Release)
        .map_err(|_| UsedError::Memory)?;
    queue.set_next_used(next);
    Ok(())
}

/// Whether the driver wants an interrupt for the used entries added since
/// the used index was `old` (2.7.10): always without EVENT_IDX, otherwise
/// when its used_event lies in [old, next_used).
pub fn needs_interrupt(queue: &Queue, mem: &GuestMemoryMmap, old: u16) -> Result<bool, UsedError> {
    // The used entries are written before the driver's used_event is read.
    fence(Ordering::SeqCst);
    if !queue.event_idx_enabled() {
        return Ok(true);
    }
    // used_event follows the available ring's `size` entries.
    let at = queue
        .avail_ring()
        .checked_add(AVAIL_RING_HEADER + 2 * u64::from(queue.size()))
        .ok_or(UsedError::Memory)?;
    let event = u16::from_le(
        mem.load::<u16>(GuestAddress(at), Ordering::Acquire)
            .map_err(|_| UsedError::Memory)?,
    );
    let new = queue.next_used();
    Ok(new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtio_bindings::virtio_ring::{
        VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
    };
    use virtio_queue::desc::{split::Descriptor, RawDescriptor};
    use virtio_queue::mock::MockSplitQueue;
    use virtio_queue::QueueOwnedT;
    use vm_memory::Bytes;

    const NEXT: u16 = VRING_DESC_F_NEXT as u16;
    const WRITE: u16 = VRING_DESC_F_WRITE as u16;
    const INDIRECT: u16 = VRING_DESC_F_INDIRECT as u16;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()
    }

    fn d(addr: u64, len: u32, flags: u16, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags, next))
    }

    /// Walks the first chain of a queue holding `descs` from index 0.
    fn walk(
        m: &GuestMemoryMmap,
        descs: &[RawDescriptor],
        max: usize,
    ) -> Result<Vec<Buffer>, ChainError> {
        let vq = MockSplitQueue::new(m, 16);
        vq.add_desc_chains(descs, 0).unwrap();
        let mut q: Queue = vq.create_queue().unwrap();
        let chain = q.iter(m).unwrap().next().unwrap();
        walk_chain(chain, max)
    }

    #[test]
    fn good_chain() {
        let m = mem();
        let b = walk(
            &m,
            &[
                d(0x1000, 16, NEXT, 1),
                d(0x2000, 512, NEXT | WRITE, 2),
                d(0x3000, 1, WRITE, 0),
            ],
            16,
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b[0].writable, b[1].len, b[2].addr),
            (false, 512, GuestAddress(0x3000))
        );
    }

    #[test]
    fn loops_and_lengths() {
        let m = mem();
        // 0 -> 1 -> 0 ...
        let r = walk(&m, &[d(0x1000, 16, NEXT, 1), d(0x2000, 16, NEXT, 0)], 64);
        assert_eq!(r, Err(ChainError::Truncated));
        // Next index past the table.
        let r = walk(&m, &[d(0x1000, 16, NEXT, 99)], 64);
        assert_eq!(r, Err(ChainError::Truncated));
        // Longer than the limit.
        let r = walk(
            &m,
            &[
                d(0x1000, 16, NEXT, 1),
                d(0x1000, 16, NEXT, 2),
                d(0x1000, 16, 0, 0),
            ],
            2,
        );
        assert_eq!(r, Err(ChainError::TooLong(2)));
        // Readable after writable.
        let r = walk(
            &m,
            &[d(0x1000, 16, NEXT | WRITE, 1), d(0x2000, 16, 0, 0)],
            64,
        );
        assert_eq!(r, Err(ChainError::Order));
        // Over 4 GiB in total.
        let r = walk(&m, &[d(0x1000, u32::MAX, NEXT, 1), d(0x2000, 16, 0, 0)], 64);
        assert_eq!(r, Err(ChainError::Truncated));
    }

    #[test]
    fn indirect_abuse() {
        let m = mem();
        // An indirect table of two good descriptors works.
        m.write_obj(d(0x5000, 16, NEXT, 1), GuestAddress(0x8000))
            .unwrap();
        m.write_obj(d(0x6000, 1, WRITE, 0), GuestAddress(0x8010))
            .unwrap();
        let b = walk(&m, &[d(0x8000, 32, INDIRECT, 0)], 64).unwrap();
        assert_eq!(b.len(), 2);
        // A table whose length is not a multiple of 16.
        assert_eq!(
            walk(&m, &[d(0x8000, 24, INDIRECT, 0)], 64),
            Err(ChainError::Empty)
        );
        // A table outside RAM.
        assert_eq!(
            walk(&m, &[d(0x4000_0000, 32, INDIRECT, 0)], 64),
            Err(ChainError::Empty)
        );
        // Nested indirect.
        m.write_obj(d(0x8000, 32, INDIRECT, 0), GuestAddress(0x9000))
            .unwrap();
        assert_eq!(
            walk(&m, &[d(0x9000, 16, INDIRECT, 0)], 64),
            Err(ChainError::Empty)
        );
        // A loop inside an indirect table.
        m.write_obj(d(0x5000, 16, NEXT, 1), GuestAddress(0xa000))
            .unwrap();
        m.write_obj(d(0x6000, 16, NEXT, 0), GuestAddress(0xa010))
            .unwrap();
        assert_eq!(
            walk(&m, &[d(0xa000, 32, INDIRECT, 0)], 64),
            Err(ChainError::Truncated)
        );
        // A long indirect table is cut at the limit.
        for i in 0..100u16 {
            let flags = if i == 99 { 0 } else { NEXT };
            let at = GuestAddress(0xb000 + 16 * u64::from(i));
            m.write_obj(d(0x5000, 16, flags, i + 1), at).unwrap();
        }
        assert_eq!(
            walk(&m, &[d(0xb000, 1600, INDIRECT, 0)], 64),
            Err(ChainError::TooLong(64))
        );
        assert_eq!(
            walk(&m, &[d(0xb000, 1600, INDIRECT, 0)], 128)
                .unwrap()
                .len(),
            100
        );
    }

    #[test]
    fn used_entries_published_together() {
        let m = mem();
        let vq = MockSplitQueue::new(&m, 16);
        let mut q: Queue = vq.create_queue().unwrap();
        add_used_batch(&mut q, &m, &[(3, 100), (7, 200), (1, 5)]).unwrap();
        assert_eq!(vq.used().idx().load(), 3);
        assert_eq!(q.next_used(), 3);
        let e = |i| {
            let e = vq.used().ring().ref_at(i).unwrap().load();
            (e.id(), e.len())
        };
        assert_eq!((e(0), e(1), e(2)), ((3, 100), (7, 200), (1, 5)));
        // A head the queue cannot have: refused, nothing published.
        assert_eq!(
            add_used_batch(&mut q, &m, &[(2, 1), (16, 1)]),
            Err(UsedError::Index(16))
        );
        assert_eq!((vq.used().idx().load(), q.next_used()), (3, 3));
        // The ring wraps: 16 more from index 3 land in slots 3..16 and 0..3.
        let many: Vec<(u16, u32)> = (0..16).map(|i| (i, u32::from(i) + 1000)).collect();
        add_used_batch(&mut q, &m, &many).unwrap();
        assert_eq!((vq.used().idx().load(), q.next_used()), (19, 19));
        assert_eq!((e(2), e(3)), ((15, 1015), (0, 1000)));
    }

    #[test]
    fn interrupt_decision_follows_used_event() {
        let m = mem();
        let vq = MockSplitQueue::new(&m, 16);
        let mut q: Queue = vq.create_queue().unwrap();
        // Without EVENT_IDX: always.
        assert_eq!(needs_interrupt(&q, &m, 0), Ok(true));
        q.set_event_idx(true);
        let used_event = GuestAddress(vq.avail_addr().0 + 4 + 2 * 16);
        add_used_batch(&mut q, &m, &[(0, 1), (1, 1), (2, 1)]).unwrap();
        // used_event 1 lies in [0, 3): interrupt; 3 (the next one) or
        // later does not.
        for (event, want) in [(0u16, true), (1, true), (2, true), (3, false), (9, false)] {
            m.write_obj(event.to_le(), used_event).unwrap();
            assert_eq!(needs_interrupt(&q, &m, 0), Ok(want), "used_event {event}");
        }
        // Only entries since `old` count.
        m.write_obj(1u16.to_le(), used_event).unwrap();
        assert_eq!(needs_interrupt(&q, &m, 2), Ok(false));
        // Across the 16-bit wrap.
        q.set_next_used(0xfffe);
        add_used_batch(&mut q, &m, &[(0, 1), (1, 1), (2, 1)]).unwrap();
        assert_eq!(q.next_used(), 1);
        m.write_obj(0xffffu16.to_le(), used_event).unwrap();
        assert_eq!(needs_interrupt(&q, &m, 0xfffe), Ok(true));
        m.write_obj(1u16.to_le(), used_event).unwrap();
        assert_eq!(needs_interrupt(&q, &m, 0xfffe), Ok(false));
    }

    #[test]
    fn queue_setup_checks() {
        let m = mem();
        let mut regs = QueueRegs {
            max_size: 256,
            size: 128,
            msix_vector: 0,
            enabled: true,
            desc: 0x1000,
            driver: 0x2000,
            device: 0x3000,
        };
        assert!(build_queue(&regs, true, &m).is_ok());
        for size in [0, 100, 512] {
            let r = QueueRegs {
                size,
                ..regs.clone()
            };
            assert!(matches!(
                build_queue(&r, false, &m),
                Err(QueueSetupError::Size { .. })
            ));
        }
        regs.desc = 0x1008;
        assert_eq!(
            build_queue(&regs, false, &m).unwrap_err(),
            QueueSetupError::Alignment("descriptor table")
        );
        regs.desc = 0x1000;
        regs.device = 0x3002;
        assert!(build_queue(&regs, false, &m).is_err());
        regs.device = 0x10_0000 - 8;
        assert!(matches!(
            build_queue(&regs, false, &m),
            Err(QueueSetupError::OutsideRam { .. })
        ));
    }
}
