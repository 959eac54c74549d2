//! BAR mappings: which BARs of a function decode on the MMIO or PIO bus, and
//! the [`BusDevice`] adapter that forwards accesses to the function.

use super::bar::{BarInfo, BarKind};
use super::config::{COMMAND_IO_SPACE, COMMAND_MEMORY_SPACE};
use super::device::SharedPciDevice;
use crate::bus::BusDevice;

/// The address space a BAR decodes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSpace {
    /// Memory space: the MMIO bus.
    Mmio,
    /// I/O space: the PIO bus.
    Pio,
}

/// One BAR placed on a bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarMapping {
    /// BAR index.
    pub bar: u8,
    /// The bus it is on.
    pub space: AddressSpace,
    /// Base address.
    pub base: u64,
    /// Length.
    pub len: u64,
}

/// The mappings a function should have given its Command register and BARs:
/// memory BARs when Memory Space Enable is set, I/O BARs when I/O Space
/// Enable is set, each only if its address is valid.
pub fn wanted_mappings(command: u16, bars: &[BarInfo]) -> Vec<BarMapping> {
    bars.iter()
        .filter(|b| b.is_valid())
        .filter_map(|b| {
            let space = match b.kind() {
                BarKind::Io if command & COMMAND_IO_SPACE != 0 => AddressSpace::Pio,
                BarKind::Memory32 | BarKind::Memory64 if command & COMMAND_MEMORY_SPACE != 0 => {
                    AddressSpace::Mmio
                }
                _ => return None,
            };
            Some(BarMapping {
                bar: b.index,
                space,
                base: b.address,
                len: b.size(),
            })
        })
        .collect()
}

/// A [`BusDevice`] registered at a BAR's address; forwards to the function's
/// `bar_read`/`bar_write` with the offset into the BAR.
pub struct BarRegion {
    device: SharedPciDevice,
    bar: u8,
}

impl BarRegion {
    /// The adapter for BAR `bar` of `device`.
    pub fn new(device: SharedPciDevice, bar: u8) -> Self {
        Self { device, bar }
    }
}

impl BusDevice for BarRegion {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bar_read(self.bar, offset, data);
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        self.device
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bar_write(self.bar, offset, data);
    }
}
