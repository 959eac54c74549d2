//! Device status and feature negotiation (virtio 1.2, 2.1 device status
//! field, 2.2 feature bits, 3.1.1 driver requirements: device
//! initialization).
//!
//! The driver only ever adds status bits until it writes 0 (reset).
//! FEATURES_OK sticks only when the features the driver accepted are a
//! subset of those offered and include VIRTIO_F_VERSION_1 (this transport is
//! modern only); DRIVER_OK only after FEATURES_OK.

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FAILED, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_F_VERSION_1,
};

/// ACKNOWLEDGE (2.1).
pub const STATUS_ACKNOWLEDGE: u8 = VIRTIO_CONFIG_S_ACKNOWLEDGE as u8;
/// DRIVER (2.1).
pub const STATUS_DRIVER: u8 = VIRTIO_CONFIG_S_DRIVER as u8;
/// DRIVER_OK (2.1).
pub const STATUS_DRIVER_OK: u8 = VIRTIO_CONFIG_S_DRIVER_OK as u8;
/// FEATURES_OK (2.1).
pub const STATUS_FEATURES_OK: u8 = VIRTIO_CONFIG_S_FEATURES_OK as u8;
/// DEVICE_NEEDS_RESET (2.1).
pub const STATUS_NEEDS_RESET: u8 =
    virtio_bindings::virtio_config::VIRTIO_CONFIG_S_NEEDS_RESET as u8;
/// FAILED (2.1).
pub const STATUS_FAILED: u8 = VIRTIO_CONFIG_S_FAILED as u8;
/// VIRTIO_F_VERSION_1 as a mask (6: reserved feature bits).
pub const FEATURE_VERSION_1: u64 = 1 << VIRTIO_F_VERSION_1;

/// What a status write asks of the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing beyond recording the new value.
    None,
    /// The driver wrote 0: reset the device (2.4).
    Reset,
    /// DRIVER_OK was just set: the device goes live with the queues.
    DriverOk,
}

/// The negotiation state of one device.
#[derive(Clone, Debug)]
pub struct Negotiation {
    offered: u64,
    acked: u64,
    status: u8,
}

impl Negotiation {
    /// A device offering `offered` (which must include VERSION_1).
    pub fn new(offered: u64) -> Self {
        Self {
            offered: offered | FEATURE_VERSION_1,
            acked: 0,
            status: 0,
        }
    }

    /// Feature bits offered.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Feature bits the driver wrote (accepted ones once FEATURES_OK).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// The status byte as the driver last set it (accepted bits only).
    pub fn status(&self) -> u8 {
        self.status
    }

    /// 32 bits of the offered features (`page` 0 low, 1 high; others 0).
    pub fn offered_page(&self, page: u32) -> u32 {
        page_of(self.offered, page)
    }

    /// 32 bits of the driver's features.
    pub fn acked_page(&self, page: u32) -> u32 {
        page_of(self.acked, page)
    }

    /// The driver writes 32 bits of its features; ignored once FEATURES_OK
    /// is set (3.1.1: features are fixed from then on) or past bit 63.
    pub fn write_acked_page(&mut self, page: u32, value: u32) {
        if self.status & STATUS_FEATURES_OK != 0 {
            log::warn!("virtio: driver features written after FEATURES_OK, ignored");
            return;
        }
        match page {
            0 => self.acked = (self.acked & !0xffff_ffff) | u64::from(value),
            1 => self.acked = (self.acked & 0xffff_ffff) | (u64::from(value) << 32),
            _ => {}
        }
    }

    /// The driver writes the status byte.
    pub fn write_status(&mut self, value: u8) -> Transition {
        if value == 0 {
            self.acked = 0;
            self.status = 0;
            return Transition::Reset;
        }
        let old = self.status;
        // 2.1.1: the driver MUST NOT clear a device status bit.
        if value & old != old {
            log::warn!("virtio: status {old:#x} -> {value:#x} clears bits, ignored");
            return Transition::None;
        }
        let mut new = value & !STATUS_NEEDS_RESET;
        let added = new & !old;
        if added & STATUS_FEATURES_OK != 0 && !self.features_acceptable() {
            log::warn!(
                "virtio: driver features {:#x} refused (offered {:#x}, VERSION_1 required)",
                self.acked,
                self.offered
            );
            new &= !STATUS_FEATURES_OK;
        }
        if added & STATUS_DRIVER_OK != 0 && new & STATUS_FEATURES_OK == 0 {
            log::warn!("virtio: DRIVER_OK without FEATURES_OK, ignored");
            new &= !STATUS_DRIVER_OK;
        }
        self.status = new;
        if new & !old & STATUS_DRIVER_OK != 0 {
            Transition::DriverOk
        } else {
            Transition::None
        }
    }

    /// The driver accepted only offered features, VERSION_1 among them.
    fn features_acceptable(&self) -> bool {
        self.acked & !self.offered == 0 && self.acked & FEATURE_VERSION_1 != 0
    }
}

fn page_of(v: u64, page: u32) -> u32 {
    match page {
        0 => v as u32,
        1 => (v >> 32) as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: u8 = STATUS_ACKNOWLEDGE | STATUS_DRIVER;

    #[test]
    fn normal_negotiation() {
        let mut n = Negotiation::new(1 << 9);
        assert_eq!(n.offered_page(1), 1, "VERSION_1 is offered");
        assert_eq!(n.offered_page(0), 1 << 9);
        assert_eq!(n.offered_page(2), 0);
        assert_eq!(n.write_status(STATUS_ACKNOWLEDGE), Transition::None);
        assert_eq!(n.write_status(INIT), Transition::None);
        n.write_acked_page(0, 1 << 9);
        n.write_acked_page(1, 1);
        n.write_status(INIT | STATUS_FEATURES_OK);
        assert_eq!(n.status(), INIT | STATUS_FEATURES_OK);
        // Features are frozen now.
        n.write_acked_page(0, 0);
        assert_eq!(n.acked(), (1 << 9) | FEATURE_VERSION_1);
        let all = INIT | STATUS_FEATURES_OK | STATUS_DRIVER_OK;
        assert_eq!(n.write_status(all), Transition::DriverOk);
        // Writing the same value again is no new DRIVER_OK.
        assert_eq!(n.write_status(all), Transition::None);
        assert_eq!(n.write_status(0), Transition::Reset);
        assert_eq!((n.status(), n.acked()), (0, 0));
    }

    #[test]
    fn refusals() {
        let mut n = Negotiation::new(1 << 9);
        n.write_status(INIT);
        // Legacy driver: no VERSION_1.
        n.write_acked_page(0, 1 << 9);
        n.write_status(INIT | STATUS_FEATURES_OK);
        assert_eq!(n.status() & STATUS_FEATURES_OK, 0);
        // A feature never offered.
        n.write_acked_page(1, 1);
        n.write_acked_page(0, 1 << 3);
        n.write_status(INIT | STATUS_FEATURES_OK);
        assert_eq!(n.status() & STATUS_FEATURES_OK, 0);
        // DRIVER_OK without FEATURES_OK.
        assert_eq!(n.write_status(INIT | STATUS_DRIVER_OK), Transition::None);
        assert_eq!(n.status(), INIT);
        // Clearing bits is ignored; the driver cannot set NEEDS_RESET.
        n.write_status(STATUS_ACKNOWLEDGE);
        assert_eq!(n.status(), INIT);
        n.write_status(INIT | STATUS_NEEDS_RESET);
        assert_eq!(n.status(), INIT);
        n.write_status(INIT | STATUS_FAILED);
        assert_eq!(n.status(), INIT | STATUS_FAILED);
    }
}
