//! The common configuration structure (virtio 1.2, 4.1.4.3): feature
//! windows, status, MSI-X vectors and the registers of the selected queue.
//!
//! Reads see a little-endian image of the structure, so any access width
//! works; a write lands in that image and each field it touched is applied
//! (64-bit queue addresses may be written as two dwords, 4.1.3.1).

use super::ids::VIRTIO_MSI_NO_VECTOR;
use super::status::{Negotiation, Transition, STATUS_DRIVER_OK};

/// device_feature_select (le32, RW).
pub const DEVICE_FEATURE_SELECT: usize = 0x00;
/// device_feature (le32, RO).
pub const DEVICE_FEATURE: usize = 0x04;
/// driver_feature_select (le32, RW).
pub const DRIVER_FEATURE_SELECT: usize = 0x08;
/// driver_feature (le32, RW).
pub const DRIVER_FEATURE: usize = 0x0c;
/// config_msix_vector (le16, RW).
pub const CONFIG_MSIX_VECTOR: usize = 0x10;
/// num_queues (le16, RO).
pub const NUM_QUEUES: usize = 0x12;
/// device_status (u8, RW).
pub const DEVICE_STATUS: usize = 0x14;
/// config_generation (u8, RO).
pub const CONFIG_GENERATION: usize = 0x15;
/// queue_select (le16, RW).
pub const QUEUE_SELECT: usize = 0x16;
/// queue_size (le16, RW).
pub const QUEUE_SIZE: usize = 0x18;
/// queue_msix_vector (le16, RW).
pub const QUEUE_MSIX_VECTOR: usize = 0x1a;
/// queue_enable (le16, RW).
pub const QUEUE_ENABLE: usize = 0x1c;
/// queue_notify_off (le16, RO).
pub const QUEUE_NOTIFY_OFF: usize = 0x1e;
/// queue_desc (le64, RW).
pub const QUEUE_DESC: usize = 0x20;
/// queue_driver (le64, RW): the available ring.
pub const QUEUE_DRIVER: usize = 0x28;
/// queue_device (le64, RW): the used ring.
pub const QUEUE_DEVICE: usize = 0x30;
/// queue_notify_data (le16, RO; VIRTIO_F_NOTIF_CONFIG_DATA, not offered).
pub const QUEUE_NOTIFY_DATA: usize = 0x38;
/// queue_reset (le16; VIRTIO_F_RING_RESET, not offered: reads 0).
pub const QUEUE_RESET: usize = 0x3a;
/// Size of the structure as presented.
pub const COMMON_CFG_SIZE: usize = 0x40;

/// (offset, width) of every field, for applying writes.
const FIELDS: [(usize, usize); 18] = [
    (DEVICE_FEATURE_SELECT, 4),
    (DEVICE_FEATURE, 4),
    (DRIVER_FEATURE_SELECT, 4),
    (DRIVER_FEATURE, 4),
    (CONFIG_MSIX_VECTOR, 2),
    (NUM_QUEUES, 2),
    (DEVICE_STATUS, 1),
    (CONFIG_GENERATION, 1),
    (QUEUE_SELECT, 2),
    (QUEUE_SIZE, 2),
    (QUEUE_MSIX_VECTOR, 2),
    (QUEUE_ENABLE, 2),
    (QUEUE_NOTIFY_OFF, 2),
    (QUEUE_DESC, 8),
    (QUEUE_DRIVER, 8),
    (QUEUE_DEVICE, 8),
    (QUEUE_NOTIFY_DATA, 2),
    (QUEUE_RESET, 2),
];

/// The driver-programmed registers of one queue (4.1.4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRegs {
    /// Largest size the device allows.
    pub max_size: u16,
    /// queue_size as the driver wrote it (checked when the device goes live).
    pub size: u16,
    /// queue_msix_vector.
    pub msix_vector: u16,
    /// queue_enable.
    pub enabled: bool,
    /// queue_desc.
    pub desc: u64,
    /// queue_driver.
    pub driver: u64,
    /// queue_device.
    pub device: u64,
}

impl QueueRegs {
    fn new(max_size: u16) -> Self {
        Self {
            max_size,
            size: max_size,
            msix_vector: VIRTIO_MSI_NO_VECTOR,
            enabled: false,
            desc: 0,
            driver: 0,
            device: 0,
        }
    }
}

/// The common configuration of one device.
#[derive(Clone, Debug)]
pub struct CommonConfig {
    negotiation: Negotiation,
    device_feature_select: u32,
    driver_feature_select: u32,
    msix_config: u16,
    msix_vectors: u16,
    queue_select: u16,
    queues: Vec<QueueRegs>,
}

impl CommonConfig {
    /// A device offering `features`, with queues of these maximum sizes and
    /// `msix_vectors` MSI-X table entries.
    pub fn new(features: u64, queue_max_sizes: &[u16], msix_vectors: u16) -> Self {
        Self {
            negotiation: Negotiation::new(features),
            device_feature_select: 0,
            driver_feature_select: 0,
            msix_config: VIRTIO_MSI_NO_VECTOR,
            msix_vectors,
            queue_select: 0,
            queues: queue_max_sizes.iter().map(|&m| QueueRegs::new(m)).collect(),
        }
    }

    /// Back to the state after power-on (2.4), keeping what the device is.
    pub fn reset(&mut self) {
        let sizes: Vec<u16> = self.queues.iter().map(|q| q.max_size).collect();
        *self = Self::new(self.negotiation.offered(), &sizes, self.msix_vectors);
    }

    /// Negotiation state (status, features).
    pub fn negotiation(&self) -> &Negotiation {
        &self.negotiation
    }

    /// config_msix_vector.
    pub fn msix_config(&self) -> u16 {
        self.msix_config
    }

    /// Every queue's registers.
    pub fn queues(&self) -> &[QueueRegs] {
        &self.queues
    }

    fn selected(&self) -> Option<&QueueRegs> {
        self.queues.get(usize::from(self.queue_select))
    }

    fn image(&self) -> [u8; COMMON_CFG_SIZE] {
        let mut b = [0u8; COMMON_CFG_SIZE];
        let mut put = |off: usize, bytes: &[u8]| {
            if let Some(d) = b.get_mut(off..off + bytes.len()) {
                d.copy_from_slice(bytes);
            }
        };
        let n = &self.negotiation;
        put(
            DEVICE_FEATURE_SELECT,
            &self.device_feature_select.to_le_bytes(),
        );
        put(
            DEVICE_FEATURE,
            &n.offered_page(self.device_feature_select).to_le_bytes(),
        );
        put(
            DRIVER_FEATURE_SELECT,
            &self.driver_feature_select.to_le_bytes(),
        );
        put(
            DRIVER_FEATURE,
            &n.acked_page(self.driver_feature_select).to_le_bytes(),
        );
        put(CONFIG_MSIX_VECTOR, &self.msix_config.to_le_bytes());
        put(NUM_QUEUES, &(self.queues.len() as u16).to_le_bytes());
        put(DEVICE_STATUS, &[n.status()]);
        put(QUEUE_SELECT, &self.queue_select.to_le_bytes());
        if let Some(q) = self.selected() {
            put(QUEUE_SIZE, &q.size.to_le_bytes());
            put(QUEUE_MSIX_VECTOR, &q.msix_vector.to_le_bytes());
            put(QUEUE_ENABLE, &u16::from(q.enabled).to_le_bytes());
            put(QUEUE_NOTIFY_OFF, &self.queue_select.to_le_bytes());
            put(QUEUE_DESC, &q.desc.to_le_bytes());
            put(QUEUE_DRIVER, &q.driver.to_le_bytes());
            put(QUEUE_DEVICE, &q.device.to_le_bytes());
        }
        b
    }

    /// Guest read at `offset` of the structure (bytes past it read 0).
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        let img = self.image();
        for (i, d) in data.iter_mut().enumerate() {
            *d = offset
                .checked_add(i as u64)
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| img.get(o).copied())
                .unwrap_or(0);
        }
    }

    /// Guest write at `offset`; says what the transport must do.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Transition {
        let Ok(start) = usize::try_from(offset) else {
            return Transition::None;
        };
        let end = start.saturating_add(data.len()).min(COMMON_CFG_SIZE);
        if start >= end {
            return Transition::None;
        }
        let mut img = self.image();
        img[start..end].copy_from_slice(&data[..end - start]);
        let mut t = Transition::None;
        for (off, width) in FIELDS {
            if off < end && off + width > start {
                let mut v = [0u8; 8];
                v[..width].copy_from_slice(&img[off..off + width]);
                let r = self.apply(off, u64::from_le_bytes(v));
                if r != Transition::None {
                    t = r;
                }
            }
        }
        t
    }

    fn vector(&self, v: u16) -> u16 {
        // 4.1.5.1.2: a vector the device cannot map reads back NO_VECTOR.
        if v < self.msix_vectors {
            v
        } else {
            VIRTIO_MSI_NO_VECTOR
        }
    }

    fn apply(&mut self, field: usize, v: u64) -> Transition {
        let live = self.negotiation.status() & STATUS_DRIVER_OK != 0;
        match field {
            DEVICE_FEATURE_SELECT => self.device_feature_select = v as u32,
            DRIVER_FEATURE_SELECT => self.driver_feature_select = v as u32,
            DRIVER_FEATURE => self
                .negotiation
                .write_acked_page(self.driver_feature_select, v as u32),
            CONFIG_MSIX_VECTOR => self.msix_config = self.vector(v as u16),
            DEVICE_STATUS => return self.negotiation.write_status(v as u8),
            QUEUE_SELECT => self.queue_select = v as u16,
            QUEUE_SIZE | QUEUE_MSIX_VECTOR | QUEUE_ENABLE | QUEUE_DESC | QUEUE_DRIVER
            | QUEUE_DEVICE => {
                let vector = self.vector(v as u16);
                let Some(q) = self.queues.get_mut(usize::from(self.queue_select)) else {
                    return Transition::None;
                };
                if field == QUEUE_MSIX_VECTOR {
                    q.msix_vector = vector;
                } else if live {
                    // 4.1.4.3.2: queue set-up is fixed once the device is live.
                    log::warn!("virtio: queue register {field:#x} written after DRIVER_OK");
                } else {
                    match field {
                        QUEUE_SIZE => q.size = v as u16,
                        // 4.1.4.3.2: the driver MUST NOT write 0 to queue_enable.
                        QUEUE_ENABLE => q.enabled |= v & 1 != 0,
                        QUEUE_DESC => q.desc = v,
                        QUEUE_DRIVER => q.driver = v,
                        _ => q.device = v,
                    }
                }
            }
            // Read-only fields.
            _ => {}
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::status::{
        FEATURE_VERSION_1, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_FEATURES_OK,
    };

    fn rd(c: &CommonConfig, off: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        c.read(off as u64, &mut b[..width]);
        u64::from_le_bytes(b)
    }

    fn wr(c: &mut CommonConfig, off: usize, width: usize, v: u64) -> Transition {
        c.write(off as u64, &v.to_le_bytes()[..width])
    }

    #[test]
    fn features_and_queue_registers() {
        let mut c = CommonConfig::new(1 << 9, &[128, 64], 3);
        assert_eq!(rd(&c, NUM_QUEUES, 2), 2);
        assert_eq!(rd(&c, DEVICE_FEATURE, 4), 1 << 9);
        wr(&mut c, DEVICE_FEATURE_SELECT, 4, 1);
        assert_eq!(rd(&c, DEVICE_FEATURE, 4), 1);
        wr(&mut c, DEVICE_FEATURE, 4, 0xffff);
        assert_eq!(rd(&c, DEVICE_FEATURE, 4), 1, "read-only");
        wr(&mut c, QUEUE_SELECT, 2, 1);
        assert_eq!(rd(&c, QUEUE_SIZE, 2), 64);
        assert_eq!(rd(&c, QUEUE_NOTIFY_OFF, 2), 1);
        wr(&mut c, QUEUE_SIZE, 2, 32);
        // A 64-bit address as two dwords, and as one qword.
        wr(&mut c, QUEUE_DESC, 4, 0x1000);
        wr(&mut c, QUEUE_DESC + 4, 4, 0x2);
        wr(&mut c, QUEUE_DRIVER, 8, 0x3_0000_2000);
        wr(&mut c, QUEUE_MSIX_VECTOR, 2, 1);
        wr(&mut c, QUEUE_ENABLE, 2, 1);
        let q = &c.queues()[1];
        assert_eq!(
            (q.size, q.desc, q.driver, q.msix_vector, q.enabled),
            (32, 0x2_0000_1000, 0x3_0000_2000, 1, true)
        );
        assert_eq!(rd(&c, QUEUE_DESC, 8), 0x2_0000_1000);
        assert_eq!(rd(&c, QUEUE_DESC + 4, 4), 2);
        // Vectors past the table read back NO_VECTOR.
        wr(&mut c, QUEUE_MSIX_VECTOR, 2, 3);
        assert_eq!(rd(&c, QUEUE_MSIX_VECTOR, 2), 0xffff);
        wr(&mut c, CONFIG_MSIX_VECTOR, 2, 2);
        assert_eq!(c.msix_config(), 2);
        // A queue that does not exist: size 0, writes dropped.
        wr(&mut c, QUEUE_SELECT, 2, 7);
        assert_eq!(rd(&c, QUEUE_SIZE, 2), 0);
        wr(&mut c, QUEUE_DESC, 8, 0x5000);
        assert_eq!(rd(&c, QUEUE_DESC, 8), 0);
        // Out-of-structure accesses.
        assert_eq!(rd(&c, COMMON_CFG_SIZE - 2, 8), 0);
        assert_eq!(c.write(u64::MAX, &[1, 2]), Transition::None);
        let mut b = [0xffu8; 4];
        c.read(u64::MAX - 1, &mut b);
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn status_and_reset() {
        let mut c = CommonConfig::new(0, &[16], 2);
        let init = u64::from(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        wr(&mut c, DEVICE_STATUS, 1, init);
        wr(&mut c, DRIVER_FEATURE_SELECT, 4, 1);
        wr(&mut c, DRIVER_FEATURE, 4, FEATURE_VERSION_1 >> 32);
        wr(
            &mut c,
            DEVICE_STATUS,
            1,
            init | u64::from(STATUS_FEATURES_OK),
        );
        wr(&mut c, QUEUE_DESC, 8, 0x1000);
        let ok = init | u64::from(STATUS_FEATURES_OK | STATUS_DRIVER_OK);
        assert_eq!(wr(&mut c, DEVICE_STATUS, 1, ok), Transition::DriverOk);
        assert_eq!(rd(&c, DEVICE_STATUS, 1), ok);
        // Queue set-up is frozen; the vector is not.
        wr(&mut c, QUEUE_DESC, 8, 0x8000);
        wr(&mut c, QUEUE_MSIX_VECTOR, 2, 1);
        assert_eq!((c.queues()[0].desc, c.queues()[0].msix_vector), (0x1000, 1));
        assert_eq!(wr(&mut c, DEVICE_STATUS, 1, 0), Transition::Reset);
        c.reset();
        assert_eq!(rd(&c, DEVICE_STATUS, 1), 0);
        assert_eq!(c.queues()[0], QueueRegs::new(16));
        assert_eq!(c.negotiation().acked(), 0);
    }
}
