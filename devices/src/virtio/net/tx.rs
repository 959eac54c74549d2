//! The transmit queue (virtio 1.2, 5.1.6.2): each chain is one packet, the
//! 12-byte header then the frame, written to the tap as one packet.
//!
//! The header handed to the tap is all zero whatever the driver wrote: no
//! checksum or segmentation offload was offered, so there is nothing in it
//! for the host to act on, and a driver cannot make the host kernel do what
//! was not negotiated. A packet the driver got wrong (a device-writable
//! buffer, shorter than the header plus an Ethernet header, longer than the
//! largest frame, a buffer outside RAM) is dropped and its chain given back
//! with length 0; a chain that breaks the ring's rules stops the device
//! (DEVICE_NEEDS_RESET).
//!
//! Every available chain is taken off the ring at once. When the tap cannot
//! take a packet now (EAGAIN: its socket buffer is full), the packet and
//! those behind it wait in the device and go when the tap reports it is
//! writable again (EPOLLOUT); the driver sees its buffers used only once
//! they are sent, which stops its queue as a full NIC ring would. Any
//! other write error (the tap's link is down, the interface was deleted)
//! drops the packet, as a NIC with no link does.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Write};

use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestMemoryMmap};

use super::frame::{ETH_HLEN, HEADER_SIZE, MAX_FRAME_LEN};
use crate::virtio::device::QueueOutcome;
use crate::virtio::queue::{add_used_batch, walk_chain, Buffer};

/// Writes one packet, again if a signal interrupted the write.
fn write_packet(tap: &File, packet: &[u8]) -> std::io::Result<()> {
    loop {
        match (&*tap).write(packet) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => return r.map(|_| ()),
        }
    }
}

/// Counts of what the transmit side did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Packets written to the tap.
    pub packets: u64,
    /// Packets dropped: malformed, or refused by the tap.
    pub dropped: u64,
    /// Times the tap was full and packets waited.
    pub blocked: u64,
}

/// The transmit side.
#[derive(Default)]
pub struct Tx {
    chains: VecDeque<(u16, Vec<Buffer>)>,
    packet: Vec<u8>,
    stats: TxStats,
}

impl Tx {
    /// The device was reset: chains of the old queue are forgotten.
    pub fn reset(&mut self) {
        self.chains.clear();
    }

    /// Counts so far.
    pub fn stats(&self) -> TxStats {
        self.stats
    }

    /// Packets waiting for the tap.
    pub fn waiting(&self) -> usize {
        self.chains.len()
    }

    /// Takes the available chains and writes their packets to `tap` until
    /// none is left or the tap is full.
    pub fn process(
        &mut self,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
        tap: &File,
    ) -> QueueOutcome {
        let max = usize::from(queue.size());
        loop {
            let chain = match queue.iter(mem) {
                Ok(mut it) => it.next(),
                Err(e) => return QueueOutcome::NeedsReset(format!("available ring: {e}")),
            };
            let Some(chain) = chain else {
                break;
            };
            let head = chain.head_index();
            match walk_chain(chain, max) {
                Ok(bufs) => self.chains.push_back((head, bufs)),
                Err(e) => {
                    return QueueOutcome::NeedsReset(format!("transmit chain at {head}: {e}"))
                }
            }
        }
        let mut done = Vec::new();
        while let Some((head, bufs)) = self.chains.pop_front() {
            match self.gather(&bufs, mem) {
                Ok(n) => match write_packet(tap, &self.packet[..n]) {
                    Ok(()) => self.stats.packets += 1,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        self.chains.push_front((head, bufs));
                        self.stats.blocked += 1;
                        break;
                    }
                    Err(e) => {
                        crate::warn_limited!("virtio-net: dropped a packet the tap refused: {e}");
                        self.stats.dropped += 1;
                    }
                },
                Err(why) => {
                    crate::debug_limited!("virtio-net: transmit chain at {head}: {why}; dropped");
                    self.stats.dropped += 1;
                }
            }
            // 2.7.8: the device wrote nothing into a transmit buffer.
            done.push((head, 0));
        }
        if done.is_empty() {
            return QueueOutcome::Done { used: false };
        }
        match add_used_batch(queue, mem, &done) {
            Ok(()) => QueueOutcome::Done { used: true },
            Err(e) => QueueOutcome::NeedsReset(format!("used ring: {e}")),
        }
    }

    /// Copies the packet of `bufs` into `self.packet` with a zero header;
    /// its length.
    fn gather(&mut self, bufs: &[Buffer], mem: &GuestMemoryMmap) -> Result<usize, &'static str> {
        if bufs.iter().any(|b| b.writable) {
            return Err("a device-writable buffer in a transmit chain");
        }
        let total: u64 = bufs.iter().map(|b| u64::from(b.len)).sum();
        if total < (HEADER_SIZE + ETH_HLEN) as u64 {
            return Err("shorter than the virtio-net header and an Ethernet header");
        }
        if total > (HEADER_SIZE + MAX_FRAME_LEN) as u64 {
            return Err("longer than the largest frame");
        }
        let total = total as usize;
        self.packet.resize(total, 0);
        let mut off = 0;
        for b in bufs {
            let n = b.len as usize;
            mem.read_slice(&mut self.packet[off..off + n], b.addr)
                .map_err(|_| "a transmit buffer outside guest RAM")?;
            off += n;
        }
        self.packet[..HEADER_SIZE].fill(0);
        Ok(total)
    }
}
