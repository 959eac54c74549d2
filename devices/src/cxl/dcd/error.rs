//! Errors of operator requests (add, release). Every error leaves the
//! device unchanged.

use thiserror::Error;
use uuid::Uuid;

use super::extent::ExtentStatus;

/// A refused operator request.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DcdError {
    /// The device has no DC regions.
    #[error("the device has no dynamic capacity")]
    NoDynamicCapacity,
    /// No such region.
    #[error("DC region {region} does not exist (the device has {count})")]
    UnknownRegion {
        /// The region asked for.
        region: u8,
        /// How many the device has.
        count: usize,
    },
    /// No such host.
    #[error("host id {0} does not exist (single-host device: host 0)")]
    UnknownHost(u16),
    /// Enable Shared Access selection policy.
    #[error("shared extents are not supported")]
    SharedNotSupported,
    /// Nothing to add or release.
    #[error("no extents given")]
    NoExtents,
    /// An extent of length 0.
    #[error("extent at offset {offset:#x} has length 0")]
    ZeroLength {
        /// Offset from the region base.
        offset: u64,
    },
    /// Not a multiple of the region's block size.
    #[error(
        "extent at offset {offset:#x} length {len:#x} is not aligned to the region block size \
         {block_size:#x}"
    )]
    Misaligned {
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// The region's block size.
        block_size: u64,
    },
    /// Not inside the region.
    #[error("extent at offset {offset:#x} length {len:#x} exceeds region {region} ({region_len:#x} bytes)")]
    OutOfRegion {
        /// Region index.
        region: u8,
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// Region length.
        region_len: u64,
    },
    /// Two extents of the request overlap.
    #[error("requested extents overlap at offset {offset:#x}")]
    OverlappingRequest {
        /// Offset from the region base of the later extent.
        offset: u64,
    },
    /// The range overlaps an extent that is offered, accepted or being
    /// released.
    #[error("extent at offset {offset:#x} length {len:#x} overlaps a {state} extent")]
    InUse {
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// State of the extent in the way.
        state: ExtentStatus,
    },
    /// Not enough free capacity in the region.
    #[error("region {region} has no free {contiguous}range of {len:#x} bytes", contiguous = if *.contiguous { "contiguous " } else { "" })]
    NoSpace {
        /// Region index.
        region: u8,
        /// Bytes asked for.
        len: u64,
        /// Whether one contiguous range was needed.
        contiguous: bool,
    },
    /// Not enough room left in the Dynamic Capacity Event Log.
    #[error(
        "the dynamic capacity event log is full: room for {free} records, {needed} needed (the \
         guest has not cleared the records it was sent)"
    )]
    LogFull {
        /// Records needed.
        needed: usize,
        /// Free entries in the log.
        free: usize,
    },
    /// The device cannot track that many more extents.
    #[error(
        "the device tracks at most {max} extents; {needed} more needed, {available} available"
    )]
    ExtentLimit {
        /// Extents needed.
        needed: usize,
        /// Extents available.
        available: usize,
        /// Total supported.
        max: u32,
    },
    /// A backend whose size differs from the extent.
    #[error("size mismatch: backend '{backend}' is {backend_size:#x} bytes, the extent {len:#x}")]
    SizeMismatch {
        /// Backend id.
        backend: String,
        /// Backend size.
        backend_size: u64,
        /// Extent length asked for.
        len: u64,
    },
    /// A backend needs exactly one extent.
    #[error("a backend backs exactly one extent; {0} requested")]
    BackendExtentCount(usize),
    /// The backend is already bound to an extent.
    #[error("backend '{0}' already backs a dynamic capacity extent")]
    BackendInUse(String),
    /// The request's tag and the backend's tag differ.
    #[error("tag {request} differs from backend '{backend}' tag {backend_tag}")]
    TagMismatch {
        /// Tag in the request.
        request: Uuid,
        /// Backend id.
        backend: String,
        /// Backend tag.
        backend_tag: Uuid,
    },
    /// The tag already names live extents (Linux drops a tag that reappears
    /// after its More chain closed).
    #[error("tag {0} is already in use by live extents")]
    TagInUse(Uuid),
    /// An untagged add on a device without DC backing memory.
    #[error(
        "the device has no dynamic capacity backing memory: an add needs a tagged memory backend"
    )]
    NoBackingMemory,
    /// Tag-based release without a tag.
    #[error("tag-based release needs a tag")]
    TagRequired,
    /// No extent with the tag to release.
    #[error("no {what} extents with tag {tag} in region {region}")]
    TagNotFound {
        /// The tag.
        tag: Uuid,
        /// Region index.
        region: u8,
        /// Which extents were looked for.
        what: &'static str,
    },
    /// Some extents with the tag are still offered.
    #[error(
        "tag {0} has extents still pending (offered, not yet accepted); a forced removal \
         withdraws them"
    )]
    TagPending(Uuid),
    /// A release naming capacity that is not accepted.
    #[error(
        "extent at offset {offset:#x} length {len:#x} is not accepted ({status}){}",
        withdraw_hint(*.status)
    )]
    NotAccepted {
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// What the range is.
        status: ExtentStatus,
    },
    /// A release naming part of an extent that carries a backend.
    #[error("partial release of a backed extent: offset {offset:#x} length {len:#x} is part of extent at {extent_offset:#x} length {extent_len:#x}")]
    PartialBackedRelease {
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// Offset of the backed extent.
        extent_offset: u64,
        /// Length of the backed extent.
        extent_len: u64,
    },
    /// A withdrawal naming part of an offered extent: the host was offered
    /// it whole.
    #[error("partial withdrawal: offset {offset:#x} length {len:#x} is part of the offered extent at {extent_offset:#x} length {extent_len:#x}; withdraw it whole")]
    PartialWithdrawal {
        /// Offset from the region base.
        offset: u64,
        /// Length.
        len: u64,
        /// Offset of the offered extent.
        extent_offset: u64,
        /// Length of the offered extent.
        extent_len: u64,
    },
    /// A named extent does not carry the request's tag.
    #[error("extent at offset {offset:#x} has tag {actual}, not {expected}")]
    WrongTag {
        /// Offset from the region base.
        offset: u64,
        /// Tag asked for.
        expected: Uuid,
        /// Tag it has.
        actual: Uuid,
    },
}

/// How to take back an offer the host has not answered.
fn withdraw_hint(status: ExtentStatus) -> &'static str {
    if status == ExtentStatus::Pending {
        "; a forced removal withdraws a pending offer"
    } else {
        ""
    }
}
