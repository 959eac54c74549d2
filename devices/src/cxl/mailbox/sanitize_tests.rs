//! Tests of `sanitize.rs` (compiled as `cxl::mailbox::sanitize::tests`).

use super::*;
use crate::cxl::mailbox::effects::{BACKGROUND_OPERATION, IMMEDIATE_DATA_CHANGE};
use crate::cxl::mailbox::poison::InjectPoisonIn;
use crate::cxl::mailbox::security::SetPassphraseIn;
use crate::cxl::mailbox::testing::test_memdev_with_clock;
use crate::cxl::mailbox::{command_effects_log, Encode, Opcode};
use crate::cxl::memdev::background_ops::SANITIZE_MS;
use crate::cxl::memdev::security::{Passphrase, PassphraseType};
use crate::cxl::memdev::status::MediaStatus;

const SANITIZE: u16 = Opcode::Sanitize as u16;
const SECURE_ERASE: u16 = Opcode::SecureErase as u16;
const MS: u64 = 1_000_000;

#[test]
fn erases_everything_at_completion_not_start() {
    for op in [SANITIZE, SECURE_ERASE] {
        let (mut m, clock) = test_memdev_with_clock();
        let poison = InjectPoisonIn { address: 0x1000 }.encode();
        assert_eq!(
            m.execute(Opcode::InjectPoison as u16, &poison).0,
            RetCode::Success
        );
        assert_eq!(m.execute(op, &[]).0, RetCode::BackgroundCommandStarted);
        assert!(m.take_media_erases().is_empty(), "nothing erased at start");
        assert_eq!(m.status().media_status, MediaStatus::Disabled);
        assert_eq!(
            m.execute(Opcode::InjectPoison as u16, &poison).0,
            RetCode::MediaDisabled
        );
        clock.advance(SANITIZE_MS * MS);
        assert_eq!(m.complete_background(), Some((op, RetCode::Success)));
        let space = m.dpa_space_bytes();
        assert_eq!(space, 0xE000_0000, "static capacity and both DC regions");
        assert_eq!(m.take_media_erases(), vec![0..space]);
        assert_eq!(m.status().media_status, MediaStatus::Ready);
        assert!(m.poison().is_empty());
    }
}

#[test]
fn refused_with_a_user_passphrase() {
    let (mut m, _) = test_memdev_with_clock();
    let set = SetPassphraseIn {
        kind: PassphraseType::User,
        current: Passphrase::new([0; 32]),
        new: Passphrase::new([7; 32]),
    }
    .encode();
    assert_eq!(
        m.execute(Opcode::SetPassphrase as u16, &set).0,
        RetCode::Success
    );
    for op in [SANITIZE, SECURE_ERASE] {
        assert_eq!(m.execute(op, &[]).0, RetCode::InvalidSecurityState);
    }
    assert!(!m.background().is_running());
}

#[test]
fn refused_with_media_not_ready_or_input() {
    let (mut m, _) = test_memdev_with_clock();
    for op in [SANITIZE, SECURE_ERASE] {
        assert_eq!(m.execute(op, &[0]).0, RetCode::InvalidPayloadLength);
    }
    let mut s = *m.status();
    s.media_status = MediaStatus::Error;
    m.set_status(s);
    assert_eq!(m.execute(SANITIZE, &[]).0, RetCode::MediaDisabled);
    assert!(!m.background().is_running());
}

#[test]
fn cold_reset_drops_a_running_sanitize() {
    let (mut m, clock) = test_memdev_with_clock();
    assert_eq!(
        m.execute(SANITIZE, &[]).0,
        RetCode::BackgroundCommandStarted
    );
    m.cold_reset();
    clock.advance(SANITIZE_MS * MS);
    assert_eq!(m.complete_background(), None);
    assert_eq!(m.status().media_status, MediaStatus::Ready);
}

#[test]
fn cel_marks_them_background() {
    let (m, _) = test_memdev_with_clock();
    let cel = command_effects_log(&m);
    for op in [SANITIZE, SECURE_ERASE] {
        let e = cel
            .chunks(4)
            .find(|e| u16::from_le_bytes([e[0], e[1]]) == op)
            .expect("listed");
        let fx = u16::from_le_bytes([e[2], e[3]]);
        assert_ne!(fx & BACKGROUND_OPERATION, 0);
        assert_ne!(fx & IMMEDIATE_DATA_CHANGE, 0);
    }
}
