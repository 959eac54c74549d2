//! virtio-net on a tap device (virtio 1.2, 5.1): a receive and a transmit
//! queue (5.1.2), VIRTIO_NET_F_MAC (the configured address),
//! VIRTIO_NET_F_STATUS (link up) and VIRTIO_NET_F_MRG_RXBUF; no control
//! queue, no checksum or segmentation offloads, so every packet's header is
//! zero but for num_buffers.
//!
//! The device thread waits on the tap too (edge-triggered EPOLLIN and
//! EPOLLOUT, [`VirtioDevice::event_sources`]): a packet arriving serves the
//! receive queue, the tap becoming writable again serves the transmit
//! queue. [`rx`] and [`tx`] hold the two paths, [`tap`] opens the tap.

mod frame;
pub mod rx;
pub mod tap;
pub mod tx;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::mem::offset_of;
use std::os::fd::AsRawFd;

use virtio_bindings::virtio_ids::VIRTIO_ID_NET;
use virtio_bindings::virtio_net::{
    virtio_net_config, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS,
    VIRTIO_NET_S_LINK_UP,
};
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::epoll::EventSet;

pub use self::frame::{ETH_HLEN, HEADER_SIZE, MAX_FRAME_LEN, NUM_BUFFERS_OFFSET};
use self::rx::{Rx, RxStats};
use self::tx::{Tx, TxStats};
use super::device::{EventSource, QueueOutcome, VirtioDevice};

/// The receive queue's index (5.1.2: receiveq1).
pub const RX_QUEUE: usize = 0;
/// The transmit queue's index (5.1.2: transmitq1).
pub const TX_QUEUE: usize = 1;
/// Size of each queue.
pub const QUEUE_SIZE: u16 = 256;
/// The event source token of the tap.
const TAP_TOKEN: u32 = 0;

/// A virtio network device on a tap.
pub struct VirtioNet {
    tap: File,
    mac: [u8; 6],
    name: String,
    rx: Rx,
    tx: Tx,
}

/// A MAC address as `52:54:00:12:34:56`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl VirtioNet {
    /// A device on `tap` (an open, non-blocking tap with a 12-byte
    /// virtio-net header, see [`tap::open_tap`]) with address `mac`; `name`
    /// names its thread.
    pub fn new(tap: File, mac: [u8; 6], name: String) -> Self {
        Self {
            tap,
            mac,
            name,
            rx: Rx::new(),
            tx: Tx::default(),
        }
    }

    /// What the receive side did so far.
    pub fn rx_stats(&self) -> RxStats {
        self.rx.stats()
    }

    /// What the transmit side did so far.
    pub fn tx_stats(&self) -> TxStats {
        self.tx.stats()
    }
}

impl VirtioDevice for VirtioNet {
    fn device_type(&self) -> u16 {
        VIRTIO_ID_NET as u16
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE; 2]
    }

    fn features(&self) -> u64 {
        1 << VIRTIO_NET_F_MAC | 1 << VIRTIO_NET_F_STATUS | 1 << VIRTIO_NET_F_MRG_RXBUF
    }

    /// struct virtio_net_config (5.1.4) up to max_virtqueue_pairs: the MAC,
    /// the link status (always up) and one queue pair.
    fn config_space(&self) -> Vec<u8> {
        use virtio_net_config as C;
        let mut c = vec![0u8; offset_of!(C, mtu)];
        c[offset_of!(C, mac)..offset_of!(C, mac) + 6].copy_from_slice(&self.mac);
        let status = (VIRTIO_NET_S_LINK_UP as u16).to_le_bytes();
        c[offset_of!(C, status)..offset_of!(C, status) + 2].copy_from_slice(&status);
        let pairs = offset_of!(C, max_virtqueue_pairs);
        c[pairs..pairs + 2].copy_from_slice(&1u16.to_le_bytes());
        c
    }

    fn activate(&mut self, features: u64) {
        self.rx
            .activate(features & (1 << VIRTIO_NET_F_MRG_RXBUF) != 0);
    }

    fn process_queue(
        &mut self,
        index: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> QueueOutcome {
        match index {
            RX_QUEUE => self.rx.process(queue, mem, &self.tap),
            TX_QUEUE => self.tx.process(queue, mem, &self.tap),
            _ => QueueOutcome::NeedsReset(format!("virtio-net has no queue {index}")),
        }
    }

    fn reset(&mut self) {
        self.rx.reset();
        self.tx.reset();
    }

    fn event_sources(&self) -> Vec<EventSource> {
        vec![EventSource {
            fd: self.tap.as_raw_fd(),
            events: EventSet::IN | EventSet::OUT | EventSet::EDGE_TRIGGERED,
            token: TAP_TOKEN,
        }]
    }

    fn process_event(&mut self, token: u32, events: EventSet) -> Vec<usize> {
        if token != TAP_TOKEN {
            return Vec::new();
        }
        let mut queues = Vec::with_capacity(2);
        // An error or hang-up is seen (and logged) by the next read.
        if events.intersects(EventSet::IN | EventSet::ERROR | EventSet::HANG_UP) {
            queues.push(RX_QUEUE);
        }
        if events.contains(EventSet::OUT) && self.tx.waiting() > 0 {
            queues.push(TX_QUEUE);
        }
        queues
    }
}
