//! Tests of Dynamic Capacity, and helpers shared with the mailbox tests
//! (`mailbox.rs`, compiled as `cxl::mailbox::dcd::tests`).

mod faults;
mod flow;
mod fuzz;
mod operator;
mod records;
mod region;
mod trace;
mod withdraw;

use std::sync::Arc;

use uuid::Uuid;

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::{Opcode, RetCode};
use crate::cxl::memdev::events::EventLogType;
use crate::cxl::memdev::Memdev;
use crate::memory::{BackendConfig, BackendKind, HostMemory};

/// Base of region 0 of the test device (2 MiB blocks, 512 MiB).
pub(crate) const R0: u64 = 0xA000_0000;
/// Base of region 1 (4 MiB blocks, 256 MiB, Sanitize on Release).
pub(crate) const R1: u64 = 0xC000_0000;
pub(crate) const MIB: u64 = 1 << 20;

pub(crate) fn tag(n: u128) -> Uuid {
    Uuid::from_u128(0x1000_0000_0000_0000_0000_0000_0000_0000 | n)
}

/// A memfd backend of `size` bytes, tagged.
pub(crate) fn backend(id: &str, size: u64, tag: Option<Uuid>) -> Arc<HostMemory> {
    Arc::new(
        HostMemory::new(BackendConfig {
            id: id.into(),
            kind: BackendKind::Memfd,
            path: None,
            size,
            share: true,
            prealloc: false,
            tag,
        })
        .unwrap(),
    )
}

pub(crate) fn add_req(policy: SelectionPolicy, region: u8, extents: &[(u64, u64)]) -> AddRequest {
    AddRequest {
        host_id: 0,
        selection_policy: policy,
        region,
        tag: None,
        extents: extents
            .iter()
            .map(|&(o, l)| RequestedExtent::new(o, l))
            .collect(),
        backend: None,
    }
}

pub(crate) fn release_req(
    policy: RemovalPolicy,
    region: u8,
    tag: Option<Uuid>,
    extents: &[(u64, u64)],
) -> ReleaseRequest {
    ReleaseRequest {
        host_id: 0,
        removal_policy: policy,
        forced: false,
        sanitize_on_release: false,
        region,
        tag,
        extents: extents
            .iter()
            .map(|&(o, l)| RequestedExtent::new(o, l))
            .collect(),
    }
}

/// Offers `extents` of region `region` prescriptively (offsets, lengths).
pub(crate) fn offer(m: &mut TestMemdev, region: u8, extents: &[(u64, u64)]) -> AddOutcome {
    m.dcd_add_capacity(add_req(SelectionPolicy::Prescriptive, region, extents))
        .unwrap()
}

/// The Add Dynamic Capacity Response / Release Dynamic Capacity payload.
pub(crate) fn update_payload(extents: &[(u64, u64)], flags: u8) -> Vec<u8> {
    let mut p = (extents.len() as u32).to_le_bytes().to_vec();
    p.extend_from_slice(&[flags, 0, 0, 0]);
    let ranges: Vec<ExtentRange> = extents
        .iter()
        .map(|&(d, l)| ExtentRange::new(d, l))
        .collect();
    p.extend_from_slice(&extent::encode_updated_extents(&ranges));
    p
}

/// Sends Add Dynamic Capacity Response for absolute DPA ranges.
pub(crate) fn respond(m: &mut TestMemdev, extents: &[(u64, u64)], more: bool) -> RetCode {
    let (rc, out) = m.execute(
        Opcode::AddDcResponse as u16,
        &update_payload(extents, u8::from(more)),
    );
    assert!(out.is_empty());
    rc
}

/// Sends Release Dynamic Capacity for absolute DPA ranges.
pub(crate) fn host_release(m: &mut TestMemdev, extents: &[(u64, u64)]) -> RetCode {
    let (rc, out) = m.execute(Opcode::ReleaseDc as u16, &update_payload(extents, 0));
    assert!(out.is_empty());
    rc
}

/// The DC event records in the log, decoded, oldest first.
pub(crate) fn dc_records(m: &Memdev) -> Vec<DcEvent> {
    m.events()
        .log(EventLogType::DynamicCapacity)
        .records()
        .map(|r| DcEvent::from_record(r).unwrap())
        .collect()
}

/// Everything observable about the DC state, to check errors change
/// nothing.
pub(crate) fn snapshot(m: &Memdev) -> String {
    let d = m.dcd();
    let extents: Vec<_> = d
        .extents()
        .into_iter()
        .map(|i| {
            (
                i.extent.dpa,
                i.extent.len,
                i.extent.tag,
                i.state,
                i.extent.backend_id().map(str::to_string),
            )
        })
        .collect();
    format!(
        "{extents:?} gen={} held={} chains={} log={} history={}",
        d.generation(),
        d.held_count(),
        d.pending_chains(),
        m.events().log(EventLogType::DynamicCapacity).len(),
        d.history().count()
    )
}

/// The states of live extents as (dpa, len, state).
pub(crate) fn states(m: &Memdev) -> Vec<(u64, u64, ExtentState)> {
    m.dcd_extents()
        .into_iter()
        .map(|i| (i.extent.dpa, i.extent.len, i.state))
        .collect()
}

#[test]
fn extent_ranges() {
    let a = ExtentRange::new(0x1000, 0x1000);
    assert_eq!(a.end(), Some(0x2000));
    assert_eq!(ExtentRange::new(u64::MAX, 2).end(), None);
    assert!(a.overlaps(&ExtentRange::new(0x1FFF, 1)));
    assert!(!a.overlaps(&ExtentRange::new(0x2000, 1)));
    assert!(a.contains(&ExtentRange::new(0x1800, 0x800)));
    assert!(!a.contains(&ExtentRange::new(0x1800, 0x801)));
    assert_eq!(a.to_string(), "[0x1000, +0x1000)");
}

#[test]
fn status_strings() {
    let all = [
        (ExtentStatus::Pending, "pending"),
        (ExtentStatus::Accepted, "accepted"),
        (ExtentStatus::ReleasePending, "release-pending"),
        (ExtentStatus::Released, "released"),
        (ExtentStatus::Declined, "declined"),
        (ExtentStatus::Withdrawn, "withdrawn"),
        (ExtentStatus::NotFound, "not-found"),
    ];
    for (s, text) in all {
        assert_eq!(s.as_str(), text);
        assert_eq!(s.to_string(), text);
    }
}

#[test]
fn no_dc_device_refuses_requests() {
    let mut c = crate::cxl::memdev::tests::test_config();
    c.dc = DcConfig::default();
    let mut m = TestMemdev::new(c).unwrap();
    let err = m
        .dcd_add_capacity(add_req(SelectionPolicy::Free, 0, &[(0, 2 * MIB)]))
        .unwrap_err();
    assert_eq!(err, DcdError::NoDynamicCapacity);
    let err = m
        .dcd_release_capacity(release_req(RemovalPolicy::TagBased, 0, Some(tag(1)), &[]))
        .unwrap_err();
    assert_eq!(err, DcdError::NoDynamicCapacity);
    assert!(m.dcd_extents().is_empty());
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::NotFound);
}

#[test]
fn test_device_layout() {
    let m = test_memdev();
    let r = m.dcd().regions();
    assert_eq!((r[0].base, r[0].block_size), (R0, 2 * MIB));
    assert_eq!((r[1].base, r[1].block_size), (R1, 4 * MIB));
}
