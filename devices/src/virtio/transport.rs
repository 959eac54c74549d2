//! The virtio PCI transport, modern only (virtio 1.2, 4.1).
//!
//! One PCI function per device: vendor 0x1af4, device 0x1040 + type,
//! revision 1. Capabilities: MSI-X, one vendor capability per structure,
//! all in BAR 0 (32 KiB, 32-bit memory), and the PCI configuration access
//! capability that reaches BAR 0 through configuration space (4.1.4.9):
//!
//! | offset | structure |
//! |---|---|
//! | 0x0000 | common configuration (4.1.4.3) |
//! | 0x1000 | ISR status (4.1.4.5) |
//! | 0x2000 | device configuration (4.1.4.6) |
//! | 0x3000 | notifications, 4 bytes per queue (4.1.4.4) |
//! | 0x4000 | MSI-X table (one vector per queue plus configuration) |
//! | 0x6000 | MSI-X PBA |
//!
//! Register accesses run on the vCPU thread and never wait for I/O: at
//! DRIVER_OK the queues are checked and handed to the device thread
//! ([`super::worker`]); a reset is handed over the same way and the status
//! reads its old value until the thread has let go of the queues.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use thiserror::Error;
use virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::common_cfg::{CommonConfig, COMMON_CFG_SIZE, DEVICE_STATUS};
use super::device::VirtioDevice;
use super::ids::{VIRTIO_PCI_DEVICE_ID_BASE, VIRTIO_PCI_VENDOR_ID};
use super::pci_caps::{
    add_pci_cfg_cap, add_virtio_cap, VirtioRegion, PCI_CFG_BAR, PCI_CFG_DATA, PCI_CFG_LENGTH,
    PCI_CFG_OFFSET, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_ISR_CFG,
    VIRTIO_PCI_CAP_NOTIFY_CFG,
};
use super::queue::build_queue;
use super::status::{Transition, STATUS_DRIVER_OK};
use super::worker::{self, ActiveQueue, Command, DeviceShared, WorkerHandle};
use crate::interrupt::MsiGroup;
use crate::pci::config::ConfigError;
use crate::pci::{
    BarInfo, BarLocation, ConfigSpace, HeaderType, MsixConfig, PciBar, PciDevice, PciFunction,
    PciIds,
};

/// The BAR holding every structure.
pub const VIRTIO_BAR: u8 = 0;
/// Its size.
pub const VIRTIO_BAR_SIZE: u64 = 0x8000;
/// Common configuration offset.
pub const COMMON_CFG_OFFSET: u64 = 0x0000;
/// ISR status offset.
pub const ISR_OFFSET: u64 = 0x1000;
/// Device configuration offset.
pub const DEVICE_CFG_OFFSET: u64 = 0x2000;
/// Largest device configuration.
pub const DEVICE_CFG_MAX: usize = 0x1000;
/// Notification structure offset.
pub const NOTIFY_OFFSET: u64 = 0x3000;
/// notify_off_multiplier: queue N notifies at NOTIFY_OFFSET + 4 * N.
pub const NOTIFY_OFF_MULTIPLIER: u32 = 4;
/// MSI-X table offset.
pub const MSIX_TABLE_OFFSET: u32 = 0x4000;
/// MSI-X PBA offset.
pub const MSIX_PBA_OFFSET: u32 = 0x6000;
/// Most queues a device may have (the notify area and MSI-X table fit).
pub const MAX_QUEUES: usize = 256;
/// PCI class of virtio-blk: mass storage, other (01/80/00).
const CLASS_STORAGE_OTHER: u32 = 0x01_80_00;
/// PCI class of virtio-net: network controller, Ethernet (02/00/00).
const CLASS_NETWORK_ETHERNET: u32 = 0x02_00_00;
/// PCI class of other virtio devices: unclassified (ff/00/00).
const CLASS_OTHER: u32 = 0xff_00_00;

/// Errors building a transport.
#[derive(Debug, Error)]
pub enum VirtioPciError {
    /// The device model is unusable here.
    #[error("virtio device: {0}")]
    Device(String),
    /// Building configuration space failed.
    #[error("configuration space: {0}")]
    Config(#[from] ConfigError),
    /// An eventfd or the device thread could not be created.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

/// A queue's notification eventfd and the guest address a write to which
/// must signal it (for the VMM's ioeventfd).
pub struct NotifyEvent {
    /// Guest physical address of the queue's notify register.
    pub addr: u64,
    /// The eventfd the device thread waits on.
    pub fd: EventFd,
}

/// A virtio device on PCI.
pub struct VirtioPciDevice {
    shared: Arc<DeviceShared>,
    common: CommonConfig,
    device_config: Vec<u8>,
    notify: Vec<EventFd>,
    mem: GuestMemoryMmap,
    status_before_reset: u8,
    pci_cfg_cap: u16,
    worker: WorkerHandle,
}

impl VirtioPciDevice {
    /// MSI-X vectors a device with `queues` queues uses (one per queue and
    /// one for configuration changes); allocate the group with this many.
    pub fn msix_vectors(queues: usize) -> usize {
        queues + 1
    }

    /// Builds the function for `device` and starts its thread. `msi` must
    /// have [`Self::msix_vectors`] vectors.
    pub fn new(
        device: Box<dyn VirtioDevice>,
        msi: Arc<dyn MsiGroup>,
        mem: GuestMemoryMmap,
    ) -> Result<Self, VirtioPciError> {
        let sizes = device.queue_max_sizes();
        if sizes.is_empty() || sizes.len() > MAX_QUEUES {
            return Err(VirtioPciError::Device(format!("{} queues", sizes.len())));
        }
        let device_config = device.config_space();
        if device_config.len() > DEVICE_CFG_MAX {
            return Err(VirtioPciError::Device("configuration too large".into()));
        }
        let vectors = Self::msix_vectors(sizes.len()) as u16;
        let dtype = device.device_type();
        let ids = PciIds {
            vendor_id: VIRTIO_PCI_VENDOR_ID,
            device_id: VIRTIO_PCI_DEVICE_ID_BASE + dtype,
            revision_id: 1,
            class_code: match u32::from(dtype) {
                virtio_bindings::virtio_ids::VIRTIO_ID_BLOCK => CLASS_STORAGE_OTHER,
                virtio_bindings::virtio_ids::VIRTIO_ID_NET => CLASS_NETWORK_ETHERNET,
                _ => CLASS_OTHER,
            },
            subsystem_vendor_id: VIRTIO_PCI_VENDOR_ID,
            subsystem_id: VIRTIO_PCI_DEVICE_ID_BASE + dtype,
        };
        let mut config = ConfigSpace::new(HeaderType::Endpoint, &ids);
        config.add_bar(VIRTIO_BAR, PciBar::memory32(VIRTIO_BAR_SIZE))?;
        let region = |cfg_type, offset: u64, length: usize| VirtioRegion {
            cfg_type,
            bar: VIRTIO_BAR,
            offset: offset as u32,
            length: length as u32,
        };
        let common_r = region(
            VIRTIO_PCI_CAP_COMMON_CFG,
            COMMON_CFG_OFFSET,
            COMMON_CFG_SIZE,
        );
        add_virtio_cap(&mut config, common_r, None)?;
        let notify_len = sizes.len() * NOTIFY_OFF_MULTIPLIER as usize;
        let notify_r = region(VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, notify_len);
        add_virtio_cap(&mut config, notify_r, Some(NOTIFY_OFF_MULTIPLIER))?;
        add_virtio_cap(
            &mut config,
            region(VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, 1),
            None,
        )?;
        if !device_config.is_empty() {
            let r = region(
                VIRTIO_PCI_CAP_DEVICE_CFG,
                DEVICE_CFG_OFFSET,
                device_config.len(),
            );
            add_virtio_cap(&mut config, r, None)?;
        }
        let pci_cfg_cap = add_pci_cfg_cap(&mut config)?;
        let mut function = PciFunction::new(config);
        let at = |offset| BarLocation {
            bar: VIRTIO_BAR,
            offset,
        };
        function.add_msix(MsixConfig::new(
            vectors,
            at(MSIX_TABLE_OFFSET),
            at(MSIX_PBA_OFFSET),
            msi,
        )?)?;

        let features = device.features() | device.ring_features();
        let common = CommonConfig::new(features, &sizes, vectors);
        let mut notify = Vec::with_capacity(sizes.len());
        let mut notify_clones = Vec::with_capacity(sizes.len());
        for _ in &sizes {
            let fd = EventFd::new(EFD_NONBLOCK).map_err(|e| VirtioPciError::Io("eventfd", e))?;
            notify_clones.push(
                fd.try_clone()
                    .map_err(|e| VirtioPciError::Io("eventfd", e))?,
            );
            notify.push(fd);
        }
        let shared = Arc::new(DeviceShared::new(function));
        let worker = worker::spawn(
            device.name(),
            device,
            mem.clone(),
            shared.clone(),
            notify_clones,
        )
        .map_err(|e| VirtioPciError::Io("device thread", e))?;
        Ok(Self {
            shared,
            common,
            device_config,
            notify,
            mem,
            status_before_reset: 0,
            pci_cfg_cap,
            worker,
        })
    }

    /// Runs `setup` on the device's thread before it serves anything: the
    /// VMM calls this before the vCPUs start.
    pub fn setup_thread(&self, setup: worker::ThreadSetup) {
        self.worker.send(Command::Setup(setup));
    }

    /// The queues' notify addresses as BAR 0 is now placed, with their
    /// eventfds (empty while the BAR is not programmed).
    pub fn notify_events(&self) -> Result<Vec<NotifyEvent>, VirtioPciError> {
        let Some(bar) = self.shared.function().config().bar(VIRTIO_BAR) else {
            return Ok(Vec::new());
        };
        if !bar.is_valid() {
            return Ok(Vec::new());
        }
        let mut v = Vec::with_capacity(self.notify.len());
        for (i, fd) in self.notify.iter().enumerate() {
            v.push(NotifyEvent {
                addr: bar.address + NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER) * i as u64,
                fd: fd
                    .try_clone()
                    .map_err(|e| VirtioPciError::Io("eventfd", e))?,
            });
        }
        Ok(v)
    }

    /// The device status as the driver reads it.
    pub fn status(&self) -> u8 {
        if self.shared.resetting.load(Ordering::SeqCst) {
            return self.status_before_reset;
        }
        self.common.negotiation().status() | self.shared.device_status_bits()
    }

    fn read_common(&self, offset: u64, data: &mut [u8]) {
        self.common.read(offset, data);
        // The status byte includes what the device adds (NEEDS_RESET) and
        // stays as it was while a reset completes.
        let at = (DEVICE_STATUS as u64).checked_sub(offset);
        if let Some(b) = at.and_then(|i| data.get_mut(i as usize)) {
            *b = self.status();
        }
    }

    fn write_common(&mut self, offset: u64, data: &[u8]) {
        // Registers were reset here at once; the device thread handles its
        // commands in order, so what the driver writes next (it should wait
        // for status 0, but may not) can only follow the reset.
        let before = self.status();
        match self.common.write(offset, data) {
            Transition::None => {}
            Transition::Reset => {
                self.common.reset();
                self.status_before_reset = before;
                self.shared.resetting.store(true, Ordering::SeqCst);
                self.worker.send(Command::Reset);
            }
            Transition::DriverOk => self.activate(),
        }
    }

    /// DRIVER_OK: checks every enabled queue and hands them to the thread.
    fn activate(&mut self) {
        let features = self.common.negotiation().acked();
        let event_idx = features & (1 << VIRTIO_RING_F_EVENT_IDX) != 0;
        let mut queues = Vec::new();
        for (index, regs) in self.common.queues().iter().enumerate() {
            if !regs.enabled {
                continue;
            }
            match build_queue(regs, event_idx, &self.mem) {
                Ok(queue) => queues.push(ActiveQueue {
                    index,
                    queue,
                    vector: regs.msix_vector,
                }),
                Err(e) => {
                    self.shared
                        .fail(&format!("queue {index}: {e}"), self.common.msix_config());
                    return;
                }
            }
        }
        self.worker.send(Command::Activate {
            queues,
            features,
            config_vector: self.common.msix_config(),
        });
    }

    fn read_device_config(&self, offset: u64, data: &mut [u8]) {
        for (i, d) in data.iter_mut().enumerate() {
            *d = offset
                .checked_add(i as u64)
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| self.device_config.get(o).copied())
                .unwrap_or(0);
        }
    }

    /// A notify that arrived as an MMIO exit (no ioeventfd at this
    /// address): signal the queue's eventfd the same way.
    fn notify_write(&self, offset: u64) {
        let i = offset / u64::from(NOTIFY_OFF_MULTIPLIER);
        if let Some(fd) = usize::try_from(i).ok().and_then(|i| self.notify.get(i)) {
            if let Err(e) = fd.write(1) {
                log::warn!("virtio: notify of queue {i}: {e}");
            }
        }
    }

    fn live(&self) -> bool {
        self.common.negotiation().status() & STATUS_DRIVER_OK != 0
    }
}

impl VirtioPciDevice {
    /// The BAR window pci_cfg_data stands for: (bar, offset, length) when
    /// the access at `offset` is in pci_cfg_data and the window is a valid
    /// 1, 2 or 4 byte access (4.1.4.9.1).
    fn pci_cfg_window(&self, offset: u16) -> Option<(u8, u64, usize)> {
        let data = self.pci_cfg_cap + PCI_CFG_DATA;
        if !(data..data + 4).contains(&offset) {
            return None;
        }
        let f = self.shared.function();
        let c = f.config();
        let bar = c.read_u8(self.pci_cfg_cap + PCI_CFG_BAR);
        let off = u64::from(c.read_u32(self.pci_cfg_cap + PCI_CFG_OFFSET));
        let len = c.read_u32(self.pci_cfg_cap + PCI_CFG_LENGTH) as usize;
        let ok = matches!(len, 1 | 2 | 4) && off.is_multiple_of(len as u64);
        Some((bar, off, if ok { len } else { 0 }))
    }
}

impl PciDevice for VirtioPciDevice {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        if let Some((bar, off, len)) = self.pci_cfg_window(offset) {
            let mut buf = [0u8; 4];
            if len > 0 {
                self.bar_read(bar, off, &mut buf[..len]);
            }
            let at = usize::from(offset - self.pci_cfg_cap - PCI_CFG_DATA);
            for (i, d) in data.iter_mut().enumerate() {
                *d = buf.get(at + i).copied().unwrap_or(0);
            }
            return;
        }
        self.shared.function().config_read(offset, data);
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        if let Some((bar, off, len)) = self.pci_cfg_window(offset) {
            let at = usize::from(offset - self.pci_cfg_cap - PCI_CFG_DATA);
            if at == 0 && len > 0 && data.len() >= len {
                self.bar_write(bar, off, &data[..len]);
            }
            return;
        }
        self.shared.function().config_write(offset, data);
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.shared.function().bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if self.shared.function().msix_bar_read(bar, offset, data) {
            return;
        }
        data.fill(0);
        if bar != VIRTIO_BAR {
            return;
        }
        match offset {
            o if o < COMMON_CFG_OFFSET + COMMON_CFG_SIZE as u64 => {
                self.read_common(o - COMMON_CFG_OFFSET, data)
            }
            ISR_OFFSET => {
                // 4.1.4.5.1: reading ISR status clears it.
                if let Some(b) = data.first_mut() {
                    *b = self.shared.isr.swap(0, Ordering::SeqCst);
                }
            }
            o if (DEVICE_CFG_OFFSET..DEVICE_CFG_OFFSET + DEVICE_CFG_MAX as u64).contains(&o) => {
                self.read_device_config(o - DEVICE_CFG_OFFSET, data)
            }
            _ => {}
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if self.shared.function().msix_bar_write(bar, offset, data) {
            return;
        }
        if bar != VIRTIO_BAR {
            return;
        }
        let notify_end =
            NOTIFY_OFFSET + u64::from(NOTIFY_OFF_MULTIPLIER) * self.notify.len() as u64;
        match offset {
            o if o < COMMON_CFG_OFFSET + COMMON_CFG_SIZE as u64 => {
                self.write_common(o - COMMON_CFG_OFFSET, data)
            }
            o if (NOTIFY_OFFSET..notify_end).contains(&o) && self.live() => {
                self.notify_write(o - NOTIFY_OFFSET)
            }
            // The device configuration is read-only; ISR is read-only.
            _ => {}
        }
    }
}
