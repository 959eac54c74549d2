//! Dynamic Capacity extents: DPA ranges, their wire formats and the states
//! an extent goes through (CXL 3.1 8.2.9.2.1.6 Table 8-51, 8.2.9.9.9.2-4).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::memory::HostMemory;

/// Size of a Dynamic Capacity Extent (CXL 3.1 Table 8-51).
pub const DC_EXTENT_SIZE: usize = 0x28;
/// Size of an Updated Extent (CXL 3.1 Table 8-169).
pub const UPDATED_EXTENT_SIZE: usize = 0x18;

/// A DPA range `[dpa, dpa + len)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtentRange {
    /// Starting DPA.
    pub dpa: u64,
    /// Length in bytes.
    pub len: u64,
}

impl ExtentRange {
    /// The range `[dpa, dpa + len)`.
    pub const fn new(dpa: u64, len: u64) -> Self {
        Self { dpa, len }
    }

    /// The end of the range, or `None` if it wraps.
    pub fn end(&self) -> Option<u64> {
        self.dpa.checked_add(self.len)
    }

    /// The end of the range, saturated (for ranges already checked).
    pub fn end_sat(&self) -> u64 {
        self.dpa.saturating_add(self.len)
    }

    /// True if the ranges share a byte.
    pub fn overlaps(&self, other: &ExtentRange) -> bool {
        self.dpa < other.end_sat() && other.dpa < self.end_sat()
    }

    /// True if `other` lies inside this range.
    pub fn contains(&self, other: &ExtentRange) -> bool {
        other.dpa >= self.dpa && other.end_sat() <= self.end_sat()
    }
}

impl fmt::Display for ExtentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, +{:#x})", self.dpa, self.len)
    }
}

/// A Dynamic Capacity extent as the device model and the operator see it
/// (in the API: `region`, `offset`, `len`, `dpa`, `tag` when not nil).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcExtent {
    /// Index of the DC region holding it.
    pub region: u8,
    /// Offset of the extent from the region base.
    #[serde(rename = "offset")]
    pub region_offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Starting DPA.
    pub dpa: u64,
    /// Tag (nil for untagged capacity).
    #[serde(default, skip_serializing_if = "Uuid::is_nil")]
    pub tag: Uuid,
    /// Shared Extent Sequence (0: the device has no sharable regions).
    #[serde(skip)]
    pub shared_seq: u16,
    /// The tagged host memory backing the extent; `None` when the device's
    /// static DC backing memory holds it.
    #[serde(skip)]
    pub backend: Option<Arc<HostMemory>>,
}

impl DcExtent {
    /// The extent's DPA range.
    pub fn range(&self) -> ExtentRange {
        ExtentRange::new(self.dpa, self.len)
    }

    /// Id of the backend, if the extent has one.
    pub fn backend_id(&self) -> Option<&str> {
        self.backend.as_deref().map(HostMemory::id)
    }

    // CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Extent (Table 8-51)
    /// The 40-byte Dynamic Capacity Extent.
    pub fn to_bytes(&self) -> [u8; DC_EXTENT_SIZE] {
        encode_extent(self.dpa, self.len, self.tag, self.shared_seq)
    }
}

impl PartialEq for DcExtent {
    fn eq(&self, other: &Self) -> bool {
        let same_backend = match (&self.backend, &other.backend) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        self.dpa == other.dpa
            && self.len == other.len
            && self.region == other.region
            && self.region_offset == other.region_offset
            && self.tag == other.tag
            && self.shared_seq == other.shared_seq
            && same_backend
    }
}

impl Eq for DcExtent {}

// CXL 3.1 8.2.9.2.1.6 Dynamic Capacity Extent (Table 8-51)
/// Encodes a Dynamic Capacity Extent: Starting DPA, Length, Tag, Shared
/// Extent Sequence, 6 reserved bytes.
pub fn encode_extent(dpa: u64, len: u64, tag: Uuid, shared_seq: u16) -> [u8; DC_EXTENT_SIZE] {
    let mut b = [0u8; DC_EXTENT_SIZE];
    b[0x00..0x08].copy_from_slice(&dpa.to_le_bytes());
    b[0x08..0x10].copy_from_slice(&len.to_le_bytes());
    b[0x10..0x20].copy_from_slice(tag.as_bytes());
    b[0x20..0x22].copy_from_slice(&shared_seq.to_le_bytes());
    b
}

// CXL 3.1 8.2.9.9.9.3 Updated Extent (Table 8-169)
/// Decodes Updated Extents (Starting DPA, Length, 8 reserved bytes) from a
/// list of whole 24-byte entries; a partial trailing entry is ignored
/// (callers check the payload length first).
pub fn decode_updated_extents(bytes: &[u8]) -> Vec<ExtentRange> {
    bytes
        .chunks_exact(UPDATED_EXTENT_SIZE)
        .map(|c| {
            let word = |o: usize| {
                let mut w = [0u8; 8];
                if let Some(s) = c.get(o..o + 8) {
                    w.copy_from_slice(s);
                }
                u64::from_le_bytes(w)
            };
            ExtentRange::new(word(0), word(8))
        })
        .collect()
}

/// Encodes Updated Extents (for hosts and tests).
pub fn encode_updated_extents(ranges: &[ExtentRange]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ranges.len() * UPDATED_EXTENT_SIZE);
    for r in ranges {
        out.extend_from_slice(&r.dpa.to_le_bytes());
        out.extend_from_slice(&r.len.to_le_bytes());
        out.extend_from_slice(&[0u8; 8]);
    }
    out
}

/// Where a live extent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtentState {
    /// Offered in an Add Capacity chain, not yet answered.
    Pending,
    /// Accepted by the host.
    Accepted,
    /// Accepted, and a Release Capacity record asked the host for it.
    ReleasePending,
}

/// What a status query reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtentStatus {
    /// Offered, not yet answered.
    Pending,
    /// Accepted by the host.
    Accepted,
    /// Release requested, the host has not released it yet.
    ReleasePending,
    /// Released (by the host, or forcibly).
    Released,
    /// Offered and declined by the host.
    Declined,
    /// Offered, and withdrawn by the operator before the host accepted it.
    Withdrawn,
    /// Unknown (never existed, or forgotten from the bounded history).
    NotFound,
}

impl ExtentStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::ReleasePending => "release-pending",
            Self::Released => "released",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
            Self::NotFound => "not-found",
        }
    }
}

impl From<ExtentState> for ExtentStatus {
    fn from(s: ExtentState) -> Self {
        match s {
            ExtentState::Pending => Self::Pending,
            ExtentState::Accepted => Self::Accepted,
            ExtentState::ReleasePending => Self::ReleasePending,
        }
    }
}

impl fmt::Display for ExtentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A live extent and its state (for listings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentInfo {
    /// The extent.
    #[serde(flatten)]
    pub extent: DcExtent,
    /// Its state.
    pub state: ExtentState,
}

/// How an extent left the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtentOutcome {
    /// Released by the host (Release Dynamic Capacity).
    Released,
    /// Released by a Forced Capacity Release.
    ForcedReleased,
    /// Offered and not accepted.
    Declined,
    /// Offered, then withdrawn by the operator (a forced release of a
    /// pending extent).
    Withdrawn,
}

impl ExtentOutcome {
    /// The status a query reports for it.
    pub fn status(self) -> ExtentStatus {
        match self {
            Self::Released | Self::ForcedReleased => ExtentStatus::Released,
            Self::Declined => ExtentStatus::Declined,
            Self::Withdrawn => ExtentStatus::Withdrawn,
        }
    }
}

/// A released or declined extent, remembered for status queries (without
/// its backend, which goes back to the device model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Starting DPA.
    pub dpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// Region index.
    pub region: u8,
    /// Offset from the region base.
    pub region_offset: u64,
    /// Tag.
    pub tag: Uuid,
    /// Id of the backend it had, if any.
    pub backend_id: Option<String>,
    /// How it ended.
    pub outcome: ExtentOutcome,
}

/// What the device model must do to memory after a DCD state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcdEffect {
    /// The host accepted the extent: map it.
    Accepted {
        /// The extent.
        extent: DcExtent,
    },
    /// The extent left the host: unmap it and unbind its backend, zeroing
    /// the memory first if `sanitize`.
    Released {
        /// The extent.
        extent: DcExtent,
        /// Sanitize on Release applies.
        sanitize: bool,
        /// It was a Forced Capacity Release.
        forced: bool,
    },
    /// The offer was not accepted (the host declined it, or the operator
    /// withdrew it): nothing was mapped; the backend (if any) is free for
    /// reuse.
    Declined {
        /// The extent.
        extent: DcExtent,
    },
}
