//! Persistent Memory Data-at-rest Security command set (CXL 3.1
//! 8.2.9.9.6): Get Security State, Set Passphrase, Disable Passphrase,
//! Unlock, Freeze Security State and Passphrase Secure Erase. The state is
//! [`crate::cxl::memdev::security`].
//!
//! The passphrases in these payloads are [`Passphrase`]s, whose `Debug`
//! shows only their length: a decoded payload can be logged or traced
//! without them.

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::security::{Passphrase, PassphraseType, PASSPHRASE_LEN};
use crate::cxl::memdev::{Effects, Memdev};

pub use crate::cxl::memdev::security::{
    SECURITY_STATE_FROZEN, SECURITY_STATE_LOCKED, SECURITY_STATE_MASTER_ATTEMPT_COUNT_REACHED,
    SECURITY_STATE_MASTER_PASSPHRASE_SET, SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED,
    SECURITY_STATE_USER_PASSPHRASE_SET,
};

/// Size of the Set Passphrase input payload.
pub const SET_PASSPHRASE_INPUT_SIZE: usize = 0x60;
/// Size of the Disable Passphrase and Passphrase Secure Erase input
/// payloads.
pub const PASSPHRASE_INPUT_SIZE: usize = 0x40;

fn passphrase_at(input: &Input<'_>, offset: usize) -> Result<Passphrase, RetCode> {
    input
        .array::<PASSPHRASE_LEN>(offset)
        .map(Passphrase::new)
        .ok_or(RetCode::InvalidPayloadLength)
}

fn passphrase_type(input: &Input<'_>) -> Result<PassphraseType, RetCode> {
    let v = input.u8(0).ok_or(RetCode::InvalidPayloadLength)?;
    PassphraseType::from_u8(v).ok_or(RetCode::InvalidInput)
}

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

// CXL 3.1 8.2.9.9.6.2 Set Passphrase (Set Passphrase Input Payload)
/// Set Passphrase input (`struct cxl_set_pass`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPassphraseIn {
    /// Passphrase Type.
    pub kind: PassphraseType,
    /// Current Passphrase (ignored if none of that type is set).
    pub current: Passphrase,
    /// New Passphrase.
    pub new: Passphrase,
}

impl Decode<'_> for SetPassphraseIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(SET_PASSPHRASE_INPUT_SIZE)?;
        Ok(Self {
            kind: passphrase_type(&input)?,
            current: passphrase_at(&input, 0x20)?,
            new: passphrase_at(&input, 0x40)?,
        })
    }
}

impl Encode for SetPassphraseIn {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(SET_PASSPHRASE_INPUT_SIZE);
        o.put_u8(0, self.kind as u8);
        o.put_bytes(0x20, self.current.expose());
        o.put_bytes(0x40, self.new.expose());
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.6.3 Disable Passphrase (Disable Passphrase Input Payload)
// CXL 3.1 8.2.9.9.6.6 Passphrase Secure Erase (Passphrase Secure Erase Input Payload)
/// Disable Passphrase input (`struct cxl_disable_pass`) and Passphrase
/// Secure Erase input (`struct cxl_pass_erase`): the same layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseIn {
    /// Passphrase Type.
    pub kind: PassphraseType,
    /// Current Passphrase.
    pub current: Passphrase,
}

impl Decode<'_> for PassphraseIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(PASSPHRASE_INPUT_SIZE)?;
        Ok(Self {
            kind: passphrase_type(&input)?,
            current: passphrase_at(&input, 0x20)?,
        })
    }
}

impl Encode for PassphraseIn {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(PASSPHRASE_INPUT_SIZE);
        o.put_u8(0, self.kind as u8);
        o.put_bytes(0x20, self.current.expose());
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.6.4 Unlock (Unlock Input Payload)
/// Unlock input: the Current Passphrase (the user passphrase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockIn {
    /// Current Passphrase.
    pub current: Passphrase,
}

impl Decode<'_> for UnlockIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(PASSPHRASE_LEN)?;
        Ok(Self {
            current: passphrase_at(&input, 0)?,
        })
    }
}

impl Encode for UnlockIn {
    fn encode(&self) -> Vec<u8> {
        self.current.expose().to_vec()
    }
}

// CXL 3.1 8.2.9.9.6.1 Get Security State (Opcode 4500h)
/// Get Security State: no input; the Security State bits.
pub fn get_security_state(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetSecurityStateOut {
        security_state: memdev.security().bits(),
    }
    .encode())
}

// CXL 3.1 8.2.9.9.6.2 Set Passphrase (Opcode 4501h)
/// Set Passphrase: no output. Invalid Input for a reserved Passphrase
/// Type; Invalid Security State when frozen, past the attempt limit, or for
/// the master passphrase while a user passphrase is set; Incorrect
/// Passphrase when the current one does not match.
pub fn set_passphrase(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetPassphraseIn::decode(input)?;
    memdev.set_passphrase(req.kind, &req.current, req.new)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.6.3 Disable Passphrase (Opcode 4502h)
/// Disable Passphrase: no output. Invalid Security State when frozen, past
/// the attempt limit or with no passphrase of that type; Incorrect
/// Passphrase when it does not match.
pub fn disable_passphrase(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = PassphraseIn::decode(input)?;
    memdev.disable_passphrase(req.kind, &req.current)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.6.4 Unlock (Opcode 4503h)
/// Unlock: no output. Invalid Security State when frozen, past the attempt
/// limit, or not locked; Incorrect Passphrase when it does not match.
pub fn unlock(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    let req = UnlockIn::decode(input)?;
    memdev.unlock(&req.current)?;
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.6.5 Freeze Security State (Opcode 4504h)
/// Freeze Security State: no input, no output; the state stays as it is
/// until the next cold reset.
pub fn freeze_security_state(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    memdev.freeze_security();
    Ok(Vec::new())
}

// CXL 3.1 8.2.9.9.6.6 Passphrase Secure Erase (Opcode 4505h)
/// Passphrase Secure Erase: no output; the persistent capacity is erased
/// (an effect). Invalid Input for a reserved Passphrase Type or the master
/// passphrase when none is set; Invalid Security State when frozen or past
/// the attempt limit; Incorrect Passphrase when it does not match; Media
/// Disabled when the media is not ready.
pub fn passphrase_secure_erase(
    memdev: &mut Memdev,
    input: Input,
    fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = PassphraseIn::decode(input)?;
    let erase = memdev.passphrase_secure_erase(req.kind, &req.current)?;
    if !erase.is_empty() {
        fx.media_erases.push(erase);
    }
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
