//! Information and Status command set: Identify (CXL 3.1 8.2.9.1.1).

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::{RetCode, PAYLOAD_SIZE_LOG2};
use crate::cxl::memdev::{Effects, Memdev};

/// Size of the Identify output payload.
pub const IDENTIFY_SIZE: usize = 0x12;

// CXL 3.1 8.2.9.1.1 Identify (Component Type values)
/// Component Type: Type 3 device.
pub const COMPONENT_TYPE_TYPE3: u8 = 0x03;

// CXL 3.1 8.2.9.1.1 Identify (Table 8-40 Identify Output Payload)
/// Identify output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentifyOut {
    /// PCIe Vendor ID.
    pub vendor_id: u16,
    /// PCIe Device ID.
    pub device_id: u16,
    /// PCIe Subsystem Vendor ID.
    pub subsys_vendor_id: u16,
    /// PCIe Subsystem ID.
    pub subsys_id: u16,
    /// Device Serial Number.
    pub serial: u64,
    /// Max Supported Message Size, log2 of bytes.
    pub max_message_size: u8,
    /// Component Type.
    pub component_type: u8,
}

impl Encode for IdentifyOut {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(IDENTIFY_SIZE);
        o.put_u16(0x00, self.vendor_id);
        o.put_u16(0x02, self.device_id);
        o.put_u16(0x04, self.subsys_vendor_id);
        o.put_u16(0x06, self.subsys_id);
        o.put_u64(0x08, self.serial);
        o.put_u8(0x10, self.max_message_size);
        o.put_u8(0x11, self.component_type);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.1.1 Identify (Opcode 0001h)
/// Identify: no input; the device's identity.
pub fn identify(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let c = memdev.config();
    Ok(IdentifyOut {
        vendor_id: c.vendor_id,
        device_id: c.device_id,
        subsys_vendor_id: c.subsys_vendor_id,
        subsys_id: c.subsys_id,
        serial: c.serial,
        max_message_size: PAYLOAD_SIZE_LOG2,
        component_type: COMPONENT_TYPE_TYPE3,
    }
    .encode())
}

#[cfg(test)]
#[path = "identify_tests.rs"]
mod tests;
