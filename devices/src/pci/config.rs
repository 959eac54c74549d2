//! The 4 KiB configuration space of one PCI function (PCI 3.0 6.1,
//! PCIe 6.0 7.5.1): header, BARs, the capability list in 0x40..0x100 and the
//! extended capability list from 0x100.
//!
//! Guest accesses go through [`ConfigSpace::read`] and [`ConfigSpace::write`],
//! which apply the per-bit write and RW1C masks; the device model sets values
//! and masks through [`ConfigSpace::regs_mut`].

use super::bar::{bar_offset, BarInfo, PciBar, NUM_BARS_TYPE0, NUM_BARS_TYPE1};
pub use super::config_error::ConfigError;
use super::regblock::RegisterBlock;

/// Size of a PCIe function's configuration space.
pub const CONFIG_SPACE_SIZE: usize = 4096;
/// Size of the conventional PCI part (reachable through 0xcf8/0xcfc).
pub const PCI_CONFIG_SPACE_SIZE: usize = 256;

// Common header (PCIe 6.0 7.5.1.1).
/// Vendor ID.
pub const VENDOR_ID: u16 = 0x00;
/// Device ID.
pub const DEVICE_ID: u16 = 0x02;
/// Command register (PCIe 6.0 7.5.1.1.3).
pub const COMMAND: u16 = 0x04;
/// Status register (PCIe 6.0 7.5.1.1.4).
pub const STATUS: u16 = 0x06;
/// Revision ID.
pub const REVISION_ID: u16 = 0x08;
/// Class code: programming interface (0x09), sub-class (0x0a), base (0x0b).
pub const CLASS_CODE: u16 = 0x09;
/// Cache line size (RW, no effect on PCIe).
pub const CACHE_LINE_SIZE: u16 = 0x0c;
/// Latency timer (RO 0 on PCIe).
pub const LATENCY_TIMER: u16 = 0x0d;
/// Header type (bit 7: multi-function device).
pub const HEADER_TYPE: u16 = 0x0e;
/// BIST.
pub const BIST: u16 = 0x0f;
/// Capabilities pointer.
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt line (RW scratch for software).
pub const INTERRUPT_LINE: u16 = 0x3c;
/// Interrupt pin (0 = none, 1..4 = INTA..INTD).
pub const INTERRUPT_PIN: u16 = 0x3d;

// Type 0 header (PCIe 6.0 7.5.1.2).
/// Subsystem vendor ID.
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
/// Subsystem ID.
pub const SUBSYSTEM_ID: u16 = 0x2e;
/// Expansion ROM base address (type 0).
pub const EXPANSION_ROM_BASE: u16 = 0x30;

// Type 1 header (PCIe 6.0 7.5.1.3).
/// Primary bus number.
pub const PRIMARY_BUS: u16 = 0x18;
/// Secondary bus number.
pub const SECONDARY_BUS: u16 = 0x19;
/// Subordinate bus number.
pub const SUBORDINATE_BUS: u16 = 0x1a;
/// Secondary latency timer (RO 0 on PCIe).
pub const SECONDARY_LATENCY_TIMER: u16 = 0x1b;
/// I/O base (bits 7:4 = address 15:12, bits 3:0 = addressing capability).
pub const IO_BASE: u16 = 0x1c;
/// I/O limit.
pub const IO_LIMIT: u16 = 0x1d;
/// Secondary status.
pub const SECONDARY_STATUS: u16 = 0x1e;
/// Memory base (bits 15:4 = address 31:20).
pub const MEMORY_BASE: u16 = 0x20;
/// Memory limit.
pub const MEMORY_LIMIT: u16 = 0x22;
/// Prefetchable memory base (bits 3:0 = 1: 64-bit).
pub const PREF_MEMORY_BASE: u16 = 0x24;
/// Prefetchable memory limit.
pub const PREF_MEMORY_LIMIT: u16 = 0x26;
/// Prefetchable base upper 32 bits.
pub const PREF_BASE_UPPER: u16 = 0x28;
/// Prefetchable limit upper 32 bits.
pub const PREF_LIMIT_UPPER: u16 = 0x2c;
/// I/O base upper 16 bits.
pub const IO_BASE_UPPER: u16 = 0x30;
/// I/O limit upper 16 bits.
pub const IO_LIMIT_UPPER: u16 = 0x32;
/// Expansion ROM base address (type 1).
pub const BRIDGE_EXPANSION_ROM_BASE: u16 = 0x38;
/// Bridge control (PCIe 6.0 7.5.1.3.13).
pub const BRIDGE_CONTROL: u16 = 0x3e;

// Command register bits (PCIe 6.0 7.5.1.1.3).
/// I/O Space Enable.
pub const COMMAND_IO_SPACE: u16 = 1 << 0;
/// Memory Space Enable.
pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
/// Bus Master Enable.
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Parity Error Response.
pub const COMMAND_PARITY_ERROR_RESPONSE: u16 = 1 << 6;
/// SERR# Enable.
pub const COMMAND_SERR_ENABLE: u16 = 1 << 8;
/// Interrupt Disable.
pub const COMMAND_INTERRUPT_DISABLE: u16 = 1 << 10;

// Status register bits (PCIe 6.0 7.5.1.1.4).
/// Capabilities List.
pub const STATUS_CAPABILITIES_LIST: u16 = 1 << 4;
/// The RW1C error bits: Master Data Parity Error, Signaled Target Abort,
/// Received Target Abort, Received Master Abort, Signaled System Error,
/// Detected Parity Error.
pub const STATUS_RW1C_BITS: u16 = (1 << 8) | (0x1f << 11);

/// Header type bit 7: multi-function device.
pub const HEADER_TYPE_MULTIFUNCTION: u8 = 1 << 7;
/// Bridge control bits we implement as RW: Parity Error Response, SERR#
/// Enable, ISA Enable, VGA Enable, VGA 16-bit Decode, Secondary Bus Reset.
pub const BRIDGE_CONTROL_RW_BITS: u16 = 0x5f;

/// Standard capabilities live in 0x40..0x100.
pub const CAPABILITY_START: u16 = 0x40;
/// Extended capabilities live in 0x100..0x1000 (PCIe 6.0 7.6).
pub const EXT_CAPABILITY_START: u16 = 0x100;

/// The two header layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderType {
    /// Type 0: endpoints and host bridges.
    Endpoint = 0,
    /// Type 1: PCI-to-PCI bridges, root ports and switch ports.
    Bridge = 1,
}

/// The identity of a function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PciIds {
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Revision ID.
    pub revision_id: u8,
    /// 24-bit class code: base class, sub-class, programming interface.
    pub class_code: u32,
    /// Subsystem vendor ID (type 0 only).
    pub subsystem_vendor_id: u16,
    /// Subsystem ID (type 0 only).
    pub subsystem_id: u16,
}

/// An extended capability found in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtCapability {
    /// PCI Express Extended Capability ID.
    pub id: u16,
    /// Capability version.
    pub version: u8,
    /// Offset of its header in configuration space.
    pub offset: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BarSlot {
    Empty,
    Bar(PciBar),
    Upper,
}

/// The configuration space of one function.
#[derive(Clone, Debug)]
pub struct ConfigSpace {
    regs: RegisterBlock,
    header: HeaderType,
    bars: [BarSlot; NUM_BARS_TYPE0 as usize],
    /// Offset of the last standard capability (0: none yet).
    last_cap: u16,
    next_cap: u16,
    /// Offset of the last extended capability (0: none yet).
    last_ext: u16,
    next_ext: u16,
}

impl ConfigSpace {
    /// A configuration space with the given header layout and identity.
    pub fn new(header: HeaderType, ids: &PciIds) -> Self {
        let mut r = RegisterBlock::new(CONFIG_SPACE_SIZE);
        let at = usize::from;
        r.set_u16(at(VENDOR_ID), ids.vendor_id);
        r.set_u16(at(DEVICE_ID), ids.device_id);
        r.set_wmask_u16(
            at(COMMAND),
            COMMAND_IO_SPACE
                | COMMAND_MEMORY_SPACE
                | COMMAND_BUS_MASTER
                | COMMAND_PARITY_ERROR_RESPONSE
                | COMMAND_SERR_ENABLE
                | COMMAND_INTERRUPT_DISABLE,
        );
        r.set_w1c_u16(at(STATUS), STATUS_RW1C_BITS);
        r.set_u8(at(REVISION_ID), ids.revision_id);
        r.set(at(CLASS_CODE), u64::from(ids.class_code & 0xff_ffff), 3);
        r.set_wmask_u8(at(CACHE_LINE_SIZE), 0xff);
        r.set_u8(at(HEADER_TYPE), header as u8);
        r.set_wmask_u8(at(INTERRUPT_LINE), 0xff);
        match header {
            HeaderType::Endpoint => {
                r.set_u16(at(SUBSYSTEM_VENDOR_ID), ids.subsystem_vendor_id);
                r.set_u16(at(SUBSYSTEM_ID), ids.subsystem_id);
            }
            HeaderType::Bridge => {
                r.set_wmask(at(PRIMARY_BUS), 0xff_ffff, 3);
                // I/O base/limit: 16-bit decode, 4 KiB granularity.
                r.set_wmask_u8(at(IO_BASE), 0xf0);
                r.set_wmask_u8(at(IO_LIMIT), 0xf0);
                r.set_w1c_u16(at(SECONDARY_STATUS), STATUS_RW1C_BITS);
                // Memory windows: address bits 31:20.
                r.set_wmask_u16(at(MEMORY_BASE), 0xfff0);
                r.set_wmask_u16(at(MEMORY_LIMIT), 0xfff0);
                // Prefetchable windows: 64-bit capable (low nibble 1).
                r.set_u16(at(PREF_MEMORY_BASE), 0x1);
                r.set_u16(at(PREF_MEMORY_LIMIT), 0x1);
                r.set_wmask_u16(at(PREF_MEMORY_BASE), 0xfff0);
                r.set_wmask_u16(at(PREF_MEMORY_LIMIT), 0xfff0);
                r.set_wmask_u32(at(PREF_BASE_UPPER), u32::MAX);
                r.set_wmask_u32(at(PREF_LIMIT_UPPER), u32::MAX);
                r.set_wmask_u16(at(BRIDGE_CONTROL), BRIDGE_CONTROL_RW_BITS);
            }
        }
        Self {
            regs: r,
            header,
            bars: [BarSlot::Empty; NUM_BARS_TYPE0 as usize],
            last_cap: 0,
            next_cap: CAPABILITY_START,
            last_ext: 0,
            next_ext: EXT_CAPABILITY_START,
        }
    }

    /// The header layout.
    pub fn header_type(&self) -> HeaderType {
        self.header
    }

    /// The registers, for device-side reads.
    pub fn regs(&self) -> &RegisterBlock {
        &self.regs
    }

    /// The registers, for device-side changes of values and masks.
    pub fn regs_mut(&mut self) -> &mut RegisterBlock {
        &mut self.regs
    }

    /// Guest read of any width at any offset; bytes past 4 KiB read all-ones.
    pub fn read(&self, offset: u16, data: &mut [u8]) {
        self.regs.read(offset.into(), data);
    }

    /// Guest write of any width at any offset, through the masks.
    pub fn write(&mut self, offset: u16, data: &[u8]) {
        self.regs.write(offset.into(), data);
    }

    /// Byte at `offset`.
    pub fn read_u8(&self, offset: u16) -> u8 {
        self.regs.get_u8(offset.into())
    }

    /// Word at `offset`.
    pub fn read_u16(&self, offset: u16) -> u16 {
        self.regs.get_u16(offset.into())
    }

    /// Dword at `offset`.
    pub fn read_u32(&self, offset: u16) -> u32 {
        self.regs.get_u32(offset.into())
    }

    /// The Command register.
    pub fn command(&self) -> u16 {
        self.read_u16(COMMAND)
    }

    /// Sets the Interrupt Pin (0 = none, 1 = INTA#, ...).
    pub fn set_interrupt_pin(&mut self, pin: u8) {
        self.regs.set_u8(INTERRUPT_PIN.into(), pin);
    }

    /// Sets or clears the multi-function bit of the Header Type register.
    pub fn set_multifunction(&mut self, multifunction: bool) {
        let h = self.read_u8(HEADER_TYPE) & !HEADER_TYPE_MULTIFUNCTION;
        let m = if multifunction {
            HEADER_TYPE_MULTIFUNCTION
        } else {
            0
        };
        self.regs.set_u8(HEADER_TYPE.into(), h | m);
    }

    fn num_bars(&self) -> u8 {
        match self.header {
            HeaderType::Endpoint => NUM_BARS_TYPE0,
            HeaderType::Bridge => NUM_BARS_TYPE1,
        }
    }

    /// Implements BAR `index` (a 64-bit BAR also takes `index + 1`).
    pub fn add_bar(&mut self, index: u8, bar: PciBar) -> Result<(), ConfigError> {
        bar.validate()?;
        let last = index
            .checked_add(bar.slots() - 1)
            .filter(|&l| l < self.num_bars())
            .ok_or(ConfigError::BarIndex(index))?;
        for i in index..=last {
            if self.bars.get(usize::from(i)) != Some(&BarSlot::Empty) {
                return Err(ConfigError::BarInUse(i));
            }
        }
        let off = usize::from(bar_offset(index));
        let mask = bar.write_mask();
        self.regs.set_u32(off, bar.flags());
        self.regs.set_wmask_u32(off, mask as u32);
        if let Some(s) = self.bars.get_mut(usize::from(index)) {
            *s = BarSlot::Bar(bar);
        }
        if last != index {
            self.regs.set_u32(off + 4, 0);
            self.regs.set_wmask_u32(off + 4, (mask >> 32) as u32);
            if let Some(s) = self.bars.get_mut(usize::from(last)) {
                *s = BarSlot::Upper;
            }
        }
        Ok(())
    }

    /// BAR `index` as currently programmed, if implemented (the low half of
    /// a 64-bit BAR).
    pub fn bar(&self, index: u8) -> Option<BarInfo> {
        let BarSlot::Bar(bar) = *self.bars.get(usize::from(index))? else {
            return None;
        };
        let off = bar_offset(index);
        let low = self.read_u32(off);
        let high = if bar.slots() == 2 {
            self.read_u32(off + 4)
        } else {
            0
        };
        Some(BarInfo {
            index,
            bar,
            address: bar.decode(low, high),
        })
    }

    /// Every implemented BAR as currently programmed.
    pub fn bars(&self) -> Vec<BarInfo> {
        (0..self.num_bars()).filter_map(|i| self.bar(i)).collect()
    }

    /// Appends a standard capability (PCI 3.0 6.7). `block` holds the whole
    /// capability, offsets relative to its start; its first two bytes (ID and
    /// Next Pointer) are filled in here. Returns the capability's offset.
    pub fn add_capability(&mut self, id: u8, block: &RegisterBlock) -> Result<u16, ConfigError> {
        let len = block.len();
        if len < 2 {
            return Err(ConfigError::CapabilityLength(len));
        }
        let off = self.next_cap.next_multiple_of(4);
        let end = usize::from(off) + len;
        if end > PCI_CONFIG_SPACE_SIZE {
            return Err(ConfigError::NoSpace(len));
        }
        let o = usize::from(off);
        if !self.regs.copy_from(o, block) {
            return Err(ConfigError::NoSpace(len));
        }
        self.regs.set_u8(o, id);
        self.regs.set_u8(o + 1, 0);
        self.regs.set_wmask(o, 0, 2);
        self.regs.set_w1c(o, 0, 2);
        if self.last_cap == 0 {
            self.regs.set_u8(CAPABILITIES_POINTER.into(), off as u8);
            let status = self.read_u16(STATUS) | STATUS_CAPABILITIES_LIST;
            self.regs.set_u16(STATUS.into(), status);
        } else {
            self.regs.set_u8(usize::from(self.last_cap) + 1, off as u8);
        }
        self.last_cap = off;
        self.next_cap = end as u16;
        Ok(off)
    }

    /// Appends a PCI Express extended capability (PCIe 6.0 7.6.3). `block`
    /// holds the whole capability, offsets relative to its start; its first
    /// dword (ID, version, next offset) is filled in here. Returns its offset.
    pub fn add_ext_capability(
        &mut self,
        id: u16,
        version: u8,
        block: &RegisterBlock,
    ) -> Result<u16, ConfigError> {
        let len = block.len();
        if len < 4 {
            return Err(ConfigError::CapabilityLength(len));
        }
        let off = self.next_ext.next_multiple_of(4);
        let end = usize::from(off) + len;
        if end > CONFIG_SPACE_SIZE {
            return Err(ConfigError::NoSpace(len));
        }
        let o = usize::from(off);
        if !self.regs.copy_from(o, block) {
            return Err(ConfigError::NoSpace(len));
        }
        self.regs
            .set_u32(o, u32::from(id) | (u32::from(version & 0xf) << 16));
        self.regs.set_wmask(o, 0, 4);
        self.regs.set_w1c(o, 0, 4);
        if self.last_ext != 0 {
            let prev = usize::from(self.last_ext);
            let header = self.regs.get_u32(prev) & 0x000f_ffff;
            self.regs.set_u32(prev, header | (u32::from(off) << 20));
        }
        self.last_ext = off;
        self.next_ext = end as u16;
        Ok(off)
    }

    /// The standard capability list: (ID, offset) pairs in list order.
    pub fn capabilities(&self) -> Vec<(u8, u16)> {
        let mut out = Vec::new();
        if self.read_u16(STATUS) & STATUS_CAPABILITIES_LIST == 0 {
            return out;
        }
        let mut ptr = u16::from(self.read_u8(CAPABILITIES_POINTER) & 0xfc);
        // At most 48 dword-aligned capabilities fit; the bound stops loops.
        for _ in 0..48 {
            if ptr < CAPABILITY_START {
                break;
            }
            out.push((self.read_u8(ptr), ptr));
            ptr = u16::from(self.read_u8(ptr + 1) & 0xfc);
        }
        out
    }

    /// The extended capability list in list order.
    pub fn ext_capabilities(&self) -> Vec<ExtCapability> {
        let mut out = Vec::new();
        let mut ptr = EXT_CAPABILITY_START;
        for _ in 0..(CONFIG_SPACE_SIZE - PCI_CONFIG_SPACE_SIZE) / 4 {
            let h = self.read_u32(ptr);
            if h == 0 || h == u32::MAX {
                break;
            }
            out.push(ExtCapability {
                id: h as u16,
                version: ((h >> 16) & 0xf) as u8,
                offset: ptr,
            });
            ptr = ((h >> 20) & 0xffc) as u16;
            if ptr < EXT_CAPABILITY_START {
                break;
            }
        }
        out
    }

    /// Offset of the first standard capability with this ID.
    pub fn find_capability(&self, id: u8) -> Option<u16> {
        self.capabilities()
            .into_iter()
            .find(|&(i, _)| i == id)
            .map(|(_, o)| o)
    }

    /// Offset of the first extended capability with this ID.
    pub fn find_ext_capability(&self, id: u16) -> Option<u16> {
        self.ext_capabilities()
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> PciIds {
        PciIds {
            vendor_id: 0x1234,
            device_id: 0x5678,
            revision_id: 2,
            class_code: 0x05_02_10,
            subsystem_vendor_id: 0xaaaa,
            subsystem_id: 0xbbbb,
        }
    }

    #[test]
    fn type0_header() {
        let c = ConfigSpace::new(HeaderType::Endpoint, &ids());
        assert_eq!(c.read_u32(0), 0x5678_1234);
        assert_eq!(c.read_u32(8), 0x0502_1002);
        assert_eq!(c.read_u8(HEADER_TYPE), 0);
        assert_eq!(c.read_u32(0x2c), 0xbbbb_aaaa);
        assert_eq!(c.read_u32(0x100), 0);
        let mut b = [0u8; 4];
        c.read(0xffe, &mut b);
        assert_eq!(b, [0, 0, 0xff, 0xff]);
        c.read(u16::MAX, &mut b);
        assert_eq!(b, [0xff; 4]);
    }

    #[test]
    fn header_masks() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &ids());
        c.write(0, &[0xff; 4]);
        assert_eq!(c.read_u32(0), 0x5678_1234);
        c.write(COMMAND, &0xffff_ffffu32.to_le_bytes());
        assert_eq!(c.command(), 0x0547);
        // Status error bits are RW1C.
        c.regs_mut().set_u16(STATUS.into(), 0x8000 | 0x0100);
        c.write(STATUS, &0x0100u16.to_le_bytes());
        assert_eq!(c.read_u16(STATUS), 0x8000);
        // A dword write of Command with Status zero leaves Status alone.
        c.write(COMMAND, &0x0000_0002u32.to_le_bytes());
        assert_eq!(c.read_u16(STATUS), 0x8000);
        assert_eq!(c.command(), 2);
        c.write(INTERRUPT_LINE, &[0x0b, 0x04]);
        assert_eq!(c.read_u8(INTERRUPT_LINE), 0x0b);
        assert_eq!(c.read_u8(INTERRUPT_PIN), 0);
        // Expansion ROM BAR reads 0 after sizing.
        c.write(EXPANSION_ROM_BASE, &[0xff; 4]);
        assert_eq!(c.read_u32(EXPANSION_ROM_BASE), 0);
        c.set_multifunction(true);
        assert_eq!(c.read_u8(HEADER_TYPE), 0x80);
    }

    #[test]
    fn type1_header_masks() {
        let mut c = ConfigSpace::new(HeaderType::Bridge, &ids());
        assert_eq!(c.read_u8(HEADER_TYPE), 1);
        c.write(PRIMARY_BUS, &[0, 1, 4, 0xff]);
        assert_eq!(c.read_u32(PRIMARY_BUS), 0x0004_0100);
        c.write(MEMORY_BASE, &0xffff_ffffu32.to_le_bytes());
        assert_eq!(c.read_u32(MEMORY_BASE), 0xfff0_fff0);
        c.write(PREF_MEMORY_BASE, &0u32.to_le_bytes());
        assert_eq!(c.read_u32(PREF_MEMORY_BASE), 0x0001_0001);
        c.write(IO_BASE, &[0xff, 0xff]);
        assert_eq!(c.read_u16(IO_BASE), 0xf0f0);
        c.write(IO_BASE_UPPER, &[0xff; 4]);
        assert_eq!(c.read_u32(IO_BASE_UPPER), 0);
        c.regs_mut().set_u16(SECONDARY_STATUS.into(), 0x2000);
        c.write(SECONDARY_STATUS, &[0, 0x20]);
        assert_eq!(c.read_u16(SECONDARY_STATUS), 0);
        c.write(BRIDGE_CONTROL, &[0xff, 0xff]);
        assert_eq!(c.read_u16(BRIDGE_CONTROL), 0x5f);
        c.write(BRIDGE_EXPANSION_ROM_BASE, &[0xff; 4]);
        assert_eq!(c.read_u32(BRIDGE_EXPANSION_ROM_BASE), 0);
    }

    #[test]
    fn bar_sizing() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &ids());
        c.add_bar(0, PciBar::memory32(0x1000)).unwrap();
        c.add_bar(2, PciBar::memory64(0x20_0000, true)).unwrap();
        c.add_bar(4, PciBar::io(0x40)).unwrap();
        assert_eq!(
            c.add_bar(3, PciBar::memory32(0x1000)),
            Err(ConfigError::BarInUse(3))
        );
        assert_eq!(
            c.add_bar(5, PciBar::memory64(0x1000, false)),
            Err(ConfigError::BarIndex(5))
        );
        assert_eq!(
            c.add_bar(6, PciBar::memory32(0x1000)),
            Err(ConfigError::BarIndex(6))
        );
        for bar in 0..6u16 {
            c.write(0x10 + 4 * bar, &u32::MAX.to_le_bytes());
        }
        assert_eq!(c.read_u32(0x10), 0xffff_f000);
        assert_eq!(c.read_u32(0x14), 0);
        assert_eq!(c.read_u32(0x18), 0xffe0_000c);
        assert_eq!(c.read_u32(0x1c), 0xffff_ffff);
        assert_eq!(c.read_u32(0x20), 0xffc1);
        assert_eq!(c.read_u32(0x24), 0);
        c.write(0x18, &0x0060_0000u32.to_le_bytes());
        c.write(0x1c, &0x40u32.to_le_bytes());
        let bars = c.bars();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[1].index, 2);
        assert_eq!(bars[1].address, 0x40_0060_0000);
        assert_eq!(bars[1].size(), 0x20_0000);
        assert!(c.bar(3).is_none());
        // Type 1 has two BARs.
        let mut b = ConfigSpace::new(HeaderType::Bridge, &ids());
        b.add_bar(0, PciBar::memory64(0x1_0000, false)).unwrap();
        assert_eq!(
            b.add_bar(2, PciBar::memory32(0x1000)),
            Err(ConfigError::BarIndex(2))
        );
    }

    #[test]
    fn capability_lists() {
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &ids());
        assert!(c.capabilities().is_empty());
        assert!(c.ext_capabilities().is_empty());
        let mut blk = RegisterBlock::new(6);
        blk.set_u8(0, 0xee); // overwritten by the builder
        blk.set_u16(2, 0xbeef);
        blk.set_wmask_u16(4, 0x00ff);
        assert_eq!(c.add_capability(0x01, &blk), Ok(0x40));
        assert_eq!(c.add_capability(0x10, &RegisterBlock::new(0x3c)), Ok(0x48));
        assert_eq!(c.add_capability(0x11, &RegisterBlock::new(12)), Ok(0x84));
        assert_eq!(
            c.capabilities(),
            vec![(0x01, 0x40), (0x10, 0x48), (0x11, 0x84)]
        );
        assert_eq!(
            c.read_u16(STATUS) & STATUS_CAPABILITIES_LIST,
            STATUS_CAPABILITIES_LIST
        );
        assert_eq!(c.read_u32(0x40), 0xbeef_4801);
        c.write(0x40, &[0xff; 6]);
        assert_eq!(c.read_u32(0x40), 0xbeef_4801);
        assert_eq!(c.read_u16(0x44), 0x00ff);
        assert_eq!(c.find_capability(0x11), Some(0x84));
        assert_eq!(c.find_capability(0x05), None);
        assert_eq!(
            c.add_capability(0x09, &RegisterBlock::new(0x80)),
            Err(ConfigError::NoSpace(0x80))
        );
        assert!(c.add_capability(0x09, &RegisterBlock::new(1)).is_err());

        assert_eq!(
            c.add_ext_capability(0x23, 1, &RegisterBlock::new(0x12)),
            Ok(0x100)
        );
        assert_eq!(
            c.add_ext_capability(0x2e, 2, &RegisterBlock::new(0x18)),
            Ok(0x114)
        );
        assert_eq!(
            c.add_ext_capability(0x23, 1, &RegisterBlock::new(0x10)),
            Ok(0x12c)
        );
        let ext = c.ext_capabilities();
        assert_eq!(ext.len(), 3);
        assert_eq!(
            ext[1],
            ExtCapability {
                id: 0x2e,
                version: 2,
                offset: 0x114
            }
        );
        assert_eq!(c.read_u32(0x100), 0x1141_0023);
        assert_eq!(c.read_u32(0x12c), 0x0001_0023);
        assert_eq!(c.find_ext_capability(0x2e), Some(0x114));
        assert_eq!(
            c.add_ext_capability(0x23, 1, &RegisterBlock::new(0x1000)),
            Err(ConfigError::NoSpace(0x1000))
        );
    }
}
