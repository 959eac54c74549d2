//! Guest RAM ranges, the e820 map and the Linux boot_params ("zero page").

use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header};
use thiserror::Error;
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemory};

use crate::layout::{
    CMDLINE_START, EBDA_START, HIMEM_START, MMIO32_START, PCI_ECAM_SIZE, PCI_ECAM_START,
    RAM_64BIT_START, RAM_MAX_SIZE, ZERO_PAGE_START,
};

/// e820 type: usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type: reserved.
pub const E820_RESERVED: u32 = 2;
/// boot_params.hdr.type_of_loader: "undefined" boot loader.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;
/// setup_header.loadflags CAN_USE_HEAP (boot.rst).
pub const CAN_USE_HEAP: u8 = 0x80;
/// setup_header.boot_flag magic.
pub const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// setup_header.header magic "HdrS".
pub const HDRS_MAGIC: u32 = 0x5372_6448;
/// End of the real-mode heap we advertise.
pub const HEAP_END_PTR: u16 = 0xfe00;
/// Smallest guest RAM we accept.
pub const RAM_MIN_SIZE: u64 = 64 << 20;

/// Errors building the boot data.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BootError {
    /// RAM size outside what the layout supports.
    #[error("memory size {0:#x} must be between 64 MiB and {max:#x}", max = RAM_MAX_SIZE)]
    BadRamSize(u64),
    /// The initramfs does not fit below the kernel's limit.
    #[error("initramfs of {0} bytes does not fit in low memory")]
    InitrdTooLarge(u64),
    /// Too many e820 entries.
    #[error("too many e820 entries")]
    TooManyE820,
    /// Writing into guest memory failed.
    #[error("writing boot_params: {0}")]
    Write(String),
}

/// One e820 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// [`E820_RAM`] or [`E820_RESERVED`].
    pub kind: u32,
}

/// The guest RAM ranges `(start, len)` for `mem_size` bytes of RAM: below the
/// 32-bit MMIO hole, and the rest from 4 GiB.
pub fn ram_regions(mem_size: u64) -> Result<Vec<(u64, u64)>, BootError> {
    if !(RAM_MIN_SIZE..=RAM_MAX_SIZE).contains(&mem_size) || !mem_size.is_multiple_of(4096) {
        return Err(BootError::BadRamSize(mem_size));
    }
    let low = mem_size.min(MMIO32_START);
    let mut v = vec![(0, low)];
    if mem_size > low {
        v.push((RAM_64BIT_START, mem_size - low));
    }
    Ok(v)
}

/// The e820 map for `mem_size` bytes of RAM.
pub fn e820_map(mem_size: u64) -> Result<Vec<E820Entry>, BootError> {
    let regions = ram_regions(mem_size)?;
    let ram = |addr, size| E820Entry {
        addr,
        size,
        kind: E820_RAM,
    };
    let reserved = |addr, size| E820Entry {
        addr,
        size,
        kind: E820_RESERVED,
    };
    let low_end = regions[0].1;
    let mut map = vec![
        ram(0, EBDA_START),
        // EBDA, VGA hole, option ROMs and our ACPI tables.
        reserved(EBDA_START, HIMEM_START - EBDA_START),
        ram(HIMEM_START, low_end - HIMEM_START),
        // ECAM must be reserved or Linux will not trust MMCONFIG.
        reserved(PCI_ECAM_START, PCI_ECAM_SIZE),
    ];
    if let Some(&(start, len)) = regions.get(1) {
        map.push(ram(start, len));
    }
    Ok(map)
}

/// Where to put an initramfs of `size` bytes: page aligned, as high as
/// possible below both the end of low RAM and the kernel's `initrd_addr_max`,
/// and above `kernel_end`.
pub fn initrd_address(
    mem_size: u64,
    size: u64,
    initrd_addr_max: u32,
    kernel_end: u64,
) -> Result<u64, BootError> {
    let low_end = mem_size.min(MMIO32_START);
    let limit = low_end.min(u64::from(initrd_addr_max) + 1);
    let addr = limit
        .checked_sub(size)
        .map(|a| a & !0xfff)
        .filter(|a| *a >= kernel_end)
        .ok_or(BootError::InitrdTooLarge(size))?;
    Ok(addr)
}

/// What the zero page needs besides the kernel's own setup header.
#[derive(Clone, Debug)]
pub struct BootConfig {
    /// Setup header read from the bzImage.
    pub header: setup_header,
    /// Command line length including the trailing NUL.
    pub cmdline_size: u32,
    /// Initramfs address and size, if any.
    pub initrd: Option<(u64, u64)>,
    /// Guest physical address of the RSDP.
    pub rsdp_addr: u64,
    /// The e820 map.
    pub e820: Vec<E820Entry>,
}

/// boot_params in a form vm-memory can write.
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
pub struct BootParams(pub boot_params);

// SAFETY: boot_params is a plain-old-data repr(C) struct of integers and
// arrays of integers; every byte pattern is valid.
unsafe impl ByteValued for BootParams {}

/// Builds boot_params per Documentation/arch/x86/boot.rst.
pub fn build_boot_params(cfg: &BootConfig) -> Result<BootParams, BootError> {
    let mut p = boot_params {
        hdr: cfg.header,
        ..Default::default()
    };
    p.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
    p.hdr.boot_flag = BOOT_FLAG_MAGIC;
    p.hdr.header = HDRS_MAGIC;
    p.hdr.loadflags |= CAN_USE_HEAP;
    p.hdr.heap_end_ptr = HEAP_END_PTR;
    p.hdr.vid_mode = 0xffff; // "normal"
    p.hdr.cmd_line_ptr = CMDLINE_START as u32;
    p.hdr.cmdline_size = cfg.cmdline_size;
    if let Some((addr, size)) = cfg.initrd {
        p.hdr.ramdisk_image = addr as u32;
        p.hdr.ramdisk_size = size as u32;
        p.ext_ramdisk_image = (addr >> 32) as u32;
        p.ext_ramdisk_size = (size >> 32) as u32;
    }
    p.acpi_rsdp_addr = cfg.rsdp_addr;
    if cfg.e820.len() > p.e820_table.len() {
        return Err(BootError::TooManyE820);
    }
    for (slot, e) in p.e820_table.iter_mut().zip(&cfg.e820) {
        *slot = boot_e820_entry {
            addr: e.addr,
            size: e.size,
            r#type: e.kind,
        };
    }
    p.e820_entries = cfg.e820.len() as u8;
    Ok(BootParams(p))
}

/// Writes boot_params at [`ZERO_PAGE_START`].
pub fn write_boot_params<M: GuestMemory>(mem: &M, params: &BootParams) -> Result<(), BootError> {
    mem.write_obj(*params, GuestAddress(ZERO_PAGE_START))
        .map_err(|e| BootError::Write(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::GIB;

    #[test]
    fn small_ram_is_one_region() {
        assert_eq!(ram_regions(512 << 20).unwrap(), vec![(0, 512 << 20)]);
        let m = e820_map(512 << 20).unwrap();
        assert_eq!(
            m[0],
            E820Entry {
                addr: 0,
                size: EBDA_START,
                kind: E820_RAM
            }
        );
        assert_eq!(m[2].addr + m[2].size, 512 << 20);
        assert!(m
            .iter()
            .any(|e| e.addr == PCI_ECAM_START && e.kind == E820_RESERVED));
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn large_ram_splits_around_hole() {
        let r = ram_regions(4 * GIB).unwrap();
        assert_eq!(r, vec![(0, 3 * GIB), (4 * GIB, GIB)]);
        let m = e820_map(4 * GIB).unwrap();
        assert_eq!(
            m.last().unwrap(),
            &E820Entry {
                addr: 4 * GIB,
                size: GIB,
                kind: E820_RAM
            }
        );
        let ram: u64 = m
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| e.size)
            .sum();
        assert_eq!(ram, 4 * GIB - (HIMEM_START - EBDA_START));
    }

    #[test]
    fn bad_sizes_refused() {
        for s in [0, 1 << 20, RAM_MAX_SIZE + 4096, (256 << 20) + 1] {
            assert_eq!(ram_regions(s), Err(BootError::BadRamSize(s)));
        }
    }

    #[test]
    fn initrd_goes_high_and_aligned() {
        let a = initrd_address(512 << 20, 10_000, 0x7fff_ffff, 16 << 20).unwrap();
        assert_eq!(a % 4096, 0);
        assert!(a + 10_000 <= 512 << 20);
        assert!(a >= (512 << 20) - 16384);
        // initrd_addr_max below RAM end.
        let a = initrd_address(2 * GIB, 4096, 0x3fff_ffff, 16 << 20).unwrap();
        assert_eq!(a, 0x4000_0000 - 4096);
        assert_eq!(
            initrd_address(128 << 20, 120 << 20, 0x7fff_ffff, 16 << 20),
            Err(BootError::InitrdTooLarge(120 << 20))
        );
    }

    #[test]
    fn boot_params_fields() {
        let cfg = BootConfig {
            header: setup_header::default(),
            cmdline_size: 10,
            initrd: Some((0x1234_5000, 0x2000)),
            rsdp_addr: 0xe0000,
            e820: e820_map(512 << 20).unwrap(),
        };
        let p = build_boot_params(&cfg).unwrap().0;
        assert_eq!(p.hdr.type_of_loader, 0xff);
        assert_eq!({ p.hdr.cmd_line_ptr }, CMDLINE_START as u32);
        assert_eq!({ p.hdr.ramdisk_image }, 0x1234_5000);
        assert_eq!({ p.acpi_rsdp_addr }, 0xe0000);
        assert_eq!(p.e820_entries, 4);
        assert_eq!(std::mem::size_of::<BootParams>(), 4096);
    }
}
