//! Type 1 (PCI-to-PCI bridge) bus numbers and address windows
//! (PCIe 6.0 7.5.1.3.2..7.5.1.3.10): decoding what the guest programmed and
//! encoding values to program.
//!
//! Memory windows have 1 MiB granularity, I/O windows 4 KiB (16-bit
//! decode); the prefetchable window is 64-bit. A window whose base is above
//! its limit is closed.

use super::config::{
    ConfigSpace, IO_BASE, IO_LIMIT, MEMORY_BASE, MEMORY_LIMIT, PREF_BASE_UPPER, PREF_LIMIT_UPPER,
    PREF_MEMORY_BASE, PREF_MEMORY_LIMIT, PRIMARY_BUS, SECONDARY_BUS, SUBORDINATE_BUS,
};

/// Granularity of the memory and prefetchable windows.
pub const MEMORY_WINDOW_GRANULARITY: u64 = 1 << 20;
/// Granularity of the I/O window.
pub const IO_WINDOW_GRANULARITY: u64 = 1 << 12;

/// An inclusive address range a bridge forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First address.
    pub base: u64,
    /// Last address.
    pub limit: u64,
}

impl Window {
    /// The window `base..base + size`; None for size 0 or overflow.
    pub fn from_size(base: u64, size: u64) -> Option<Self> {
        let limit = base.checked_add(size.checked_sub(1)?)?;
        Some(Self { base, limit })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.limit.wrapping_sub(self.base).wrapping_add(1)
    }

    /// True if `[base, base + size)` lies inside.
    pub fn contains(&self, base: u64, size: u64) -> bool {
        size > 0
            && base >= self.base
            && base
                .checked_add(size - 1)
                .is_some_and(|last| last <= self.limit)
    }
}

/// A bridge's bus numbers and windows as programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeWindows {
    /// Primary bus number.
    pub primary_bus: u8,
    /// Secondary bus number.
    pub secondary_bus: u8,
    /// Subordinate bus number.
    pub subordinate_bus: u8,
    /// I/O window, if open.
    pub io: Option<Window>,
    /// Non-prefetchable memory window, if open.
    pub memory: Option<Window>,
    /// Prefetchable memory window, if open.
    pub prefetchable: Option<Window>,
}

fn open(base: u64, limit: u64) -> Option<Window> {
    (base <= limit).then_some(Window { base, limit })
}

/// Decodes a type 1 header's bus numbers and windows.
pub fn read_bridge_windows(c: &ConfigSpace) -> BridgeWindows {
    let io_base = u64::from(c.read_u8(IO_BASE) & 0xf0) << 8;
    let io_limit = (u64::from(c.read_u8(IO_LIMIT) & 0xf0) << 8) | 0xfff;
    let mem_base = u64::from(c.read_u16(MEMORY_BASE) & 0xfff0) << 16;
    let mem_limit = (u64::from(c.read_u16(MEMORY_LIMIT) & 0xfff0) << 16) | 0xf_ffff;
    let pref_base = (u64::from(c.read_u32(PREF_BASE_UPPER)) << 32)
        | (u64::from(c.read_u16(PREF_MEMORY_BASE) & 0xfff0) << 16);
    let pref_limit = (u64::from(c.read_u32(PREF_LIMIT_UPPER)) << 32)
        | (u64::from(c.read_u16(PREF_MEMORY_LIMIT) & 0xfff0) << 16)
        | 0xf_ffff;
    BridgeWindows {
        primary_bus: c.read_u8(PRIMARY_BUS),
        secondary_bus: c.read_u8(SECONDARY_BUS),
        subordinate_bus: c.read_u8(SUBORDINATE_BUS),
        io: open(io_base, io_limit),
        memory: open(mem_base, mem_limit),
        prefetchable: open(pref_base, pref_limit),
    }
}

/// Register writes (offset, little-endian bytes) that program the windows;
/// `None` closes a window. Windows must be granularity-aligned.
pub fn window_writes(
    io: Option<Window>,
    memory: Option<Window>,
    prefetchable: Option<Window>,
) -> Vec<(u16, Vec<u8>)> {
    let (io_base, io_limit) = match io {
        Some(w) => (((w.base >> 8) & 0xf0) as u8, ((w.limit >> 8) & 0xf0) as u8),
        None => (0xf0, 0x00),
    };
    let (mem_base, mem_limit) = match memory {
        Some(w) => (
            ((w.base >> 16) & 0xfff0) as u16,
            ((w.limit >> 16) & 0xfff0) as u16,
        ),
        None => (0xfff0, 0x0000),
    };
    let (pb, pl, pbu, plu) = match prefetchable {
        Some(w) => (
            ((w.base >> 16) & 0xfff0) as u16,
            ((w.limit >> 16) & 0xfff0) as u16,
            (w.base >> 32) as u32,
            (w.limit >> 32) as u32,
        ),
        None => (0xfff0, 0x0000, 0, 0),
    };
    vec![
        (IO_BASE, vec![io_base, io_limit]),
        (MEMORY_BASE, mem_base.to_le_bytes().to_vec()),
        (MEMORY_LIMIT, mem_limit.to_le_bytes().to_vec()),
        (PREF_MEMORY_BASE, pb.to_le_bytes().to_vec()),
        (PREF_MEMORY_LIMIT, pl.to_le_bytes().to_vec()),
        (PREF_BASE_UPPER, pbu.to_le_bytes().to_vec()),
        (PREF_LIMIT_UPPER, plu.to_le_bytes().to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::config::{HeaderType, PciIds};

    #[test]
    fn program_and_decode() {
        let mut c = ConfigSpace::new(HeaderType::Bridge, &PciIds::default());
        let closed = read_bridge_windows(&c);
        // Reset values: base 0, limit 0 decode as open 1 MiB windows at 0,
        // as on hardware; firmware closes or programs them.
        assert_eq!(
            closed.memory,
            Some(Window {
                base: 0,
                limit: 0xf_ffff
            })
        );
        let io = Window::from_size(0x2000, 0x1000);
        let mem = Window::from_size(0xc000_0000, 0x30_0000);
        let pref = Window::from_size(0x40_0000_0000, 0x1_0000_0000);
        for (off, bytes) in window_writes(io, mem, pref) {
            c.write(off, &bytes);
        }
        c.write(PRIMARY_BUS, &[0, 1, 3]);
        let w = read_bridge_windows(&c);
        assert_eq!(
            (w.primary_bus, w.secondary_bus, w.subordinate_bus),
            (0, 1, 3)
        );
        assert_eq!(w.io, io);
        assert_eq!(w.memory, mem);
        assert_eq!(w.prefetchable, pref);
        for (off, bytes) in window_writes(None, None, None) {
            c.write(off, &bytes);
        }
        let w = read_bridge_windows(&c);
        assert_eq!((w.io, w.memory, w.prefetchable), (None, None, None));
    }

    #[test]
    fn window_math() {
        let w = Window::from_size(0x1000, 0x1000).unwrap();
        assert_eq!(w.size(), 0x1000);
        assert!(w.contains(0x1800, 0x800));
        assert!(!w.contains(0x1800, 0x801));
        assert!(!w.contains(0x1800, 0));
        assert!(Window::from_size(0, 0).is_none());
        assert!(Window::from_size(u64::MAX, 2).is_none());
    }
}
