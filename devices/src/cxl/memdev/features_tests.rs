//! Tests of the features in `features.rs` (compiled as
//! `cxl::memdev::features::tests`).

use super::*;

fn set<'a>(uuid: Uuid, flags: u32, offset: u16, version: u8, data: &'a [u8]) -> SetFeature<'a> {
    SetFeature {
        uuid,
        flags,
        offset,
        version,
        data,
    }
}

const FULL: u32 = 0;
const INITIATE: u32 = 1;
const CONTINUE: u32 = 2;
const FINISH: u32 = 3;
const ABORT: u32 = 4;
const SAVED: u32 = SET_FEATURE_SAVED_ACROSS_RESET;

#[test]
fn uuids_are_the_ones_linux_knows() {
    // include/cxl/features.h CXL_FEAT_PATROL_SCRUB_UUID, CXL_FEAT_ECS_UUID.
    assert_eq!(
        PATROL_SCRUB_UUID.to_string(),
        "96dad7d6-fde8-482b-a733-75774e06db8a"
    );
    assert_eq!(ECS_UUID.to_string(), "e5b13f22-2328-4a14-b8ba-b9691e893386");
    assert_eq!(
        FeatureId::from_uuid(&PATROL_SCRUB_UUID),
        Some(FeatureId::PatrolScrub)
    );
    assert_eq!(FeatureId::from_uuid(&Uuid::nil()), None);
}

#[test]
fn entries_match_the_attribute_sizes() {
    let f = FeatureSettings::default();
    for (i, id) in FeatureId::ALL.into_iter().enumerate() {
        let info = id.info();
        assert_eq!(usize::from(info.index), i);
        assert_eq!(usize::from(info.get_size), f.readable(id).len());
        assert_eq!(usize::from(info.set_size), f.writable(id).len());
        assert_ne!(info.attr_flags & FEATURE_CHANGEABLE, 0);
        assert_eq!(info.attr_flags & FEATURE_DEEPEST_RESET_PERSISTENCE_MASK, 0);
        // Linux's fwctl refuses Features with reserved effect bits 15:12.
        assert_eq!(info.set_effects & 0xF000, 0);
    }
    // Linux derives the ECS media FRU count from the Get Feature Size.
    assert_eq!((FeatureId::Ecs.info().get_size - 1) / 4, 3);
}

#[test]
fn defaults() {
    let f = Features::default();
    assert_eq!(
        f.get(&PATROL_SCRUB_UUID, 0, 0, 100),
        Ok(vec![0b11, 12, 1, 0])
    );
    assert_eq!(
        f.get(&ECS_UUID, 0, 0, 100),
        Ok(vec![1, 1, 3, 0, 0, 1, 3, 0, 0, 1, 3, 0, 0])
    );
}

#[test]
fn get_honours_offset_count_and_selection() {
    let mut f = Features::default();
    f.set(&set(PATROL_SCRUB_UUID, FULL, 0, 1, &[24, 1]))
        .unwrap();
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 0, 1, 2), Ok(vec![24, 1]));
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 0, 3, 9), Ok(vec![1]));
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 0, 0, 0), Ok(vec![]));
    assert_eq!(
        f.get(&PATROL_SCRUB_UUID, 0, 4, 1),
        Err(RetCode::InvalidInput)
    );
    // Default and saved are unchanged by a set without Saved Across Reset.
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 1, 0, 4), Ok(vec![3, 12, 1, 0]));
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 2, 0, 4), Ok(vec![3, 12, 1, 0]));
    assert_eq!(
        f.get(&PATROL_SCRUB_UUID, 3, 0, 4),
        Err(RetCode::UnsupportedFeatureSelectionValue)
    );
    assert_eq!(f.get(&Uuid::nil(), 0, 0, 4), Err(RetCode::Unsupported));
}

#[test]
fn saved_across_reset() {
    let mut f = Features::default();
    f.set(&set(PATROL_SCRUB_UUID, FULL | SAVED, 0, 1, &[6, 1]))
        .unwrap();
    f.set(&set(PATROL_SCRUB_UUID, FULL, 0, 1, &[8, 0])).unwrap();
    assert_eq!(f.current().patrol_scrub.cycle_hours, 8);
    assert_eq!(
        f.saved().patrol_scrub,
        PatrolScrub {
            cycle_hours: 6,
            enabled: true
        }
    );
    f.cold_reset();
    assert_eq!(f.current(), f.saved());
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 0, 0, 4), Ok(vec![3, 6, 1, 1]));
    // Default stays the power-on value.
    assert_eq!(f.get(&PATROL_SCRUB_UUID, 1, 0, 4), Ok(vec![3, 12, 1, 0]));
}

#[test]
fn partial_data_at_an_offset_keeps_the_rest() {
    let mut f = Features::default();
    // Only the flags byte: enable, the cycle stays 12.
    f.set(&set(PATROL_SCRUB_UUID, FULL, 1, 1, &[1])).unwrap();
    assert_eq!(
        f.current().patrol_scrub,
        PatrolScrub {
            cycle_hours: 12,
            enabled: true
        }
    );
    // FRU 2's configuration only: threshold 4096, codewords.
    f.set(&set(ECS_UUID, FULL, 5, 1, &[5 | 8, 0])).unwrap();
    assert_eq!(f.current().ecs.config, [3, 3, 13]);
}

#[test]
fn values_are_checked() {
    let mut f = Features::default();
    let before = f.clone();
    let bad: &[(Uuid, u16, &[u8])] = &[
        // Cycle below the minimum.
        (PATROL_SCRUB_UUID, 0, &[0, 1]),
        // Reserved flag bits.
        (PATROL_SCRUB_UUID, 0, &[12, 2]),
        // Reserved log entry type.
        (ECS_UUID, 0, &[2]),
        // Reserved thresholds.
        (ECS_UUID, 1, &[2, 0]),
        (ECS_UUID, 1, &[6, 0]),
        // Reserved configuration bits.
        (ECS_UUID, 1, &[3, 0x20]),
        (ECS_UUID, 3, &[3, 0x80]),
    ];
    for &(uuid, offset, data) in bad {
        assert_eq!(
            f.set(&set(uuid, FULL | SAVED, offset, 1, data)),
            Err(RetCode::InvalidInput),
            "{data:?}"
        );
    }
    assert_eq!(f, before);
    // The reset counter bit is accepted and never read back.
    f.set(&set(ECS_UUID, FULL, 1, 1, &[4 | 0x10, 0])).unwrap();
    assert_eq!(f.current().ecs.config[0], 4);
    assert_eq!(f.get(&ECS_UUID, 0, 2, 2), Ok(vec![4, 0]));
}

#[test]
fn header_errors() {
    let mut f = Features::default();
    assert_eq!(
        f.set(&set(Uuid::nil(), FULL, 0, 1, &[1])),
        Err(RetCode::Unsupported)
    );
    for action in 5..8 {
        assert_eq!(
            f.set(&set(ECS_UUID, action, 0, 1, &[1])),
            Err(RetCode::InvalidInput)
        );
    }
    assert_eq!(
        f.set(&set(ECS_UUID, FULL, 0, 2, &[1])),
        Err(RetCode::UnsupportedFeatureVersion)
    );
    assert_eq!(
        f.set(&set(ECS_UUID, FULL, 0, 1, &[])),
        Err(RetCode::InvalidPayloadLength)
    );
    // Past the writable attributes (7 bytes).
    assert_eq!(
        f.set(&set(ECS_UUID, FULL, 6, 1, &[3, 0])),
        Err(RetCode::InvalidInput)
    );
    assert_eq!(
        f.set(&set(ECS_UUID, FULL, u16::MAX, 1, &[3])),
        Err(RetCode::InvalidInput)
    );
    assert_eq!(f, Features::default());
}

#[test]
fn initiate_continue_finish() {
    let mut f = Features::default();
    let data = [0u8, 4, 0, 13, 0, 3, 0];
    f.set(&set(ECS_UUID, INITIATE, 0, 1, &data[..2])).unwrap();
    assert_eq!(f.transfer_in_progress(), Some(FeatureId::Ecs));
    // Reads of it wait; the other feature is free to read.
    assert_eq!(
        f.get(&ECS_UUID, 0, 0, 1),
        Err(RetCode::FeatureTransferInProgress)
    );
    assert!(f.get(&PATROL_SCRUB_UUID, 0, 0, 1).is_ok());
    // Nothing applied yet.
    assert_eq!(f.current(), &FeatureSettings::default());
    f.set(&set(ECS_UUID, CONTINUE, 2, 1, &data[2..4])).unwrap();
    f.set(&set(ECS_UUID, FINISH | SAVED, 4, 1, &data[4..]))
        .unwrap();
    assert_eq!(f.transfer_in_progress(), None);
    let want = Ecs {
        log_entry_type: 0,
        config: [4, 13, 3],
    };
    assert_eq!(f.current().ecs, want);
    assert_eq!(f.saved().ecs, want);
}

#[test]
fn transfer_ordering() {
    let mut f = Features::default();
    // Continue, Finish or Abort with no transfer.
    for action in [CONTINUE, FINISH, ABORT] {
        assert_eq!(
            f.set(&set(ECS_UUID, action, 0, 1, &[1])),
            Err(RetCode::FeatureTransferOutOfOrder)
        );
    }
    f.set(&set(ECS_UUID, INITIATE, 0, 1, &[0, 4])).unwrap();
    // Another feature, or a second start, waits for this one.
    for action in [FULL, INITIATE, CONTINUE, FINISH, ABORT] {
        assert_eq!(
            f.set(&set(PATROL_SCRUB_UUID, action, 0, 1, &[2, 1])),
            Err(RetCode::FeatureTransferInProgress)
        );
    }
    for action in [FULL, INITIATE] {
        assert_eq!(
            f.set(&set(ECS_UUID, action, 0, 1, &[1])),
            Err(RetCode::FeatureTransferInProgress)
        );
    }
    // A gap or an overlap is out of order; the transfer stays.
    for offset in [1, 3] {
        assert_eq!(
            f.set(&set(ECS_UUID, CONTINUE, offset, 1, &[0])),
            Err(RetCode::FeatureTransferOutOfOrder)
        );
    }
    assert_eq!(f.transfer_in_progress(), Some(FeatureId::Ecs));
    // Abort drops it; nothing applied.
    f.set(&set(ECS_UUID, ABORT, 0, 0, &[])).unwrap();
    assert_eq!(f.transfer_in_progress(), None);
    assert_eq!(f, Features::default());
    f.set(&set(PATROL_SCRUB_UUID, FULL, 0, 1, &[2, 1])).unwrap();
}

#[test]
fn refused_finish_ends_the_transfer() {
    let mut f = Features::default();
    f.set(&set(PATROL_SCRUB_UUID, INITIATE, 0, 1, &[0]))
        .unwrap();
    assert_eq!(
        f.set(&set(PATROL_SCRUB_UUID, FINISH, 1, 1, &[1])),
        Err(RetCode::InvalidInput)
    );
    assert_eq!(f.transfer_in_progress(), None);
    assert_eq!(f, Features::default());
}

#[test]
fn cold_reset_drops_a_transfer() {
    let mut f = Features::default();
    f.set(&set(PATROL_SCRUB_UUID, INITIATE, 0, 1, &[5]))
        .unwrap();
    f.cold_reset();
    assert_eq!(f.transfer_in_progress(), None);
    assert_eq!(
        f.set(&set(PATROL_SCRUB_UUID, FINISH, 1, 1, &[1])),
        Err(RetCode::FeatureTransferOutOfOrder)
    );
}
