//! The boot GDT for the Linux 64-bit entry.
//!
//! The 64-bit boot protocol (Documentation/arch/x86/boot.rst, "64-bit Boot
//! Protocol") wants flat descriptors at selectors `__BOOT_CS` (0x10) and
//! `__BOOT_DS` (0x18). Index 4 is a TSS so TR can be loaded with a valid
//! descriptor.

use kvm_bindings::kvm_segment;

/// Selector of the 64-bit code segment (`__BOOT_CS`).
pub const BOOT_CS_SELECTOR: u16 = 0x10;
/// Selector of the data segment (`__BOOT_DS`).
pub const BOOT_DS_SELECTOR: u16 = 0x18;
/// Selector of the TSS.
pub const BOOT_TSS_SELECTOR: u16 = 0x20;

/// Builds one 8-byte GDT descriptor from access/flags, base and limit.
///
/// `flags` packs the access byte in bits 0..8 and the G/DB/L/AVL nibble in
/// bits 12..16 (the layout of descriptor bits 40..56).
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << (56 - 24))
        | ((flags as u64 & 0x0000_f0ff) << 40)
        | ((limit as u64 & 0x000f_0000) << (48 - 16))
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
}

/// The boot GDT: null, null, code, data, TSS.
pub const BOOT_GDT: [u64; 5] = [
    0,
    0,
    gdt_entry(0xa09b, 0, 0xfffff), // code: present, DPL0, exec/read, accessed; L=1, G=1
    gdt_entry(0xc093, 0, 0xfffff), // data: present, DPL0, read/write, accessed; DB=1, G=1
    gdt_entry(0x808b, 0, 0xfffff), // TSS: present, busy 64-bit TSS; G=1
];

/// Decodes a GDT descriptor into the form `KVM_SET_SREGS` wants.
pub fn kvm_segment_from_gdt(entry: u64, table_index: u8) -> kvm_segment {
    let base = ((entry >> 16) & 0x00ff_ffff) | ((entry >> 32) & 0xff00_0000);
    let limit_raw = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    let g = ((entry >> 55) & 1) as u8;
    // With G set the limit counts 4 KiB pages; KVM wants it in bytes.
    let limit = if g == 1 {
        (limit_raw << 12) | 0xfff
    } else {
        limit_raw
    };
    kvm_segment {
        base,
        limit,
        selector: u16::from(table_index) * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        present: ((entry >> 47) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        db: ((entry >> 54) & 1) as u8,
        s: ((entry >> 44) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        g,
        avl: ((entry >> 52) & 1) as u8,
        unusable: u8::from(((entry >> 47) & 1) == 0),
        padding: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_segment_decodes_flat_long_mode() {
        let cs = kvm_segment_from_gdt(BOOT_GDT[2], 2);
        assert_eq!(cs.selector, BOOT_CS_SELECTOR);
        assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
        assert_eq!((cs.l, cs.db, cs.g, cs.present, cs.s), (1, 0, 1, 1, 1));
        assert_eq!(cs.type_, 0xb);
    }

    #[test]
    fn data_and_tss_segments() {
        let ds = kvm_segment_from_gdt(BOOT_GDT[3], 3);
        assert_eq!(ds.selector, BOOT_DS_SELECTOR);
        assert_eq!((ds.l, ds.db, ds.type_), (0, 1, 3));
        let tss = kvm_segment_from_gdt(BOOT_GDT[4], 4);
        assert_eq!(tss.selector, BOOT_TSS_SELECTOR);
        assert_eq!((tss.s, tss.type_), (0, 0xb));
    }

    #[test]
    fn entry_round_trips_base_and_limit() {
        let e = gdt_entry(0x4093, 0x1234_5678, 0xabcde);
        let s = kvm_segment_from_gdt(e, 1);
        assert_eq!(s.base, 0x1234_5678);
        assert_eq!(s.limit, 0xabcde);
        assert_eq!(s.g, 0);
        assert_eq!(s.unusable, 0);
        assert_eq!(kvm_segment_from_gdt(0, 0).unusable, 1);
    }
}
