//! The address-range map that vCPU exits are dispatched through.
//!
//! A [`Bus`] maps non-overlapping address ranges (guest physical addresses for
//! MMIO, port numbers for PIO) to devices. A vCPU exit looks the address up,
//! and the device's [`BusDevice::read`] or [`BusDevice::write`] is called with
//! the offset into the range it was registered at. Ranges can be added and
//! removed at run time (BAR reprogramming).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use thiserror::Error;

/// A device that answers reads and writes at offsets of a registered range.
///
/// `base` is the start of the range the access hit (a device registered at
/// several ranges can tell them apart), `offset` the distance from it.
/// Implementations must accept any access size and offset a guest can produce
/// and never panic: unknown reads return all-ones or zero, unknown writes are
/// ignored.
pub trait BusDevice: Send {
    /// Guest read of `data.len()` bytes at `offset`.
    fn read(&mut self, base: u64, offset: u64, data: &mut [u8]);
    /// Guest write of `data` at `offset`.
    fn write(&mut self, base: u64, offset: u64, data: &[u8]);
}

/// A shared, lockable device on a bus.
pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

/// Errors from bus registration and dispatch.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BusError {
    /// The new range overlaps an existing one.
    #[error("range {base:#x}+{len:#x} overlaps an existing device")]
    Overlap {
        /// Start of the refused range.
        base: u64,
        /// Length of the refused range.
        len: u64,
    },
    /// Zero-length or wrapping range.
    #[error("invalid range {base:#x}+{len:#x}")]
    InvalidRange {
        /// Start of the refused range.
        base: u64,
        /// Length of the refused range.
        len: u64,
    },
    /// No device at this address.
    #[error("no device at {0:#x}")]
    NoDevice(u64),
}

/// A registered range: `base` inclusive, `len` bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusRange {
    /// First address of the range.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
}

impl BusRange {
    fn last(&self) -> u64 {
        self.base + (self.len - 1)
    }
}

/// An address-range map of devices.
#[derive(Default)]
pub struct Bus {
    devices: RwLock<BTreeMap<u64, (BusRange, SharedDevice)>>,
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `device` at `base..base+len`.
    pub fn insert(&self, device: SharedDevice, base: u64, len: u64) -> Result<(), BusError> {
        if len == 0 || base.checked_add(len - 1).is_none() {
            return Err(BusError::InvalidRange { base, len });
        }
        let range = BusRange { base, len };
        let mut map = self.devices.write().unwrap_or_else(|e| e.into_inner());
        // The closest range starting at or below our last byte must end before
        // our first byte.
        if let Some((_, (r, _))) = map.range(..=range.last()).next_back() {
            if r.last() >= base {
                return Err(BusError::Overlap { base, len });
            }
        }
        map.insert(base, (range, device));
        Ok(())
    }

    /// Removes the range registered exactly at `base`.
    pub fn remove(&self, base: u64) -> Result<(BusRange, SharedDevice), BusError> {
        let mut map = self.devices.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&base).ok_or(BusError::NoDevice(base))
    }

    /// The range and device that decode `addr`, if any.
    pub fn resolve(&self, addr: u64) -> Option<(BusRange, SharedDevice)> {
        let map = self.devices.read().unwrap_or_else(|e| e.into_inner());
        let (_, (range, dev)) = map.range(..=addr).next_back()?;
        (addr <= range.last()).then(|| (*range, dev.clone()))
    }

    /// Dispatches a read at `addr`.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> Result<(), BusError> {
        let (range, dev) = self.resolve(addr).ok_or(BusError::NoDevice(addr))?;
        dev.lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(range.base, addr - range.base, data);
        Ok(())
    }

    /// Dispatches a write at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), BusError> {
        let (range, dev) = self.resolve(addr).ok_or(BusError::NoDevice(addr))?;
        dev.lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(range.base, addr - range.base, data);
        Ok(())
    }

    /// Every registered range, in address order.
    pub fn ranges(&self) -> Vec<BusRange> {
        let map = self.devices.read().unwrap_or_else(|e| e.into_inner());
        map.values().map(|(r, _)| *r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo {
        last: Vec<(u64, u64, Vec<u8>)>,
    }

    impl BusDevice for Echo {
        fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, base: u64, offset: u64, data: &[u8]) {
            self.last.push((base, offset, data.to_vec()));
        }
    }

    fn echo() -> Arc<Mutex<Echo>> {
        Arc::new(Mutex::new(Echo { last: vec![] }))
    }

    #[test]
    fn dispatch_by_offset() {
        let bus = Bus::new();
        let dev = echo();
        bus.insert(dev.clone(), 0x1000, 0x10).unwrap();
        let mut b = [0u8; 2];
        bus.read(0x1004, &mut b).unwrap();
        assert_eq!(b, [4, 4]);
        bus.write(0x100f, &[7]).unwrap();
        assert_eq!(dev.lock().unwrap().last, vec![(0x1000, 0xf, vec![7])]);
        assert_eq!(bus.read(0x1010, &mut b), Err(BusError::NoDevice(0x1010)));
        assert_eq!(bus.read(0xfff, &mut b), Err(BusError::NoDevice(0xfff)));
    }

    #[test]
    fn overlaps_refused() {
        let bus = Bus::new();
        bus.insert(echo(), 0x1000, 0x10).unwrap();
        for (b, l) in [(0x1000, 1), (0xff0, 0x11), (0x100f, 0x10), (0x800, 0x1000)] {
            assert!(matches!(
                bus.insert(echo(), b, l),
                Err(BusError::Overlap { .. })
            ));
        }
        bus.insert(echo(), 0xff0, 0x10).unwrap();
        bus.insert(echo(), 0x1010, 0x10).unwrap();
        assert!(matches!(
            bus.insert(echo(), 0, 0),
            Err(BusError::InvalidRange { .. })
        ));
        assert!(matches!(
            bus.insert(echo(), u64::MAX, 2),
            Err(BusError::InvalidRange { .. })
        ));
        bus.insert(echo(), u64::MAX, 1).unwrap();
    }

    #[test]
    fn remove_and_reinsert() {
        let bus = Bus::new();
        bus.insert(echo(), 0x1000, 0x10).unwrap();
        assert!(bus.remove(0x1001).is_err());
        bus.remove(0x1000).unwrap();
        assert!(bus.resolve(0x1000).is_none());
        bus.insert(echo(), 0x1008, 0x10).unwrap();
        assert_eq!(
            bus.ranges(),
            vec![BusRange {
                base: 0x1008,
                len: 0x10
            }]
        );
    }
}
