//! Operator requests and extent placement, mirroring the FM API's Initiate
//! Dynamic Capacity Add / Release (CXL 3.1 7.6.7.6.5, 7.6.7.6.6): selection
//! policies (Free, Contiguous, Prescriptive, Enable Shared Access) and
//! removal policies (Tag-based, Prescriptive).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extent::{DcExtent, DcdEffect, ExtentRange};
use crate::memory::HostMemory;

// CXL 3.1 7.6.7.6.5 Initiate Dynamic Capacity Add (Selection Policy)
/// How the device picks the DPA ranges of an add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionPolicy {
    /// The total length, in any free blocks (possibly several extents),
    /// lowest addresses first.
    Free,
    /// One extent of the total length, at the lowest free range that fits.
    Contiguous,
    /// Exactly the extents given.
    Prescriptive,
    /// Share capacity already given to another host (not supported).
    EnableSharedAccess,
}

// CXL 3.1 7.6.7.6.6 Initiate Dynamic Capacity Release (Removal Policy)
/// Which extents a release names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalPolicy {
    /// Every accepted extent carrying the tag.
    TagBased,
    /// Exactly the extents given.
    Prescriptive,
}

/// A range relative to a region base, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RequestedExtent {
    /// Offset from the region base.
    pub offset: u64,
    /// Length.
    pub len: u64,
}

impl RequestedExtent {
    /// The range `[offset, offset + len)` of the region.
    pub const fn new(offset: u64, len: u64) -> Self {
        Self { offset, len }
    }
}

/// An operator request to offer capacity to the host (the API's `POST
/// /devices/{id}/dc/add` body, QMP `cxl-add-dynamic-capacity`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AddRequest {
    /// Host ID (0 on a single-host device).
    pub host_id: u16,
    /// Selection policy.
    pub selection_policy: SelectionPolicy,
    /// Region index.
    pub region: u8,
    /// Tag for the extents (a backend's tag takes precedence and must
    /// agree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    /// Prescriptive: the extents. Free and Contiguous: only the lengths
    /// count (their sum is the capacity to add); may be empty with a
    /// backend (its size is the length).
    pub extents: Vec<RequestedExtent>,
    /// Tagged host memory that backs the (single) extent: never part of
    /// the document; the VMM looks it up by the tag.
    #[serde(skip)]
    pub backend: Option<Arc<HostMemory>>,
}

/// An operator request to take capacity back (the API's `POST
/// /devices/{id}/dc/release` body, QMP `cxl-release-dynamic-capacity`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Host ID (0 on a single-host device).
    pub host_id: u16,
    /// Removal policy.
    pub removal_policy: RemovalPolicy,
    /// Forced Removal: take the capacity at once, no host answer.
    #[serde(
        rename = "forced-removal",
        default,
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub forced: bool,
    /// Sanitize on Release for these extents (the region's own flag
    /// applies regardless).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sanitize_on_release: bool,
    /// Tag-based: the tag. Prescriptive: if given, every named extent must
    /// carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    /// Region index.
    pub region: u8,
    /// Prescriptive: the ranges to release (with tag-based, they narrow
    /// the release).
    #[serde(default)]
    pub extents: Vec<RequestedExtent>,
}

/// The result of a successful add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddOutcome {
    /// The extents offered, in record order.
    pub extents: Vec<DcExtent>,
    /// The MSI/MSI-X message number the device model must signal, if any.
    pub msi: Option<u8>,
}

/// The result of a successful release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseOutcome {
    /// The extents asked for (not forced) or taken (forced), in record
    /// order.
    pub extents: Vec<DcExtent>,
    /// Whether they were released at once.
    pub forced: bool,
    /// Offered extents the host had not accepted, withdrawn by a forced
    /// release: gone, never mapped, their backends free.
    pub withdrawn: Vec<DcExtent>,
    /// The MSI/MSI-X message number the device model must signal, if any.
    pub msi: Option<u8>,
    /// What the release means for memory: forced releases unmap, withdrawn
    /// offers free their backends.
    pub effects: Vec<DcdEffect>,
}

/// Free DPA ranges of a region, in increasing order, given the occupied
/// ranges (sorted, non-overlapping, inside `[base, end)`).
pub fn free_ranges(
    base: u64,
    end: u64,
    occupied: impl Iterator<Item = ExtentRange>,
) -> Vec<ExtentRange> {
    let mut out = Vec::new();
    let mut cursor = base;
    for r in occupied {
        if r.dpa > cursor {
            out.push(ExtentRange::new(cursor, r.dpa - cursor));
        }
        cursor = cursor.max(r.end_sat());
    }
    if end > cursor {
        out.push(ExtentRange::new(cursor, end - cursor));
    }
    out
}

/// Free policy: `total` bytes taken from the free ranges, lowest first
/// (one extent per free range used). `None` if the free space is short.
pub fn place_free(free: &[ExtentRange], total: u64) -> Option<Vec<ExtentRange>> {
    let mut out = Vec::new();
    let mut left = total;
    for f in free {
        if left == 0 {
            break;
        }
        let take = f.len.min(left);
        out.push(ExtentRange::new(f.dpa, take));
        left -= take;
    }
    (left == 0).then_some(out)
}

/// Contiguous policy: one extent of `len` bytes at the lowest free range
/// that holds it.
pub fn place_contiguous(free: &[ExtentRange], len: u64) -> Option<ExtentRange> {
    free.iter()
        .find(|f| f.len >= len)
        .map(|f| ExtentRange::new(f.dpa, len))
}
