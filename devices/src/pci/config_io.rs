//! PCI Configuration Mechanism #1 (PCI 3.0 3.2.2.3.2): the CONFIG_ADDRESS
//! dword at port 0xcf8 and the CONFIG_DATA window at 0xcfc..0xd00. Reaches
//! the first 256 bytes of each function.
//!
//! Register [`PciConfigIo`] on the PIO bus at [`layout::PCI_CONFIG_IO_PORT`],
//! [`layout::PCI_CONFIG_IO_SIZE`] ports long.

#[cfg(doc)]
use arch::layout;

use super::bdf::Bdf;
use super::segment::SharedSegment;
use crate::bus::BusDevice;

/// CONFIG_ADDRESS: Enable bit (bit 31).
pub const CONFIG_ADDRESS_ENABLE: u32 = 1 << 31;
/// CONFIG_ADDRESS bits software may set: Enable, bus, device, function,
/// register dword number.
pub const CONFIG_ADDRESS_MASK: u32 = CONFIG_ADDRESS_ENABLE | 0x00ff_fffc;
/// Offset of CONFIG_DATA from CONFIG_ADDRESS.
const DATA_OFFSET: u64 = 4;
/// Ports decoded.
const PORTS: u64 = 8;

/// The 0xcf8/0xcfc configuration mechanism of one segment.
pub struct PciConfigIo {
    segment: SharedSegment,
    address: u32,
}

impl PciConfigIo {
    /// The mechanism for `segment`.
    pub fn new(segment: SharedSegment) -> Self {
        Self {
            segment,
            address: 0,
        }
    }

    /// The function and register the current CONFIG_ADDRESS selects, plus
    /// `byte` (0..4) into the data window; None while disabled.
    fn target(&self, byte: u64) -> Option<(Bdf, u16)> {
        if self.address & CONFIG_ADDRESS_ENABLE == 0 {
            return None;
        }
        let a = self.address;
        let bdf = Bdf::new(
            (a >> 16) as u8,
            ((a >> 11) & 0x1f) as u8,
            ((a >> 8) & 0x7) as u8,
        )?;
        Some((bdf, (a & 0xfc) as u16 + byte as u16))
    }
}

impl BusDevice for PciConfigIo {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        data.fill(0xff);
        for (i, b) in data.iter_mut().enumerate() {
            let Some(port) = offset.checked_add(i as u64) else {
                return;
            };
            if port < DATA_OFFSET {
                *b = (self.address >> (8 * port)) as u8;
            }
        }
        // The data window part, as one access.
        let (start, end) = (
            offset.max(DATA_OFFSET),
            offset.saturating_add(data.len() as u64).min(PORTS),
        );
        if start >= end {
            return;
        }
        let Some((bdf, reg)) = self.target(start - DATA_OFFSET) else {
            return;
        };
        let r = (start - offset) as usize..(end - offset) as usize;
        if let Some(d) = data.get_mut(r) {
            let seg = self.segment.lock().unwrap_or_else(|e| e.into_inner());
            seg.config_read(bdf, reg, d);
        }
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        if offset == 0 {
            // Only a full dword write sets CONFIG_ADDRESS; byte writes to
            // 0xcf8..0xcfb (for example the 0xcf9 reset control register of
            // some chipsets) are ignored.
            if let Ok(b) = <[u8; 4]>::try_from(data) {
                self.address = u32::from_le_bytes(b) & CONFIG_ADDRESS_MASK;
            }
            return;
        }
        if !(DATA_OFFSET..PORTS).contains(&offset) {
            return;
        }
        let n = (PORTS - offset).min(data.len() as u64) as usize;
        let Some((bdf, reg)) = self.target(offset - DATA_OFFSET) else {
            return;
        };
        if let Some(d) = data.get(..n) {
            let mut seg = self.segment.lock().unwrap_or_else(|e| e.into_inner());
            seg.config_write(bdf, reg, d);
        }
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

    const BASE: u64 = arch::layout::PCI_CONFIG_IO_PORT as u64;

    fn config_io() -> PciConfigIo {
        let mut seg = PciSegment::new(0, Arc::new(Bus::new()), Arc::new(Bus::new()));
        let ids = PciIds {
            vendor_id: 0x1b36,
            device_id: 0x000c,
            ..Default::default()
        };
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &ids);
        c.regs_mut().set_u32(0x100, 0x1234_5678);
        let f = PciFunction::new(c);
        seg.add_device(Bdf::new(1, 2, 3).unwrap(), Arc::new(Mutex::new(f)))
            .unwrap();
        PciConfigIo::new(Arc::new(Mutex::new(seg)))
    }

    fn select(io: &mut PciConfigIo, bus: u32, dev: u32, f: u32, reg: u32) {
        let a = CONFIG_ADDRESS_ENABLE | bus << 16 | dev << 11 | f << 8 | reg;
        io.write(BASE, 0, &a.to_le_bytes());
    }

    #[test]
    fn address_register() {
        let mut io = config_io();
        io.write(BASE, 0, &0xffff_ffffu32.to_le_bytes());
        let mut b = [0u8; 4];
        io.read(BASE, 0, &mut b);
        assert_eq!(u32::from_le_bytes(b), CONFIG_ADDRESS_MASK);
        // Byte writes (0xcf9) leave it alone.
        io.write(BASE, 1, &[0x06]);
        io.read(BASE, 0, &mut b);
        assert_eq!(u32::from_le_bytes(b), CONFIG_ADDRESS_MASK);
        let mut b2 = [0u8; 2];
        io.read(BASE, 2, &mut b2);
        assert_eq!(b2, [0xff, 0x80]);
    }

    #[test]
    fn data_window() {
        let mut io = config_io();
        select(&mut io, 1, 2, 3, 0);
        let mut b = [0u8; 4];
        io.read(BASE, 4, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x000c_1b36);
        let mut w = [0u8; 2];
        io.read(BASE, 6, &mut w);
        assert_eq!(u16::from_le_bytes(w), 0x000c);
        let mut one = [0u8; 1];
        io.read(BASE, 5, &mut one);
        assert_eq!(one, [0x1b]);
        // Past the window.
        io.read(BASE, 7, &mut w);
        assert_eq!(w, [0x00, 0xff]);
        // Absent function.
        select(&mut io, 1, 2, 4, 0);
        io.read(BASE, 4, &mut b);
        assert_eq!(b, [0xff; 4]);
        // Disabled.
        io.write(BASE, 0, &0x0001_1000u32.to_le_bytes());
        io.read(BASE, 4, &mut b);
        assert_eq!(b, [0xff; 4]);
        // Writes.
        select(&mut io, 1, 2, 3, 0x3c);
        io.write(BASE, 4, &[0x0b]);
        io.read(BASE, 4, &mut b);
        assert_eq!(b[0], 0x0b);
        io.write(BASE, 7, &[1, 2, 3, 4]);
        io.write(BASE, 9, &[1]);
        io.write(BASE, u64::MAX, &[1]);
        io.read(BASE, u64::MAX, &mut b);
    }

    #[test]
    fn only_first_256_bytes() {
        let mut io = config_io();
        // Register bits above 0xfc are not part of CONFIG_ADDRESS.
        select(&mut io, 1, 2, 3, 0);
        io.write(
            BASE,
            0,
            &(CONFIG_ADDRESS_ENABLE | 1 << 16 | 2 << 11 | 3 << 8 | 0x0f00_0000).to_le_bytes(),
        );
        let mut b = [0u8; 4];
        io.read(BASE, 4, &mut b);
        assert_eq!(u32::from_le_bytes(b), 0x000c_1b36);
    }
}
