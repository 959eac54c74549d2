//! The harness reaches what it claims: BAR moves land (or are refused)
//! through both mechanisms, and the devices answer at their new addresses.

use super::*;
use devices::pci::mapping::AddressSpace;
use devices::pci::Bdf;

/// The Type 3 device of the `--cxl 256M` topology (the last function).
fn type3_rid(m: &Machine) -> u16 {
    m.ids.last().unwrap().0
}

fn bar0(m: &Machine, rid: u16) -> Option<(u64, u64)> {
    let seg = m.segment.lock().unwrap();
    seg.mappings(Bdf::from_routing_id(rid))
        .into_iter()
        .find(|x| x.bar == 0 && x.space == AddressSpace::Mmio)
        .map(|x| (x.base, x.len))
}

#[test]
fn ids_read_the_same_through_both_mechanisms() {
    let m = Machine::new(TopologyKind::Interleaved);
    let rid = type3_rid(&m);
    // Class code: CXL memory device, 05/02/10.
    assert_eq!(invariants::ecam_read32(&m, rid, 8) >> 8, 0x05_0210);
    assert_eq!(invariants::ports_read32(&m, rid, 8) >> 8, 0x05_0210);
    assert_eq!(
        invariants::ecam_read32(&m, 0, 0),
        invariants::ports_read32(&m, 0, 0)
    );
}

#[test]
fn a_bar_moved_through_the_ports_answers_at_its_new_address() {
    let input = Input {
        topology: TopologyKind::Short,
        ops: vec![PciOp::MoveBar {
            bdf: BdfSel::Existing(2),
            bar: 0,
            target: Target::Raw(0xd000_0000),
            wide: true,
            ports: true,
            command: 2,
        }],
    };
    let m = execute(&input);
    let rid = type3_rid(&m);
    assert_eq!(bar0(&m, rid), Some((0xd000_0000, 128 << 10)));
    // The device registers' Capabilities Array (CXL 3.1 8.2.8.1) at 64 KiB:
    // capability ID 0, version 1, 3 capabilities.
    let mut d = [0u8; 8];
    m.mmio.read(0xd001_0000, &mut d).unwrap();
    let v = u64::from_le_bytes(d);
    assert_eq!(
        (v & 0xffff, (v >> 16) & 0xff, (v >> 32) & 0xffff),
        (0, 1, 3)
    );
}

#[test]
fn a_bar_moved_over_ecam_is_not_mapped_and_ecam_keeps_working() {
    let input = Input {
        topology: TopologyKind::TwoPorts,
        ops: vec![PciOp::MoveBar {
            bdf: BdfSel::Existing(4),
            bar: 0,
            target: Target::Raw(PCI_ECAM_START),
            wide: true,
            ports: false,
            command: 2,
        }],
    };
    let m = execute(&input);
    assert_eq!(bar0(&m, type3_rid(&m)), None);
    assert_eq!(invariants::ecam_read32(&m, 0, 0), m.ids[0].1);
}

#[test]
fn random_bytes_decode_into_inputs_that_run() {
    use arbitrary::{Arbitrary, Unstructured};
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
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
