//! Dynamic Capacity: adding and releasing extents (QMP
//! `cxl-add-dynamic-capacity`, `cxl-release-dynamic-capacity`), release
//! status and the extent list.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::is_false;

/// How the device picks capacity for an add (CXL 3.1 Table 7-70).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionPolicy {
    Free,
    Contiguous,
    Prescriptive,
    EnableSharedAccess,
}

/// How capacity to release is named (CXL 3.1 Table 7-71).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalPolicy {
    TagBased,
    Prescriptive,
}

/// A range of a region, as operators name it: offset from the region's
/// base and length, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ExtentSpec {
    pub offset: u64,
    pub len: u64,
}

impl ExtentSpec {
    /// The end offset, if the range is non-empty and does not wrap.
    pub fn end(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        self.offset.checked_add(self.len)
    }
}

/// A range of a given region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentRef {
    pub region: u8,
    pub offset: u64,
    pub len: u64,
}

/// `POST /devices/{id}/dc/add` (QMP `cxl-add-dynamic-capacity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DcAddRequest {
    pub host_id: u16,
    pub selection_policy: SelectionPolicy,
    pub region: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    pub extents: Vec<ExtentSpec>,
}

impl DcAddRequest {
    /// Checks what can be checked without the device: at least one extent,
    /// none empty, wrapping or overlapping another.
    pub fn validate(&self) -> Result<(), String> {
        if self.extents.is_empty() {
            return Err("at least one extent is required".into());
        }
        validate_extents(&self.extents)
    }
}

/// `POST /devices/{id}/dc/release` (QMP `cxl-release-dynamic-capacity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DcReleaseRequest {
    pub host_id: u16,
    pub removal_policy: RemovalPolicy,
    /// Release without waiting for the host to give the capacity back.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forced_removal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub sanitize_on_release: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    pub region: u8,
    /// Required by `prescriptive`; with `tag-based`, narrows the release.
    #[serde(default)]
    pub extents: Vec<ExtentSpec>,
}

impl DcReleaseRequest {
    /// Checks the policy's needs and the extents' shapes.
    pub fn validate(&self) -> Result<(), String> {
        match self.removal_policy {
            RemovalPolicy::Prescriptive if self.extents.is_empty() => {
                return Err("prescriptive removal needs at least one extent".into())
            }
            RemovalPolicy::TagBased if self.tag.is_none() => {
                return Err("tag-based removal needs a tag".into())
            }
            _ => {}
        }
        validate_extents(&self.extents)
    }
}

/// Refuses empty, wrapping and mutually overlapping extents.
fn validate_extents(extents: &[ExtentSpec]) -> Result<(), String> {
    let mut ranges = Vec::with_capacity(extents.len());
    for (i, e) in extents.iter().enumerate() {
        let end = e.end().ok_or_else(|| {
            format!(
                "extent {i} (offset {:#x}, len {:#x}) is empty or wraps",
                e.offset, e.len
            )
        })?;
        ranges.push((e.offset, end, i));
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        if let [(_, end_a, a), (start_b, _, b)] = w {
            if start_b < end_a {
                return Err(format!("extents {} and {} overlap", a.min(b), a.max(b)));
            }
        }
    }
    Ok(())
}

/// Where an extent stands between the device and the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtentState {
    /// Offered to the host, not yet accepted.
    Pending,
    /// Accepted by the host: the host may use it.
    Accepted,
    /// Release requested, the host has not given it back yet.
    ReleasePending,
    /// Given back (or forcibly removed).
    Released,
    /// Offered, then withdrawn by a forced release before the host
    /// accepted it: never mapped, its backend free.
    Withdrawn,
}

impl ExtentState {
    /// Every state, in life order.
    pub const ALL: [ExtentState; 5] = [
        ExtentState::Pending,
        ExtentState::Accepted,
        ExtentState::ReleasePending,
        ExtentState::Released,
        ExtentState::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExtentState::Pending => "pending",
            ExtentState::Accepted => "accepted",
            ExtentState::ReleasePending => "release-pending",
            ExtentState::Released => "released",
            ExtentState::Withdrawn => "withdrawn",
        }
    }
}

/// One extent touched by an add or a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcExtent {
    pub region: u8,
    pub offset: u64,
    pub len: u64,
    /// Device physical address of the extent's start.
    pub dpa: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    pub state: ExtentState,
}

/// The answer to an add or a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcExtentList {
    pub extents: Vec<DcExtent>,
}

/// What a release-status query names: the capacity carrying a tag, or one
/// extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseSelector {
    Tag(Uuid),
    Extent(ExtentSpec),
}

/// `GET /devices/{id}/dc/release-status?region=R&tag=T` (or
/// `&offset=O&len=L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcReleaseStatusQuery {
    pub region: u8,
    pub selector: ReleaseSelector,
}

/// Progress of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    Pending,
    Accepted,
    ReleasePending,
    Released,
    /// The offer was withdrawn before the host accepted it.
    Withdrawn,
    NotFound,
}

impl ReleaseStatus {
    /// Every status.
    pub const ALL: [ReleaseStatus; 6] = [
        ReleaseStatus::Pending,
        ReleaseStatus::Accepted,
        ReleaseStatus::ReleasePending,
        ReleaseStatus::Released,
        ReleaseStatus::Withdrawn,
        ReleaseStatus::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Accepted => "accepted",
            ReleaseStatus::ReleasePending => "release-pending",
            ReleaseStatus::Released => "released",
            ReleaseStatus::Withdrawn => "withdrawn",
            ReleaseStatus::NotFound => "not-found",
        }
    }
}

/// The answer to a release-status query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcReleaseStatus {
    pub status: ReleaseStatus,
}

/// One entry of `GET /devices/{id}/dc/extents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentInfo {
    pub region: u8,
    pub offset: u64,
    pub len: u64,
    pub dpa: u64,
    /// Host physical address, when mapped into the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<u64>,
    pub state: ExtentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    /// The memory backend providing the extent's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    pub mapped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(offset: u64, len: u64) -> ExtentSpec {
        ExtentSpec { offset, len }
    }

    fn add(extents: Vec<ExtentSpec>) -> DcAddRequest {
        DcAddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents,
        }
    }

    #[test]
    fn qmp_field_names() {
        let r: DcAddRequest = serde_json::from_str(
            r#"{"host-id":0,"selection-policy":"enable-shared-access","region":1,
                "tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f","extents":[{"offset":0,"len":4096}]}"#,
        )
        .unwrap();
        assert_eq!(r.selection_policy, SelectionPolicy::EnableSharedAccess);
        let r: DcReleaseRequest = serde_json::from_str(
            r#"{"host-id":0,"removal-policy":"tag-based","forced-removal":true,
                "sanitize-on-release":true,"tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f","region":0}"#,
        )
        .unwrap();
        assert!(r.forced_removal && r.sanitize_on_release && r.extents.is_empty());
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn extent_checks() {
        assert_eq!(add(vec![ext(0, 1), ext(1, 1)]).validate(), Ok(()));
        assert!(add(vec![]).validate().is_err());
        assert!(add(vec![ext(0, 0)]).validate().is_err());
        assert!(add(vec![ext(u64::MAX, 2)]).validate().is_err());
        let e = add(vec![ext(8, 8), ext(100, 1), ext(0, 9)]).validate();
        assert_eq!(e, Err("extents 0 and 2 overlap".into()));
    }

    #[test]
    fn release_policy_needs() {
        let mut r = DcReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::Prescriptive,
            forced_removal: false,
            sanitize_on_release: false,
            tag: None,
            region: 0,
            extents: vec![],
        };
        assert!(r.validate().is_err());
        r.removal_policy = RemovalPolicy::TagBased;
        assert!(r.validate().is_err());
        r.tag = Some(Uuid::nil());
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn states_serialize_as_documented() {
        for s in ExtentState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in ReleaseStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
