//! What an operation on the device state caused that the device model
//! must carry out ([`Effects`]), and the media writes among it.

use std::ops::Range;

use crate::cxl::dcd::DcdEffect;

/// 64 bytes the device must write to its media at a DPA, as requested by
/// Clear Poison (CXL 3.1 8.2.9.9.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaWrite {
    /// Device physical address (64-byte aligned).
    pub dpa: u64,
    /// The data to write.
    pub data: [u8; 64],
}

/// What an operation caused that the device model must carry out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Memory changes of Dynamic Capacity, oldest first: map accepted
    /// extents, unmap (and sanitize) released ones, free declined backends.
    pub dcd: Vec<DcdEffect>,
    /// Data to write to the media, oldest first.
    pub media_writes: Vec<MediaWrite>,
    /// DPA ranges whose media the device must erase (read as zeros
    /// afterwards), oldest first: Passphrase Secure Erase's persistent
    /// capacity.
    pub media_erases: Vec<Range<u64>>,
}

impl Effects {
    /// Nothing to carry out.
    pub fn is_empty(&self) -> bool {
        self.dcd.is_empty() && self.media_writes.is_empty() && self.media_erases.is_empty()
    }
}
