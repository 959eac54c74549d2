//! The Differentiated System Description Table "DSDT" (ACPI 6.5 5.2.11.1).
//!
//! ```text
//! Name (_S5, Package (4) { 5, 0, 0, 0 })
//! Scope (\_SB) {
//!     Device (MBRD) { PNP0C02 reserving the ECAM }
//!     Device (COM1) { PNP0501 at 0x3f8, IRQ 4 }
//!     Device (PEVT) { QEMU0001 pvpanic at 0x505 }
//!     Device (PCI0) { ... }   // one per host bridge, see pci_host
//!     Device (CXLn) { ... }
//!     Device (CXLM) { ... }   // ACPI0017, if any CXL host bridge, see cxl_dsdt
//! }
//! ```

use acpi_tables::aml::{
    Device, EISAName, Interrupt, Memory32Fixed, Name, Package, ResourceTemplate, Scope, IO,
};
use acpi_tables::Aml;
use arch::layout;

use crate::aml::Raw;
use crate::config::AcpiConfig;
use crate::sdt::{self, bytes_of};
use crate::{cxl_dsdt, pci_host};

/// DSDT revision 2: integers are 64-bit (ACPI 6.5 5.2.11.1).
const REVISION: u8 = 2;
/// SLP_TYP for S5 (soft off), written to PM1a_CNT (ACPI 6.5 7.4.2).
const SLP_TYP_S5: u8 = layout::ACPI_SLP_TYP_S5;

const _: () = assert!(layout::PCI_ECAM_START + layout::PCI_ECAM_SIZE <= 1 << 32);

/// `\_S5`: SLP_TYPa, SLP_TYPb and two reserved values (ACPI 6.5 7.4.2).
fn s5() -> Raw {
    let pkg = Package::new(vec![&SLP_TYP_S5, &0u8, &0u8, &0u8]);
    Raw(bytes_of(&Name::new("_S5_".into(), &pkg)))
}

/// Motherboard resources reserving the ECAM (PCI Firmware 3.3 4.1.2): Linux
/// only trusts an MCFG region that a PNP0C01/PNP0C02 `_CRS` reserves
/// (arch/x86/pci/mmconfig-shared.c, `is_acpi_reserved`), and without it has
/// no extended configuration space.
fn motherboard_resources() -> Raw {
    let hid = Name::new("_HID".into(), &EISAName::new("PNP0C02"));
    let uid = Name::new("_UID".into(), &0u8);
    let ecam = Memory32Fixed::new(
        true,
        layout::PCI_ECAM_START as u32,
        layout::PCI_ECAM_SIZE as u32,
    );
    let crs = Name::new("_CRS".into(), &ResourceTemplate::new(vec![&ecam]));
    Raw(bytes_of(&Device::new(
        "MBRD".into(),
        vec![&hid, &uid, &crs],
    )))
}

/// The 16550 UART COM1 (`PNP0501`).
fn com1() -> Raw {
    let hid = Name::new("_HID".into(), &EISAName::new("PNP0501"));
    let uid = Name::new("_UID".into(), &1u8);
    let ports = IO::new(layout::COM1_PORT, layout::COM1_PORT, 1, 8);
    let irq = Interrupt::new(true, true, false, false, layout::COM1_IRQ);
    let crs = Name::new("_CRS".into(), &ResourceTemplate::new(vec![&ports, &irq]));
    Raw(bytes_of(&Device::new(
        "COM1".into(),
        vec![&hid, &uid, &crs],
    )))
}

/// The pvpanic device (QEMU0001, one I/O port): Linux's `pvpanic-mmio`
/// driver writes to it when the kernel panics, so the VMM can exit with a
/// crash status instead of rebooting or hanging.
fn pvpanic() -> Raw {
    let hid = Name::new("_HID".into(), &"QEMU0001");
    let port = IO::new(layout::PVPANIC_PORT, layout::PVPANIC_PORT, 1, 1);
    let crs = Name::new("_CRS".into(), &ResourceTemplate::new(vec![&port]));
    Raw(bytes_of(&Device::new("PEVT".into(), vec![&hid, &crs])))
}

/// The DSDT for a validated `cfg`.
pub(crate) fn build(cfg: &AcpiConfig) -> Vec<u8> {
    let mbrd = motherboard_resources();
    let com1 = com1();
    let pvpanic = pvpanic();
    let bridges: Vec<Raw> = cfg
        .host_bridges
        .iter()
        .enumerate()
        .map(|(i, hb)| pci_host::device(hb, i == 0, !cfg.ram.is_empty()))
        .collect();
    let cxl_root = cfg.has_cxl().then(|| cxl_dsdt::root_device(cfg));

    let mut devices: Vec<&dyn Aml> = vec![&mbrd, &com1, &pvpanic];
    devices.extend(bridges.iter().map(|b| b as &dyn Aml));
    if let Some(root) = &cxl_root {
        devices.push(root);
    }
    let sb = Scope::new("\\_SB_".into(), devices);

    let mut body = s5().0;
    body.extend(bytes_of(&sb));
    sdt::table(*b"DSDT", REVISION, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u32_at};

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn header_and_checksum() {
        let b = build(&AcpiConfig::new(1));
        assert_eq!(&b[..4], b"DSDT");
        assert_eq!(b[8], 2);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert!(checksum_ok(&b));
    }

    #[test]
    fn s5_package() {
        // NameOp "_S5_" PackageOp PkgLength(7) NumElements(4) BytePrefix 5 Zero Zero Zero
        let b = build(&AcpiConfig::new(1));
        assert!(contains(
            &b,
            &[0x08, b'_', b'S', b'5', b'_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0, 0, 0]
        ));
    }

    #[test]
    fn devices_present() {
        let b = build(&AcpiConfig::new(1));
        for name in [b"MBRD", b"COM1", b"PCI0", b"_OSC", b"_CRS"] {
            assert!(contains(&b, name), "{}", String::from_utf8_lossy(name));
        }
        assert!(!contains(&b, b"ACPI0017"));
    }
}
