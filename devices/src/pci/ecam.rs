//! The PCIe Enhanced Configuration Access Mechanism (PCIe 6.0 7.2.2): a
//! memory region mapping every function's 4 KiB configuration space at
//! `bus << 20 | device << 15 | function << 12 | register`.
//!
//! Register [`PciEcam`] on the MMIO bus at [`layout::PCI_ECAM_START`],
//! [`layout::PCI_ECAM_SIZE`] long; the first bus it decodes is
//! [`layout::PCI_ECAM_BUS_START`].

use arch::layout;

use super::bdf::Bdf;
use super::segment::SharedSegment;
use crate::bus::BusDevice;

/// The ECAM region of one segment.
pub struct PciEcam {
    segment: SharedSegment,
}

impl PciEcam {
    /// ECAM for `segment`.
    pub fn new(segment: SharedSegment) -> Self {
        Self { segment }
    }

    /// The function and register an ECAM offset addresses; None past the
    /// last bus.
    pub fn decode(offset: u64) -> Option<(Bdf, u16)> {
        let bus = u64::from(layout::PCI_ECAM_BUS_START).checked_add(offset >> 20)?;
        if bus > u64::from(layout::PCI_ECAM_BUS_END) {
            return None;
        }
        let bdf = Bdf::new(
            bus as u8,
            ((offset >> 15) & 0x1f) as u8,
            ((offset >> 12) & 0x7) as u8,
        )?;
        Some((bdf, (offset & 0xfff) as u16))
    }

    /// Splits an access at dword boundaries (a piece never crosses into the
    /// next function) and calls `f(piece offset, piece range)`.
    fn pieces(offset: u64, len: usize, mut f: impl FnMut(u64, std::ops::Range<usize>)) {
        let mut i = 0;
        while i < len {
            let Some(off) = offset.checked_add(i as u64) else {
                return;
            };
            let n = (4 - (off % 4) as usize).min(len - i);
            f(off, i..i + n);
            i += n;
        }
    }
}

impl BusDevice for PciEcam {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        data.fill(0xff);
        let seg = self.segment.lock().unwrap_or_else(|e| e.into_inner());
        Self::pieces(offset, data.len(), |off, r| {
            if let (Some((bdf, reg)), Some(d)) = (Self::decode(off), data.get_mut(r)) {
                seg.config_read(bdf, reg, d);
            }
        });
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        let mut seg = self.segment.lock().unwrap_or_else(|e| e.into_inner());
        Self::pieces(offset, data.len(), |off, r| {
            if let (Some((bdf, reg)), Some(d)) = (Self::decode(off), data.get(r)) {
                seg.config_write(bdf, reg, d);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Bus;
    use crate::pci::config::{ConfigSpace, HeaderType, PciIds};
    use crate::pci::device::PciFunction;
    use crate::pci::segment::PciSegment;
    use std::sync::{Arc, Mutex};

    fn segment() -> SharedSegment {
        let mut seg = PciSegment::new(0, Arc::new(Bus::new()), Arc::new(Bus::new()));
        for (bus, dev, f) in [(0, 0, 0), (2, 3, 1)] {
            let ids = PciIds {
                vendor_id: 0x1b36,
                device_id: u16::from(bus) << 8 | u16::from(dev) << 4 | u16::from(f),
                ..Default::default()
            };
            let func = PciFunction::new(ConfigSpace::new(HeaderType::Endpoint, &ids));
            seg.add_device(Bdf::new(bus, dev, f).unwrap(), Arc::new(Mutex::new(func)))
                .unwrap();
        }
        Arc::new(Mutex::new(seg))
    }

    fn ecam_offset(bus: u64, dev: u64, f: u64, reg: u64) -> u64 {
        bus << 20 | dev << 15 | f << 12 | reg
    }

    #[test]
    fn decodes_bdf_and_register() {
        assert_eq!(
            PciEcam::decode(ecam_offset(2, 3, 1, 0xabc)),
            Some((Bdf::new(2, 3, 1).unwrap(), 0xabc))
        );
        assert_eq!(PciEcam::decode(layout::PCI_ECAM_SIZE), None);
        assert_eq!(PciEcam::decode(u64::MAX), None);
    }

    #[test]
    fn reads_and_writes() {
        let mut e = PciEcam::new(segment());
        let base = layout::PCI_ECAM_START;
        let mut b = [0u8; 4];
        e.read(base, ecam_offset(2, 3, 1, 0), &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x0231_1b36);
        // Absent function.
        e.read(base, ecam_offset(2, 3, 2, 0), &mut b);
        assert_eq!(b, [0xff; 4]);
        // Odd sizes and unaligned.
        let mut b3 = [0u8; 3];
        e.read(base, ecam_offset(2, 3, 1, 1), &mut b3);
        assert_eq!(b3, [0x1b, 0x31, 0x02]);
        let mut b1 = [0u8; 1];
        e.read(base, ecam_offset(2, 3, 1, 2), &mut b1);
        assert_eq!(b1, [0x31]);
        // An 8-byte access crossing a function boundary.
        let mut b8 = [0u8; 8];
        e.read(base, ecam_offset(0, 0, 0, 0xffc), &mut b8);
        assert_eq!(b8, [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        // Writes reach the function (Interrupt Line is RW).
        e.write(base, ecam_offset(2, 3, 1, 0x3c), &[0x0a, 0xff]);
        e.read(base, ecam_offset(2, 3, 1, 0x3c), &mut b);
        assert_eq!(b, [0x0a, 0, 0, 0]);
        // Out of range: nothing happens.
        e.write(base, u64::MAX - 1, &[0; 4]);
        e.read(base, u64::MAX - 1, &mut b);
        assert_eq!(b, [0xff; 4]);
    }
}
