//! The decoded trace on this machine's KVM: a "driver" on the MMIO bus
//! (the path vCPU exits take) and the operator through the API handler
//! run one Dynamic Capacity add, and the records say what happened, in
//! order: the event record posted and the offer, the driver's mailbox
//! commands with their decoded payloads, the acceptance, the memslot
//! mapped.

use devices::trace::{capture, Kind, Record};
use uuid::Uuid;

use crate::dcd_guest::{
    api_context, backend_add, config, dc_add, update_list, Regs, ADD_DC_RESPONSE,
};
use crate::harness::TestVm;

const MIB: u64 = 1 << 20;

fn find<'a>(records: &'a [Record], kind: Kind, key: &str, value: &str) -> (usize, &'a Record) {
    records
        .iter()
        .enumerate()
        .find(|(_, r)| r.kind == kind && r.fields[key] == value)
        .unwrap_or_else(|| panic!("no {kind:?} record with {key}={value}: {records:#?}"))
}

#[test]
fn a_dc_add_and_the_drivers_accept_are_traced_in_order() {
    let t = TestVm::with_config(&[0xf4], &config());
    t.map_high_gib(crate::dcd_guest::WINDOW);
    let ctx = api_context(&t);
    let r = Regs::guest_setup(&t.mmio);
    let tag = Uuid::from_u128(0x7ace);
    backend_add(&ctx, "tb0", 2 * MIB, tag).unwrap();

    let ((), records) = capture(|| {
        dc_add(&ctx, tag, 0, 2 * MIB).unwrap();
        let (dpa, len) = r.take_dc_event();
        assert_eq!(r.mbox(ADD_DC_RESPONSE, &update_list(dpa, len)).0, 0);
    });

    let (offer, o) = find(&records, Kind::Dc, "step", "offered");
    assert_eq!(o.device.as_deref(), Some("dcd0"));
    assert_eq!(o.fields["extents"][0]["len"], 2 * MIB);
    let (posted, p) = find(&records, Kind::Event, "op", "posted");
    assert_eq!(p.fields["log"], "DynamicCapacity");
    let (get, g) = find(&records, Kind::Mailbox, "name", "Get Event Records");
    assert_eq!(g.fields["in"]["event_log"], "DynamicCapacity");
    assert_eq!(g.fields["out"]["record_count"], 1);
    assert_eq!(g.fields["rc"], "Success");
    let (respond, a) = find(&records, Kind::Mailbox, "name", "Add DC Response");
    assert_eq!(a.fields["in"]["extents"][0]["len"], 2 * MIB);
    assert_eq!(a.fields["rc"], "Success");
    let (mapped, m) = find(&records, Kind::Memslot, "op", "map");
    assert_eq!(m.fields["len"], 2 * MIB);
    let (accepted, acc) = find(&records, Kind::Dc, "step", "accepted");
    assert_eq!(acc.fields["accepted"][0]["len"], 2 * MIB);
    assert!(posted < get && offer < get && get < respond, "{records:#?}");
    // The device state changes inside the command, whose record comes when
    // it completes; the device model then maps the memory it accepted.
    assert!(accepted < respond && respond < mapped, "{records:#?}");
    // Every mailbox record says how long the command took.
    assert!(records
        .iter()
        .filter(|r| r.kind == Kind::Mailbox)
        .all(|r| r.fields["ns"].is_u64()));
}

#[test]
fn guest_ram_memslots_are_traced() {
    let (_t, records) = capture(|| TestVm::new(&[0xf4]));
    let (_, m) = find(&records, Kind::Memslot, "op", "map");
    assert_eq!(m.fields["ram"], true);
    assert_eq!(m.fields["gpa"], 0);
    assert_eq!(m.fields["len"], crate::harness::RAM_SIZE);
    assert!(m.fields["slot"].is_u64(), "{m:?}");
}
