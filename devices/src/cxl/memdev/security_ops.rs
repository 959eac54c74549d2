//! The Persistent Memory Data-at-rest Security operations of [`Memdev`]
//! (CXL 3.1 8.2.9.9.6). The state and its rules are `security.rs`.

use std::ops::Range;

use super::security::{Passphrase, PassphraseType};
use super::Memdev;
use crate::cxl::retcode::RetCode;

impl Memdev {
    /// True if the device can hold persistent capacity (persistent-only or
    /// partitionable capacity): the Persistent Memory Data-at-rest Security
    /// commands exist only then.
    pub fn has_persistent_capacity(&self) -> bool {
        self.config.persistent_bytes > 0 || self.config.partitionable_bytes > 0
    }

    /// Sets or changes a passphrase (Set Passphrase).
    pub fn set_passphrase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
        new: Passphrase,
    ) -> Result<(), RetCode> {
        self.security.set_passphrase(t, current, new)
    }

    /// Removes a passphrase (Disable Passphrase).
    pub fn disable_passphrase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
    ) -> Result<(), RetCode> {
        self.security.disable_passphrase(t, current)
    }

    /// Unlocks the persistent capacity with the user passphrase (Unlock).
    pub fn unlock(&mut self, current: &Passphrase) -> Result<(), RetCode> {
        self.security.unlock(current)
    }

    /// Freezes the security state until the next cold reset (Freeze
    /// Security State).
    pub fn freeze_security(&mut self) {
        self.security.freeze();
    }

    /// Passphrase Secure Erase: on success the passphrases change as
    /// [`SecurityState::secure_erase`] says and the returned DPA range
    /// (the active persistent capacity) is to be erased.
    ///
    /// [`SecurityState::secure_erase`]: super::security::SecurityState::secure_erase
    pub fn passphrase_secure_erase(
        &mut self,
        t: PassphraseType,
        current: &Passphrase,
    ) -> Result<Range<u64>, RetCode> {
        self.check_media_ready()?;
        self.security.secure_erase(t, current)?;
        Ok(self.partition.persistent_dpa_range())
    }
}
