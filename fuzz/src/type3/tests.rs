//! The harness does what it says: scripted inputs reach the states the
//! fuzzer must be able to reach, and the invariants catch what they claim.

use super::*;
use crate::type3::operator::tag;

/// `count` (1-4) blocks from block `start` of `region`.
fn blocks(region: u8, start: u8, count: u8) -> Span {
    Span::Blocks {
        region,
        start,
        count: count - 1,
    }
}

/// Commits decoders 0..n, each over the next 256 MiB of DPA and of the
/// window (a decoder cannot span partitions), and enables decoding.
fn commit(n: u8) -> Vec<Op> {
    let mut v: Vec<Op> = (0..n)
        .map(|i| {
            Op::Guest(GuestOp::Decoder {
                index: i,
                base: i,
                size: 1,
                skip: 0,
                control: 0,
                commit: true,
            })
        })
        .collect();
    v.push(Op::Guest(GuestOp::Enable {
        hdm: true,
        mem: true,
    }));
    v
}

fn add(tag: Option<u8>, span: Span) -> Op {
    Op::Operator(OperatorOp::DcAdd {
        host_id: 0,
        policy: 2, // prescriptive
        region: 0,
        tag,
        extents: vec![span],
    })
}

fn respond(add: bool, picks: Vec<Pick>) -> Op {
    Op::Guest(GuestOp::DcResponse {
        add,
        picks,
        flags: 0,
        count: None,
    })
}

#[test]
fn tagged_extent_is_mapped_on_accept_and_freed_on_release() {
    let mut ops = vec![Op::Operator(OperatorOp::BackendAdd {
        tag: Some(1),
        size: blocks(0, 0, 1),
    })];
    ops.extend(commit(1));
    ops.push(add(Some(1), blocks(0, 2, 1)));
    ops.push(respond(true, vec![Pick::Live(0)]));
    let (rig, op, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops: ops.clone(),
    });
    assert_eq!(rig.mapper.ranges(), vec![(WINDOW + (4 << 20), 2 << 20)]);
    let b = op.registry.by_tag(tag(1)).unwrap();
    assert!(vmm::backends::BackendRegistry::in_use(&b, 1));
    drop(b);

    ops.push(Op::Operator(OperatorOp::DcRelease {
        host_id: 0,
        tag_based: true,
        forced: false,
        sanitize: false,
        region: 0,
        tag: Some(1),
        extents: vec![],
    }));
    ops.push(respond(false, vec![Pick::AllReleasePending]));
    ops.push(Op::Operator(OperatorOp::BackendRemove { tag: 1 }));
    let (rig, op, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops,
    });
    assert!(rig.mapper.ranges().is_empty());
    assert!(rig.dev.memdev().dcd_extents().is_empty());
    assert!(op.registry.list().is_empty(), "the backend was deleted");
}

#[test]
fn dc_backing_memory_maps_untagged_extents_and_static_capacity() {
    // DcBacked: volatile 256 MiB at DPA 0, DC region 0 at DPA 256 MiB.
    let mut ops = commit(2);
    ops.push(add(None, blocks(0, 1, 2)));
    ops.push(Op::Guest(GuestOp::DrainEvents {
        log: 4,
        clear: true,
    }));
    ops.push(respond(true, vec![Pick::AllPending]));
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::DcBacked,
        ops,
    });
    let dc_hpa = WINDOW + UNIT + (2 << 20);
    assert_eq!(rig.mapper.ranges(), vec![(WINDOW, UNIT), (dc_hpa, 4 << 20)]);
    assert!(
        rig.dev
            .memdev()
            .events()
            .log(devices::cxl::memdev::events::EventLogType::DynamicCapacity)
            .is_empty(),
        "the driver cleared the offer's record"
    );
}

#[test]
fn refused_requests_and_responses_change_nothing() {
    let mut ops = commit(1);
    // No backend has tag 3 on a DC-only device; an extent never offered.
    ops.push(add(Some(3), blocks(0, 0, 1)));
    ops.push(respond(true, vec![Pick::Region(blocks(0, 0, 1))]));
    ops.push(respond(false, vec![Pick::Raw { dpa: 0, len: 4096 }]));
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops,
    });
    assert!(rig.dev.memdev().dcd_extents().is_empty());
    assert!(rig.mapper.ranges().is_empty());
}

#[test]
fn flows_offer_accept_and_give_back_tagged_capacity() {
    let offer = |accept| {
        Op::Flow(flows::Flow::OfferAndAnswer {
            region: 1,
            start: 0,
            count: 1,
            tagged: Some(2),
            accept,
        })
    };
    // DcOnly: region 1 (4 MiB blocks) decodes at DPA 256 MiB.
    let mut ops = vec![Op::Guest(GuestOp::CommitAll), offer(true)];
    let (rig, _, reached) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops: ops.clone(),
    });
    assert!(reached.dc_mapped);
    assert_eq!(rig.mapper.ranges(), vec![(WINDOW + UNIT, 8 << 20)]);
    ops.push(Op::Flow(flows::Flow::ReleaseAndReturn {
        n: 0,
        forced: false,
        sanitize: false,
    }));
    // The backend is free again: the same offer can be made and declined.
    ops.push(offer(false));
    let (rig, op, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops,
    });
    assert!(rig.mapper.ranges().is_empty());
    assert!(rig.dev.memdev().dcd_extents().is_empty());
    assert_eq!(op.registry.list().len(), 1);
}

#[test]
fn commit_all_maps_every_static_partition() {
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::StaticAndDc,
        ops: vec![Op::Guest(GuestOp::CommitAll)],
    });
    // Volatile and persistent, from their own backends; no DC extent yet.
    assert_eq!(
        rig.mapper.ranges(),
        vec![(WINDOW, UNIT), (WINDOW + UNIT, UNIT)]
    );
}

#[test]
fn cdat_comes_back_over_doe() {
    let mut rig = Rig::new(DeviceKind::StaticAndDc);
    let out = guest::doe_exchange(&mut rig.dev, &[0x0002_1e98, 3, 0], 1 << 31, 64);
    assert_eq!(out[0], 0x0002_1e98);
    assert!(out.len() > 4, "{out:x?}");
}

#[test]
#[should_panic(expected = "does not hold")]
fn a_slot_the_device_does_not_hold_is_caught() {
    let rig = Rig::new(DeviceKind::DcOnly);
    let stray = rig::memfd("stray", 2 << 20, None);
    use devices::cxl::fabric::GuestMemoryMapper;
    rig.mapper.map(WINDOW, &stray, 0, 2 << 20).unwrap();
    // The path does not know the slot either; check the backend rule alone.
    let op = Operator::default();
    let slots = rig.mapper.slots();
    assert_eq!(slots.len(), 1);
    invariants::check_slots_held(&rig, &slots);
    let _ = op;
}

#[test]
fn random_bytes_decode_into_inputs_that_run() {
    use arbitrary::{Arbitrary, Unstructured};
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut total = 0;
    for _ in 0..60 {
        let bytes: Vec<u8> = (0..2048)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let input = Input::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        total += input.ops.len();
        run(&input);
    }
    assert!(total > 20, "{total} operations decoded");
}

/// How deep a corpus gets (`cargo test --lib -- --ignored --nocapture
/// corpus_depth`, after a fuzz run): how many of its inputs have, at some
/// step, an extent pending, one accepted, memory mapped, DC memory mapped.
#[test]
#[ignore]
fn corpus_depth() {
    use arbitrary::{Arbitrary, Unstructured};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/type3");
    let (mut n, mut pending, mut accepted, mut mapped, mut dc_mapped) = (0, 0, 0, 0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        let (_, _, r) = execute(&input);
        n += 1;
        pending += usize::from(r.pending);
        accepted += usize::from(r.accepted);
        mapped += usize::from(r.mapped);
        dc_mapped += usize::from(r.dc_mapped);
    }
    println!(
        "{n} inputs: {pending} reach a pending extent, {accepted} an accepted one, \
         {mapped} mapped memory, {dc_mapped} mapped DC memory"
    );
}

#[test]
fn faults_are_armed_triggered_and_never_map_memory() {
    let add_response = COMMANDS
        .iter()
        .position(|c| c.opcode == Opcode::AddDcResponse)
        .unwrap() as u8;
    let fault = |kind, return_code, count| {
        Op::Operator(OperatorOp::Fault(operator::FaultOp {
            kind,
            known: Some(add_response),
            raw_opcode: 0,
            return_code,
            count,
        }))
    };
    let dc_fault = |kind, records| {
        Op::Operator(OperatorOp::DcFault(operator::DcFaultOp {
            kind,
            region: 0,
            records,
        }))
    };
    let mut ops = commit(1);
    // Refused at parse time: not a return code, count 0.
    ops.push(fault(0, 0x21, 1));
    ops.push(fault(0, 4, 0));
    // Add DC Response answered Internal Error once: the offer stays.
    ops.push(fault(0, 4, 1));
    ops.push(Op::Operator(OperatorOp::BackendAdd {
        tag: Some(1),
        size: blocks(0, 0, 1),
    }));
    ops.push(add(Some(1), blocks(0, 2, 1)));
    ops.push(respond(true, vec![Pick::AllPending]));
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops: ops.clone(),
    });
    let m = rig.dev.memdev();
    assert!(m.faults_armed().is_empty(), "its count ran out");
    assert_eq!(m.dcd().pending_chains(), 1);
    assert!(rig.mapper.ranges().is_empty());

    // Now accepted; then every DC fault kind, and the host naming them.
    ops.push(respond(true, vec![Pick::AllPending]));
    for kind in 0..5 {
        ops.push(dc_fault(kind, 3));
    }
    ops.push(dc_fault(3, 0)); // refused: no records
    ops.push(respond(
        true,
        vec![Pick::Raw {
            dpa: 1 << 20,
            len: 2 << 20,
        }],
    ));
    ops.push(respond(false, vec![Pick::Region(blocks(0, 9, 1))]));
    ops.push(fault(1, 0, 2));
    ops.push(Op::Guest(GuestOp::DrainEvents {
        log: 4,
        clear: true,
    }));
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops: ops.clone(),
    });
    let m = rig.dev.memdev();
    assert_eq!(m.dcd().held_count(), 1, "only the real extent is held");
    assert_eq!(rig.mapper.ranges(), vec![(WINDOW + (4 << 20), 2 << 20)]);
    assert!(!m.dc_faults().is_empty());
    // The doorbell-stuck fault (hold 0) dropped the drain's first command.
    assert_eq!(m.faults_armed().len(), 1);

    ops.push(Op::Operator(OperatorOp::FaultClear { id: None }));
    let (rig, _, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops,
    });
    assert!(rig.dev.memdev().faults_armed().is_empty());
    assert!(rig.dev.memdev().dc_faults().is_empty());
}

/// A Release DC held as a background operation by a `background-hold`
/// fault runs at once and answers Background Command Started: that is not a
/// refusal, so the release it made is no broken invariant (found by the
/// fuzzer, whose 0 ms hold made it depend on the clock; here the hold is
/// long, so it always answers Background Command Started).
#[test]
fn a_held_release_is_not_a_refusal() {
    use devices::cxl::memdev::faults::FaultRequest;
    let mut ops = vec![Op::Operator(OperatorOp::BackendAdd {
        tag: Some(1),
        size: blocks(0, 0, 1),
    })];
    ops.extend(commit(1));
    ops.push(add(Some(1), blocks(0, 2, 1)));
    ops.push(respond(true, vec![Pick::Live(0)]));
    ops.push(Op::Operator(OperatorOp::DcRelease {
        host_id: 0,
        tag_based: true,
        forced: false,
        sanitize: false,
        region: 0,
        tag: Some(1),
        extents: vec![],
    }));
    let (mut rig, _, _) = execute(&Input {
        device: DeviceKind::DcOnly,
        ops,
    });
    rig.dev
        .fault_add(FaultRequest::BackgroundHold {
            opcode: Opcode::ReleaseDc as u16,
            ms: 60_000,
            count: 1,
        })
        .unwrap();
    guest_op(
        &mut rig,
        &GuestOp::DcResponse {
            add: false,
            picks: vec![Pick::AllReleasePending],
            flags: 0,
            count: None,
        },
    );
    assert!(rig.dev.memdev().dcd_extents().is_empty(), "released");
    // Its effects (the unmap) come when the held operation completes.
    assert_eq!(rig.mapper.ranges().len(), 1);
}
