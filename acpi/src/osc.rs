//! `_OSC` of PCI host bridges (ACPI 6.5 6.2.11, PCI Firmware 3.3 4.5.1) and
//! CXL host bridges (CXL 3.1 9.18.2).
//!
//! The platform keeps nothing for itself: it grants every control it knows
//! that the OS asks for, and reports the rest as masked. Arg3 is the
//! capabilities buffer: DWORD1 status, DWORD2/3 PCIe support/control and,
//! for the CXL UUID only, DWORD4/5 CXL support/control.
//!
//! ```text
//! Method (_OSC, 4, Serialized) {
//!     CreateDWordField (Arg3, 0, CDW1)
//!     If (Arg0 == PCIe UUID || Arg0 == CXL UUID) {    // CXL UUID on CXL bridges
//!         CreateDWordField (Arg3, 8, CDW3)
//!         If (Arg1 != 1) { CDW1 |= UNRECOGNIZED_REVISION }
//!         Local0 = CDW3 & PCIE_CONTROL
//!         If (CDW3 != Local0) { CDW1 |= CAPABILITIES_MASKED }
//!         CDW3 = Local0
//!         If (Arg0 == CXL UUID) {                      // CXL bridges only
//!             CreateDWordField (Arg3, 16, CDW5)
//!             Local0 = CDW5 & CXL_CONTROL
//!             If (CDW5 != Local0) { CDW1 |= CAPABILITIES_MASKED }
//!             CDW5 = Local0
//!         }
//!         Return (Arg3)
//!     }
//!     CDW1 |= UNRECOGNIZED_UUID
//!     Return (Arg3)
//! }
//! ```

use acpi_tables::aml::{
    And, Arg, CreateDWordField, Equal, If, Local, Method, NotEqual, Or, Path, Return, Store, Uuid,
};
use acpi_tables::Aml;

use crate::aml::{LOr, Raw};
use crate::sdt::bytes_of;

/// The PCI host bridge `_OSC` UUID (PCI Firmware 3.3 4.5.1).
const PCI_HOST_BRIDGE_UUID: &str = "33DB4D5B-1FF7-401C-9657-7441C03DD766";
/// The CXL host bridge `_OSC` UUID (CXL 3.1 9.18.2).
const CXL_HOST_BRIDGE_UUID: &str = "68F2D50B-C469-4D8A-BD3D-941A103FD3FC";

/// DWORD1 bit 2: Unrecognized UUID (ACPI 6.5 6.2.11).
const UNRECOGNIZED_UUID: u32 = 1 << 2;
/// DWORD1 bit 3: Unrecognized Revision (ACPI 6.5 6.2.11).
const UNRECOGNIZED_REVISION: u32 = 1 << 3;
/// DWORD1 bit 4: Capabilities Masked (ACPI 6.5 6.2.11).
const CAPABILITIES_MASKED: u32 = 1 << 4;

/// PCIe control bits granted when asked (PCI Firmware 3.3 Table 4-5): native
/// hot plug (bit 0), PME (bit 2), AER (bit 3) and the PCI Express Capability
/// structure (bit 4). SHPC hot plug, LTR and DPC stay with the platform.
const PCIE_CONTROL: u32 = 1 << 0 | 1 << 2 | 1 << 3 | 1 << 4;
/// CXL control bits granted when asked (CXL 3.1 9.18.2, CXL `_OSC` Control
/// Field): CXL Memory Error Reporting (bit 0).
const CXL_CONTROL: u32 = 1 << 0;

/// The `_OSC` revision both UUIDs define.
const REVISION: u8 = 1;
/// Byte offsets of the capabilities DWORDs in Arg3.
const CDW1_OFFSET: u8 = 0;
const CDW3_OFFSET: u8 = 8;
const CDW5_OFFSET: u8 = 16;

/// `If (field != field & mask) { CDW1 |= CAPABILITIES_MASKED }; field &= mask`,
/// using Local0, as raw AML.
fn grant(field: &Path, mask: u32, cdw1: &Path) -> Raw {
    let granted = Local(0);
    let and = And::new(&granted, field, &mask);
    let masked = NotEqual::new(field, &granted);
    let flag = Or::new(cdw1, cdw1, &CAPABILITIES_MASKED);
    let if_masked = If::new(&masked, vec![&flag]);
    let store = Store::new(field, &granted);
    let mut bytes = Vec::new();
    for aml in [&and as &dyn Aml, &if_masked, &store] {
        aml.to_aml_bytes(&mut bytes);
    }
    Raw(bytes)
}

/// The `_OSC` method of a PCIe host bridge, or of a CXL host bridge (which
/// answers both UUIDs) if `cxl`.
pub(crate) fn method(cxl: bool) -> Raw {
    let (arg0, arg1, arg3) = (Arg(0), Arg(1), Arg(3));
    let cdw1 = Path::new("CDW1");
    let cdw3 = Path::new("CDW3");
    let cdw5 = Path::new("CDW5");
    let pcie_uuid = Uuid::new(PCI_HOST_BRIDGE_UUID);
    let cxl_uuid = Uuid::new(CXL_HOST_BRIDGE_UUID);

    let create_cdw1 = CreateDWordField::new(&cdw1, &arg3, &CDW1_OFFSET);
    let create_cdw3 = CreateDWordField::new(&cdw3, &arg3, &CDW3_OFFSET);
    let create_cdw5 = CreateDWordField::new(&cdw5, &arg3, &CDW5_OFFSET);
    let ret = Return::new(&arg3);

    let is_pcie = Equal::new(&arg0, &pcie_uuid);
    let is_cxl = Equal::new(&arg0, &cxl_uuid);
    let either = LOr::new(&is_pcie, &is_cxl);
    let known: &dyn Aml = if cxl { &either } else { &is_pcie };

    let bad_revision = NotEqual::new(&arg1, &REVISION);
    let flag_revision = Or::new(&cdw1, &cdw1, &UNRECOGNIZED_REVISION);
    let check_revision = If::new(&bad_revision, vec![&flag_revision]);
    let grant_pcie = grant(&cdw3, PCIE_CONTROL, &cdw1);
    let grant_cxl = grant(&cdw5, CXL_CONTROL, &cdw1);
    let cxl_part = If::new(&is_cxl, vec![&create_cdw5, &grant_cxl]);

    let mut body: Vec<&dyn Aml> = vec![&create_cdw3, &check_revision, &grant_pcie];
    if cxl {
        body.push(&cxl_part);
    }
    body.push(&ret);
    let if_known = If::new(known, body);
    let flag_uuid = Or::new(&cdw1, &cdw1, &UNRECOGNIZED_UUID);

    let osc = Method::new(
        "_OSC".into(),
        4,
        true,
        vec![&create_cdw1, &if_known, &flag_uuid, &ret],
    );
    Raw(bytes_of(&osc))
}
