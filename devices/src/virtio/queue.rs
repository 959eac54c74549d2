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

use std::ops::Deref;

use thiserror::Error;
use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryMmap};

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
