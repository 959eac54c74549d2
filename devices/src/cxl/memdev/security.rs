//! Persistent Memory Data-at-rest Security state (CXL 3.1 8.2.9.9.6): the
//! user and master passphrases, the locked and frozen states and the
//! passphrase attempt counters.
//!
//! The rules, per operation (the order of the checks is the order below):
//! - every operation but Get Security State and Freeze fails with Invalid
//!   Security State while the state is frozen, and for a passphrase type
//!   whose attempt count was reached;
//! - a passphrase that does not match is Incorrect Passphrase and counts
//!   one attempt of its type; [`PASSPHRASE_ATTEMPT_LIMIT`] of them in a row
//!   set the type's Attempt Count Reached bit until the next cold reset; a
//!   match starts the count again;
//! - Set Passphrase: the master passphrase only while no user passphrase is
//!   set; the Current Passphrase is checked only if one of that type is
//!   set;
//! - Disable Passphrase: Invalid Security State if that type is not set;
//!   disabling the user passphrase unlocks the device;
//! - Unlock: Invalid Security State unless a user passphrase is set and the
//!   device is locked;
//! - Passphrase Secure Erase: with the master passphrase (Invalid Input if
//!   none is set) the user passphrase is removed and the device unlocked;
//!   with the user passphrase, if one is set, it is removed (and the device
//!   unlocked); without one the Current Passphrase is ignored and the erase
//!   is a Secure Erase. The caller erases the media.
//! - A cold reset locks the device if a user passphrase is set, unfreezes
//!   it and clears the attempt counters.
//!
//! Passphrases never appear in `Debug` output or logs: [`Passphrase`]
//! prints only its length, compares in constant time and zeroes its bytes
//! when dropped.

use std::fmt;

use crate::cxl::retcode::RetCode;

/// Length of a passphrase (CXL 3.1 8.2.9.9.6.2, 32 bytes).
pub const PASSPHRASE_LEN: usize = 32;

/// Incorrect passphrases of one type in a row after which the device
/// refuses that type until a cold reset (the spec leaves the number to the
/// device; Linux's cxl_test mock uses 3 too).
pub const PASSPHRASE_ATTEMPT_LIMIT: u8 = 3;

// CXL 3.1 8.2.9.9.6.1 Get Security State (Security State bits)
/// User Passphrase Set.
pub const SECURITY_STATE_USER_PASSPHRASE_SET: u32 = 1 << 0;
/// Master Passphrase Set.
pub const SECURITY_STATE_MASTER_PASSPHRASE_SET: u32 = 1 << 1;
/// Locked.
pub const SECURITY_STATE_LOCKED: u32 = 1 << 2;
/// Frozen.
pub const SECURITY_STATE_FROZEN: u32 = 1 << 3;
/// User Passphrase Attempt Count Reached.
pub const SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED: u32 = 1 << 4;
/// Master Passphrase Attempt Count Reached.
pub const SECURITY_STATE_MASTER_ATTEMPT_COUNT_REACHED: u32 = 1 << 5;

/// A 32-byte passphrase. Its `Debug` shows only the length; equality is
/// constant-time; the bytes are zeroed on drop.
#[derive(Clone)]
pub struct Passphrase([u8; PASSPHRASE_LEN]);

impl Passphrase {
    /// Wraps the bytes.
    pub fn new(bytes: [u8; PASSPHRASE_LEN]) -> Self {
        Self(bytes)
    }

    /// The bytes (for encoding a command that carries them).
    pub fn expose(&self) -> &[u8; PASSPHRASE_LEN] {
        &self.0
    }

    fn matches(&self, other: &Passphrase) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for Passphrase {}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Passphrase({PASSPHRASE_LEN} bytes)")
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // SAFETY: a valid, aligned reference to our own byte.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

// CXL 3.1 8.2.9.9.6.2 Set Passphrase (Passphrase Type)
/// Passphrase Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PassphraseType {
    /// Master passphrase.
    Master = 0,
    /// User passphrase.
    User = 1,
}

impl PassphraseType {
    /// The type with value `v`; other values are reserved.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Master),
            1 => Some(Self::User),
            _ => None,
        }
    }
}

/// What Passphrase Secure Erase did to the security state (the caller
/// erases the media in both cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EraseKind {
    /// A passphrase matched and was used.
    WithPassphrase,
    /// No user passphrase was set: the erase is a Secure Erase.
    WithoutPassphrase,
}

/// The security state of a device with persistent capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityState {
    user: Option<Passphrase>,
    master: Option<Passphrase>,
    locked: bool,
    frozen: bool,
    user_attempts: u8,
    master_attempts: u8,
}

impl SecurityState {
    /// The Get Security State output's Security State field.
    pub fn bits(&self) -> u32 {
        let mut s = 0;
        let mut set = |cond: bool, bit: u32| {
            if cond {
                s |= bit;
            }
        };
        set(self.user.is_some(), SECURITY_STATE_USER_PASSPHRASE_SET);
        set(self.master.is_some(), SECURITY_STATE_MASTER_PASSPHRASE_SET);
        set(self.locked, SECURITY_STATE_LOCKED);
        set(self.frozen, SECURITY_STATE_FROZEN);
        set(
            self.attempts_reached(PassphraseType::User),
            SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED,
        );
        set(
            self.attempts_reached(PassphraseType::Master),
            SECURITY_STATE_MASTER_ATTEMPT_COUNT_REACHED,
        );
        s
    }

    /// True while the persistent capacity is locked (a user passphrase is
    /// set and the device has not been unlocked since the cold reset).
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// True if a user passphrase is set (Linux requires none before
    /// Sanitize and Secure Erase).
    pub fn has_user_passphrase(&self) -> bool {
        self.user.is_some()
    }

    /// True once Freeze Security State ran, until the next cold reset.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    fn stored(&self, t: PassphraseType) -> Option<&Passphrase> {
        match t {
            PassphraseType::User => self.user.as_ref(),
            PassphraseType::Master => self.master.as_ref(),
        }
    }

    fn attempts(&mut self, t: PassphraseType) -> &mut u8 {
        match t {
            PassphraseType::User => &mut self.user_attempts,
            PassphraseType::Master => &mut self.master_attempts,
        }
    }

    fn attempts_reached(&self, t: PassphraseType) -> bool {
        let n = match t {
            PassphraseType::User => self.user_attempts,
            PassphraseType::Master => self.master_attempts,
        };
        n >= PASSPHRASE_ATTEMPT_LIMIT
    }

    /// Invalid Security State while frozen or past the attempt limit of `t`.
    fn check_usable(&self, t: PassphraseType) -> Result<(), RetCode> {
        if self.frozen || self.attempts_reached(t) {
            return Err(RetCode::InvalidSecurityState);
        }
        Ok(())
    }

    /// Checks `given` against the stored passphrase of type `t` (which must
    /// be set): a mismatch counts an attempt and is Incorrect Passphrase, a
    /// match starts the count again.
    fn verify(&mut self, t: PassphraseType, given: &Passphrase) -> Result<(), RetCode> {
        let ok = self.stored(t).is_some_and(|p| p.matches(given));
        let n = self.attempts(t);
        if ok {
            *n = 0;
            Ok(())
        } else {
            *n = n.saturating_add(1).min(PASSPHRASE_ATTEMPT_LIMIT);
            Err(RetCode::IncorrectPassphrase)
        }
    }

    /// Set Passphrase: sets or changes the passphrase of type `t`.
    pub fn set_passphrase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
        new: Passphrase,
    ) -> Result<(), RetCode> {
        self.check_usable(t)?;
        if t == PassphraseType::Master && self.user.is_some() {
            return Err(RetCode::InvalidSecurityState);
        }
        if self.stored(t).is_some() {
            self.verify(t, current)?;
        }
        match t {
            PassphraseType::User => self.user = Some(new),
            PassphraseType::Master => self.master = Some(new),
        }
        Ok(())
    }

    /// Disable Passphrase: removes the passphrase of type `t`; the user
    /// passphrase's removal unlocks the device.
    pub fn disable_passphrase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
    ) -> Result<(), RetCode> {
        self.check_usable(t)?;
        if self.stored(t).is_none() {
            return Err(RetCode::InvalidSecurityState);
        }
        self.verify(t, current)?;
        match t {
            PassphraseType::User => {
                self.user = None;
                self.locked = false;
            }
            PassphraseType::Master => self.master = None,
        }
        Ok(())
    }

    /// Unlock with the user passphrase.
    pub fn unlock(&mut self, current: &Passphrase) -> Result<(), RetCode> {
        let t = PassphraseType::User;
        self.check_usable(t)?;
        if self.user.is_none() || !self.locked {
            return Err(RetCode::InvalidSecurityState);
        }
        self.verify(t, current)?;
        self.locked = false;
        Ok(())
    }

    /// Freeze Security State: no change until the next cold reset.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Passphrase Secure Erase's state change: the checks and what the
    /// passphrases become. The caller erases the media on success.
    pub fn secure_erase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
    ) -> Result<EraseKind, RetCode> {
        self.check_usable(t)?;
        match t {
            PassphraseType::Master => {
                if self.master.is_none() {
                    return Err(RetCode::InvalidInput);
                }
                self.verify(t, current)?;
                self.user_attempts = 0;
            }
            PassphraseType::User => {
                if self.user.is_none() {
                    return Ok(EraseKind::WithoutPassphrase);
                }
                self.verify(t, current)?;
            }
        }
        self.user = None;
        self.locked = false;
        Ok(EraseKind::WithPassphrase)
    }

    /// A cold reset: locked if a user passphrase is set, not frozen, the
    /// attempt counters cleared.
    pub fn cold_reset(&mut self) {
        self.locked = self.user.is_some();
        self.frozen = false;
        self.user_attempts = 0;
        self.master_attempts = 0;
    }
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
