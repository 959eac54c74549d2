//! Sanitize command set (CXL 3.1 8.2.9.9.5): Sanitize and Secure Erase,
//! both background operations that erase the whole media at completion
//! (see [`Memdev::start_sanitize`]).
//!
//! Linux (`cxl_mem_sanitize`) checks Get Security State first and refuses
//! a device with a user passphrase set (and, for Secure Erase, a locked
//! one); the device refuses them too, with Invalid Security State. Linux
//! also refuses while HDM decoders are committed: that rule is the
//! driver's, the device does not check it.

use super::payload::{Decode, Input, NoInput};
use super::RetCode;
use crate::cxl::memdev::background_ops::{OPCODE_SANITIZE, OPCODE_SECURE_ERASE};
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.9.9.5.1 Sanitize (Opcode 4400h)
/// Sanitize: no input; starts the erase of all user data in the
/// background.
pub fn sanitize(memdev: &mut Memdev, input: Input, _fx: &mut Effects) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    memdev.start_sanitize(OPCODE_SANITIZE)?;
    Err(RetCode::BackgroundCommandStarted)
}

// CXL 3.1 8.2.9.9.5.2 Secure Erase (Opcode 4401h)
/// Secure Erase: no input; starts the erase of all user data in the
/// background (the device has no media encryption key to change, so it
/// erases as Sanitize does).
pub fn secure_erase(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    memdev.start_sanitize(OPCODE_SECURE_ERASE)?;
    Err(RetCode::BackgroundCommandStarted)
}

#[cfg(test)]
#[path = "sanitize_tests.rs"]
mod tests;
