use super::*;
use crate::cxl::mailbox::testing::TestMemdev;
use crate::cxl::memdev::tests::test_config;
use crate::trace::capture;

fn op(o: Opcode) -> u16 {
    o as u16
}

#[test]
fn names_are_spelled_as_the_spec_does() {
    assert_eq!(
        command_name(op(Opcode::GetEventRecords)).as_deref(),
        Some("Get Event Records")
    );
    assert_eq!(
        command_name(op(Opcode::GetFwInfo)).as_deref(),
        Some("Get FW Info")
    );
    assert_eq!(command_name(op(Opcode::SetLsa)).as_deref(), Some("Set LSA"));
    assert_eq!(
        command_name(op(Opcode::AddDcResponse)).as_deref(),
        Some("Add DC Response")
    );
    assert_eq!(command_name(0xBEEF), None);
}

/// One good input per command that takes one, and a field its rendering
/// must name.
fn good_inputs() -> Vec<(Opcode, Vec<u8>, &'static str, Value)> {
    let mut clear = vec![1u8, 0, 2, 0, 0, 0];
    clear.extend_from_slice(&7u16.to_le_bytes());
    clear.extend_from_slice(&9u16.to_le_bytes());
    let mut dc = vec![0u8; 8 + 24];
    dc[0] = 1;
    dc[8..16].copy_from_slice(&0x1000_0000u64.to_le_bytes());
    dc[16..24].copy_from_slice(&0x1000_0000u64.to_le_bytes());
    let mut lsa = vec![0u8; 8 + 40];
    lsa[0..4].copy_from_slice(&0x80u32.to_le_bytes());
    let mut get_log = vec![0u8; 24];
    get_log[16..20].copy_from_slice(&4u32.to_le_bytes());
    get_log[20..24].copy_from_slice(&8u32.to_le_bytes());
    let mut poison = vec![0u8; 16];
    poison[0..8].copy_from_slice(&0x40u64.to_le_bytes());
    poison[8..16].copy_from_slice(&2u64.to_le_bytes());
    vec![
        (
            Opcode::GetEventRecords,
            vec![4],
            "event_log",
            json!("DynamicCapacity"),
        ),
        (Opcode::ClearEventRecords, clear, "handles", json!([7, 9])),
        (
            Opcode::SetTimestamp,
            77u64.to_le_bytes().to_vec(),
            "timestamp",
            json!(77),
        ),
        (Opcode::GetLog, get_log, "length", json!(8)),
        (
            Opcode::GetLsa,
            [16u32, 32].map(u32::to_le_bytes).concat(),
            "length",
            json!(32),
        ),
        (
            Opcode::SetLsa,
            lsa,
            "data",
            json!({"len": 40, "head": "00".repeat(16)}),
        ),
        (Opcode::GetPoisonList, poison, "address", json!(0x40)),
        (
            Opcode::InjectPoison,
            0x80u64.to_le_bytes().to_vec(),
            "address",
            json!(0x80),
        ),
        (Opcode::GetDcConfig, vec![3, 1], "region_count", json!(3)),
        (
            Opcode::GetDcExtentList,
            [5u32, 2].map(u32::to_le_bytes).concat(),
            "start_extent_index",
            json!(2),
        ),
        (
            Opcode::AddDcResponse,
            dc,
            "extents",
            json!([{"dpa": 0x1000_0000u64, "len": 0x1000_0000u64}]),
        ),
    ]
}

#[test]
fn good_inputs_render_named_fields() {
    for (o, bytes, field, want) in good_inputs() {
        let got = decode_input(op(o), &bytes);
        assert_eq!(got[field], want, "{o:?}: {got}");
        assert!(got.get("error").is_none(), "{o:?}: {got}");
    }
}

#[test]
fn commands_without_input_render_no_fields() {
    assert_eq!(decode_input(op(Opcode::Identify), &[]), json!({}));
    let got = decode_input(op(Opcode::Identify), &[1, 2]);
    assert_eq!(got["raw"]["len"], 2);
}

#[test]
fn malformed_inputs_render_an_error_and_never_panic() {
    for (o, bytes, _, _) in good_inputs() {
        // Shorter than any good payload (or too long for a 1-byte one).
        let bad = if bytes.len() > 4 {
            bytes[..3].to_vec()
        } else if bytes.len() > 1 {
            bytes[..bytes.len() - 1].to_vec()
        } else {
            vec![0xff, 0xff]
        };
        let got = decode_input(op(o), &bad);
        assert!(got["error"].is_string(), "{o:?}: {got}");
        assert_eq!(got["raw"]["len"], bad.len(), "{o:?}");
    }
    // Every implemented command, every short length and a full payload of
    // 0xff: something renders, nothing panics.
    for c in COMMANDS {
        for len in (0..40).chain([2048]) {
            let v = decode_input(c.opcode as u16, &vec![0xff; len]);
            assert!(v.is_object(), "{:?}", c.opcode);
            let v = decode_output(c.opcode as u16, &vec![0xff; len]);
            assert!(v.is_object(), "{:?}", c.opcode);
        }
    }
}

#[test]
fn passphrases_never_reach_the_trace() {
    let mut set = vec![0u8; 0x60];
    set[0x20..0x40].fill(b's');
    set[0x40..0x60].fill(b'n');
    let got = decode_input(op(Opcode::SetPassphrase), &set);
    assert_eq!(got, json!({"type": "Master"}));
    let text = got.to_string();
    assert!(!text.contains("73") && !text.contains("sss"), "{text}");
}

#[test]
fn unknown_opcodes_are_traced_raw() {
    let got = decode_input(0xCAFE, &[1, 2, 3]);
    assert_eq!(got, json!({"raw": {"len": 3, "head": "010203"}}));
    assert_eq!(decode_output(0xCAFE, &[]), json!({}));
}

#[test]
fn bulky_arrays_are_summarized() {
    let big = vec![0xabu8; 2000];
    let s = summarize(&big);
    assert_eq!(s["len"], 2000);
    assert_eq!(s["head"].as_str().map(str::len), Some(2 * SUMMARY_BYTES));
}

#[test]
fn an_executed_command_is_one_record_with_its_decoded_payloads() {
    let mut m = TestMemdev::new(test_config()).expect("device");
    let ((rc, _), records) = capture(|| m.execute(op(Opcode::GetEventRecords), &[0]));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.kind, Kind::Mailbox);
    assert_eq!(r.device.as_deref(), Some("mem0"));
    let f = &r.fields;
    assert_eq!(f["opcode"], 0x0100);
    assert_eq!(f["name"], "Get Event Records");
    assert_eq!(f["in"]["event_log"], "Informational");
    assert_eq!(f["rc"], "Success");
    assert_eq!(f["rc_code"], 0);
    assert_eq!(f["out"]["record_count"], 0);
    assert!(f["ns"].is_u64());
}

#[test]
fn a_failed_command_records_its_return_code() {
    let mut m = TestMemdev::new(test_config()).expect("device");
    let ((rc, _), records) = capture(|| m.execute(op(Opcode::GetEventRecords), &[9]));
    assert_ne!(rc, RetCode::Success);
    let f = &records[0].fields;
    assert_eq!(f["rc"], format!("{rc:?}"));
    assert_eq!(f["in"]["error"], format!("{rc:?}"));
    assert_eq!(f["out"], json!({}));
}

/// Runs `op` with `input` on the test device and decodes its output as the
/// trace does.
fn out_of(m: &mut TestMemdev, o: Opcode, input: &[u8]) -> Value {
    let (rc, out) = m.execute(op(o), input);
    assert_eq!(rc, RetCode::Success, "{o:?}");
    decode_output(op(o), &out)
}

#[test]
fn outputs_render_the_fields_drivers_read() {
    let mut m = TestMemdev::new(test_config()).expect("device");
    let v = out_of(&mut m, Opcode::Identify, &[]);
    assert_eq!(v["serial"], 0x0123_4567_89AB_CDEFu64);
    let v = out_of(&mut m, Opcode::IdentifyMemoryDevice, &[]);
    assert_eq!(v["fw_revision"], "FW-1.2.3");
    assert_eq!(v["lsa_size"], 4096);
    assert_eq!(v["dc_event_log_size"], 64);
    let v = out_of(&mut m, Opcode::GetPartitionInfo, &[]);
    assert_eq!(v["active_volatile_capacity"], 6u64 * (256 << 20));
    let v = out_of(&mut m, Opcode::GetHealthInfo, &[]);
    assert!(
        v["life_used"].is_u64() && v["device_temperature"].is_i64(),
        "{v}"
    );
    let v = out_of(&mut m, Opcode::GetFwInfo, &[]);
    assert!(v["slot_1"].is_string(), "{v}");
    let v = out_of(&mut m, Opcode::GetTimestamp, &[]);
    assert!(v["timestamp"].is_u64());
    let v = out_of(&mut m, Opcode::GetDcConfig, &[2, 0]);
    assert_eq!(v["regions_returned"], 2);
    assert_eq!(v["regions"][1]["block_size"], 4u64 << 20);
    assert_eq!(v["regions"][1]["length"], 256u64 << 20);
    let v = out_of(&mut m, Opcode::GetDcExtentList, &[0; 8]);
    assert_eq!(v["total_extent_count"], 0);
    // Poison injected by the guest shows in the list, with its DPA.
    out_of(&mut m, Opcode::InjectPoison, &0x1000u64.to_le_bytes());
    let mut q = 0u64.to_le_bytes().to_vec();
    q.extend_from_slice(&(1u64 << 20).to_le_bytes());
    let v = out_of(&mut m, Opcode::GetPoisonList, &q);
    assert_eq!(v["record_count"], 1);
    assert_eq!(v["records"][0]["dpa"], 0x1000);
}

#[test]
fn short_outputs_render_missing_fields_as_null() {
    let v = decode_output(op(Opcode::IdentifyMemoryDevice), b"FW");
    assert_eq!(v["fw_revision"], Value::Null);
    assert_eq!(v["total_capacity"], Value::Null);
    // A count larger than the records present lists what is there.
    let mut ev = vec![0u8; 0x20];
    ev[0x14] = 200;
    let v = decode_output(op(Opcode::GetEventRecords), &ev);
    assert_eq!(v["record_count"], 200);
    assert_eq!(v["handles"], json!([]));
}

#[test]
fn a_payload_length_over_the_registers_is_one_record() {
    let ((), records) = capture(|| emit_oversized("mem0", op(Opcode::SetLsa), 4096));
    assert_eq!(records.len(), 1);
    let f = &records[0].fields;
    assert_eq!(f["name"], "Set LSA");
    assert_eq!(f["rc"], "InvalidPayloadLength");
    assert_eq!(f["in"]["payload_length"], 4096);
}
