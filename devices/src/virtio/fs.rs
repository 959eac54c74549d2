//! virtio-fs (virtio 1.2, 5.11), its queues served by a vhost-user backend
//! (virtiofsd) through [`super::vhost_user`].
//!
//! Device ID 26; queue 0 is the high-priority queue, queues 1..=N the
//! request queues (5.11.2); the configuration is the tag the guest mounts
//! by and the number of request queues (5.11.4). No device feature bits are
//! offered (VIRTIO_FS_F_NOTIFICATION needs a notification queue virtiofsd
//! does not serve); of the ring features only those the backend offers.

use std::os::fd::RawFd;

use virtio_bindings::virtio_ids::VIRTIO_ID_FS;
use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

use super::device::{QueueBackend, QueueLayout, QueueOutcome, VirtioDevice};
use super::vhost_user::{memory_table, VhostUserConnection};

/// tag: the name the guest mounts (5.11.4: u8 tag[36], UTF-8, NUL-padded
/// when shorter).
pub const TAG_LEN: usize = 36;
/// Offset of num_request_queues (5.11.4: le32).
pub const NUM_REQUEST_QUEUES_OFFSET: usize = TAG_LEN;
/// Size of struct virtio_fs_config.
pub const CONFIG_LEN: usize = TAG_LEN + 4;
/// Request queues served (virtiofsd serves one).
pub const REQUEST_QUEUES: usize = 1;
/// Default size of each queue.
pub const DEFAULT_QUEUE_SIZE: u16 = 1024;
/// Largest queue size (2.7: 32768 for split queues).
pub const MAX_QUEUE_SIZE: u16 = 32768;

/// Checks a tag: 1 to 36 bytes, no NUL.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > TAG_LEN {
        return Err(format!(
            "tag '{tag}' must be 1 to {TAG_LEN} bytes (it is {})",
            tag.len()
        ));
    }
    if tag.contains('\0') {
        return Err("a tag cannot contain NUL".into());
    }
    Ok(())
}

/// Checks a queue size: a power of two from 2 to 32768.
pub fn check_queue_size(n: u16) -> Result<(), String> {
    if n < 2 || !n.is_power_of_two() {
        return Err(format!(
            "queue size {n}: a power of two from 2 to {MAX_QUEUE_SIZE}"
        ));
    }
    Ok(())
}

/// A virtio-fs device on a vhost-user backend.
pub struct VirtioFs {
    tag: String,
    queue_size: u16,
    name: String,
    backend: VhostUserConnection,
}

impl VirtioFs {
    /// A device mounted as `tag` whose queues (of `queue_size`) `backend`
    /// serves; `mem` (guest RAM) must be shared memory the backend can map.
    /// `name` names its thread.
    pub fn new(
        tag: &str,
        queue_size: u16,
        backend: VhostUserConnection,
        mem: &GuestMemoryMmap,
        name: String,
    ) -> Result<Self, String> {
        check_tag(tag)?;
        check_queue_size(queue_size)?;
        memory_table(mem)?;
        Ok(Self {
            tag: tag.to_string(),
            queue_size,
            name,
            backend,
        })
    }

    /// Queues the device has: the high-priority one and the request queues.
    pub fn queue_count() -> usize {
        1 + REQUEST_QUEUES
    }
}

impl VirtioDevice for VirtioFs {
    fn device_type(&self) -> u16 {
        VIRTIO_ID_FS as u16
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![self.queue_size; Self::queue_count()]
    }

    fn features(&self) -> u64 {
        0
    }

    fn ring_features(&self) -> u64 {
        let ring = 1 << VIRTIO_RING_F_INDIRECT_DESC | 1 << VIRTIO_RING_F_EVENT_IDX;
        self.backend.features() & ring
    }

    /// struct virtio_fs_config (5.11.4).
    fn config_space(&self) -> Vec<u8> {
        let mut c = vec![0u8; CONFIG_LEN];
        c[..self.tag.len()].copy_from_slice(self.tag.as_bytes());
        c[NUM_REQUEST_QUEUES_OFFSET..].copy_from_slice(&(REQUEST_QUEUES as u32).to_le_bytes());
        c
    }

    fn activate(&mut self, _features: u64) {}

    /// Never called: the backend serves the queues.
    fn process_queue(
        &mut self,
        _index: usize,
        _queue: &mut Queue,
        _mem: &GuestMemoryMmap,
    ) -> QueueOutcome {
        QueueOutcome::Done { used: false }
    }

    fn queue_backend(&mut self) -> Option<&mut dyn QueueBackend> {
        Some(self)
    }
}

impl QueueBackend for VirtioFs {
    fn call_events(&self) -> &[EventFd] {
        self.backend.call_events()
    }

    fn watch_fd(&self) -> Option<RawFd> {
        Some(self.backend.socket_fd())
    }

    fn start(
        &mut self,
        features: u64,
        queues: &[QueueLayout],
        kicks: &[EventFd],
        mem: &GuestMemoryMmap,
    ) -> Result<(), String> {
        self.backend.start(features, queues, kicks, mem)
    }

    fn stop(&mut self) {
        self.backend.stop();
    }

    fn lost(&mut self) -> String {
        self.backend.mark_gone();
        format!(
            "virtio-fs '{}': the vhost-user backend at '{}' closed the connection",
            self.tag,
            self.backend.path().display()
        )
    }

    fn unblocker(&self) -> Option<Box<dyn Fn() + Send + Sync>> {
        self.backend
            .unblocker()
            .map_err(|e| log::warn!("virtio-fs '{}': {e}", self.tag))
            .ok()
    }
}
