//! Identity-mapping page tables for the 64-bit entry.
//!
//! The first 4 GiB are identity mapped with 2 MiB pages: one PML4 entry, four
//! PDPT entries, four page directories. The boot protocol only asks for the
//! kernel, boot_params and command line to be mapped; mapping the whole low
//! 4 GiB costs 24 KiB and leaves no corner uncovered.

use vm_memory::{Bytes, GuestAddress, GuestMemory};

use crate::layout::{PDE_START, PDPTE_START, PML4_START};

/// Number of page directories (GiB mapped).
pub const PDE_PAGES: u64 = 4;
const PRESENT_RW: u64 = 0x3;
const PAGE_SIZE_2M: u64 = 0x80;

/// The CR3 value for the tables.
pub const BOOT_CR3: u64 = PML4_START;

/// Writes the page tables into guest memory.
pub fn write_identity_map<M: GuestMemory>(mem: &M) -> Result<(), vm_memory::GuestMemoryError> {
    mem.write_obj(PDPTE_START | PRESENT_RW, GuestAddress(PML4_START))?;
    for gib in 0..PDE_PAGES {
        let pde_page = PDE_START + gib * 0x1000;
        mem.write_obj(pde_page | PRESENT_RW, GuestAddress(PDPTE_START + gib * 8))?;
        for i in 0..512u64 {
            let phys = (gib << 30) | (i << 21);
            mem.write_obj(
                phys | PRESENT_RW | PAGE_SIZE_2M,
                GuestAddress(pde_page + i * 8),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    /// Walks the tables like the MMU does for a 2 MiB page.
    fn translate(mem: &GuestMemoryMmap, va: u64) -> Option<u64> {
        let pml4e: u64 = mem
            .read_obj(GuestAddress(BOOT_CR3 + ((va >> 39) & 511) * 8))
            .ok()?;
        if pml4e & 1 == 0 {
            return None;
        }
        let pdpte: u64 = mem
            .read_obj(GuestAddress((pml4e & !0xfff) + ((va >> 30) & 511) * 8))
            .ok()?;
        if pdpte & 1 == 0 {
            return None;
        }
        let pde: u64 = mem
            .read_obj(GuestAddress((pdpte & !0xfff) + ((va >> 21) & 511) * 8))
            .ok()?;
        if pde & 1 == 0 || pde & PAGE_SIZE_2M == 0 {
            return None;
        }
        Some((pde & !0x1f_ffff) | (va & 0x1f_ffff))
    }

    #[test]
    fn identity_maps_low_4g() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        write_identity_map(&mem).unwrap();
        for va in [
            0u64,
            0x1000,
            0x10_0000,
            0x3fff_ffff,
            0x4000_0000,
            0xfee0_0000,
            0xffff_ffff,
        ] {
            assert_eq!(translate(&mem, va), Some(va), "{va:#x}");
        }
        assert_eq!(translate(&mem, 0x1_0000_0000), None);
    }
}
