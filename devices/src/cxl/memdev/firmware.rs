//! Firmware slots and transfers (CXL 3.1 8.2.9.3 Firmware Update).
//!
//! The device has [`FW_SLOTS`] slots. Slot 1 holds the configured FW
//! revision at power-on and is active. Transfer FW fills a slot with an
//! image (in one Full transfer or Initiate/Continue/End parts at offsets
//! in 128-byte units, each continuing where the last ended); Activate FW
//! makes a slot active now (online) or at the next cold reset (offline).
//!
//! Image format: the first [`FW_REVISION_LEN`] bytes are the image's FW
//! Revision, printable ASCII padded with NUL bytes; the rest is opaque. An
//! image whose revision is empty or not printable ASCII fails verification.
//! Images are at most [`MAX_FW_IMAGE`] bytes (a transfer past that is
//! refused), so a slot's memory is bounded.

use super::config::FW_REVISION_LEN;
use crate::cxl::retcode::RetCode;

/// Number of FW slots.
pub const FW_SLOTS: u8 = 2;
/// Largest FW image accepted, in bytes.
pub const MAX_FW_IMAGE: usize = 4 << 20;
/// Transfer FW offsets are in units of this many bytes (CXL 3.1 8.2.9.3.2).
pub const FW_TRANSFER_ALIGN: usize = 128;

/// A FW revision: ASCII, NUL padded.
pub type FwRevision = [u8; FW_REVISION_LEN];

/// One filled slot.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Slot {
    revision: FwRevision,
    /// The image (empty for the power-on firmware).
    image: Vec<u8>,
}

/// A transfer in progress (Initiate received, End not yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Transfer {
    image: Vec<u8>,
}

/// The FW slots, the active and staged slot, and a transfer in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firmware {
    slots: [Option<Slot>; FW_SLOTS as usize],
    active: u8,
    staged: Option<u8>,
    transfer: Option<Transfer>,
    /// An image received completely, waiting for its background store.
    received: Option<Vec<u8>>,
}

/// The revision of an image: its first 16 bytes, which must be printable
/// ASCII up to the NUL padding and not empty.
pub fn image_revision(image: &[u8]) -> Option<FwRevision> {
    let head = image.get(..FW_REVISION_LEN.min(image.len()))?;
    let text_len = head.iter().position(|&b| b == 0).unwrap_or(head.len());
    let (text, pad) = head.split_at(text_len);
    let ok = !text.is_empty()
        && text.iter().all(|b| (0x20..0x7F).contains(b))
        && pad.iter().all(|&b| b == 0);
    if !ok {
        return None;
    }
    let mut rev = [0u8; FW_REVISION_LEN];
    rev.get_mut(..text.len())?.copy_from_slice(text);
    Some(rev)
}

fn slot_index(slot: u8) -> Option<usize> {
    (1..=FW_SLOTS)
        .contains(&slot)
        .then(|| usize::from(slot - 1))
}

impl Firmware {
    /// Slot 1 active with `revision` (ASCII, at most 16 bytes).
    pub fn new(revision: &str) -> Self {
        let mut rev = [0u8; FW_REVISION_LEN];
        let bytes = revision.as_bytes();
        let n = bytes.len().min(FW_REVISION_LEN);
        if let (Some(dst), Some(src)) = (rev.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        let mut slots: [Option<Slot>; FW_SLOTS as usize] = Default::default();
        slots[0] = Some(Slot {
            revision: rev,
            image: Vec::new(),
        });
        Self {
            slots,
            active: 1,
            staged: None,
            transfer: None,
            received: None,
        }
    }

    /// The active slot (1-based).
    pub fn active_slot(&self) -> u8 {
        self.active
    }

    /// The slot activated at the next cold reset, if any.
    pub fn staged_slot(&self) -> Option<u8> {
        self.staged
    }

    /// The revision in `slot` (1-based), if it holds firmware.
    pub fn revision(&self, slot: u8) -> Option<FwRevision> {
        let i = slot_index(slot)?;
        self.slots.get(i)?.as_ref().map(|s| s.revision)
    }

    /// The active revision.
    pub fn active_revision(&self) -> FwRevision {
        self.revision(self.active).unwrap_or([0; FW_REVISION_LEN])
    }

    /// The size of the image in `slot` (0 for the power-on firmware).
    pub fn image_len(&self, slot: u8) -> usize {
        slot_index(slot)
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.as_ref())
            .map_or(0, |s| s.image.len())
    }

    /// True while a transfer is in progress or an image waits to be
    /// stored.
    pub fn transfer_in_progress(&self) -> bool {
        self.transfer.is_some() || self.received.is_some()
    }

    fn check_target(&self, slot: u8) -> Result<(), RetCode> {
        match slot_index(slot) {
            Some(_) if slot != self.active => Ok(()),
            _ => Err(RetCode::InvalidSlot),
        }
    }

    fn append(image: &mut Vec<u8>, offset: u32, data: &[u8]) -> Result<(), RetCode> {
        let at = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_mul(FW_TRANSFER_ALIGN))
            .ok_or(RetCode::FwTransferOutOfOrder)?;
        if at != image.len() {
            return Err(RetCode::FwTransferOutOfOrder);
        }
        if image.len().saturating_add(data.len()) > MAX_FW_IMAGE {
            return Err(RetCode::InvalidInput);
        }
        image.extend_from_slice(data);
        Ok(())
    }

    /// Full FW Transfer of `data` into `slot`: the image is received and
    /// waits for [`Self::store`]. FW Transfer in Progress during another
    /// transfer; Invalid Slot for slot 0, a slot past the last or the
    /// active one; Invalid Input for a nonzero offset, no data or an image
    /// over the maximum.
    pub fn full(&mut self, slot: u8, offset: u32, data: &[u8]) -> Result<(), RetCode> {
        if self.transfer_in_progress() {
            return Err(RetCode::FwTransferInProgress);
        }
        self.check_target(slot)?;
        if offset != 0 || data.is_empty() || data.len() > MAX_FW_IMAGE {
            return Err(RetCode::InvalidInput);
        }
        self.received = Some(data.to_vec());
        Ok(())
    }

    /// Initiate FW Transfer with the first part, at offset 0.
    pub fn initiate(&mut self, offset: u32, data: &[u8]) -> Result<(), RetCode> {
        if self.transfer_in_progress() {
            return Err(RetCode::FwTransferInProgress);
        }
        if offset != 0 {
            return Err(RetCode::FwTransferOutOfOrder);
        }
        if data.is_empty() {
            return Err(RetCode::InvalidInput);
        }
        let mut t = Transfer::default();
        Self::append(&mut t.image, offset, data)?;
        self.transfer = Some(t);
        Ok(())
    }

    /// Continue FW Transfer: the next part, at the offset where the last
    /// one ended (FW Transfer Out of Order otherwise, or without a
    /// transfer). A part over the maximum image size aborts the transfer.
    pub fn continue_(&mut self, offset: u32, data: &[u8]) -> Result<(), RetCode> {
        let t = self
            .transfer
            .as_mut()
            .ok_or(RetCode::FwTransferOutOfOrder)?;
        let r = Self::append(&mut t.image, offset, data);
        if r == Err(RetCode::InvalidInput) {
            self.transfer = None;
        }
        r
    }

    /// End FW Transfer: the last part; the image is received for `slot`
    /// and waits for [`Self::store`].
    pub fn end(&mut self, slot: u8, offset: u32, data: &[u8]) -> Result<(), RetCode> {
        if self.transfer.is_none() {
            return Err(RetCode::FwTransferOutOfOrder);
        }
        self.check_target(slot)?;
        self.continue_(offset, data)?;
        self.received = self.transfer.take().map(|t| t.image);
        Ok(())
    }

    /// Abort FW Transfer: drops a transfer in progress (nothing to do
    /// without one).
    pub fn abort(&mut self) {
        self.transfer = None;
    }

    /// The background store was aborted (Request Abort Background
    /// Operation): the received image is dropped and no slot changes.
    pub fn abort_store(&mut self) {
        self.received = None;
    }

    /// Verifies the received image and stores it in `slot` (the background
    /// part of a Full or End transfer): FW Verification Failed for an
    /// image without a valid revision (the slot keeps what it had).
    pub fn store(&mut self, slot: u8) -> RetCode {
        let Some(image) = self.received.take() else {
            return RetCode::FwTransferOutOfOrder;
        };
        let Some(revision) = image_revision(&image) else {
            return RetCode::FwVerificationFailed;
        };
        match slot_index(slot).and_then(|i| self.slots.get_mut(i)) {
            Some(s) => {
                *s = Some(Slot { revision, image });
                if self.staged == Some(slot) {
                    self.staged = None;
                }
                RetCode::Success
            }
            None => RetCode::InvalidSlot,
        }
    }

    /// Activate FW: `slot` becomes active now (`online`) or at the next
    /// cold reset. Invalid Slot for an empty or nonexistent slot; FW
    /// Transfer in Progress during a transfer. Activating the active slot
    /// online changes nothing; offline it cancels a staged activation.
    pub fn activate(&mut self, slot: u8, online: bool) -> Result<(), RetCode> {
        if self.transfer_in_progress() {
            return Err(RetCode::FwTransferInProgress);
        }
        if self.revision(slot).is_none() {
            return Err(RetCode::InvalidSlot);
        }
        if online {
            self.active = slot;
            self.staged = None;
        } else {
            self.staged = (slot != self.active).then_some(slot);
        }
        Ok(())
    }

    /// Cold reset: a staged slot becomes active; a transfer is lost.
    pub fn cold_reset(&mut self) {
        if let Some(s) = self.staged.take() {
            self.active = s;
        }
        self.transfer = None;
        self.received = None;
    }
}

#[cfg(test)]
#[path = "firmware_tests.rs"]
mod tests;
