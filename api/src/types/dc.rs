//! Dynamic Capacity: adding and releasing extents (QMP
//! `cxl-add-dynamic-capacity`, `cxl-release-dynamic-capacity`), release
//! status and the extent list.
//!
//! The requests and the extents are the device model's own types
//! (`devices::cxl::dcd`), which carry the QMP field names; this module adds
//! the answers that put an extent together with its state or its mapping,
//! and the checks a request passes before it reaches the VMM.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use devices::cxl::dcd::{
    AddRequest, DcExtent, ExtentInfo, ExtentState, ExtentStatus, ReleaseRequest, RemovalPolicy,
    RequestedExtent, SelectionPolicy,
};

use super::validate::Validate;

/// A range of a given region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentRef {
    pub region: u8,
    pub offset: u64,
    pub len: u64,
}

/// The end offset of a requested range, if it is non-empty and does not
/// wrap.
pub fn extent_end(e: &RequestedExtent) -> Option<u64> {
    if e.len == 0 {
        return None;
    }
    e.offset.checked_add(e.len)
}

/// What can be checked without the device: at least one extent, none
/// empty, wrapping or overlapping another.
impl Validate for AddRequest {
    fn validate(&self) -> Result<(), String> {
        if self.extents.is_empty() {
            return Err("at least one extent is required".into());
        }
        validate_extents(&self.extents)
    }
}

/// The policy's needs and the extents' shapes.
impl Validate for ReleaseRequest {
    fn validate(&self) -> Result<(), String> {
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
fn validate_extents(extents: &[RequestedExtent]) -> Result<(), String> {
    let mut ranges = Vec::with_capacity(extents.len());
    for (i, e) in extents.iter().enumerate() {
        let end = extent_end(e).ok_or_else(|| {
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

/// The states an add or a release answers with: `pending` (offered),
/// `release-pending` (asked for), `released` (forced) and `withdrawn`
/// (an offer taken back); a listing shows the live ones.
pub const EXTENT_STATES: [ExtentStatus; 5] = [
    ExtentStatus::Pending,
    ExtentStatus::Accepted,
    ExtentStatus::ReleasePending,
    ExtentStatus::Released,
    ExtentStatus::Withdrawn,
];

/// The statuses a release-status query answers with (an offer the host
/// declined never became capacity: it reads `not-found`).
pub const RELEASE_STATUSES: [ExtentStatus; 6] = [
    ExtentStatus::Pending,
    ExtentStatus::Accepted,
    ExtentStatus::ReleasePending,
    ExtentStatus::Released,
    ExtentStatus::Withdrawn,
    ExtentStatus::NotFound,
];

/// One extent touched by an add or a release, and where it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentChange {
    #[serde(flatten)]
    pub extent: DcExtent,
    pub state: ExtentStatus,
}

/// The answer to an add or a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcExtentList {
    pub extents: Vec<ExtentChange>,
}

/// What a release-status query names: the capacity carrying a tag, or one
/// extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseSelector {
    Tag(Uuid),
    Extent(RequestedExtent),
}

/// `GET /devices/{id}/dc/release-status?region=R&tag=T` (or
/// `&offset=O&len=L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcReleaseStatusQuery {
    pub region: u8,
    pub selector: ReleaseSelector,
}

/// The answer to a release-status query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcReleaseStatus {
    pub status: ExtentStatus,
}

/// One entry of `GET /devices/{id}/dc/extents`: a live extent with its
/// state, and where the guest reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExtentEntry {
    #[serde(flatten)]
    pub info: ExtentInfo,
    /// Host physical address, when mapped into the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<u64>,
    /// The memory backend providing the extent's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    pub mapped: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(offset: u64, len: u64) -> RequestedExtent {
        RequestedExtent { offset, len }
    }

    fn add(extents: Vec<RequestedExtent>) -> AddRequest {
        AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents,
            backend: None,
        }
    }

    #[test]
    fn qmp_field_names() {
        let r: AddRequest = serde_json::from_str(
            r#"{"host-id":0,"selection-policy":"enable-shared-access","region":1,
                "tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f","extents":[{"offset":0,"len":4096}]}"#,
        )
        .unwrap();
        assert_eq!(r.selection_policy, SelectionPolicy::EnableSharedAccess);
        let r: ReleaseRequest = serde_json::from_str(
            r#"{"host-id":0,"removal-policy":"tag-based","forced-removal":true,
                "sanitize-on-release":true,"tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f","region":0}"#,
        )
        .unwrap();
        assert!(r.forced && r.sanitize_on_release && r.extents.is_empty());
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
        let mut r = ReleaseRequest {
            host_id: 0,
            removal_policy: RemovalPolicy::Prescriptive,
            forced: false,
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
        for s in EXTENT_STATES.iter().chain(&RELEASE_STATUSES) {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let live = [
            ExtentState::Pending,
            ExtentState::Accepted,
            ExtentState::ReleasePending,
        ];
        for s in live {
            let status = ExtentStatus::from(s);
            assert!(EXTENT_STATES.contains(&status));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::to_value(status).unwrap()
            );
        }
    }

    #[test]
    fn extent_documents() {
        let tag = Uuid::parse_str("5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f").unwrap();
        let extent = DcExtent {
            region: 1,
            region_offset: 0x20_0000,
            len: 0x20_0000,
            dpa: 0x4020_0000,
            tag,
            shared_seq: 3,
            backend: None,
        };
        let change = ExtentChange {
            extent: extent.clone(),
            state: ExtentStatus::Withdrawn,
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"region":1,"offset":2097152,"len":2097152,"dpa":1075838976,"tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f","state":"withdrawn"}"#
        );
        let untagged = DcExtent {
            tag: Uuid::nil(),
            ..extent.clone()
        };
        let entry = ExtentEntry {
            info: ExtentInfo {
                extent: untagged,
                state: ExtentState::Accepted,
            },
            hpa: None,
            backend: None,
            mapped: false,
        };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"region":1,"offset":2097152,"len":2097152,"dpa":1075838976,"state":"accepted","mapped":false}"#
        );
        // Clients read them back (the shared sequence is not part of it).
        let back: ExtentChange =
            serde_json::from_str(&serde_json::to_string(&change).unwrap()).unwrap();
        assert_eq!(back.extent.tag, tag);
        assert_eq!(back.extent.shared_seq, 0);
        assert_eq!(back.state, ExtentStatus::Withdrawn);
    }
}
