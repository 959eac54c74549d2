//! Persistent Memory Data-at-rest Security command set: Get Security State
//! (CXL 3.1 8.2.9.9.6.1). No passphrase is ever set.

use super::payload::{Decode, Encode, Input, NoInput};
use super::RetCode;
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.9.9.6.1 Get Security State (Security State bits)
/// User Passphrase Set.
pub const SECURITY_STATE_USER_PASSPHRASE_SET: u32 = 1 << 0;
/// Master Passphrase Set.
pub const SECURITY_STATE_MASTER_PASSPHRASE_SET: u32 = 1 << 1;
/// Locked.
pub const SECURITY_STATE_LOCKED: u32 = 1 << 2;
/// Frozen.
pub const SECURITY_STATE_FROZEN: u32 = 1 << 3;

// CXL 3.1 8.2.9.9.6.1 Get Security State (Table 8-148 Get Security State Output Payload)
/// Get Security State output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetSecurityStateOut {
    /// Security State (`SECURITY_STATE_*`).
    pub security_state: u32,
}

impl Encode for GetSecurityStateOut {
    fn encode(&self) -> Vec<u8> {
        self.security_state.to_le_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.9.6.1 Get Security State (Opcode 4500h)
/// Get Security State: no input; no passphrase set, unlocked.
pub fn get_security_state(
    _memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetSecurityStateOut { security_state: 0 }.encode())
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
