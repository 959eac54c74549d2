//! What a virtio device model provides to the transport (virtio 1.2, 2).
//!
//! The transport owns the registers a driver sees; the model owns what its
//! queues carry. The model's static properties (type, features, queue
//! sizes, configuration bytes) are read once when the transport is built;
//! afterwards the model lives on the device thread and only sees
//! [`VirtioDevice::activate`], [`VirtioDevice::process_queue`],
//! [`VirtioDevice::process_event`] and [`VirtioDevice::reset`].
//!
//! A model whose work also arrives from the host side (virtio-net: packets
//! on a tap) names the descriptors the thread must wait on besides the
//! queues' notification eventfds ([`VirtioDevice::event_sources`]); when one
//! is ready the thread asks the model which queues can now make progress
//! and serves those, so interrupts, notification suppression and
//! DEVICE_NEEDS_RESET stay in one place.
//!
//! A device whose queues a process outside cxlvmm serves (vhost-user) gives
//! the device thread a [`QueueBackend`] instead: the thread then hands the
//! queues over at DRIVER_OK, relays the backend's "used" signals to MSI-X,
//! and watches for the backend going away.

use std::os::fd::RawFd;

use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

/// How processing a queue ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueOutcome {
    /// Every available chain was served; `used` tells whether any entry was
    /// added to the used ring (so the driver may need an interrupt).
    Done {
        /// At least one used entry was added.
        used: bool,
    },
    /// The driver broke the queue (a loop, a chain too long, a descriptor
    /// outside RAM, an avail index too far ahead, a request with nowhere to
    /// put its status): the device stops and sets DEVICE_NEEDS_RESET (2.1.2).
    NeedsReset(String),
}

/// A descriptor the device thread waits on for the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSource {
    /// The descriptor (owned by the model, open as long as it lives).
    pub fd: RawFd,
    /// What to wait for (epoll events; EDGE_TRIGGERED for a descriptor that
    /// stays ready while the model cannot act on it, such as a writable tap).
    pub events: EventSet,
    /// Passed back to [`VirtioDevice::process_event`].
    pub token: u32,
}

/// A virtio device model.
pub trait VirtioDevice: Send + 'static {
    /// The virtio device ID (5: 2 for block).
    fn device_type(&self) -> u16;
    /// Short name for threads and logs.
    fn name(&self) -> String;
    /// The maximum size of each queue (powers of two).
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// Device-specific feature bits offered (the transport adds the
    /// reserved ones it implements, VIRTIO_F_VERSION_1 among them).
    fn features(&self) -> u64;
    /// The device configuration space (read-only for the driver).
    fn config_space(&self) -> Vec<u8>;
    /// The driver set DRIVER_OK with these features accepted.
    fn activate(&mut self, features: u64);
    /// Serves the available chains of queue `index`.
    fn process_queue(
        &mut self,
        index: usize,
        queue: &mut Queue,
        mem: &GuestMemoryMmap,
    ) -> QueueOutcome;
    /// The device was reset (2.4): forget negotiated state.
    fn reset(&mut self) {}
    /// Descriptors the device thread waits on besides the queues'
    /// notification eventfds; asked once, when the thread starts.
    fn event_sources(&self) -> Vec<EventSource> {
        Vec::new()
    }
    /// Source `token` reported `events`: the indexes of the queues that can
    /// make progress now, which the thread then serves (a queue that is not
    /// live is skipped).
    fn process_event(&mut self, _token: u32, _events: EventSet) -> Vec<usize> {
        Vec::new()
    }
    /// The ring features the transport offers besides [`Self::features`]
    /// (6: VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX). A device
    /// whose queues a backend serves offers only those the backend handles.
    fn ring_features(&self) -> u64 {
        1 << VIRTIO_RING_F_INDIRECT_DESC | 1 << VIRTIO_RING_F_EVENT_IDX
    }
    /// The backend that serves this device's queues, if not the device
    /// thread itself ([`Self::process_queue`] is then never called).
    fn queue_backend(&mut self) -> Option<&mut dyn QueueBackend> {
        None
    }
}

/// A live queue as the driver laid it out (4.1.4.3), for a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    /// Queue index.
    pub index: usize,
    /// queue_size.
    pub size: u16,
    /// The device's maximum size for it.
    pub max_size: u16,
    /// queue_desc (guest physical).
    pub desc: u64,
    /// queue_driver: the available ring.
    pub avail: u64,
    /// queue_device: the used ring.
    pub used: u64,
}

/// Queues served outside the device thread (a vhost-user backend): the
/// backend reads the queues' notification eventfds itself and signals one
/// eventfd per queue when it used buffers; the device thread raises the
/// queue's MSI-X vector for it and never reads the notifications.
pub trait QueueBackend: Send {
    /// The eventfds the backend signals, by queue index (every queue).
    fn call_events(&self) -> &[EventFd];
    /// A descriptor that turns readable or hangs up only when the backend
    /// goes away or breaks the protocol (the device thread watches it).
    fn watch_fd(&self) -> Option<RawFd>;
    /// DRIVER_OK: hands `queues` over with the negotiated `features`;
    /// `kicks` are the notification eventfds by queue index. An error is
    /// the reason the device needs a reset.
    fn start(
        &mut self,
        features: u64,
        queues: &[QueueLayout],
        kicks: &[EventFd],
        mem: &GuestMemoryMmap,
    ) -> Result<(), String>;
    /// Reset: takes the started queues back (a backend that is gone has
    /// nothing to give back).
    fn stop(&mut self);
    /// The watched descriptor fired: the backend is gone. Says why.
    fn lost(&mut self) -> String;
    /// Something another thread can call at VMM exit so that an exchange
    /// with the backend still waiting fails at once.
    fn unblocker(&self) -> Option<Box<dyn Fn() + Send + Sync>>;
}
