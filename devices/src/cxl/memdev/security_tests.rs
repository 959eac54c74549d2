//! Tests of the security state machine in `security.rs` (compiled as
//! `cxl::memdev::security::tests`).

use super::*;

fn p(b: u8) -> Passphrase {
    Passphrase::new([b; PASSPHRASE_LEN])
}

const USER: PassphraseType = PassphraseType::User;
const MASTER: PassphraseType = PassphraseType::Master;

#[test]
fn passphrase_debug_shows_only_its_length() {
    let s = format!("{:?}", p(0x5A));
    assert_eq!(s, "Passphrase(32 bytes)");
    let mut st = SecurityState::default();
    st.set_passphrase(USER, &p(0), p(0x5A)).unwrap();
    let dbg = format!("{st:?} {st:#?}");
    assert!(!dbg.contains("90") && !dbg.contains('Z'), "{dbg}");
    assert_eq!(p(1), p(1));
    assert_ne!(p(1), p(2));
}

#[test]
fn set_user_then_cold_reset_locks_and_unlock_opens() {
    let mut s = SecurityState::default();
    assert_eq!(s.bits(), 0);
    // No user passphrase yet: the current one is ignored.
    s.set_passphrase(USER, &p(9), p(1)).unwrap();
    assert_eq!(s.bits(), SECURITY_STATE_USER_PASSPHRASE_SET);
    assert!(s.has_user_passphrase());
    assert!(!s.is_locked());
    s.cold_reset();
    assert_eq!(
        s.bits(),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_LOCKED
    );
    assert_eq!(s.unlock(&p(2)), Err(RetCode::IncorrectPassphrase));
    assert!(s.is_locked());
    assert_eq!(s.unlock(&p(1)), Ok(()));
    assert_eq!(s.bits(), SECURITY_STATE_USER_PASSPHRASE_SET);
    // Not locked any more.
    assert_eq!(s.unlock(&p(1)), Err(RetCode::InvalidSecurityState));
}

#[test]
fn unlock_needs_a_user_passphrase() {
    let mut s = SecurityState::default();
    s.cold_reset();
    assert!(!s.is_locked());
    assert_eq!(s.unlock(&p(0)), Err(RetCode::InvalidSecurityState));
}

#[test]
fn change_user_passphrase_needs_the_current_one() {
    let mut s = SecurityState::default();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    assert_eq!(
        s.set_passphrase(USER, &p(7), p(2)),
        Err(RetCode::IncorrectPassphrase)
    );
    s.set_passphrase(USER, &p(1), p(2)).unwrap();
    assert_eq!(
        s.disable_passphrase(USER, &p(1)),
        Err(RetCode::IncorrectPassphrase)
    );
    s.disable_passphrase(USER, &p(2)).unwrap();
    assert_eq!(s.bits(), 0);
}

#[test]
fn master_only_without_user() {
    let mut s = SecurityState::default();
    s.set_passphrase(MASTER, &p(0), p(0xA)).unwrap();
    assert_eq!(s.bits(), SECURITY_STATE_MASTER_PASSPHRASE_SET);
    // Changing it needs the current master passphrase.
    assert_eq!(
        s.set_passphrase(MASTER, &p(0), p(0xB)),
        Err(RetCode::IncorrectPassphrase)
    );
    s.set_passphrase(MASTER, &p(0xA), p(0xB)).unwrap();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    // With a user passphrase set, the master passphrase cannot change.
    assert_eq!(
        s.set_passphrase(MASTER, &p(0xB), p(0xC)),
        Err(RetCode::InvalidSecurityState)
    );
    // But it can be disabled.
    s.disable_passphrase(MASTER, &p(0xB)).unwrap();
    assert_eq!(s.bits(), SECURITY_STATE_USER_PASSPHRASE_SET);
    assert_eq!(
        s.disable_passphrase(MASTER, &p(0xB)),
        Err(RetCode::InvalidSecurityState)
    );
}

#[test]
fn disable_user_unlocks() {
    let mut s = SecurityState::default();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    s.cold_reset();
    assert!(s.is_locked());
    s.disable_passphrase(USER, &p(1)).unwrap();
    assert_eq!(s.bits(), 0);
    s.cold_reset();
    assert_eq!(s.bits(), 0);
    assert_eq!(
        s.disable_passphrase(USER, &p(1)),
        Err(RetCode::InvalidSecurityState)
    );
}

#[test]
fn frozen_refuses_every_change_until_cold_reset() {
    let mut s = SecurityState::default();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    s.cold_reset();
    s.freeze();
    s.freeze();
    assert_eq!(
        s.bits(),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_LOCKED | SECURITY_STATE_FROZEN
    );
    let iss = Err(RetCode::InvalidSecurityState);
    assert_eq!(s.set_passphrase(USER, &p(1), p(2)), iss);
    assert_eq!(s.set_passphrase(MASTER, &p(0), p(2)), iss);
    assert_eq!(s.disable_passphrase(USER, &p(1)), iss);
    assert_eq!(s.unlock(&p(1)), iss);
    assert_eq!(
        s.secure_erase(USER, &p(1)),
        Err(RetCode::InvalidSecurityState)
    );
    // Nothing changed and nothing counted.
    assert_eq!(
        s.bits(),
        SECURITY_STATE_USER_PASSPHRASE_SET | SECURITY_STATE_LOCKED | SECURITY_STATE_FROZEN
    );
    s.cold_reset();
    assert!(!s.is_frozen());
    s.unlock(&p(1)).unwrap();
}

#[test]
fn user_attempt_limit_until_cold_reset() {
    let mut s = SecurityState::default();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    s.cold_reset();
    for _ in 0..PASSPHRASE_ATTEMPT_LIMIT - 1 {
        assert_eq!(s.unlock(&p(2)), Err(RetCode::IncorrectPassphrase));
    }
    assert_eq!(s.bits() & SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED, 0);
    // Wrong attempts of every command count together.
    assert_eq!(
        s.disable_passphrase(USER, &p(2)),
        Err(RetCode::IncorrectPassphrase)
    );
    assert_ne!(s.bits() & SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED, 0);
    // Now even the right passphrase is refused, for every user command.
    assert_eq!(s.unlock(&p(1)), Err(RetCode::InvalidSecurityState));
    assert_eq!(
        s.set_passphrase(USER, &p(1), p(3)),
        Err(RetCode::InvalidSecurityState)
    );
    assert_eq!(
        s.secure_erase(USER, &p(1)),
        Err(RetCode::InvalidSecurityState)
    );
    // The master passphrase has its own count.
    assert_eq!(s.bits() & SECURITY_STATE_MASTER_ATTEMPT_COUNT_REACHED, 0);
    s.cold_reset();
    assert_eq!(s.bits() & SECURITY_STATE_USER_ATTEMPT_COUNT_REACHED, 0);
    s.unlock(&p(1)).unwrap();
}

#[test]
fn a_match_starts_the_count_again() {
    let mut s = SecurityState::default();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    for _ in 0..3 {
        for _ in 0..PASSPHRASE_ATTEMPT_LIMIT - 1 {
            assert_eq!(
                s.set_passphrase(USER, &p(2), p(1)),
                Err(RetCode::IncorrectPassphrase)
            );
        }
        s.set_passphrase(USER, &p(1), p(1)).unwrap();
    }
    assert_eq!(s.bits(), SECURITY_STATE_USER_PASSPHRASE_SET);
}

#[test]
fn master_attempt_limit() {
    let mut s = SecurityState::default();
    s.set_passphrase(MASTER, &p(0), p(0xA)).unwrap();
    for _ in 0..PASSPHRASE_ATTEMPT_LIMIT {
        assert_eq!(
            s.secure_erase(MASTER, &p(0)),
            Err(RetCode::IncorrectPassphrase)
        );
    }
    assert_eq!(
        s.bits(),
        SECURITY_STATE_MASTER_PASSPHRASE_SET | SECURITY_STATE_MASTER_ATTEMPT_COUNT_REACHED
    );
    assert_eq!(
        s.secure_erase(MASTER, &p(0xA)),
        Err(RetCode::InvalidSecurityState)
    );
    assert_eq!(
        s.disable_passphrase(MASTER, &p(0xA)),
        Err(RetCode::InvalidSecurityState)
    );
    // The user passphrase still works.
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
}

#[test]
fn secure_erase_with_master_removes_the_user_passphrase() {
    let mut s = SecurityState::default();
    s.set_passphrase(MASTER, &p(0), p(0xA)).unwrap();
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    s.cold_reset();
    assert!(s.is_locked());
    assert_eq!(
        s.secure_erase(MASTER, &p(0xA)),
        Ok(EraseKind::WithPassphrase)
    );
    assert_eq!(s.bits(), SECURITY_STATE_MASTER_PASSPHRASE_SET);
    s.cold_reset();
    assert!(!s.is_locked());
}

#[test]
fn secure_erase_with_master_needs_one_set() {
    let mut s = SecurityState::default();
    assert_eq!(s.secure_erase(MASTER, &p(0)), Err(RetCode::InvalidInput));
}

#[test]
fn secure_erase_with_user() {
    let mut s = SecurityState::default();
    // No user passphrase: a plain secure erase.
    assert_eq!(
        s.secure_erase(USER, &p(5)),
        Ok(EraseKind::WithoutPassphrase)
    );
    s.set_passphrase(USER, &p(0), p(1)).unwrap();
    s.cold_reset();
    assert_eq!(
        s.secure_erase(USER, &p(2)),
        Err(RetCode::IncorrectPassphrase)
    );
    assert!(s.is_locked());
    assert_eq!(s.secure_erase(USER, &p(1)), Ok(EraseKind::WithPassphrase));
    assert_eq!(s.bits(), 0);
}
