//! Base Address Registers (PCI 3.0 6.2.5.1, PCIe 6.0 7.5.1.2.1).
//!
//! A BAR's address bits below its size are read-only zero and the type bits
//! are read-only, so the sizing protocol (write all-ones, read back) falls out
//! of the register write mask: the guest reads back `!(size - 1) | flags`.
//! [`super::ConfigSpace::add_bar`] installs those masks; [`BarInfo`] decodes
//! what the guest programmed.

use super::config_error::ConfigError;

/// Memory BAR bit 0: 0 = memory space, 1 = I/O space.
pub const BAR_IO_SPACE: u32 = 1 << 0;
/// Memory BAR bits 2:1 = 10b: 64-bit decoder (two consecutive BARs).
pub const BAR_MEM_TYPE_64: u32 = 0b10 << 1;
/// Memory BAR bit 3: prefetchable.
pub const BAR_PREFETCHABLE: u32 = 1 << 3;
/// Address bits of a memory BAR's low dword.
pub const BAR_MEM_ADDR_MASK: u32 = !0xf;
/// Address bits of an I/O BAR.
pub const BAR_IO_ADDR_MASK: u32 = !0x3;
/// Number of BARs in a type 0 header.
pub const NUM_BARS_TYPE0: u8 = 6;
/// Number of BARs in a type 1 header.
pub const NUM_BARS_TYPE1: u8 = 2;
/// Smallest memory BAR (PCI 3.0 6.2.5.1: 16 bytes).
pub const MIN_MEM_BAR_SIZE: u64 = 16;
/// Smallest I/O BAR.
pub const MIN_IO_BAR_SIZE: u64 = 4;
/// Largest I/O BAR (PCI 3.0 6.2.5.1: 256 bytes).
pub const MAX_IO_BAR_SIZE: u64 = 256;

/// Configuration space offset of BAR `index` (0x10 + 4 * index).
pub const fn bar_offset(index: u8) -> u16 {
    0x10 + 4 * index as u16
}

/// The kind of decoder behind a BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// I/O space (port numbers, 16-bit decode here).
    Io,
    /// Memory space below 4 GiB.
    Memory32,
    /// Memory space anywhere in 64 bits; occupies this BAR and the next.
    Memory64,
}

impl BarKind {
    /// True for the two memory kinds.
    pub fn is_memory(self) -> bool {
        !matches!(self, BarKind::Io)
    }
}

/// A BAR a function implements: its kind and power-of-two size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBar {
    /// Decoder kind.
    pub kind: BarKind,
    /// Size in bytes (power of two).
    pub size: u64,
    /// Prefetchable memory (memory BARs only).
    pub prefetchable: bool,
}

impl PciBar {
    /// A non-prefetchable 32-bit memory BAR.
    pub fn memory32(size: u64) -> Self {
        Self {
            kind: BarKind::Memory32,
            size,
            prefetchable: false,
        }
    }

    /// A 64-bit memory BAR.
    pub fn memory64(size: u64, prefetchable: bool) -> Self {
        Self {
            kind: BarKind::Memory64,
            size,
            prefetchable,
        }
    }

    /// An I/O BAR.
    pub fn io(size: u64) -> Self {
        Self {
            kind: BarKind::Io,
            size,
            prefetchable: false,
        }
    }

    /// Checks the size against the kind.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = match self.kind {
            BarKind::Io => (MIN_IO_BAR_SIZE, MAX_IO_BAR_SIZE),
            BarKind::Memory32 => (MIN_MEM_BAR_SIZE, 1 << 31),
            BarKind::Memory64 => (MIN_MEM_BAR_SIZE, 1 << 63),
        };
        if !self.size.is_power_of_two() || self.size < min || self.size > max {
            return Err(ConfigError::BarSize(self.size));
        }
        if self.prefetchable && self.kind == BarKind::Io {
            return Err(ConfigError::BarSize(self.size));
        }
        Ok(())
    }

    /// Number of BAR registers it occupies.
    pub fn slots(&self) -> u8 {
        if self.kind == BarKind::Memory64 {
            2
        } else {
            1
        }
    }

    /// The read-only type bits of the low dword.
    pub fn flags(&self) -> u32 {
        match self.kind {
            BarKind::Io => BAR_IO_SPACE,
            BarKind::Memory32 | BarKind::Memory64 => {
                let t = if self.kind == BarKind::Memory64 {
                    BAR_MEM_TYPE_64
                } else {
                    0
                };
                t | if self.prefetchable {
                    BAR_PREFETCHABLE
                } else {
                    0
                }
            }
        }
    }

    /// The guest-writable bits across both dwords (low dword in bits 31:0).
    pub fn write_mask(&self) -> u64 {
        let addr = !(self.size.wrapping_sub(1));
        match self.kind {
            BarKind::Io => addr & u64::from(BAR_IO_ADDR_MASK) & 0xffff,
            BarKind::Memory32 => addr & u64::from(BAR_MEM_ADDR_MASK),
            BarKind::Memory64 => addr & !0xf,
        }
    }

    /// Decodes the address from the BAR register(s).
    pub fn decode(&self, low: u32, high: u32) -> u64 {
        match self.kind {
            BarKind::Io => u64::from(low & BAR_IO_ADDR_MASK),
            BarKind::Memory32 => u64::from(low & BAR_MEM_ADDR_MASK),
            BarKind::Memory64 => (u64::from(high) << 32) | u64::from(low & BAR_MEM_ADDR_MASK),
        }
    }
}

/// A BAR as the guest currently programmed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// BAR index (0..6); a 64-bit BAR is named by its low half.
    pub index: u8,
    /// What the BAR implements.
    pub bar: PciBar,
    /// Current base address (0 if never programmed).
    pub address: u64,
}

impl BarInfo {
    /// Decoder kind.
    pub fn kind(&self) -> BarKind {
        self.bar.kind
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bar.size
    }

    /// True if the address is usable: nonzero, size-aligned and within the
    /// space the decoder reaches.
    pub fn is_valid(&self) -> bool {
        let max_last: u64 = match self.bar.kind {
            BarKind::Io => 0xffff,
            BarKind::Memory32 => 0xffff_ffff,
            BarKind::Memory64 => u64::MAX,
        };
        self.address != 0
            && self.bar.size != 0
            && self.address.is_multiple_of(self.bar.size)
            && self
                .address
                .checked_add(self.bar.size - 1)
                .is_some_and(|last| last <= max_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_flags() {
        let b = PciBar::memory64(0x10_0000, true);
        assert_eq!(b.flags(), 0xc);
        assert_eq!(b.write_mask(), 0xffff_ffff_fff0_0000);
        assert_eq!(b.slots(), 2);
        let b = PciBar::memory32(0x1000);
        assert_eq!(b.flags(), 0);
        assert_eq!(b.write_mask(), 0xffff_f000);
        let b = PciBar::io(0x20);
        assert_eq!(b.flags(), 1);
        assert_eq!(b.write_mask(), 0xffe0);
        assert_eq!(b.decode(0x1021, 0), 0x1020);
    }

    #[test]
    fn sizes_validated() {
        assert!(PciBar::memory32(0x1000).validate().is_ok());
        assert!(PciBar::memory32(0x1800).validate().is_err());
        assert!(PciBar::memory32(8).validate().is_err());
        assert!(PciBar::memory32(1 << 32).validate().is_err());
        assert!(PciBar::memory64(1 << 40, true).validate().is_ok());
        assert!(PciBar::io(512).validate().is_err());
        assert!(PciBar::io(0).validate().is_err());
    }

    #[test]
    fn validity() {
        let info = |address| BarInfo {
            index: 0,
            bar: PciBar::memory32(0x1000),
            address,
        };
        assert!(info(0xc000_0000).is_valid());
        assert!(!info(0).is_valid());
        assert!(info(0xffff_f000).is_valid());
        let io = BarInfo {
            index: 0,
            bar: PciBar::io(0x100),
            address: 0xff00,
        };
        assert!(io.is_valid());
    }
}
