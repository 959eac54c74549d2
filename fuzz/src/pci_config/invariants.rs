//! What must hold after every step of the `pci_config` target:
//!
//! - ECAM, the config ports, the CXL host bridges' component registers and
//!   the windows stay where they were: no BAR move displaces or shadows
//!   them;
//! - the buses hold exactly the BARs the segment says are mapped (a moved
//!   or disabled BAR leaves nothing behind);
//! - every function still answers with its vendor and device ID, the same
//!   through ECAM and through 0xcf8/0xcfc (IDs are read-only), and an
//!   absent function reads all-ones;
//! - the memory path's mappings are the recorded memslots.

use std::collections::BTreeSet;

use arch::layout::{PCI_CONFIG_IO_PORT, PCI_ECAM_START};
use devices::bus::BusRange;
use devices::pci::mapping::AddressSpace;
use devices::Bus;

use super::machine::Machine;

/// A config dword through ECAM.
pub fn ecam_read32(m: &Machine, routing_id: u16, offset: u16) -> u32 {
    let mut d = [0xaau8; 4];
    let addr = PCI_ECAM_START + (u64::from(routing_id) << 12) + u64::from(offset & 0xffc);
    let _ = m.mmio.read(addr, &mut d);
    u32::from_le_bytes(d)
}

/// A config dword through 0xcf8/0xcfc, leaving CONFIG_ADDRESS as it was.
pub fn ports_read32(m: &Machine, routing_id: u16, offset: u8) -> u32 {
    let port = u64::from(PCI_CONFIG_IO_PORT);
    let mut saved = [0u8; 4];
    let _ = m.io.read(port, &mut saved);
    let address = (1u32 << 31) | (u32::from(routing_id) << 8) | u32::from(offset & 0xfc);
    let _ = m.io.write(port, &address.to_le_bytes());
    let mut d = [0xaau8; 4];
    let _ = m.io.read(port + 4, &mut d);
    let _ = m.io.write(port, &saved);
    u32::from_le_bytes(d)
}

fn still_there(bus: &Bus, fixed: &[BusRange], what: &str) {
    for r in fixed {
        let got = bus.resolve(r.base).map(|(range, _)| range);
        assert_eq!(
            got,
            Some(*r),
            "{what} range {:#x}+{:#x} displaced",
            r.base,
            r.len
        );
    }
}

fn bars_match(m: &Machine, space: AddressSpace, bus: &Bus, fixed: &[BusRange]) {
    let seg = m.segment.lock().unwrap();
    let mapped: BTreeSet<(u64, u64)> = seg
        .bdfs()
        .into_iter()
        .flat_map(|b| seg.mappings(b))
        .filter(|x| x.space == space)
        .map(|x| (x.base, x.len))
        .collect();
    let fixed: BTreeSet<(u64, u64)> = fixed.iter().map(|r| (r.base, r.len)).collect();
    let on_bus: BTreeSet<(u64, u64)> = bus
        .ranges()
        .into_iter()
        .map(|r| (r.base, r.len))
        .filter(|r| !fixed.contains(r))
        .collect();
    assert_eq!(
        mapped, on_bus,
        "{space:?}: the bus and the segment's BARs disagree"
    );
}

/// Checks every invariant; panics (a fuzzer finding) on the first broken.
pub fn check(m: &Machine) {
    still_there(&m.mmio, &m.fixed_mmio, "MMIO");
    still_there(&m.io, &m.fixed_io, "I/O");
    bars_match(m, AddressSpace::Mmio, &m.mmio, &m.fixed_mmio);
    bars_match(m, AddressSpace::Pio, &m.io, &m.fixed_io);
    for &(rid, id) in &m.ids {
        assert_eq!(ecam_read32(m, rid, 0), id, "IDs of {rid:#06x} through ECAM");
        assert_eq!(
            ports_read32(m, rid, 0),
            id,
            "IDs of {rid:#06x} through 0xcf8"
        );
    }
    // Bus 0, device 31, function 7 never exists.
    assert_eq!(ecam_read32(m, 0xff, 0), u32::MAX, "absent function");
    if let Some(path) = &m.cxl.path {
        assert_eq!(
            path.mappings(),
            m.mapper.ranges(),
            "memory path and memslots disagree"
        );
    }
}
