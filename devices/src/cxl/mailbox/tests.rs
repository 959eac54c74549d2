//! Tests of the command table, the CEL and dispatch as a whole.

use std::collections::HashSet;

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::memdev::poison::PoisonSource;
use crate::cxl::memdev::tests::test_config;
use crate::cxl::memdev::Memdev;

#[test]
fn opcodes_are_unique() {
    let mut seen = HashSet::new();
    for c in COMMANDS {
        assert!(seen.insert(c.opcode as u16), "{:?} twice", c.opcode);
    }
}

#[test]
fn cel_equals_the_table() {
    let mut m = test_memdev();
    let cel = command_effects_log(&m);
    assert_eq!(cel.len(), COMMANDS.len() * CEL_ENTRY_SIZE);
    for (entry, cmd) in cel.chunks(CEL_ENTRY_SIZE).zip(COMMANDS) {
        assert_eq!(u16::from_le_bytes([entry[0], entry[1]]), cmd.opcode as u16);
        assert_eq!(u16::from_le_bytes([entry[2], entry[3]]), cmd.effects);
    }
    // And what the guest reads through Get Log is the same.
    let mut input = logs::CEL_UUID.as_bytes().to_vec();
    input.extend_from_slice(&0u32.to_le_bytes());
    input.extend_from_slice(&(cel.len() as u32).to_le_bytes());
    assert_eq!(
        m.execute(Opcode::GetLog as u16, &input),
        (RetCode::Success, cel.clone())
    );
    // Every CEL opcode is implemented: none answers Unsupported.
    for entry in cel.chunks(CEL_ENTRY_SIZE) {
        let op = u16::from_le_bytes([entry[0], entry[1]]);
        let (rc, _) = m.execute(op, &[]);
        assert_ne!(rc, RetCode::Unsupported, "{op:#06x}");
    }
}

#[test]
fn cel_has_what_linux_enables() {
    // Commands Linux's cxl_walk_cel enables and the driver uses at probe.
    let m = test_memdev();
    let cel = command_effects_log(&m);
    let ops: HashSet<u16> = cel
        .chunks(4)
        .map(|e| u16::from_le_bytes([e[0], e[1]]))
        .collect();
    for op in [
        0x0100, 0x0101, 0x0102, 0x0103, 0x0200, 0x0301, 0x0400, 0x0401, 0x4000, 0x4100, 0x4102,
        0x4103, 0x4200, 0x4300, 0x4301, 0x4302, 0x4500, 0x4800, 0x4801, 0x4802, 0x4803,
        // Features (cxl_walk_cel's features capability) and the nvdimm
        // security commands (cxl_set_security_cmd_enabled).
        0x0500, 0x0501, 0x0502, 0x4501, 0x4502, 0x4503, 0x4504, 0x4505,
    ] {
        assert!(ops.contains(&op), "{op:#06x}");
    }
}

#[test]
fn effects_of_mutating_commands() {
    let effect = |op: Opcode| {
        COMMANDS
            .iter()
            .find(|c| c.opcode == op)
            .map(|c| c.effects)
            .unwrap()
    };
    assert_eq!(effect(Opcode::Identify), 0);
    assert_eq!(effect(Opcode::GetLog), 0);
    assert_eq!(
        effect(Opcode::ClearEventRecords),
        effects::IMMEDIATE_LOG_CHANGE
    );
    assert_ne!(effect(Opcode::SetLsa) & effects::IMMEDIATE_DATA_CHANGE, 0);
    assert_ne!(
        effect(Opcode::SetPartitionInfo) & effects::CONFIGURATION_CHANGE_AFTER_COLD_RESET,
        0
    );
    assert_ne!(
        effect(Opcode::InjectPoison) & effects::IMMEDIATE_DATA_CHANGE,
        0
    );
    // Only the commands that run in the background say so.
    let background = [
        Opcode::Sanitize,
        Opcode::SecureErase,
        Opcode::TransferFw,
        Opcode::ScanMedia,
    ];
    for c in COMMANDS {
        assert_eq!(
            c.effects & effects::BACKGROUND_OPERATION != 0,
            background.contains(&c.opcode),
            "{:?}",
            c.opcode
        );
    }
}

#[test]
fn unimplemented_opcodes_are_unsupported() {
    let mut m = test_memdev();
    for op in [
        0x0000, 0x0003, 0x0203, 0x0402, 0x0503, 0x4203, 0x4306, 0x4402, 0x4506, 0x4804, 0x4900,
        0xFFFF,
    ] {
        assert_eq!(
            m.execute(op, &[]),
            (RetCode::Unsupported, vec![]),
            "{op:#06x}"
        );
    }
}

fn cel_opcodes(m: &Memdev) -> HashSet<u16> {
    command_effects_log(m)
        .chunks(CEL_ENTRY_SIZE)
        .map(|e| u16::from_le_bytes([e[0], e[1]]))
        .collect()
}

#[test]
fn dc_commands_exist_only_with_dc_regions() {
    // With DC regions: all four in the CEL (Linux's cxl_verify_dcd_cmds
    // enables DCD only then) and implemented.
    let m = test_memdev();
    let ops = cel_opcodes(&m);
    for op in [0x4800, 0x4801, 0x4802, 0x4803] {
        assert!(ops.contains(&op), "{op:#06x}");
    }
    // Without: absent from the CEL and Unsupported.
    let mut c = test_config();
    c.dc = Default::default();
    let mut m = TestMemdev::new(c).unwrap();
    let ops = cel_opcodes(&m);
    assert_eq!(ops.len(), COMMANDS.len() - 4);
    for op in [0x4800u16, 0x4801, 0x4802, 0x4803] {
        assert!(!ops.contains(&op), "{op:#06x}");
        assert_eq!(
            m.execute(op, &[0; 8]),
            (RetCode::Unsupported, vec![]),
            "{op:#06x}"
        );
    }
}

#[test]
fn oversized_input_is_invalid_payload_length() {
    let mut m = test_memdev();
    let big = vec![0u8; PAYLOAD_SIZE + 1];
    assert_eq!(
        m.execute(Opcode::SetLsa as u16, &big),
        (RetCode::InvalidPayloadLength, vec![])
    );
    assert_eq!(
        m.execute(0x1234, &big),
        (RetCode::InvalidPayloadLength, vec![])
    );
}

/// A small deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn fuzz_execute_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut m = test_memdev();
    // Some poison so that Get Poison List has ranges to clip.
    for (dpa, len) in [(0x1000, 0x400), (0x8000, 0x40), (0x2_0000, 0x1_0000)] {
        m.add_media_error(dpa, len, PoisonSource::Internal).unwrap();
    }
    let interesting_lengths = [0usize, 1, 4, 5, 6, 8, 9, 10, 16, 0x18, 0x48, 2048, 2049];
    for i in 0..20_000 {
        let op = match rng.below(4) {
            0 => rng.next() as u16,
            _ => COMMANDS[rng.below(COMMANDS.len() as u64) as usize].opcode as u16,
        };
        let len = if rng.below(2) == 0 {
            interesting_lengths[rng.below(interesting_lengths.len() as u64) as usize]
        } else {
            rng.below(2100) as usize
        };
        let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Sometimes make addresses and offsets small so that deeper paths
        // (successful injects, LSA writes, clears) run too.
        if rng.below(2) == 0 && input.len() >= 8 {
            let small = rng.below(1 << 20) & !0x3F;
            input[..8].copy_from_slice(&small.to_le_bytes());
            if input.len() >= 16 && rng.below(2) == 0 {
                let small = rng.below(1 << 12);
                input[8..16].copy_from_slice(&small.to_le_bytes());
            }
        }
        let (rc, out) = m.execute(op, &input);
        assert!(out.len() <= PAYLOAD_SIZE);
        if rc != RetCode::Success {
            assert!(out.is_empty(), "{op:#06x} {rc:?}");
        }
        if i % 1000 == 0 {
            // Keep event logs busy too.
            let rec = crate::cxl::memdev::events::EventRecord::raw(
                uuid::Uuid::nil(),
                &Default::default(),
                &input,
            );
            let log = crate::cxl::memdev::events::EventLogType::ALL[rng.below(5) as usize];
            m.add_event(log, rec);
        }
    }
    // Still answers sanely afterwards.
    assert_eq!(m.execute(Opcode::Identify as u16, &[]).0, RetCode::Success);
    let _ = TestMemdev::new(test_config()).unwrap();
}
