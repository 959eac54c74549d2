//! Tests of the Dynamic Capacity commands (compiled as
//! `cxl::mailbox::dcd::tests`): payloads at their spec offsets, every
//! return code, and that a refused command changes nothing.

use super::*;
use crate::cxl::dcd::tests::{
    backend, dc_records, host_release, offer, respond, snapshot, states, tag, update_payload, MIB,
    R0, R1,
};
use crate::cxl::dcd::{AddRequest, DcdEffect, ExtentState, ExtentStatus, SelectionPolicy};
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::tests::test_config;

const CONFIG: u16 = Opcode::GetDcConfig as u16;
const LIST: u16 = Opcode::GetDcExtentList as u16;
const ADD: u16 = Opcode::AddDcResponse as u16;
const RELEASE: u16 = Opcode::ReleaseDc as u16;

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// Sends `op` with `input`, expects `rc` and an unchanged device.
fn refused(m: &mut TestMemdev, op: u16, input: &[u8], rc: RetCode) {
    m.take_dcd_effects();
    let before = snapshot(m);
    assert_eq!(m.execute(op, input), (rc, vec![]), "{op:#06x} {input:02x?}");
    assert_eq!(snapshot(m), before, "{op:#06x} {input:02x?}");
    assert!(m.take_dcd_effects().is_empty());
}

fn list(m: &mut TestMemdev, count: u32, start: u32) -> (u32, u32, u32, Vec<(u64, u64)>) {
    let mut input = count.to_le_bytes().to_vec();
    input.extend_from_slice(&start.to_le_bytes());
    let (rc, out) = m.execute(LIST, &input);
    assert_eq!(rc, RetCode::Success);
    let returned = u32_at(&out, 0);
    assert_eq!(out.len(), 0x10 + returned as usize * 0x28);
    assert_eq!(&out[0x0C..0x10], &[0; 4], "reserved");
    let extents = out[0x10..]
        .chunks(0x28)
        .map(|e| {
            assert!(e[0x22..0x28].iter().all(|&b| b == 0), "reserved");
            (u64_at(e, 0), u64_at(e, 8))
        })
        .collect();
    (returned, u32_at(&out, 4), u32_at(&out, 8), extents)
}

#[test]
fn get_dc_config_fields() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(CONFIG, &[8, 0]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 8 + 2 * 0x28 + 0x10);
    assert_eq!(out[0], 2, "Number of Available Regions");
    assert_eq!(out[1], 2, "Regions Returned");
    assert_eq!(&out[2..8], &[0; 6]);
    // Region 0: base, decode length in 256 MiB units, length, block size,
    // DSMAD handle, flags.
    let r = &out[8..0x30];
    assert_eq!(u64_at(r, 0x00), R0);
    assert_eq!(u64_at(r, 0x08), 2);
    assert_eq!(u64_at(r, 0x10), 512 * MIB);
    assert_eq!(u64_at(r, 0x18), 2 * MIB);
    assert_eq!(u32_at(r, 0x20), 2);
    assert_eq!(r[0x24], 0);
    assert_eq!(&r[0x25..0x28], &[0; 3]);
    let r = &out[0x30..0x58];
    assert_eq!(u64_at(r, 0x00), R1);
    assert_eq!(u64_at(r, 0x08), 2);
    assert_eq!(u64_at(r, 0x10), 256 * MIB);
    assert_eq!(u64_at(r, 0x18), 4 * MIB);
    assert_eq!(u32_at(r, 0x20), 3);
    assert_eq!(r[0x24], 1, "Sanitize on Release");
    // Trailer: extents and tags, supported and available.
    assert_eq!(u32_at(&out, 0x58), 4096);
    assert_eq!(u32_at(&out, 0x5C), 4096);
    assert_eq!(u32_at(&out, 0x60), 4096);
    assert_eq!(u32_at(&out, 0x64), 4096);
    // Usage shows in the available counts.
    let req = AddRequest {
        tag: Some(tag(1)),
        ..crate::cxl::dcd::tests::add_req(SelectionPolicy::Free, 0, &[(0, 6 * MIB)])
    };
    m.dcd_add_capacity(req).unwrap();
    offer(&mut m, 1, &[(0, 4 * MIB), (8 * MIB, 4 * MIB)]);
    let (_, out) = m.execute(CONFIG, &[8, 0]);
    assert_eq!(u32_at(&out, 0x5C), 4096 - 3);
    assert_eq!(u32_at(&out, 0x64), 4096 - 1);
}

#[test]
fn get_dc_config_windows_and_errors() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(CONFIG, &[1, 1]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!((out[0], out[1]), (2, 1));
    assert_eq!(out.len(), 8 + 0x28 + 0x10);
    assert_eq!(u64_at(&out, 8), R1);
    let (rc, out) = m.execute(CONFIG, &[0, 0]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!((out[0], out[1], out.len()), (2, 0, 8 + 0x10));
    let (_, out) = m.execute(CONFIG, &[255, 1]);
    assert_eq!(out[1], 1);
    refused(&mut m, CONFIG, &[8, 2], RetCode::InvalidInput);
    refused(&mut m, CONFIG, &[8, 255], RetCode::InvalidInput);
    refused(&mut m, CONFIG, &[8], RetCode::InvalidPayloadLength);
    refused(&mut m, CONFIG, &[8, 0, 0], RetCode::InvalidPayloadLength);
    refused(&mut m, CONFIG, &[], RetCode::InvalidPayloadLength);
}

#[test]
fn extent_list_paging_and_generation() {
    let mut c = test_config();
    c.event_log_depths.dynamic_capacity = 200;
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(list(&mut m, 10, 0), (0, 0, 0, vec![]));
    refused(
        &mut m,
        LIST,
        &[10, 0, 0, 0, 1, 0, 0, 0],
        RetCode::InvalidInput,
    );
    refused(&mut m, LIST, &[0; 7], RetCode::InvalidPayloadLength);
    refused(&mut m, LIST, &[0; 9], RetCode::InvalidPayloadLength);
    // Offers do not show, nor change the generation.
    let ex: Vec<(u64, u64)> = (0..60).map(|i| (i * 4 * MIB, 2 * MIB)).collect();
    offer(&mut m, 0, &ex);
    assert_eq!(list(&mut m, 100, 0), (0, 0, 0, vec![]));
    let abs: Vec<(u64, u64)> = ex.iter().map(|&(o, l)| (R0 + o, l)).collect();
    assert_eq!(respond(&mut m, &abs, false), RetCode::Success);
    let (n, total, gen, got) = list(&mut m, 100, 0);
    // The output holds at most 50 extents of 28h bytes after the header.
    assert_eq!((n, total), (50, 60));
    assert_ne!(gen, 0);
    assert_eq!(got[..], abs[..50]);
    let (n, total, gen2, got) = list(&mut m, 100, 50);
    assert_eq!((n, total, gen2), (10, 60, gen));
    assert_eq!(got[..], abs[50..]);
    let (n, _, _, got) = list(&mut m, 3, 7);
    assert_eq!(n, 3);
    assert_eq!(got[..], abs[7..10]);
    assert_eq!(list(&mut m, 10, 60).0, 0);
    assert_eq!(list(&mut m, 0, 0).0, 0);
    refused(
        &mut m,
        LIST,
        &[10, 0, 0, 0, 61, 0, 0, 0],
        RetCode::InvalidInput,
    );
    // Tags and sequence numbers at their offsets.
    let (_, out) = m.execute(LIST, &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&out[0x10 + 0x10..0x10 + 0x20], &[0; 16]);
    assert_eq!(&out[0x10 + 0x20..0x10 + 0x22], &[0; 2]);
    // Every change of the accepted list changes the generation.
    assert_eq!(host_release(&mut m, &[abs[0]]), RetCode::Success);
    let (_, total, gen3, _) = list(&mut m, 1, 0);
    assert_eq!(total, 59);
    assert_ne!(gen3, gen);
    // A declined offer does not.
    offer(&mut m, 0, &[(300 * MIB, 2 * MIB)]);
    assert_eq!(respond(&mut m, &[], false), RetCode::Success);
    assert_eq!(list(&mut m, 1, 0).2, gen3);
}

#[test]
fn extent_list_pages_resume_where_the_last_ended_and_never_go_stale() {
    let mut c = test_config();
    c.event_log_depths.dynamic_capacity = 200;
    let mut m = TestMemdev::new(c).unwrap();
    let ex: Vec<(u64, u64)> = (0..80).map(|i| (i * 4 * MIB, 2 * MIB)).collect();
    offer(&mut m, 0, &ex);
    let mut held: Vec<(u64, u64)> = ex.iter().map(|&(o, l)| (R0 + o, l)).collect();
    assert_eq!(respond(&mut m, &held, false), RetCode::Success);
    // The whole list, page by page, for page sizes that do and do not
    // divide it; then again after each change, including one between two
    // pages of the same read (the next page resumes nothing stale: the
    // generation and count changed).
    let read_all = |m: &mut TestMemdev, page: u32| {
        let mut got = Vec::new();
        let mut start = 0u32;
        loop {
            let (n, total, _, part) = list(m, page, start);
            got.extend(part);
            start += n;
            if n == 0 || start >= total {
                return got;
            }
        }
    };
    for page in [1, 7, 13, 50] {
        assert_eq!(read_all(&mut m, page), held, "page {page}");
    }
    let (_, _, _, first) = list(&mut m, 10, 0);
    assert_eq!(first[..], held[..10]);
    // Release the 3rd and the 20th extents between two pages.
    assert_eq!(host_release(&mut m, &[held[2], held[19]]), RetCode::Success);
    held.remove(19);
    held.remove(2);
    let (_, total, _, next) = list(&mut m, 10, 10);
    assert_eq!(total, 78);
    assert_eq!(
        next[..],
        held[10..20],
        "a page after a change is taken afresh"
    );
    for page in [3, 50] {
        assert_eq!(read_all(&mut m, page), held, "page {page} after releases");
    }
    // Pages read out of order, and the same page twice.
    assert_eq!(list(&mut m, 5, 40).3[..], held[40..45]);
    assert_eq!(list(&mut m, 5, 40).3[..], held[40..45]);
    assert_eq!(list(&mut m, 5, 20).3[..], held[20..25]);
    assert_eq!(list(&mut m, 5, 25).3[..], held[25..30]);
}

#[test]
fn add_response_accepts_offered_extents() {
    let mut m = test_memdev();
    offer(
        &mut m,
        0,
        &[(0, 2 * MIB), (4 * MIB, 4 * MIB), (16 * MIB, 2 * MIB)],
    );
    let gen = m.dcd().generation();
    assert_eq!(
        respond(&mut m, &[(R0 + 4 * MIB, 4 * MIB), (R0, 2 * MIB)], false),
        RetCode::Success
    );
    assert_ne!(m.dcd().generation(), gen);
    assert_eq!(
        states(&m),
        vec![
            (R0, 2 * MIB, ExtentState::Accepted),
            (R0 + 4 * MIB, 4 * MIB, ExtentState::Accepted)
        ]
    );
    let fx = m.take_dcd_effects();
    let kinds: Vec<_> = fx
        .iter()
        .map(|e| match e {
            DcdEffect::Accepted { extent } => ("accepted", extent.dpa),
            DcdEffect::Declined { extent } => ("declined", extent.dpa),
            DcdEffect::Released { extent, .. } => ("released", extent.dpa),
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("accepted", R0 + 4 * MIB),
            ("accepted", R0),
            ("declined", R0 + 16 * MIB)
        ]
    );
    assert_eq!(
        m.dcd_status_by_extent(0, 16 * MIB, 2 * MIB),
        ExtentStatus::Declined
    );
    assert_eq!(m.dcd().pending_chains(), 0);
}

#[test]
fn add_response_malformed() {
    let mut c = test_config();
    c.dc.max_extents = 7;
    let mut m = TestMemdev::new(c).unwrap();
    // No offer pending at all.
    refused(&mut m, ADD, &update_payload(&[], 0), RetCode::InvalidInput);
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0, 2 * MIB)], 0),
        RetCode::InvalidInput,
    );
    // Accepted [R0+32M, +2M); offer 1: [R0, +8M) and [R0+16M, +2M) and a
    // backed [R0+64M, +4M); offer 2: [R0+128M, +2M).
    offer(&mut m, 0, &[(32 * MIB, 2 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R0 + 32 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    offer(&mut m, 0, &[(0, 8 * MIB), (16 * MIB, 2 * MIB)]);
    let mut req =
        crate::cxl::dcd::tests::add_req(SelectionPolicy::Prescriptive, 0, &[(64 * MIB, 4 * MIB)]);
    req.backend = Some(backend("bk", 4 * MIB, None));
    m.dcd_add_capacity(req).unwrap();
    offer(&mut m, 0, &[(128 * MIB, 2 * MIB)]);
    m.take_dcd_effects();

    let ok = update_payload(&[(R0, 8 * MIB)], 0);
    // Payload length against the count.
    refused(&mut m, ADD, &ok[..7], RetCode::InvalidPayloadLength);
    refused(
        &mut m,
        ADD,
        &ok[..ok.len() - 1],
        RetCode::InvalidPayloadLength,
    );
    let mut long = ok.clone();
    long.extend_from_slice(&[0; 24]);
    refused(&mut m, ADD, &long, RetCode::InvalidPayloadLength);
    let mut huge = ok.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    refused(&mut m, ADD, &huge, RetCode::InvalidPayloadLength);
    let mut two = ok.clone();
    two[0] = 2;
    refused(&mut m, ADD, &two, RetCode::InvalidPayloadLength);
    // Extents outside every region, in the decode-only tail of region 1,
    // spanning regions 0 and 1, wrapping.
    for bad in [
        (0, 2 * MIB),
        (R1 + 256 * MIB, 4 * MIB),
        (R0 + 510 * MIB, 4 * MIB),
        (u64::MAX - MIB, 2 * MIB),
    ] {
        refused(
            &mut m,
            ADD,
            &update_payload(&[bad], 0),
            RetCode::InvalidPhysicalAddress,
        );
    }
    // Misaligned start or length (region 1 has 4 MiB blocks), zero length.
    for bad in [
        (R0 + 4096, 2 * MIB),
        (R0, MIB),
        (R1 + 2 * MIB, 4 * MIB),
        (R0, 0),
    ] {
        refused(
            &mut m,
            ADD,
            &update_payload(&[bad], 0),
            RetCode::InvalidExtentList,
        );
    }
    // Duplicates and overlaps within the list.
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0, 2 * MIB), (R0, 2 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0, 4 * MIB), (R0 + 2 * MIB, 4 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    // Never offered; already accepted; offered in a later chain; spanning
    // two offered extents; one good and one bad.
    for bad in [
        vec![(R0 + 200 * MIB, 2 * MIB)],
        vec![(R0 + 32 * MIB, 2 * MIB)],
        vec![(R0 + 128 * MIB, 2 * MIB)],
        vec![(R0 + 6 * MIB, 12 * MIB)],
        vec![(R0, 8 * MIB), (R0 + 10 * MIB, 2 * MIB)],
    ] {
        refused(
            &mut m,
            ADD,
            &update_payload(&bad, 0),
            RetCode::InvalidPhysicalAddress,
        );
    }
    // Cutting the 8 MiB offer into 4 pieces: 3 more than the 5 live now,
    // over the 7 the device tracks.
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0 + 2 * MIB, 2 * MIB), (R0 + 6 * MIB, 2 * MIB)], 0),
        RetCode::ResourcesExhausted,
    );
    // After all that, a good response still works; the backed offer is
    // next.
    assert_eq!(m.execute(ADD, &ok), (RetCode::Success, vec![]));
    assert_eq!(
        m.dcd_status_by_extent(0, 16 * MIB, 2 * MIB),
        ExtentStatus::Declined
    );
    // Part of a backed offer.
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0 + 64 * MIB, 2 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    assert_eq!(
        respond(&mut m, &[(R0 + 64 * MIB, 4 * MIB)], false),
        RetCode::Success
    );
}

#[test]
fn response_parts_with_more() {
    let mut m = test_memdev();
    offer(
        &mut m,
        0,
        &[(0, 2 * MIB), (2 * MIB, 2 * MIB), (4 * MIB, 2 * MIB)],
    );
    offer(&mut m, 0, &[(8 * MIB, 2 * MIB)]);
    // Part 1 (More): accepts one; the chain stays open.
    assert_eq!(
        respond(&mut m, &[(R0 + 2 * MIB, 2 * MIB)], true),
        RetCode::Success
    );
    assert_eq!(m.dcd().pending_chains(), 2);
    assert_eq!(m.dcd_status_by_extent(0, 0, 2 * MIB), ExtentStatus::Pending);
    // Accepted already: not again.
    refused(
        &mut m,
        ADD,
        &update_payload(&[(R0 + 2 * MIB, 2 * MIB)], 1),
        RetCode::InvalidPhysicalAddress,
    );
    // Part 2 (last): accepts another; the rest is declined.
    assert_eq!(
        respond(&mut m, &[(R0 + 4 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(
        m.dcd_status_by_extent(0, 0, 2 * MIB),
        ExtentStatus::Declined
    );
    assert_eq!(
        m.dcd_status_by_extent(0, 4 * MIB, 2 * MIB),
        ExtentStatus::Accepted
    );
    assert_eq!(m.dcd().pending_chains(), 1);
    // The next chain is answered next.
    assert_eq!(
        respond(&mut m, &[(R0 + 8 * MIB, 2 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(m.dcd().held_count(), 3);
}

#[test]
fn response_may_accept_part_of_an_unbacked_offer() {
    let mut m = test_memdev();
    offer(&mut m, 0, &[(0, 8 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R0 + 2 * MIB, 4 * MIB)], false),
        RetCode::Success
    );
    assert_eq!(
        states(&m),
        vec![(R0 + 2 * MIB, 4 * MIB, ExtentState::Accepted)]
    );
    let declined: Vec<_> = m
        .take_dcd_effects()
        .into_iter()
        .filter_map(|e| match e {
            DcdEffect::Declined { extent } => Some((extent.dpa, extent.len)),
            _ => None,
        })
        .collect();
    assert_eq!(declined, vec![(R0, 2 * MIB), (R0 + 6 * MIB, 2 * MIB)]);
}

#[test]
fn release_dc_checks_and_effects() {
    let mut m = test_memdev();
    offer(&mut m, 1, &[(0, 8 * MIB), (16 * MIB, 4 * MIB)]);
    assert_eq!(
        respond(&mut m, &[(R1, 8 * MIB), (R1 + 16 * MIB, 4 * MIB)], false),
        RetCode::Success
    );
    let mut req =
        crate::cxl::dcd::tests::add_req(SelectionPolicy::Prescriptive, 1, &[(64 * MIB, 4 * MIB)]);
    req.backend = Some(backend("rb", 4 * MIB, Some(tag(3))));
    m.dcd_add_capacity(req).unwrap();
    assert_eq!(
        respond(&mut m, &[(R1 + 64 * MIB, 4 * MIB)], false),
        RetCode::Success
    );
    offer(&mut m, 1, &[(100 * MIB, 4 * MIB)]);
    m.take_dcd_effects();
    // Empty list; bad lengths.
    refused(
        &mut m,
        RELEASE,
        &update_payload(&[], 0),
        RetCode::InvalidInput,
    );
    refused(
        &mut m,
        RELEASE,
        &[1, 0, 0, 0, 0, 0, 0],
        RetCode::InvalidPayloadLength,
    );
    let good = update_payload(&[(R1, 8 * MIB)], 0);
    refused(
        &mut m,
        RELEASE,
        &good[..good.len() - 8],
        RetCode::InvalidPayloadLength,
    );
    // Not held: free, pending offer, straddling into free space.
    for bad in [
        (R1 + 40 * MIB, 4 * MIB),
        (R1 + 100 * MIB, 4 * MIB),
        (R1 + 4 * MIB, 8 * MIB),
    ] {
        refused(
            &mut m,
            RELEASE,
            &update_payload(&[bad], 0),
            RetCode::InvalidPhysicalAddress,
        );
    }
    refused(
        &mut m,
        RELEASE,
        &update_payload(&[(R1 + 2 * MIB, 4 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    // Part of the backed extent.
    refused(
        &mut m,
        RELEASE,
        &update_payload(&[(R1 + 64 * MIB, 2 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    // Duplicates.
    refused(
        &mut m,
        RELEASE,
        &update_payload(&[(R1, 4 * MIB), (R1, 4 * MIB)], 0),
        RetCode::InvalidExtentList,
    );
    // Unrequested release of part of an unbacked extent: allowed, the rest
    // stays accepted. Region 1 sanitizes on release.
    assert_eq!(
        m.execute(RELEASE, &update_payload(&[(R1 + 4 * MIB, 4 * MIB)], 0))
            .0,
        RetCode::Success
    );
    let fx = m.take_dcd_effects();
    assert!(
        matches!(&fx[..], [DcdEffect::Released { extent, sanitize: true, forced: false }]
        if (extent.dpa, extent.len) == (R1 + 4 * MIB, 4 * MIB))
    );
    assert_eq!(
        m.dcd_status_by_extent(1, 0, 4 * MIB),
        ExtentStatus::Accepted
    );
    // The whole backed extent: released with its backend.
    assert_eq!(
        host_release(&mut m, &[(R1 + 64 * MIB, 4 * MIB)]),
        RetCode::Success
    );
    let fx = m.take_dcd_effects();
    assert!(matches!(&fx[..], [DcdEffect::Released { extent, .. }]
        if extent.backend_id() == Some("rb")));
    assert_eq!(m.dcd_status_by_tag(tag(3)), ExtentStatus::Released);
    // Releasing twice: no longer held.
    refused(
        &mut m,
        RELEASE,
        &update_payload(&[(R1 + 64 * MIB, 4 * MIB)], 0),
        RetCode::InvalidPhysicalAddress,
    );
    // More in a release needs no follow-up.
    assert_eq!(
        m.execute(RELEASE, &update_payload(&[(R1, 4 * MIB)], 1)).0,
        RetCode::Success
    );
    assert_eq!(dc_records(&m).len(), 4);
}
