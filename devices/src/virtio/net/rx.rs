//! The receive queue (virtio 1.2, 5.1.6.3 and 5.1.6.4): packets read from
//! the tap go into the buffers the driver made available.
//!
//! Every available chain is taken off the ring at once and held until a
//! packet fills it (the device may keep buffers as long as it likes), so
//! the available ring never holds work the device is not doing and the
//! device thread never spins on it. A chain that cannot take a packet
//! (a device-readable buffer, a buffer outside RAM, shorter than the
//! header) is given back at once with length 0, which Linux counts as a
//! length error and recycles; a chain that breaks the ring's rules (a loop,
//! too long, a bad indirect table) stops the device (DEVICE_NEEDS_RESET).
//!
//! Each packet gets the 12-byte header with flags and gso_type zero (no
//! offloads are offered and the tap has them off) and num_buffers. With
//! VIRTIO_NET_F_MRG_RXBUF a packet spreads over as many chains as it needs,
//! each filled before the next, and their used entries appear to the driver
//! together; without it, a packet larger than the chain at hand is dropped
//! and the chain kept for the next one. A packet that waits for buffers
//! stays in the device (one at most); the tap holds the rest, and drops
//! what overflows its queue, as a busy NIC would.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read};

use virtio_bindings::virtio_net::{VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE};
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryMmap};

use super::frame::{ETH_HLEN, HEADER_SIZE, MAX_FRAME_LEN, NUM_BUFFERS_OFFSET};
use crate::virtio::device::QueueOutcome;
use crate::virtio::queue::{add_used_batch, walk_chain, Buffer};

/// A chain taken from the ring, not yet filled.
#[derive(Debug)]
struct RxChain {
    head: u16,
    bufs: Vec<Buffer>,
    capacity: u64,
}

/// Counts of what the receive side did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Packets placed in the driver's buffers.
    pub packets: u64,
    /// Packets dropped: larger than the buffers, or malformed from the tap.
    pub dropped: u64,
    /// Chains given back unused because they could not take a packet.
    pub bad_chains: u64,
}

/// The receive side.
pub struct Rx {
    mergeable: bool,
    chains: VecDeque<RxChain>,
    /// One packet as read from the tap: its header, then the frame.
    packet: Vec<u8>,
    /// The frame length of the packet in `packet` that waits for buffers.
    pending: Option<usize>,
    stats: RxStats,
}

impl Default for Rx {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the chain can take packets: its capacity if so.
fn check_chain(bufs: &[Buffer], mem: &GuestMemoryMmap) -> Result<u64, &'static str> {
    let mut capacity = 0u64;
    for b in bufs {
        if !b.writable {
            return Err("a device-readable buffer in a receive chain");
        }
        if !GuestMemoryBackend::check_range(mem, b.addr, b.len as usize) {
            return Err("a receive buffer outside guest RAM");
        }
        capacity += u64::from(b.len);
    }
    // 5.1.6.3.1: every buffer at least the size of the header.
    if capacity < HEADER_SIZE as u64 {
        return Err("a receive chain shorter than the virtio-net header");
    }
    Ok(capacity)
}

/// Writes `data` from its start into the buffers of `chain`, as much as
/// fits; the bytes written.
fn fill(chain: &RxChain, data: &[u8], mem: &GuestMemoryMmap) -> Result<usize, String> {
    let mut off = 0;
    for b in &chain.bufs {
        if off == data.len() {
            break;
        }
        let n = (b.len as usize).min(data.len() - off);
        mem.write_slice(&data[off..off + n], b.addr)
            .map_err(|e| format!("receive buffer at {:#x}: {e}", b.addr.0))?;
        off += n;
    }
    Ok(off)
}

enum Placement {
    Placed,
    /// Not enough buffers yet.
    Wait,
    Dropped,
}

impl Rx {
    /// An idle receive side.
    pub fn new() -> Self {
        Self {
            mergeable: false,
            chains: VecDeque::new(),
            packet: vec![0; HEADER_SIZE + MAX_FRAME_LEN + 1],
            pending: None,
            stats: RxStats::default(),
        }
    }

    /// DRIVER_OK with or without VIRTIO_NET_F_MRG_RXBUF.
    pub fn activate(&mut self, mergeable: bool) {
        self.mergeable = mergeable;
    }

    /// The device was reset: the chains belonged to the old queue, and the
    /// waiting packet is dropped (as a NIC drops what arrives while it is
    /// down).
    pub fn reset(&mut self) {
        self.chains.clear();
        if self.pending.take().is_some() {
            self.stats.dropped += 1;
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> RxStats {
        self.stats
    }

    /// Takes the available chains, then moves packets from `tap` into them
    /// until either runs out.
    pub fn process(
        &mut self,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
        tap: &File,
    ) -> QueueOutcome {
        let mut used = false;
        if let Err(why) = self.take_chains(queue, mem, &mut used) {
            return QueueOutcome::NeedsReset(why);
        }
        while !self.chains.is_empty() {
            let len = match self.pending {
                Some(len) => len,
                None => match self.read_packet(tap) {
                    Some(len) => len,
                    None => break,
                },
            };
            self.pending = Some(len);
            match self.place(len, queue, mem) {
                Ok(Placement::Placed) => {
                    self.pending = None;
                    self.stats.packets += 1;
                    used = true;
                }
                Ok(Placement::Dropped) => {
                    self.pending = None;
                    self.stats.dropped += 1;
                }
                Ok(Placement::Wait) => break,
                Err(why) => return QueueOutcome::NeedsReset(why),
            }
        }
        QueueOutcome::Done { used }
    }

    fn take_chains(
        &mut self,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
        used: &mut bool,
    ) -> Result<(), String> {
        let max = usize::from(queue.size());
        loop {
            let chain = match queue.iter(mem) {
                Ok(mut it) => it.next(),
                Err(e) => return Err(format!("available ring: {e}")),
            };
            let Some(chain) = chain else {
                return Ok(());
            };
            let head = chain.head_index();
            let bufs =
                walk_chain(chain, max).map_err(|e| format!("receive chain at {head}: {e}"))?;
            match check_chain(&bufs, mem) {
                Ok(capacity) => self.chains.push_back(RxChain {
                    head,
                    bufs,
                    capacity,
                }),
                Err(why) => {
                    crate::debug_limited!(
                        "virtio-net: receive chain at {head}: {why}; given back unused"
                    );
                    self.stats.bad_chains += 1;
                    add_used_batch(queue, mem, &[(head, 0)])
                        .map_err(|e| format!("used ring: {e}"))?;
                    *used = true;
                }
            }
        }
    }

    /// The next usable packet from the tap (its frame length), or None when
    /// the tap has nothing more now.
    fn read_packet(&mut self, tap: &File) -> Option<usize> {
        loop {
            let n = match (&*tap).read(&mut self.packet) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::warn_limited!("virtio-net: reading the tap: {e}");
                    return None;
                }
            };
            let why = if n < HEADER_SIZE + ETH_HLEN {
                Some("shorter than a header and an Ethernet header")
            } else if n > HEADER_SIZE + MAX_FRAME_LEN {
                Some("longer than the largest frame")
            } else if u32::from(self.packet[1]) != VIRTIO_NET_HDR_GSO_NONE {
                // Not with offloads off; the guest was offered none.
                Some("a segmentation offload")
            } else if u32::from(self.packet[0]) & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
                Some("a partial checksum")
            } else {
                None
            };
            match why {
                None => return Some(n - HEADER_SIZE),
                Some(why) => {
                    crate::warn_limited!(
                        "virtio-net: dropped a {n}-byte packet from the tap: {why}"
                    );
                    self.stats.dropped += 1;
                }
            }
        }
    }

    /// Puts the packet in `self.packet` (frame of `len` bytes) into chains.
    fn place(
        &mut self,
        len: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> Result<Placement, String> {
        let need = (HEADER_SIZE + len) as u64;
        // How many chains the packet takes.
        let mut count = 0;
        let mut capacity = 0u64;
        for c in &self.chains {
            count += 1;
            capacity += c.capacity;
            if capacity >= need || !self.mergeable {
                break;
            }
        }
        if capacity < need {
            // Without merging, the chain at hand is what the packet gets; with
            // it, wait for more unless the driver cannot give more (every
            // entry of the ring is here already).
            if !self.mergeable || self.chains.len() >= usize::from(queue.size()) {
                crate::debug_limited!(
                    "virtio-net: dropped a {len}-byte frame: {capacity} bytes of receive buffers"
                );
                return Ok(Placement::Dropped);
            }
            return Ok(Placement::Wait);
        }
        // The header the driver sees: all zero (no offloads) but
        // num_buffers (5.1.6.4: 1 without MRG_RXBUF).
        let data = &mut self.packet[..HEADER_SIZE + len];
        data[..HEADER_SIZE].fill(0);
        data[NUM_BUFFERS_OFFSET..NUM_BUFFERS_OFFSET + 2]
            .copy_from_slice(&(count as u16).to_le_bytes());
        let mut entries = Vec::with_capacity(count);
        let mut off = 0;
        for c in self.chains.iter().take(count) {
            let n = fill(c, &data[off..], mem)?;
            off += n;
            entries.push((c.head, n as u32));
        }
        if off != data.len() {
            return Err(format!("packet of {} bytes only partly placed", data.len()));
        }
        self.chains.drain(..count);
        add_used_batch(queue, mem, &entries).map_err(|e| format!("used ring: {e}"))?;
        Ok(Placement::Placed)
    }
}
