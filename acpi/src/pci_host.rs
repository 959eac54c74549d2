//! A PCI host bridge device in the DSDT: a PCIe root complex (`PNP0A08`,
//! PCI Firmware 3.3) or a CXL host bridge (`ACPI0016`, CXL 3.1 9.17.1).
//! Linux's pci_root driver binds to either through `PNP0A03`, and tells
//! them apart by `_HID` (drivers/acpi/pci_root.c, `acpi_pci_root_add`).
//!
//! ```text
//! Device (PCI0) {                     // CXLn for CXL host bridges
//!     Name (_HID, EisaId ("PNP0A08")) // "ACPI0016"
//!     Name (_CID, EisaId ("PNP0A03")) // Package { PNP0A08, PNP0A03 }
//!     Name (_SEG, 0)
//!     Name (_UID, uid)
//!     Name (_BBN, bus_start)
//!     Name (_CRS, ResourceTemplate () { bus range, [0xcf8 ports,] windows })
//!     Method (_OSC, 4, Serialized) { ... }
//!     Name (_PXM, 0)                  // with an SRAT
//! }
//! ```
//!
//! There is no `_ADR`: a device has either `_HID` or `_ADR` (ACPI 6.5 6.1),
//! and iasl warns about both.
//!
//! A CXL host bridge's component registers (its CHBS block) are not in its
//! `_CRS`: Linux maps them from the CEDT, and a producer window there could
//! hand the range to a BAR.

use acpi_tables::aml::{
    AddressSpace, AddressSpaceCacheable, Device, EISAName, Name, Package, ResourceTemplate, IO,
};
use acpi_tables::Aml;
use arch::layout;

use crate::aml::Raw;
use crate::config::{HostBridge, HostBridgeKind};
use crate::mcfg::SEGMENT;
use crate::osc;
use crate::sdt::bytes_of;

const _: () = assert!(layout::PCI_CONFIG_IO_SIZE <= u8::MAX as u16);
/// Length of the configuration mechanism #1 ports 0xcf8..=0xcff.
const PCI_CONFIG_IO_LEN: u8 = layout::PCI_CONFIG_IO_SIZE as u8;

/// `_CRS` of `hb`: its bus range, the 0xcf8 ports if `primary`, and its
/// I/O, 32-bit and 64-bit windows (all producers, fixed, positive decode).
///
/// `hb` has been validated, so every window ends inside its address space.
fn crs(hb: &HostBridge, primary: bool) -> Raw {
    let bus = AddressSpace::new_bus_number(u16::from(hb.bus_start), u16::from(hb.bus_end));
    let config_ports = IO::new(
        layout::PCI_CONFIG_IO_PORT,
        layout::PCI_CONFIG_IO_PORT,
        1,
        PCI_CONFIG_IO_LEN,
    );
    let io = hb
        .io
        .map(|(base, len)| AddressSpace::new_io(base, base + (len - 1), None));
    let (base32, len32) = hb.mmio32;
    let mmio32 = (len32 != 0).then(|| {
        let (lo, hi) = (base32 as u32, (base32 + (len32 - 1)) as u32);
        AddressSpace::new_memory(AddressSpaceCacheable::NotCacheable, true, lo, hi, None)
    });
    let (base64, len64) = hb.mmio64;
    let mmio64 = (len64 != 0).then(|| {
        let hi = base64 + (len64 - 1);
        AddressSpace::new_memory(AddressSpaceCacheable::Cacheable, true, base64, hi, None)
    });

    let mut resources: Vec<&dyn Aml> = vec![&bus];
    if primary {
        resources.push(&config_ports);
    }
    if let Some(io) = &io {
        resources.push(io);
    }
    if let Some(m) = &mmio32 {
        resources.push(m);
    }
    if let Some(m) = &mmio64 {
        resources.push(m);
    }
    Raw(bytes_of(&ResourceTemplate::new(resources)))
}

/// The device for `hb`; the `primary` bridge also claims the 0xcf8 ports.
/// With `numa` (an SRAT exists) it gets `_PXM 0`, the CPUs' and RAM's
/// proximity domain, so Linux knows the node of the devices below it.
pub(crate) fn device(hb: &HostBridge, primary: bool, numa: bool) -> Raw {
    let is_cxl = matches!(hb.kind, HostBridgeKind::Cxl { .. });
    let pnp0a08 = EISAName::new("PNP0A08");
    let pnp0a03 = EISAName::new("PNP0A03");
    let cxl_cids = Package::new(vec![&pnp0a08, &pnp0a03]);
    let hid = if is_cxl {
        Name::new("_HID".into(), &"ACPI0016")
    } else {
        Name::new("_HID".into(), &pnp0a08)
    };
    let cid = if is_cxl {
        Name::new("_CID".into(), &cxl_cids)
    } else {
        Name::new("_CID".into(), &pnp0a03)
    };
    let seg = Name::new("_SEG".into(), &SEGMENT);
    let uid = Name::new("_UID".into(), &hb.uid);
    let bbn = Name::new("_BBN".into(), &hb.bus_start);
    let crs = Name::new("_CRS".into(), &crs(hb, primary));
    let osc = osc::method(is_cxl);
    let pxm = Name::new("_PXM".into(), &0u8);
    let name = hb.name();
    let mut children: Vec<&dyn Aml> = vec![&hid, &cid, &seg, &uid, &bbn, &crs, &osc];
    if numa {
        children.push(&pxm);
    }
    let dev = Device::new(name.as_str().into(), children);
    Raw(bytes_of(&dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// EisaId ("PNP0A08") and EisaId ("PNP0A03") as DWordConst.
    const PNP0A08: [u8; 5] = [0x0c, 0x41, 0xd0, 0x0a, 0x08];
    const PNP0A03: [u8; 5] = [0x0c, 0x41, 0xd0, 0x0a, 0x03];

    #[test]
    fn pcie_root_complex() {
        let b = device(&HostBridge::pci0(), true, false).0;
        assert!(contains(&b, b"PCI0"));
        assert!(contains(&b, &[b"_HID".as_slice(), &PNP0A08].concat()));
        assert!(contains(&b, &[b"_CID".as_slice(), &PNP0A03].concat()));
        assert!(!contains(&b, b"ACPI0016"));
        assert!(!contains(&b, b"_ADR"));
        // IO (Decode16, 0xcf8, 0xcf8, 1, 8)
        assert!(contains(
            &b,
            &[0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08]
        ));
    }

    #[test]
    fn cxl_host_bridge() {
        let mut hb = HostBridge::pci0();
        hb.uid = 3;
        hb.kind = HostBridgeKind::Cxl {
            chbs_base: layout::CXL_CHBS_START,
        };
        let b = device(&hb, false, true).0;
        assert!(contains(&b, b"CXL3"));
        // _PXM 0 (ZeroOp) with an SRAT; none without.
        assert!(contains(&b, b"_PXM\x00"));
        assert!(!contains(&device(&hb, false, false).0, b"_PXM"));
        assert!(contains(&b, b"_HID\x0dACPI0016\0"));
        // _CID: Package (2) { PNP0A08, PNP0A03 }
        assert!(contains(
            &b,
            &[b"_CID\x12\x0c\x02".as_slice(), &PNP0A08, &PNP0A03].concat()
        ));
        assert!(!contains(&b, &[0x47, 0x01, 0xf8, 0x0c]), "no 0xcf8 ports");
    }
}
