//! Health Info and Alerts command set: Get Health Info (CXL 3.1 8.2.9.9.3).

use super::payload::{Decode, Encode, Input, NoInput};
use super::RetCode;
use crate::cxl::memdev::health::HealthInfo;
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Table 8-136 Get Health Info Output Payload)
/// Get Health Info output (`struct cxl_mbox_health_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetHealthInfoOut {
    /// The device's health, in its 12h-byte encoding.
    pub health: HealthInfo,
}

impl Encode for GetHealthInfoOut {
    fn encode(&self) -> Vec<u8> {
        self.health.to_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Opcode 4200h)
/// Get Health Info: no input; 12h bytes of output.
pub fn get_health_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetHealthInfoOut {
        health: *memdev.health(),
    }
    .encode())
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
