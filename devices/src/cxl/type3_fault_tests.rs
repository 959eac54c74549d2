//! Faults through the Type 3 device model: DC fault records come with the
//! event interrupt the guest chose, and whatever the host answers to them,
//! the memory path maps nothing for them.

use std::collections::BTreeMap;

use super::testing::{build, commit_decoder0, dc_only, dc_response, mbox};
use super::*;
use crate::cxl::dcd::faults::DcFaultRequest;
use crate::cxl::dcd::{AddRequest, RequestedExtent, SelectionPolicy};
use crate::cxl::memdev::faults::FaultError;
use crate::cxl::test_rig::{memfd, RecordingMapper, WINDOW};
use crate::interrupt::RecordingMsiGroup;
use crate::pci::caps::CAP_ID_MSIX;

const SIZE: u64 = 256 << 20;
const MIB: u64 = 1 << 20;
const ADD_DC_RESPONSE: u16 = 0x4802;
const RELEASE_DC: u16 = 0x4803;
const SET_EVENT_INTERRUPT_POLICY: u16 = 0x0103;
const GET_EVENT_RECORDS: u16 = 0x0100;
const CLEAR_EVENT_RECORDS: u16 = 0x0101;

struct Rig {
    dev: Type3,
    maps: Arc<RecordingMapper>,
    msi: Arc<RecordingMsiGroup>,
}

/// A device whose one DC region (2 MiB blocks at DPA 0) has backing
/// memory, its decoder committed, MSI-X on, and the DC log's interrupt
/// enabled as Linux enables it.
fn rig() -> Rig {
    let (mut dev, maps, msi) = build(dc_only(SIZE, Some(memfd("dc0", SIZE, None))), SIZE);
    commit_decoder0(&mut dev, SIZE);
    let msix = dev.function.config().find_capability(CAP_ID_MSIX).unwrap();
    dev.config_write(msix + 2, &0x8000u16.to_le_bytes());
    for v in 0..u64::from(MSIX_VECTORS) {
        // Address, data, Vector Control (unmasked).
        dev.bar_write(MSIX_BAR, v * 16, &0xfee0_0000u32.to_le_bytes());
        dev.bar_write(MSIX_BAR, v * 16 + 8, &(0x40 + v as u32).to_le_bytes());
        dev.bar_write(MSIX_BAR, v * 16 + 12, &0u32.to_le_bytes());
    }
    // Set Event Interrupt Policy: the DC log signals MSI/MSI-X.
    let mut r = Rig { dev, maps, msi };
    assert_eq!(r.mbox(SET_EVENT_INTERRUPT_POLICY, &[0, 0, 0, 0, 1]).0, 0);
    r
}

impl Rig {
    fn mbox(&mut self, opcode: u16, input: &[u8]) -> (u64, Vec<u8>) {
        mbox(&mut self.dev, opcode, input)
    }

    /// Reads and clears the DC event log, as a driver does on the
    /// interrupt (the next record interrupts again).
    fn drain(&mut self) {
        loop {
            let (rc, out) = self.mbox(GET_EVENT_RECORDS, &[4]);
            assert_eq!(rc, 0);
            let n = usize::from(u16::from_le_bytes([out[0x14], out[0x15]]));
            if n == 0 {
                return;
            }
            let mut clear = vec![4, 0, n as u8, 0, 0, 0];
            for i in 0..n {
                let at = 0x20 + i * 0x80 + 0x14;
                clear.extend_from_slice(&out[at..at + 2]);
            }
            assert_eq!(self.mbox(CLEAR_EVENT_RECORDS, &clear).0, 0);
        }
    }

    fn slots(&self) -> BTreeMap<u64, u64> {
        self.maps
            .ranges()
            .into_iter()
            .collect::<BTreeMap<u64, u64>>()
    }
}

#[test]
fn dc_fault_records_interrupt_and_never_map() {
    let mut r = rig();
    // One real extent, accepted and mapped.
    r.dev
        .dc_add(AddRequest {
            host_id: 0,
            selection_policy: SelectionPolicy::Prescriptive,
            region: 0,
            tag: None,
            extents: vec![RequestedExtent {
                offset: 0,
                len: 2 * MIB,
            }],
            backend: None,
        })
        .unwrap();
    assert_eq!(r.mbox(ADD_DC_RESPONSE, &dc_response(&[(0, 2 * MIB)])).0, 0);
    let mapped = r.slots();
    assert_eq!(mapped, BTreeMap::from([(WINDOW, 2 * MIB)]));

    let kinds = [
        DcFaultRequest::Misaligned { region: 0 },
        DcFaultRequest::Overlapping {},
        DcFaultRequest::OutsideRegion {},
        DcFaultRequest::EndlessMore {
            region: 0,
            records: 2,
        },
        DcFaultRequest::ReleaseUnaccepted { region: 0 },
    ];
    for kind in kinds {
        r.drain();
        let before = r.msi.fired().len();
        r.dev.dc_fault_add(kind).unwrap();
        assert!(r.msi.fired().len() > before, "{kind:?}: event interrupt");
    }
    // The host takes every fault extent it was offered: all refused.
    for f in r.dev.memdev().dc_faults() {
        let extents: Vec<(u64, u64)> = f.extents.iter().map(|e| (e.dpa, e.len)).collect();
        let opcode = match f.fault {
            DcFaultRequest::ReleaseUnaccepted { .. } => RELEASE_DC,
            _ => ADD_DC_RESPONSE,
        };
        let (rc, _) = r.mbox(opcode, &dc_response(&extents));
        assert_ne!(rc, 0, "{:?}", f.fault);
    }
    assert_eq!(r.slots(), mapped, "nothing mapped for a fault extent");
    // Declining them all (one empty response per fault offer).
    for _ in 0..4 {
        assert_eq!(r.mbox(ADD_DC_RESPONSE, &dc_response(&[])).0, 0);
    }
    assert!(r.dev.memdev().dc_faults().is_empty());
    assert_eq!(r.slots(), mapped);
    assert_eq!(r.dev.memdev().dcd().held_count(), 1);
}

#[test]
fn fault_clear_reports_unknown_ids() {
    let mut r = rig();
    assert!(matches!(
        r.dev.fault_clear(FaultSelector::Id(9)),
        Err(FaultError::NotFound(_))
    ));
    let id = r
        .dev
        .dc_fault_add(DcFaultRequest::OutsideRegion {})
        .unwrap();
    assert_eq!(r.dev.fault_clear(FaultSelector::Id(id)).unwrap(), [id]);
}
