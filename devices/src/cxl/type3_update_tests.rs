//! Accepted and released extents reach the memory path incrementally; a
//! release that cuts a held extent leaves the rest of it mapped.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::cxl::component::hdm::{HdmDecoderInfo, HdmDecoderTarget};
use crate::cxl::dcd::{DcConfig, DcRegions, RemovalPolicy, RequestedExtent, SelectionPolicy};
use crate::cxl::decode::Interleave;
use crate::cxl::device_regs::layout::MAILBOX_OFFSET;
use crate::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use crate::cxl::fabric::{GuestMemoryMapper, HostBridgeDesc, Topology, WindowDesc};
use crate::interrupt::RecordingMsiGroup;
use crate::memory::{BackendConfig, BackendKind};

const WINDOW: u64 = 0x80_0000_0000;
const SIZE: u64 = 256 << 20;
const MIB: u64 = 1 << 20;

/// Slots: GPA -> (backend offset, length).
#[derive(Default)]
struct Slots(Mutex<BTreeMap<u64, (u64, u64)>>);

impl GuestMemoryMapper for Slots {
    fn map(&self, gpa: u64, _: &Arc<HostMemory>, offset: u64, len: u64) -> Result<(), String> {
        let old = self.0.lock().unwrap().insert(gpa, (offset, len));
        assert!(old.is_none(), "double map at {gpa:#x}");
        Ok(())
    }
    fn unmap(&self, gpa: u64) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .remove(&gpa)
            .map(|_| ())
            .ok_or("not mapped".into())
    }
}

fn mbox(d: &mut Type3, opcode: u16, extents: &[(u64, u64)]) -> u64 {
    let mut input = (extents.len() as u32).to_le_bytes().to_vec();
    input.extend([0u8; 4]);
    for (dpa, len) in extents {
        input.extend(dpa.to_le_bytes());
        input.extend(len.to_le_bytes());
        input.extend([0u8; 8]);
    }
    let mb = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
    d.bar_write(REGS_BAR, mb + COMMANDS_PAYLOAD, &input);
    let cmd = u64::from(opcode) | ((input.len() as u64) << 16);
    d.bar_write(REGS_BAR, mb + COMMAND, &cmd.to_le_bytes());
    d.bar_write(
        REGS_BAR,
        mb + MAILBOX_CONTROL,
        &CONTROL_DOORBELL.to_le_bytes(),
    );
    let mut status = [0u8; 8];
    d.bar_read(REGS_BAR, mb + MAILBOX_STATUS, &mut status);
    (u64::from_le_bytes(status) >> 32) & 0xffff
}

#[test]
fn a_cut_extent_keeps_its_remainders_mapped() {
    let slots = Arc::new(Slots::default());
    let path = Arc::new(CxlMemoryPath::new(
        Topology {
            windows: vec![WindowDesc {
                base: WINDOW,
                size: SIZE,
                interleave: Interleave::new(1, 256).unwrap(),
                targets: vec![0],
            }],
            host_bridges: vec![HostBridgeDesc {
                root_ports: vec![(0, Some(0))],
                has_hdm: false,
            }],
            endpoints: 1,
        },
        slots.clone(),
    ));
    let backing = Arc::new(
        HostMemory::new(BackendConfig {
            id: "dc".into(),
            kind: BackendKind::Memfd,
            size: SIZE,
            share: true,
            prealloc: false,
            tag: None,
        })
        .unwrap(),
    );
    let memdev = MemdevConfig {
        volatile_bytes: 0,
        lsa_size: 0,
        dc: DcConfig {
            regions: DcRegions::Equal {
                count: 1,
                total_bytes: SIZE,
                block_size: 2 * MIB,
                sanitize_on_release: false,
            },
            static_backing: true,
            ..DcConfig::default()
        },
        ..MemdevConfig::default()
    };
    let mut d = Type3::new(
        Type3Config {
            memdev,
            volatile: None,
            persistent: None,
            dc_backing: Some(backing),
        },
        Arc::new(RecordingMsiGroup::new(16)),
        path.clone(),
        0,
    )
    .unwrap();
    path.set_endpoint_decoders(
        0,
        vec![HdmDecoderInfo {
            index: 0,
            committed: true,
            locked: false,
            base: WINDOW,
            size: SIZE,
            interleave_ways: 1,
            interleave_granularity: 256,
            host_only: true,
            target: HdmDecoderTarget::Dpa {
                skip: 0,
                dpa: Some(0..SIZE),
            },
        }],
        true,
    );
    let slots_now = || slots.0.lock().unwrap().clone();
    // What a full recompute would install: one slot per held extent.
    let full = |d: &Type3| -> BTreeMap<u64, (u64, u64)> {
        d.memory_ranges()
            .iter()
            .map(|r| (WINDOW + r.dpa, (r.offset, r.len)))
            .collect()
    };

    for (offset, len) in [(0, 8 * MIB), (16 * MIB, 2 * MIB)] {
        d.dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent { offset, len }],
            backend: None,
        })
        .unwrap();
        assert_eq!(mbox(&mut d, 0x4802, &[(offset, len)]), 0);
    }
    assert_eq!(
        slots_now(),
        BTreeMap::from([
            (WINDOW, (0, 8 * MIB)),
            (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB))
        ])
    );

    // The host gives back the middle of the first extent.
    assert_eq!(mbox(&mut d, 0x4803, &[(2 * MIB, 2 * MIB)]), 0);
    let want = BTreeMap::from([
        (WINDOW, (0, 2 * MIB)),
        (WINDOW + 4 * MIB, (4 * MIB, 4 * MIB)),
        (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB)),
    ]);
    assert_eq!(slots_now(), want);
    assert_eq!(full(&d), want);

    // A forced release cuts the tail off the remainder.
    d.dc_release(ReleaseRequest {
        host_id: 0,
        removal_policy: RemovalPolicy::Prescriptive,
        forced: true,
        sanitize_on_release: false,
        region: 0,
        tag: None,
        extents: vec![RequestedExtent {
            offset: 6 * MIB,
            len: 2 * MIB,
        }],
    })
    .unwrap();
    let want = BTreeMap::from([
        (WINDOW, (0, 2 * MIB)),
        (WINDOW + 4 * MIB, (4 * MIB, 2 * MIB)),
        (WINDOW + 16 * MIB, (16 * MIB, 2 * MIB)),
    ]);
    assert_eq!(slots_now(), want);
    assert_eq!(full(&d), want);
    assert_eq!(path.mapped_hpa(0, 5 * MIB), Some(WINDOW + 5 * MIB));
    assert_eq!(path.mapped_hpa(0, 7 * MIB), None);
}
