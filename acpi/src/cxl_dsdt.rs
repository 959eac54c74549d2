//! The CXL root device `ACPI0017` (CXL 3.1 9.17.1) with the QoS Throttling
//! Group `_DSM` (CXL 3.1 9.18.3). Linux's cxl_acpi driver binds to it and
//! asks it for the QTG of a device's performance.
//!
//! ```text
//! Device (CXLM) {
//!     Name (_HID, "ACPI0017")
//!     Method (_DSM, 4) {
//!         If (Arg0 == ToUUID ("F365F9A6-A7DE-4071-A66A-B40C0B4F8E52")) {
//!             If (Arg2 == 0) { Return (Buffer () { 0x03 }) }   // functions 0, 1
//!             If (Arg2 == 1) {                              // Arg3: latencies, bandwidths
//!                 Return (Package () { max QTG ID, Package () { QTG IDs } })
//!             }
//!         }
//!         Return (Buffer () { 0 })
//!     }
//! }
//! ```

use acpi_tables::aml::{
    Arg, BufferData, Device, Equal, If, Method, Name, PackageBuilder, Return, Uuid,
};
use acpi_tables::Aml;

use crate::aml::Raw;
use crate::config::AcpiConfig;
use crate::sdt::bytes_of;

/// The QTG `_DSM` UUID (CXL 3.1 9.18.3).
const QTG_DSM_UUID: &str = "F365F9A6-A7DE-4071-A66A-B40C0B4F8E52";
/// Function 0's bitmap: function 0 and function 1 are supported.
const SUPPORTED_FUNCTIONS: u8 = 0b11;
/// Function index of "retrieve QTG ID" (CXL 3.1 9.18.3.1).
const GET_QTG_ID: u8 = 1;
/// Most elements an AML package can count in its one-byte NumElements.
const MAX_PACKAGE_ELEMENTS: usize = u8::MAX as usize;

/// The QTG IDs recommended for any performance: every window's, lowest
/// first, or just 0 without windows.
fn qtg_ids(cfg: &AcpiConfig) -> Vec<u16> {
    let mut ids: Vec<u16> = cfg.cxl_windows.iter().map(|w| w.qtg_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(MAX_PACKAGE_ELEMENTS);
    if ids.is_empty() {
        ids.push(0);
    }
    ids
}

/// Function 1's result: `Package { Max Supported QTG ID, Package { QTG IDs } }`.
fn qtg_package(cfg: &AcpiConfig) -> PackageBuilder {
    let ids = qtg_ids(cfg);
    let mut recommended = PackageBuilder::new();
    for id in &ids {
        recommended.add_element(id);
    }
    let max = ids.iter().copied().max().unwrap_or(0);
    let mut result = PackageBuilder::new();
    result.add_element(&max);
    result.add_element(&recommended);
    result
}

/// `\_SB.CXLM`, the CXL root device.
pub(crate) fn root_device(cfg: &AcpiConfig) -> Raw {
    let (arg0, arg2) = (Arg(0), Arg(2));
    let uuid = Uuid::new(QTG_DSM_UUID);
    let is_qtg = Equal::new(&arg0, &uuid);

    let is_query = Equal::new(&arg2, &0u8);
    let functions = BufferData::new(vec![SUPPORTED_FUNCTIONS]);
    let ret_functions = Return::new(&functions);
    let query = If::new(&is_query, vec![&ret_functions]);

    let is_get = Equal::new(&arg2, &GET_QTG_ID);
    let package = qtg_package(cfg);
    let ret_package = Return::new(&package);
    let get = If::new(&is_get, vec![&ret_package]);

    let if_qtg = If::new(&is_qtg, vec![&query, &get]);
    let nothing = BufferData::new(vec![0]);
    let ret_nothing = Return::new(&nothing);
    let dsm = Method::new("_DSM".into(), 4, false, vec![&if_qtg, &ret_nothing]);

    let hid = Name::new("_HID".into(), &"ACPI0017");
    let dev = Device::new("CXLM".into(), vec![&hid as &dyn Aml, &dsm]);
    Raw(bytes_of(&dev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CxlWindow;

    fn with_qtg_ids(ids: &[u16]) -> AcpiConfig {
        let mut cfg = AcpiConfig::new(1);
        for &qtg_id in ids {
            cfg.cxl_windows.push(CxlWindow {
                base: 0,
                size: 0,
                interleave_ways: 1,
                granularity_bytes: 256,
                restrictions: 0,
                qtg_id,
                targets: vec![],
            });
        }
        cfg
    }

    #[test]
    fn recommended_ids() {
        assert_eq!(qtg_ids(&with_qtg_ids(&[])), [0]);
        assert_eq!(qtg_ids(&with_qtg_ids(&[5, 2, 5, 0x300])), [2, 5, 0x300]);
    }

    #[test]
    fn function_1_package() {
        // Package (2) { 0x0300, Package (2) { 2, 0x0300 } }
        let b = bytes_of(&qtg_package(&with_qtg_ids(&[0x300, 2])));
        assert_eq!(
            b,
            [0x12, 0x0d, 0x02, 0x0b, 0x00, 0x03, 0x12, 0x07, 0x02, 0x0a, 0x02, 0x0b, 0x00, 0x03]
        );
    }

    #[test]
    fn device_ids() {
        let b = root_device(&AcpiConfig::new(1)).0;
        assert_eq!(&b[..2], [0x5b, 0x82], "DeviceOp");
        assert!(b.windows(9).any(|w| w == b"ACPI0017\0"));
        assert!(b.windows(4).any(|w| w == b"_DSM"));
    }
}
