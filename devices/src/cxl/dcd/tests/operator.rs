//! Operator requests: selection and removal policies, backends, limits,
//! and that every refusal changes nothing.

use super::*;
use crate::cxl::mailbox::testing::TestMemdev;
use crate::cxl::memdev::tests::{dc_only_config, test_config};

/// Runs `f`, which must fail, and checks the device did not change.
fn refused<T: std::fmt::Debug>(
    m: &mut TestMemdev,
    f: impl FnOnce(&mut TestMemdev) -> Result<T, DcdError>,
) -> DcdError {
    let before = snapshot(m);
    let err = f(m).unwrap_err();
    assert_eq!(snapshot(m), before, "{err}");
    assert!(m.take_dcd_effects().is_empty(), "{err}");
    err
}

fn add_err(m: &mut TestMemdev, req: AddRequest) -> DcdError {
    refused(m, |m| m.dcd_add_capacity(req))
}

fn release_err(m: &mut TestMemdev, req: ReleaseRequest) -> DcdError {
    refused(m, |m| m.dcd_release_capacity(req))
}

/// Offers and accepts `extents` of region 0 (offsets, lengths).
fn accepted(m: &mut TestMemdev, extents: &[(u64, u64)], t: Option<Uuid>) {
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, extents);
    req.tag = t;
    let out = m.dcd_add_capacity(req).unwrap();
    let abs: Vec<(u64, u64)> = out.extents.iter().map(|e| (e.dpa, e.len)).collect();
    assert_eq!(respond(m, &abs, false), RetCode::Success);
    m.take_dcd_effects();
}

#[test]
fn prescriptive_offers_exactly_what_is_asked() {
    let mut m = test_memdev();
    let mut req = add_req(
        SelectionPolicy::Prescriptive,
        1,
        &[(16 * MIB, 8 * MIB), (0, 4 * MIB)],
    );
    req.tag = Some(tag(1));
    let out = m.dcd_add_capacity(req).unwrap();
    let got: Vec<_> = out
        .extents
        .iter()
        .map(|e| (e.dpa, e.len, e.region, e.region_offset, e.tag))
        .collect();
    // Record order is the request's order.
    assert_eq!(
        got,
        vec![
            (R1 + 16 * MIB, 8 * MIB, 1, 16 * MIB, tag(1)),
            (R1, 4 * MIB, 1, 0, tag(1)),
        ]
    );
    assert!(out.extents.iter().all(|e| e.backend.is_none()));
    assert_eq!(
        states(&m),
        vec![
            (R1, 4 * MIB, ExtentState::Pending),
            (R1 + 16 * MIB, 8 * MIB, ExtentState::Pending)
        ]
    );
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::Pending);
    assert_eq!(
        m.dcd_status_by_extent(1, 16 * MIB, 8 * MIB),
        ExtentStatus::Pending
    );
    assert_eq!(
        m.dcd_status_by_extent(1, 16 * MIB, 4 * MIB),
        ExtentStatus::NotFound
    );
    // Offers are not accepted yet: nothing to map.
    assert!(m.dcd_accepted_extents().is_empty());
    assert!(m.take_dcd_effects().is_empty());
}

#[test]
fn free_policy_fills_lowest_free_blocks() {
    let mut m = test_memdev();
    accepted(&mut m, &[(2 * MIB, 2 * MIB), (6 * MIB, 2 * MIB)], None);
    let out = m
        .dcd_add_capacity(add_req(
            SelectionPolicy::Free,
            0,
            &[(0, 4 * MIB), (0, 4 * MIB)],
        ))
        .unwrap();
    let got: Vec<_> = out
        .extents
        .iter()
        .map(|e| (e.region_offset, e.len))
        .collect();
    assert_eq!(
        got,
        vec![(0, 2 * MIB), (4 * MIB, 2 * MIB), (8 * MIB, 4 * MIB)]
    );
    let recs = dc_records(&m);
    let chain = &recs[recs.len() - 3..];
    assert_eq!(
        chain.iter().map(|r| r.more).collect::<Vec<_>>(),
        vec![true, true, false]
    );
}

#[test]
fn contiguous_policy_takes_lowest_range_that_fits() {
    let mut m = test_memdev();
    accepted(&mut m, &[(2 * MIB, 2 * MIB), (6 * MIB, 2 * MIB)], None);
    let out = m
        .dcd_add_capacity(add_req(SelectionPolicy::Contiguous, 0, &[(0, 4 * MIB)]))
        .unwrap();
    assert_eq!(out.extents.len(), 1);
    assert_eq!(
        (out.extents[0].region_offset, out.extents[0].len),
        (8 * MIB, 4 * MIB)
    );
    // A 2 MiB request fits the first hole.
    let out = m
        .dcd_add_capacity(add_req(SelectionPolicy::Contiguous, 0, &[(0, 2 * MIB)]))
        .unwrap();
    assert_eq!(out.extents[0].region_offset, 0);
    // Free: [4, 6) MiB and [12, 512) MiB. Larger than any free range:
    // refused.
    let err = add_err(
        &mut m,
        add_req(SelectionPolicy::Contiguous, 0, &[(0, 502 * MIB)]),
    );
    assert!(
        matches!(
            err,
            DcdError::NoSpace {
                contiguous: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("no free contiguous range"),
        "{err}"
    );
    // Free places it in the two pieces.
    let out = m
        .dcd_add_capacity(add_req(SelectionPolicy::Free, 0, &[(0, 502 * MIB)]))
        .unwrap();
    let got: Vec<_> = out
        .extents
        .iter()
        .map(|e| (e.region_offset, e.len))
        .collect();
    assert_eq!(got, vec![(4 * MIB, 2 * MIB), (12 * MIB, 500 * MIB)]);
    let err = add_err(&mut m, add_req(SelectionPolicy::Free, 0, &[(0, 4 * MIB)]));
    assert!(
        matches!(
            err,
            DcdError::NoSpace {
                contiguous: false,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn shared_access_is_refused() {
    let mut m = test_memdev();
    let err = add_err(
        &mut m,
        add_req(SelectionPolicy::EnableSharedAccess, 0, &[(0, 2 * MIB)]),
    );
    assert_eq!(err, DcdError::SharedNotSupported);
    assert_eq!(err.to_string(), "shared extents are not supported");
}

#[test]
fn malformed_adds_are_refused() {
    let mut m = test_memdev();
    accepted(&mut m, &[(16 * MIB, 2 * MIB)], None);
    offer(&mut m, 0, &[(0, 2 * MIB)]);
    let p = SelectionPolicy::Prescriptive;
    type Check = fn(&DcdError) -> bool;
    let cases: Vec<(AddRequest, Check)> = vec![
        (add_req(p, 2, &[(0, 2 * MIB)]), |e| {
            matches!(
                e,
                DcdError::UnknownRegion {
                    region: 2,
                    count: 2
                }
            )
        }),
        (
            AddRequest {
                host_id: 1,
                ..add_req(p, 0, &[(4 * MIB, 2 * MIB)])
            },
            |e| *e == DcdError::UnknownHost(1),
        ),
        (add_req(p, 0, &[]), |e| *e == DcdError::NoExtents),
        (add_req(p, 0, &[(4 * MIB, 0)]), |e| {
            matches!(e, DcdError::ZeroLength { .. })
        }),
        (add_req(p, 0, &[(4 * MIB + 4096, 2 * MIB)]), |e| {
            matches!(e, DcdError::Misaligned { .. })
        }),
        (add_req(p, 0, &[(4 * MIB, MIB)]), |e| {
            matches!(e, DcdError::Misaligned { .. })
        }),
        // Region 1 has 4 MiB blocks.
        (
            add_req(p, 1, &[(2 * MIB, 4 * MIB)]),
            |e| matches!(e, DcdError::Misaligned { block_size, .. } if *block_size == 4 * MIB),
        ),
        // Past the region's length (into its decode range or region 1).
        (add_req(p, 0, &[(510 * MIB, 4 * MIB)]), |e| {
            matches!(e, DcdError::OutOfRegion { .. })
        }),
        (add_req(p, 1, &[(256 * MIB, 4 * MIB)]), |e| {
            matches!(e, DcdError::OutOfRegion { .. })
        }),
        (add_req(p, 0, &[(u64::MAX - MIB, 2 * MIB)]), |e| {
            matches!(e, DcdError::OutOfRegion { .. })
        }),
        (
            add_req(p, 0, &[(4 * MIB, 4 * MIB), (6 * MIB, 2 * MIB)]),
            |e| *e == DcdError::OverlappingRequest { offset: 6 * MIB },
        ),
        (
            add_req(p, 0, &[(4 * MIB, 2 * MIB), (4 * MIB, 2 * MIB)]),
            |e| matches!(e, DcdError::OverlappingRequest { .. }),
        ),
        (add_req(p, 0, &[(0, 4 * MIB)]), |e| {
            matches!(
                e,
                DcdError::InUse {
                    state: ExtentStatus::Pending,
                    ..
                }
            )
        }),
        (add_req(p, 0, &[(14 * MIB, 4 * MIB)]), |e| {
            matches!(
                e,
                DcdError::InUse {
                    state: ExtentStatus::Accepted,
                    ..
                }
            )
        }),
        (add_req(SelectionPolicy::Free, 0, &[(0, 3 * MIB)]), |e| {
            matches!(e, DcdError::Misaligned { .. })
        }),
        (add_req(SelectionPolicy::Free, 0, &[]), |e| {
            *e == DcdError::NoExtents
        }),
        (
            add_req(SelectionPolicy::Free, 0, &[(0, u64::MAX), (0, 2)]),
            |e| matches!(e, DcdError::OutOfRegion { .. }),
        ),
    ];
    for (req, check) in cases {
        let err = add_err(&mut m, req.clone());
        assert!(check(&err), "{req:?}: {err:?}");
    }
}

#[test]
fn one_chain_holds_as_many_extents_as_the_log() {
    // 256 extents in one request are one More chain when the log has room.
    let mut c = test_config();
    c.event_log_depths.dynamic_capacity = 256;
    let mut m = TestMemdev::new(c).unwrap();
    let many: Vec<(u64, u64)> = (0..257).map(|i| (i * 2 * MIB, 2 * MIB)).collect();
    let err = add_err(&mut m, add_req(SelectionPolicy::Prescriptive, 0, &many));
    assert_eq!(
        err,
        DcdError::LogFull {
            needed: 257,
            free: 256
        }
    );
    let out = offer(&mut m, 0, &many[..256]);
    assert_eq!(out.extents.len(), 256);
    let records = dc_records(&m);
    assert_eq!(records.len(), 256);
    let more: Vec<bool> = records.iter().map(|r| r.more).collect();
    assert!(more[..255].iter().all(|m| *m), "More on all but the last");
    assert!(!more[255], "the last record ends the chain");
    // The host answers in payload-sized parts (85 extents fit 2 KiB), More
    // on all but the last, as Linux's driver does; every extent is taken.
    let absolute: Vec<(u64, u64)> = many[..256].iter().map(|(o, l)| (R0 + o, *l)).collect();
    let parts: Vec<&[(u64, u64)]> = absolute.chunks(85).collect();
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(respond(&mut m, part, i + 1 < parts.len()), RetCode::Success);
    }
    let held = states(&m);
    assert_eq!(held.len(), 256);
    assert!(held.iter().all(|(_, _, s)| *s == ExtentState::Accepted));
    // Free placement that needs 120 pieces is one chain too: accept every
    // other block, then ask for 120 blocks' worth.
    let mut c = test_config();
    c.event_log_depths.dynamic_capacity = 300;
    let mut m = TestMemdev::new(c).unwrap();
    for chunk in (0..120u64).collect::<Vec<_>>().chunks(60) {
        let ex: Vec<(u64, u64)> = chunk.iter().map(|i| (i * 4 * MIB, 2 * MIB)).collect();
        accepted(&mut m, &ex, None);
    }
    let out = m
        .dcd_add_capacity(add_req(SelectionPolicy::Free, 0, &[(0, 120 * 2 * MIB)]))
        .unwrap();
    assert_eq!(out.extents.len(), 120);
}

#[test]
fn log_full_is_refused_up_front() {
    let mut c = test_config();
    c.event_log_depths.dynamic_capacity = 4;
    let mut m = TestMemdev::new(c).unwrap();
    let five: Vec<(u64, u64)> = (0..5).map(|i| (i * 2 * MIB, 2 * MIB)).collect();
    let err = add_err(&mut m, add_req(SelectionPolicy::Prescriptive, 0, &five));
    assert_eq!(err, DcdError::LogFull { needed: 5, free: 4 });
    offer(&mut m, 0, &five[..3]);
    let err = add_err(
        &mut m,
        add_req(SelectionPolicy::Prescriptive, 0, &five[3..]),
    );
    assert_eq!(err, DcdError::LogFull { needed: 2, free: 1 });
    assert!(
        err.to_string().contains("room for 1 records, 2 needed"),
        "{err}"
    );
    // The log never overflowed.
    assert!(m
        .events()
        .log(EventLogType::DynamicCapacity)
        .overflow()
        .is_none());
}

#[test]
fn device_extent_limit() {
    let mut c = test_config();
    c.dc.max_extents = 4;
    let mut m = TestMemdev::new(c).unwrap();
    offer(
        &mut m,
        0,
        &[(0, 2 * MIB), (2 * MIB, 2 * MIB), (4 * MIB, 2 * MIB)],
    );
    let err = add_err(
        &mut m,
        add_req(
            SelectionPolicy::Prescriptive,
            0,
            &[(8 * MIB, 2 * MIB), (12 * MIB, 2 * MIB)],
        ),
    );
    assert!(
        matches!(
            err,
            DcdError::ExtentLimit {
                needed: 2,
                available: 1,
                max: 4
            }
        ),
        "{err}"
    );
}

#[test]
fn backends_bind_one_extent_of_their_size() {
    let mut m = test_memdev();
    let b = backend("dc-a", 8 * MIB, Some(tag(0xA)));
    // Free with a backend and no lengths: one contiguous extent of its size.
    let mut req = add_req(SelectionPolicy::Free, 0, &[]);
    req.backend = Some(b.clone());
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!(out.extents.len(), 1);
    let e = &out.extents[0];
    assert_eq!((e.dpa, e.len, e.tag), (R0, 8 * MIB, tag(0xA)));
    assert_eq!(e.backend_id(), Some("dc-a"));
    assert!(Arc::ptr_eq(e.backend.as_ref().unwrap(), &b));
    // The same backend cannot back a second extent.
    let mut req = add_req(SelectionPolicy::Contiguous, 0, &[(0, 8 * MIB)]);
    req.backend = Some(b.clone());
    assert_eq!(add_err(&mut m, req), DcdError::BackendInUse("dc-a".into()));
    // Size mismatch.
    let c = backend("dc-c", 4 * MIB, None);
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(64 * MIB, 8 * MIB)]);
    req.backend = Some(c.clone());
    let err = add_err(&mut m, req);
    assert!(err.to_string().starts_with("size mismatch"), "{err}");
    // The same with a length far beyond any free range: still a size
    // mismatch, not a lack of space.
    let mut req = add_req(SelectionPolicy::Contiguous, 0, &[(0, 1 << 40)]);
    req.backend = Some(c.clone());
    assert!(matches!(
        add_err(&mut m, req),
        DcdError::SizeMismatch { .. }
    ));
    // Two extents for one backend.
    let mut req = add_req(
        SelectionPolicy::Prescriptive,
        0,
        &[(64 * MIB, 2 * MIB), (70 * MIB, 2 * MIB)],
    );
    req.backend = Some(c.clone());
    assert_eq!(add_err(&mut m, req), DcdError::BackendExtentCount(2));
    // Request tag and backend tag disagree.
    let d = backend("dc-d", 4 * MIB, Some(tag(0xD)));
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(64 * MIB, 4 * MIB)]);
    req.backend = Some(d.clone());
    req.tag = Some(tag(0xE));
    assert!(matches!(add_err(&mut m, req), DcdError::TagMismatch { .. }));
    // A tag still in use is refused (Linux drops a tag that reappears).
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(64 * MIB, 4 * MIB)]);
    req.tag = Some(tag(0xA));
    assert_eq!(add_err(&mut m, req), DcdError::TagInUse(tag(0xA)));
    // An untagged backend takes the request's tag.
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(64 * MIB, 4 * MIB)]);
    req.backend = Some(c);
    req.tag = Some(tag(0xC));
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!(out.extents[0].tag, tag(0xC));
}

#[test]
fn dc_only_device_needs_backends() {
    let mut m = TestMemdev::new(dc_only_config()).unwrap();
    let err = add_err(&mut m, add_req(SelectionPolicy::Free, 0, &[(0, 2 * MIB)]));
    assert_eq!(err, DcdError::NoBackingMemory);
    assert!(err.to_string().contains("tagged memory backend"), "{err}");
    let mut req = add_req(SelectionPolicy::Free, 0, &[]);
    req.backend = Some(backend("only", 2 * MIB, Some(tag(1))));
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!((out.extents[0].dpa, out.extents[0].len), (0, 2 * MIB));
}

#[test]
fn tag_based_release() {
    let mut m = test_memdev();
    accepted(&mut m, &[(0, 2 * MIB), (8 * MIB, 2 * MIB)], Some(tag(1)));
    accepted(&mut m, &[(4 * MIB, 2 * MIB)], Some(tag(2)));
    let out = m
        .dcd_release_capacity(release_req(RemovalPolicy::TagBased, 0, Some(tag(1)), &[]))
        .unwrap();
    assert!(!out.forced);
    let got: Vec<_> = out.extents.iter().map(|e| e.dpa).collect();
    assert_eq!(got, vec![R0, R0 + 8 * MIB]);
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::ReleasePending);
    assert_eq!(m.dcd_status_by_tag(tag(2)), ExtentStatus::Accepted);
    // Still mapped until the host gives them back.
    assert_eq!(m.dcd_accepted_extents().len(), 3);
    assert!(m.take_dcd_effects().is_empty());
    let recs = dc_records(&m);
    let last: Vec<_> = recs[recs.len() - 2..]
        .iter()
        .map(|r| (r.event_type, r.more, r.tag))
        .collect();
    assert_eq!(
        last,
        vec![
            (DcEventType::ReleaseCapacity, true, tag(1)),
            (DcEventType::ReleaseCapacity, false, tag(1))
        ]
    );
    // Asking again posts the same two records again.
    let again = m
        .dcd_release_capacity(release_req(RemovalPolicy::TagBased, 0, Some(tag(1)), &[]))
        .unwrap();
    assert_eq!(again.extents.len(), 2);
    assert_eq!(dc_records(&m).len(), recs.len() + 2);
    assert_eq!(m.dcd_status_by_tag(tag(1)), ExtentStatus::ReleasePending);
    // Errors.
    for (req, want) in [
        (
            release_req(RemovalPolicy::TagBased, 0, None, &[]),
            DcdError::TagRequired,
        ),
        (
            release_req(RemovalPolicy::TagBased, 0, Some(Uuid::nil()), &[]),
            DcdError::TagRequired,
        ),
        (
            release_req(RemovalPolicy::TagBased, 1, Some(tag(2)), &[]),
            DcdError::TagNotFound {
                tag: tag(2),
                region: 1,
                what: "live",
            },
        ),
    ] {
        assert_eq!(release_err(&mut m, req), want);
    }
    // A tag with an offer still pending.
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(32 * MIB, 2 * MIB)]);
    req.tag = Some(tag(3));
    m.dcd_add_capacity(req).unwrap();
    assert_eq!(
        release_err(
            &mut m,
            release_req(RemovalPolicy::TagBased, 0, Some(tag(3)), &[])
        ),
        DcdError::TagPending(tag(3))
    );
}

#[test]
fn prescriptive_release_rules() {
    let mut m = test_memdev();
    let b = backend("b", 4 * MIB, Some(tag(9)));
    let mut req = add_req(SelectionPolicy::Prescriptive, 0, &[(16 * MIB, 4 * MIB)]);
    req.backend = Some(b);
    let out = m.dcd_add_capacity(req).unwrap();
    assert_eq!(
        respond(&mut m, &[(out.extents[0].dpa, 4 * MIB)], false),
        RetCode::Success
    );
    accepted(&mut m, &[(0, 8 * MIB)], None);
    offer(&mut m, 0, &[(32 * MIB, 2 * MIB)]);
    let p = RemovalPolicy::Prescriptive;
    // Part of a backed extent.
    let err = release_err(&mut m, release_req(p, 0, None, &[(16 * MIB, 2 * MIB)]));
    assert!(
        err.to_string()
            .starts_with("partial release of a backed extent"),
        "{err}"
    );
    // A pending offer.
    let err = release_err(&mut m, release_req(p, 0, None, &[(32 * MIB, 2 * MIB)]));
    assert!(
        matches!(
            err,
            DcdError::NotAccepted {
                status: ExtentStatus::Pending,
                ..
            }
        ),
        "{err}"
    );
    // Free capacity.
    let err = release_err(&mut m, release_req(p, 0, None, &[(64 * MIB, 2 * MIB)]));
    assert!(
        matches!(
            err,
            DcdError::NotAccepted {
                status: ExtentStatus::NotFound,
                ..
            }
        ),
        "{err}"
    );
    // A range running past an accepted extent into free space.
    let err = release_err(&mut m, release_req(p, 0, None, &[(6 * MIB, 4 * MIB)]));
    assert!(matches!(err, DcdError::NotAccepted { .. }), "{err}");
    // Wrong tag.
    let err = release_err(&mut m, release_req(p, 0, Some(tag(5)), &[(0, 2 * MIB)]));
    assert!(matches!(err, DcdError::WrongTag { .. }), "{err}");
    // Misaligned, empty, overlapping.
    assert!(matches!(
        release_err(&mut m, release_req(p, 0, None, &[(MIB, 2 * MIB)])),
        DcdError::Misaligned { .. }
    ));
    assert_eq!(
        release_err(&mut m, release_req(p, 0, None, &[])),
        DcdError::NoExtents
    );
    assert!(matches!(
        release_err(
            &mut m,
            release_req(p, 0, None, &[(0, 4 * MIB), (2 * MIB, 2 * MIB)])
        ),
        DcdError::OverlappingRequest { .. }
    ));
    // Part of an unbacked extent: it is cut, the rest stays accepted.
    let gen = m.dcd().generation();
    let out = m
        .dcd_release_capacity(release_req(p, 0, None, &[(2 * MIB, 2 * MIB)]))
        .unwrap();
    assert_eq!(
        (out.extents[0].dpa, out.extents[0].len),
        (R0 + 2 * MIB, 2 * MIB)
    );
    assert_ne!(m.dcd().generation(), gen, "the accepted list changed shape");
    assert_eq!(
        states(&m)[..3],
        [
            (R0, 2 * MIB, ExtentState::Accepted),
            (R0 + 2 * MIB, 2 * MIB, ExtentState::ReleasePending),
            (R0 + 4 * MIB, 4 * MIB, ExtentState::Accepted),
        ]
    );
    // Already asked for: asking again posts the record again (a host that
    // cannot give capacity back yet, Linux while a DAX device holds it,
    // sends nothing and expects the device to ask again).
    let before = dc_records(&m).len();
    let again = m
        .dcd_release_capacity(release_req(p, 0, None, &[(2 * MIB, 2 * MIB)]))
        .unwrap();
    assert_eq!(again.extents.len(), 1);
    let records = dc_records(&m);
    assert_eq!(records.len(), before + 1);
    let last = records.last().unwrap();
    assert_eq!(last.event_type, DcEventType::ReleaseCapacity);
    assert_eq!(last.extent, ExtentRange::new(R0 + 2 * MIB, 2 * MIB));
    assert_eq!(states(&m)[1].2, ExtentState::ReleasePending);
    let mut forced = release_req(p, 0, None, &[(2 * MIB, 2 * MIB)]);
    forced.forced = true;
    forced.sanitize_on_release = true;
    let out = m.dcd_release_capacity(forced).unwrap();
    assert!(out.forced);
    let fx = m.take_dcd_effects();
    assert_eq!(fx.len(), 1);
    assert!(
        matches!(&fx[0], DcdEffect::Released { extent, sanitize: true, forced: true }
        if extent.dpa == R0 + 2 * MIB)
    );
    assert_eq!(
        m.dcd_status_by_extent(0, 2 * MIB, 2 * MIB),
        ExtentStatus::Released
    );
    // A range spanning two adjacent accepted extents releases both.
    let out = m
        .dcd_release_capacity(release_req(p, 0, None, &[(0, 2 * MIB), (4 * MIB, 4 * MIB)]))
        .unwrap();
    assert_eq!(out.extents.len(), 2);
}

#[test]
fn unknown_region_and_host_on_release() {
    let mut m = test_memdev();
    let mut req = release_req(RemovalPolicy::Prescriptive, 0, None, &[(0, 2 * MIB)]);
    req.host_id = 3;
    assert_eq!(release_err(&mut m, req), DcdError::UnknownHost(3));
    let req = release_req(RemovalPolicy::Prescriptive, 9, None, &[(0, 2 * MIB)]);
    assert!(matches!(
        release_err(&mut m, req),
        DcdError::UnknownRegion { region: 9, .. }
    ));
}
