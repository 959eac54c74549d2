//! Tests of the commands in `security.rs` (compiled as
//! `cxl::mailbox::security::tests`).

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::{command_effects_log, Opcode};
use crate::cxl::memdev::security::PASSPHRASE_ATTEMPT_LIMIT;
use crate::cxl::memdev::status::{MediaStatus, MemdevStatus};
use crate::cxl::memdev::tests::test_config;
use crate::cxl::memdev::MemdevConfig;

const STATE: u16 = Opcode::GetSecurityState as u16;
const SET: u16 = Opcode::SetPassphrase as u16;
const DISABLE: u16 = Opcode::DisablePassphrase as u16;
const UNLOCK: u16 = Opcode::Unlock as u16;
const FREEZE: u16 = Opcode::FreezeSecurityState as u16;
const ERASE: u16 = Opcode::PassphraseSecureErase as u16;

const USER: PassphraseType = PassphraseType::User;
const MASTER: PassphraseType = PassphraseType::Master;

fn p(b: u8) -> Passphrase {
    Passphrase::new([b; PASSPHRASE_LEN])
}

fn set_in(kind: PassphraseType, current: u8, new: u8) -> Vec<u8> {
    SetPassphraseIn {
        kind,
        current: p(current),
        new: p(new),
    }
    .encode()
}

fn pass_in(kind: PassphraseType, current: u8) -> Vec<u8> {
    PassphraseIn {
        kind,
        current: p(current),
    }
    .encode()
}

fn unlock_in(current: u8) -> Vec<u8> {
    UnlockIn {
        current: p(current),
    }
    .encode()
}

fn state(m: &mut TestMemdev) -> u32 {
    let (rc, out) = m.execute(STATE, &[]);
    assert_eq!(rc, RetCode::Success);
    u32::from_le_bytes(out.try_into().unwrap())
}

const OK: (RetCode, Vec<u8>) = (RetCode::Success, Vec::new());

#[test]
fn no_passphrase_set() {
    let mut m = test_memdev();
    assert_eq!(m.execute(STATE, &[]), (RetCode::Success, vec![0, 0, 0, 0]));
    assert_eq!(m.execute(STATE, &[1]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn payload_layouts_are_linuxs() {
    // struct cxl_set_pass: type, 31 reserved, old, new.
    let b = set_in(USER, 0xAA, 0xBB);
    assert_eq!(b.len(), 0x60);
    assert_eq!(b[0], 1);
    assert!(b[1..0x20].iter().all(|&x| x == 0));
    assert!(b[0x20..0x40].iter().all(|&x| x == 0xAA));
    assert!(b[0x40..].iter().all(|&x| x == 0xBB));
    // struct cxl_disable_pass / cxl_pass_erase: type, 31 reserved, pass.
    let b = pass_in(MASTER, 0xCC);
    assert_eq!(b.len(), 0x40);
    assert_eq!(b[0], 0);
    assert!(b[0x20..].iter().all(|&x| x == 0xCC));
    assert_eq!(unlock_in(1).len(), 32);
    assert_eq!(
        SetPassphraseIn::decode(Input::new(&set_in(USER, 0xAA, 0xBB))),
        Ok(SetPassphraseIn {
            kind: USER,
            current: p(0xAA),
            new: p(0xBB)
        })
    );
}

#[test]
fn malformed_payloads() {
    let mut m = test_memdev();
    for (op, len) in [(SET, 0x60), (DISABLE, 0x40), (UNLOCK, 0x20), (ERASE, 0x40)] {
        for bad in [0, len - 1, len + 1] {
            assert_eq!(
                m.execute(op, &vec![0; bad]).0,
                RetCode::InvalidPayloadLength,
                "{op:#06x} {bad}"
            );
        }
    }
    assert_eq!(m.execute(FREEZE, &[0]).0, RetCode::InvalidPayloadLength);
    // Reserved Passphrase Types.
    for op in [SET, DISABLE, ERASE] {
        let len = if op == SET { 0x60 } else { 0x40 };
        let mut b = vec![0; len];
        b[0] = 2;
        assert_eq!(m.execute(op, &b).0, RetCode::InvalidInput, "{op:#06x}");
        b[0] = 0xFF;
        assert_eq!(m.execute(op, &b).0, RetCode::InvalidInput, "{op:#06x}");
    }
    assert_eq!(state(&mut m), 0);
    assert!(m.take_media_erases().is_empty());
}

#[test]
fn lock_unlock_cycle() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_in(USER, 0, 1)), OK);
    assert_eq!(state(&mut m), SECURITY_STATE_USER_PASSPHRASE_SET);
    m.cold_reset();
    assert_eq!(
        state(&mut m),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_LOCKED
    );
    assert!(m.security().is_locked());
    assert_eq!(
        m.execute(UNLOCK, &unlock_in(2)).0,
        RetCode::IncorrectPassphrase
    );
    assert_eq!(m.execute(UNLOCK, &unlock_in(1)), OK);
    assert_eq!(state(&mut m), SECURITY_STATE_USER_PASSPHRASE_SET);
    assert_eq!(
        m.execute(UNLOCK, &unlock_in(1)).0,
        RetCode::InvalidSecurityState
    );
    assert_eq!(m.execute(DISABLE, &pass_in(USER, 1)), OK);
    assert_eq!(state(&mut m), 0);
}

#[test]
fn freeze_until_cold_reset() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_in(MASTER, 0, 9)), OK);
    assert_eq!(m.execute(FREEZE, &[]), OK);
    assert_eq!(m.execute(FREEZE, &[]), OK);
    assert_eq!(
        state(&mut m),
        SECURITY_STATE_MASTER_PASSPHRASE_SET | SECURITY_STATE_FROZEN
    );
    for (op, input) in [
        (SET, set_in(USER, 0, 1)),
        (DISABLE, pass_in(MASTER, 9)),
        (UNLOCK, unlock_in(1)),
        (ERASE, pass_in(MASTER, 9)),
    ] {
        assert_eq!(
            m.execute(op, &input).0,
            RetCode::InvalidSecurityState,
            "{op:#06x}"
        );
    }
    assert!(m.take_media_erases().is_empty());
    m.cold_reset();
    assert_eq!(state(&mut m), SECURITY_STATE_MASTER_PASSPHRASE_SET);
    assert_eq!(m.execute(DISABLE, &pass_in(MASTER, 9)), OK);
}

#[test]
fn attempt_count_reached() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_in(USER, 0, 1)), OK);
    for _ in 0..PASSPHRASE_ATTEMPT_LIMIT {
        assert_eq!(
            m.execute(SET, &set_in(USER, 7, 2)).0,
            RetCode::IncorrectPassphrase
        );
    }
    assert_eq!(
        state(&mut m),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED
    );
    assert_eq!(
        m.execute(DISABLE, &pass_in(USER, 1)).0,
        RetCode::InvalidSecurityState
    );
    m.cold_reset();
    assert_eq!(
        state(&mut m),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_LOCKED
    );
    assert_eq!(m.execute(UNLOCK, &unlock_in(1)), OK);
}

#[test]
fn master_passphrase_rules() {
    let mut m = test_memdev();
    assert_eq!(m.execute(SET, &set_in(USER, 0, 1)), OK);
    assert_eq!(
        m.execute(SET, &set_in(MASTER, 0, 9)).0,
        RetCode::InvalidSecurityState
    );
    assert_eq!(
        m.execute(DISABLE, &pass_in(MASTER, 0)).0,
        RetCode::InvalidSecurityState
    );
    assert_eq!(
        m.execute(ERASE, &pass_in(MASTER, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(m.execute(DISABLE, &pass_in(USER, 1)), OK);
    assert_eq!(m.execute(SET, &set_in(MASTER, 0, 9)), OK);
    assert_eq!(
        m.execute(SET, &set_in(MASTER, 8, 10)).0,
        RetCode::IncorrectPassphrase
    );
    assert_eq!(m.execute(SET, &set_in(MASTER, 9, 10)), OK);
    assert_eq!(state(&mut m), SECURITY_STATE_MASTER_PASSPHRASE_SET);
}

#[test]
fn secure_erase_erases_the_persistent_capacity() {
    let mut m = test_memdev();
    let pmem = m.partition().persistent_dpa_range();
    assert!(!pmem.is_empty());
    assert_eq!(m.execute(SET, &set_in(MASTER, 0, 9)), OK);
    assert_eq!(m.execute(SET, &set_in(USER, 0, 1)), OK);
    m.cold_reset();
    // Wrong passphrases erase nothing.
    assert_eq!(
        m.execute(ERASE, &pass_in(USER, 2)).0,
        RetCode::IncorrectPassphrase
    );
    assert_eq!(
        m.execute(ERASE, &pass_in(MASTER, 2)).0,
        RetCode::IncorrectPassphrase
    );
    assert!(m.take_media_erases().is_empty());
    // The master passphrase erases, removes the user passphrase, unlocks.
    assert_eq!(m.execute(ERASE, &pass_in(MASTER, 9)), OK);
    assert_eq!(m.take_media_erases(), vec![pmem.clone()]);
    assert_eq!(state(&mut m), SECURITY_STATE_MASTER_PASSPHRASE_SET);
    // With the user passphrase.
    assert_eq!(m.execute(DISABLE, &pass_in(MASTER, 9)), OK);
    assert_eq!(m.execute(SET, &set_in(USER, 0, 1)), OK);
    assert_eq!(m.execute(ERASE, &pass_in(USER, 1)), OK);
    assert_eq!(m.take_media_erases(), vec![pmem.clone()]);
    assert_eq!(state(&mut m), 0);
    // No user passphrase: a plain secure erase.
    assert_eq!(m.execute(ERASE, &pass_in(USER, 0x33)), OK);
    assert_eq!(m.take_media_erases(), vec![pmem]);
}

#[test]
fn secure_erase_needs_the_media() {
    let mut m = test_memdev();
    m.set_status(MemdevStatus {
        media_status: MediaStatus::Disabled,
        ..MemdevStatus::default()
    });
    assert_eq!(
        m.execute(ERASE, &pass_in(USER, 0)).0,
        RetCode::MediaDisabled
    );
    assert!(m.take_media_erases().is_empty());
}

#[test]
fn volatile_only_devices_have_only_get_security_state() {
    let mut m = TestMemdev::new(MemdevConfig::default()).unwrap();
    let cel = command_effects_log(&m);
    let ops: Vec<u16> = cel
        .chunks(4)
        .map(|e| u16::from_le_bytes([e[0], e[1]]))
        .collect();
    assert!(ops.contains(&STATE));
    for op in [SET, DISABLE, UNLOCK, FREEZE, ERASE] {
        assert!(!ops.contains(&op), "{op:#06x}");
        assert_eq!(m.execute(op, &[]).0, RetCode::Unsupported, "{op:#06x}");
    }
    assert_eq!(state(&mut m), 0);
    // A partitionable-only device can hold persistent capacity.
    let c = MemdevConfig {
        volatile_bytes: 0,
        persistent_bytes: 0,
        ..test_config()
    };
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(m.execute(FREEZE, &[]), OK);
}

#[test]
fn effects_in_the_cel() {
    use crate::cxl::mailbox::effects::{IMMEDIATE_DATA_CHANGE, SECURITY_STATE_CHANGE};
    let m = test_memdev();
    let cel = command_effects_log(&m);
    let effect = |op: u16| {
        cel.chunks(4)
            .find(|e| u16::from_le_bytes([e[0], e[1]]) == op)
            .map(|e| u16::from_le_bytes([e[2], e[3]]))
    };
    assert_eq!(effect(STATE), Some(0));
    for op in [SET, DISABLE, UNLOCK, FREEZE] {
        assert_eq!(effect(op), Some(SECURITY_STATE_CHANGE), "{op:#06x}");
    }
    assert_eq!(
        effect(ERASE),
        Some(SECURITY_STATE_CHANGE | IMMEDIATE_DATA_CHANGE)
    );
}
