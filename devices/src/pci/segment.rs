//! A PCI segment: the functions addressed by bus/device/function, their
//! configuration accesses, and the placement of their BARs on the buses.
//!
//! Bus numbers and BARs are assigned firmware-style when the machine is built
//! (see [`super::resources`]); configuration cycles are not routed through
//! bridges, every function that exists answers at its BDF and absent ones
//! read as all-ones. After every configuration write the function's BARs are
//! re-placed: a BAR decodes (is registered on the MMIO or PIO bus) exactly
//! while the Command register enables its space and its address is valid.
//! Placements that would overlap another range are refused with a log line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use thiserror::Error;

use super::bdf::{Bdf, FUNCTIONS_PER_DEVICE};
use super::config::{COMMAND, CONFIG_SPACE_SIZE, HEADER_TYPE, HEADER_TYPE_MULTIFUNCTION};
use super::device::SharedPciDevice;
use super::mapping::{wanted_mappings, AddressSpace, BarMapping, BarRegion};
use crate::bus::Bus;

/// Errors managing a segment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SegmentError {
    /// A function already answers at this address.
    #[error("a PCI function already exists at {0}")]
    Occupied(Bdf),
}

struct Slot {
    device: SharedPciDevice,
    mapped: Vec<BarMapping>,
}

/// The functions of one PCI segment.
pub struct PciSegment {
    id: u16,
    functions: BTreeMap<Bdf, Slot>,
    mmio_bus: Arc<Bus>,
    pio_bus: Arc<Bus>,
}

/// A segment shared by its configuration access mechanisms.
pub type SharedSegment = Arc<Mutex<PciSegment>>;

impl PciSegment {
    /// Segment `id` placing memory BARs on `mmio_bus` and I/O BARs on
    /// `pio_bus`.
    pub fn new(id: u16, mmio_bus: Arc<Bus>, pio_bus: Arc<Bus>) -> Self {
        Self {
            id,
            functions: BTreeMap::new(),
            mmio_bus,
            pio_bus,
        }
    }

    /// The segment number.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Adds a function at `bdf`, placing any BARs it already decodes.
    pub fn add_device(&mut self, bdf: Bdf, device: SharedPciDevice) -> Result<(), SegmentError> {
        if self.functions.contains_key(&bdf) {
            return Err(SegmentError::Occupied(bdf));
        }
        self.functions.insert(
            bdf,
            Slot {
                device,
                mapped: Vec::new(),
            },
        );
        self.update_mappings(bdf);
        Ok(())
    }

    /// The function at `bdf`.
    pub fn device(&self, bdf: Bdf) -> Option<SharedPciDevice> {
        self.functions.get(&bdf).map(|s| s.device.clone())
    }

    /// Every populated address, in order.
    pub fn bdfs(&self) -> Vec<Bdf> {
        self.functions.keys().copied().collect()
    }

    /// The BARs of `bdf` currently on a bus.
    pub fn mappings(&self, bdf: Bdf) -> Vec<BarMapping> {
        self.functions
            .get(&bdf)
            .map(|s| s.mapped.clone())
            .unwrap_or_default()
    }

    /// Splits an access at dword boundaries; calls `f(offset, range)` per
    /// piece inside configuration space, and `f` is skipped for pieces past
    /// it (left as the caller filled them).
    fn pieces(offset: u16, len: usize, mut f: impl FnMut(u16, std::ops::Range<usize>)) {
        let mut i = 0;
        while i < len {
            let off = usize::from(offset) + i;
            let n = (4 - off % 4).min(len - i);
            if off < CONFIG_SPACE_SIZE {
                f(off as u16, i..i + n);
            }
            i += n;
        }
    }

    /// Guest configuration read. Absent functions and bytes past 4 KiB read
    /// as all-ones.
    pub fn config_read(&self, bdf: Bdf, offset: u16, data: &mut [u8]) {
        data.fill(0xff);
        let Some(slot) = self.functions.get(&bdf) else {
            return;
        };
        {
            let mut dev = slot.device.lock().unwrap_or_else(|e| e.into_inner());
            Self::pieces(offset, data.len(), |off, r| {
                if let Some(d) = data.get_mut(r) {
                    dev.config_read(off, d);
                }
            });
        }
        // Header Type bit 7 of function 0 tells software to scan functions
        // 1..8; the segment knows whether there are any.
        if bdf.function() == 0 && self.has_other_functions(bdf) {
            let at = usize::from(HEADER_TYPE).checked_sub(usize::from(offset));
            if let Some(b) = at.and_then(|i| data.get_mut(i)) {
                *b |= HEADER_TYPE_MULTIFUNCTION;
            }
        }
    }

    fn has_other_functions(&self, bdf: Bdf) -> bool {
        (1..FUNCTIONS_PER_DEVICE).any(|f| {
            Bdf::new(bdf.bus(), bdf.device(), f).is_some_and(|b| self.functions.contains_key(&b))
        })
    }

    /// Guest configuration write; re-places the function's BARs afterwards.
    /// Writes to absent functions are dropped.
    pub fn config_write(&mut self, bdf: Bdf, offset: u16, data: &[u8]) {
        let Some(slot) = self.functions.get(&bdf) else {
            return;
        };
        {
            let mut dev = slot.device.lock().unwrap_or_else(|e| e.into_inner());
            Self::pieces(offset, data.len(), |off, r| {
                if let Some(d) = data.get(r) {
                    dev.config_write(off, d);
                }
            });
        }
        self.update_mappings(bdf);
    }

    fn bus(&self, space: AddressSpace) -> &Bus {
        match space {
            AddressSpace::Mmio => &self.mmio_bus,
            AddressSpace::Pio => &self.pio_bus,
        }
    }

    /// Brings the bus registrations of `bdf`'s BARs in line with its Command
    /// register and BAR values.
    fn update_mappings(&mut self, bdf: Bdf) {
        let Some(slot) = self.functions.get(&bdf) else {
            return;
        };
        let device = slot.device.clone();
        let wanted = {
            let mut dev = device.lock().unwrap_or_else(|e| e.into_inner());
            let mut cmd = [0u8; 2];
            dev.config_read(COMMAND, &mut cmd);
            wanted_mappings(u16::from_le_bytes(cmd), &dev.bars())
        };
        let current = slot.mapped.clone();
        let mut kept = Vec::new();
        for m in current {
            if wanted.contains(&m) {
                kept.push(m);
            } else if let Err(e) = self.bus(m.space).remove(m.base) {
                crate::warn_limited!("pci {bdf}: unmapping BAR{} at {:#x}: {e}", m.bar, m.base);
            }
        }
        for m in wanted {
            if kept.contains(&m) {
                continue;
            }
            let region = Arc::new(Mutex::new(BarRegion::new(device.clone(), m.bar)));
            match self.bus(m.space).insert(region, m.base, m.len) {
                Ok(()) => kept.push(m),
                Err(e) => crate::warn_limited!(
                    "pci {bdf}: BAR{} at {:#x}+{:#x} not mapped: {e}",
                    m.bar,
                    m.base,
                    m.len
                ),
            }
        }
        if let Some(slot) = self.functions.get_mut(&bdf) {
            slot.mapped = kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::bar::{bar_offset, PciBar};
    use crate::pci::config::{
        ConfigSpace, HeaderType, PciIds, COMMAND_IO_SPACE, COMMAND_MEMORY_SPACE,
    };
    use crate::pci::device::{PciDevice, PciFunction};
    use crate::pci::BarInfo;

    /// A function whose BARs echo the BAR index and offset.
    struct Echo(PciFunction);

    impl PciDevice for Echo {
        fn config_read(&mut self, offset: u16, data: &mut [u8]) {
            self.0.config_read(offset, data)
        }
        fn config_write(&mut self, offset: u16, data: &[u8]) {
            self.0.config_write(offset, data)
        }
        fn bars(&self) -> Vec<BarInfo> {
            self.0.bars()
        }
        fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
            data.fill(bar * 0x10 + offset as u8);
        }
        fn bar_write(&mut self, _bar: u8, _offset: u64, _data: &[u8]) {}
    }

    fn echo() -> Arc<Mutex<Echo>> {
        let mut c = ConfigSpace::new(
            HeaderType::Endpoint,
            &PciIds {
                vendor_id: 0x1b36,
                device_id: 0x1234,
                ..Default::default()
            },
        );
        c.add_bar(0, PciBar::memory32(0x1000)).unwrap();
        c.add_bar(2, PciBar::memory64(0x10_0000, true)).unwrap();
        c.add_bar(4, PciBar::io(0x20)).unwrap();
        Arc::new(Mutex::new(Echo(PciFunction::new(c))))
    }

    fn setup() -> (PciSegment, Arc<Bus>, Arc<Bus>, Bdf) {
        let mmio = Arc::new(Bus::new());
        let pio = Arc::new(Bus::new());
        let mut seg = PciSegment::new(0, mmio.clone(), pio.clone());
        let bdf = Bdf::new(1, 0, 0).unwrap();
        seg.add_device(bdf, echo()).unwrap();
        (seg, mmio, pio, bdf)
    }

    fn wr32(seg: &mut PciSegment, bdf: Bdf, off: u16, v: u32) {
        seg.config_write(bdf, off, &v.to_le_bytes());
    }

    fn rd32(seg: &PciSegment, bdf: Bdf, off: u16) -> u32 {
        let mut b = [0u8; 4];
        seg.config_read(bdf, off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn absent_functions_read_all_ones() {
        let (mut seg, _, _, bdf) = setup();
        assert_eq!(rd32(&seg, bdf, 0), 0x1234_1b36);
        let other = Bdf::new(1, 1, 0).unwrap();
        assert_eq!(rd32(&seg, other, 0), u32::MAX);
        wr32(&mut seg, other, 4, 2);
        assert_eq!(
            seg.add_device(bdf, echo()),
            Err(SegmentError::Occupied(bdf))
        );
        // Unaligned and past-the-end accesses.
        let mut b = [0u8; 4];
        seg.config_read(bdf, 2, &mut b);
        assert_eq!(b, [0x34, 0x12, 0, 0]);
        seg.config_read(bdf, 0xffe, &mut b);
        assert_eq!(b, [0, 0, 0xff, 0xff]);
        seg.config_read(bdf, u16::MAX, &mut b);
        assert_eq!(b, [0xff; 4]);
    }

    #[test]
    fn multifunction_bit_follows_population() {
        let (mut seg, _, _, bdf) = setup();
        assert_eq!(rd32(&seg, bdf, 0x0c) >> 16 & 0xff, 0);
        seg.add_device(Bdf::new(1, 0, 5).unwrap(), echo()).unwrap();
        assert_eq!(rd32(&seg, bdf, 0x0c) >> 16 & 0xff, 0x80);
        let mut b = [0u8; 1];
        seg.config_read(bdf, HEADER_TYPE, &mut b);
        assert_eq!(b, [0x80]);
        seg.config_read(bdf, HEADER_TYPE + 1, &mut b);
        assert_eq!(b, [0]);
        // Not on function 5 itself.
        assert_eq!(rd32(&seg, Bdf::new(1, 0, 5).unwrap(), 0x0c) >> 16 & 0xff, 0);
    }

    #[test]
    fn bar_mapping_follows_command_and_address() {
        let (mut seg, mmio, pio, bdf) = setup();
        wr32(&mut seg, bdf, bar_offset(0), 0xc000_0000);
        wr32(&mut seg, bdf, bar_offset(2), 0x0);
        wr32(&mut seg, bdf, bar_offset(3), 0x40);
        wr32(&mut seg, bdf, bar_offset(4), 0x1000);
        assert!(mmio.ranges().is_empty(), "decode disabled");
        wr32(&mut seg, bdf, COMMAND, u32::from(COMMAND_MEMORY_SPACE));
        assert_eq!(mmio.ranges().len(), 2);
        assert!(pio.ranges().is_empty());
        let mut b = [0u8; 2];
        mmio.read(0xc000_0010, &mut b).unwrap();
        assert_eq!(b, [0x10, 0x10]);
        mmio.read(0x40_0000_0003, &mut b).unwrap();
        assert_eq!(b, [0x23, 0x23]);
        // Move BAR0.
        wr32(&mut seg, bdf, bar_offset(0), 0xc010_0000);
        assert!(mmio.resolve(0xc000_0000).is_none());
        assert!(mmio.resolve(0xc010_0000).is_some());
        // I/O decode.
        wr32(
            &mut seg,
            bdf,
            COMMAND,
            u32::from(COMMAND_MEMORY_SPACE | COMMAND_IO_SPACE),
        );
        assert_eq!(pio.ranges().len(), 1);
        pio.read(0x1001, &mut b).unwrap();
        assert_eq!(b, [0x41, 0x41]);
        // Disable decode: everything goes.
        wr32(&mut seg, bdf, COMMAND, 0);
        assert!(mmio.ranges().is_empty());
        assert!(pio.ranges().is_empty());
        assert!(seg.mappings(bdf).is_empty());
    }

    #[test]
    fn collisions_are_refused() {
        let (mut seg, mmio, _, a) = setup();
        let b = Bdf::new(1, 1, 0).unwrap();
        seg.add_device(b, echo()).unwrap();
        wr32(&mut seg, a, bar_offset(0), 0xc000_0000);
        wr32(&mut seg, a, COMMAND, u32::from(COMMAND_MEMORY_SPACE));
        wr32(&mut seg, b, bar_offset(0), 0xc000_0000);
        wr32(&mut seg, b, COMMAND, u32::from(COMMAND_MEMORY_SPACE));
        assert_eq!(seg.mappings(a).len(), 1);
        assert!(seg.mappings(b).is_empty());
        // Moving it elsewhere maps it.
        wr32(&mut seg, b, bar_offset(0), 0xc000_1000);
        assert_eq!(seg.mappings(b).len(), 1);
        assert_eq!(mmio.ranges().len(), 2);
        // Sizing with decode on: the all-ones address is still placed (it
        // does not collide), and restoring moves it back.
        wr32(&mut seg, b, bar_offset(0), u32::MAX);
        assert_eq!(seg.mappings(b)[0].base, 0xffff_f000);
        wr32(&mut seg, b, bar_offset(0), 0xc000_1000);
        assert_eq!(seg.mappings(b)[0].base, 0xc000_1000);
        // An address of 0 is not valid: not mapped.
        wr32(&mut seg, b, bar_offset(0), 0);
        assert!(seg.mappings(b).is_empty());
    }

    #[test]
    fn adapters_reach_the_device() {
        let (mut seg, mmio, _, bdf) = setup();
        wr32(&mut seg, bdf, bar_offset(0), 0xc000_0000);
        wr32(&mut seg, bdf, COMMAND, u32::from(COMMAND_MEMORY_SPACE));
        let (range, dev) = mmio.resolve(0xc000_0004).unwrap();
        let mut b = [0u8; 1];
        dev.lock().unwrap().read(range.base, 4, &mut b);
        assert_eq!(b, [4]);
    }
}
