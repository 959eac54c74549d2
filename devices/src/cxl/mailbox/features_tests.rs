//! Tests of the commands in `features.rs` (compiled as
//! `cxl::mailbox::features::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::{command_effects_log, effects, Opcode};
use crate::cxl::memdev::features::{
    ECS_UUID, FEATURE_CHANGEABLE, FEATURE_DEFAULT_SELECTION_SUPPORTED,
    FEATURE_SAVED_SELECTION_SUPPORTED, PATROL_SCRUB_UUID, SET_FEATURE_SAVED_ACROSS_RESET,
};

const SUPPORTED: u16 = Opcode::GetSupportedFeatures as u16;
const GET: u16 = Opcode::GetFeature as u16;
const SET: u16 = Opcode::SetFeature as u16;

fn supported_in(count: u32, start_index: u16) -> Vec<u8> {
    GetSupportedFeaturesIn { count, start_index }.encode()
}

fn get_in(uuid: Uuid, offset: u16, count: u16, selection: u8) -> Vec<u8> {
    GetFeatureIn {
        uuid,
        offset,
        count,
        selection,
    }
    .encode()
}

fn set_in(uuid: Uuid, flags: u32, offset: u16, data: &[u8]) -> Vec<u8> {
    SetFeatureIn {
        uuid,
        flags,
        offset,
        version: 1,
        data,
    }
    .encode()
}

#[test]
fn supported_features_as_linux_reads_them() {
    let mut m = test_memdev();
    // First Linux asks for the header only, to learn the count.
    let (rc, out) = m.execute(SUPPORTED, &supported_in(8, 0));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out, vec![0, 0, 2, 0, 0, 0, 0, 0]);
    // Then for that many entries.
    let (rc, out) = m.execute(SUPPORTED, &supported_in(8 + 2 * 48, 0));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 8 + 2 * 48);
    assert_eq!(u16::from_le_bytes([out[0], out[1]]), 2);
    assert_eq!(u16::from_le_bytes([out[2], out[3]]), 2);
    let e0 = &out[8..56];
    assert_eq!(&e0[..16], PATROL_SCRUB_UUID.as_bytes());
    assert_eq!(u16::from_le_bytes([e0[16], e0[17]]), 0); // index
    assert_eq!(u16::from_le_bytes([e0[18], e0[19]]), 4); // get size
    assert_eq!(u16::from_le_bytes([e0[20], e0[21]]), 2); // set size
    let flags = u32::from_le_bytes(e0[22..26].try_into().unwrap());
    assert_eq!(
        flags
            & (FEATURE_CHANGEABLE
                | FEATURE_DEFAULT_SELECTION_SUPPORTED
                | FEATURE_SAVED_SELECTION_SUPPORTED),
        FEATURE_CHANGEABLE
            | FEATURE_DEFAULT_SELECTION_SUPPORTED
            | FEATURE_SAVED_SELECTION_SUPPORTED
    );
    assert_eq!((e0[26], e0[27]), (1, 1)); // versions
    let set_effects = u16::from_le_bytes([e0[28], e0[29]]);
    assert_ne!(set_effects & effects::IMMEDIATE_CONFIGURATION_CHANGE, 0);
    assert!(e0[30..].iter().all(|&b| b == 0));
    let e1 = &out[56..];
    assert_eq!(&e1[..16], ECS_UUID.as_bytes());
    assert_eq!(u16::from_le_bytes([e1[16], e1[17]]), 1);
    assert_eq!(u16::from_le_bytes([e1[18], e1[19]]), 13);
    assert_eq!(u16::from_le_bytes([e1[20], e1[21]]), 7);
}

#[test]
fn supported_features_window() {
    let mut m = test_memdev();
    // From index 1, room for two: one.
    let (rc, out) = m.execute(SUPPORTED, &supported_in(8 + 2 * 48, 1));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 8 + 48);
    assert_eq!(&out[8..24], ECS_UUID.as_bytes());
    // Room for one and a half: one.
    let (_, out) = m.execute(SUPPORTED, &supported_in(8 + 72, 0));
    assert_eq!(out.len(), 8 + 48);
    // A huge count is bounded by what there is.
    let (_, out) = m.execute(SUPPORTED, &supported_in(u32::MAX, 0));
    assert_eq!(out.len(), 8 + 2 * 48);
    // Errors.
    assert_eq!(
        m.execute(SUPPORTED, &supported_in(7, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(SUPPORTED, &supported_in(1000, 2)).0,
        RetCode::InvalidInput
    );
    for len in [0, 7, 9] {
        assert_eq!(
            m.execute(SUPPORTED, &vec![0; len]).0,
            RetCode::InvalidPayloadLength
        );
    }
}

#[test]
fn get_feature() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(GET, &get_in(PATROL_SCRUB_UUID, 0, 4, 0)),
        (RetCode::Success, vec![3, 12, 1, 0])
    );
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 12, 100, 1)),
        (RetCode::Success, vec![0])
    );
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 13, 1, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 0, 2049, 0)).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 0, 1, 3)).0,
        RetCode::UnsupportedFeatureSelectionValue
    );
    assert_eq!(
        m.execute(GET, &get_in(Uuid::nil(), 0, 1, 0)).0,
        RetCode::Unsupported
    );
    for len in [0, 0x14, 0x16] {
        assert_eq!(
            m.execute(GET, &vec![0; len]).0,
            RetCode::InvalidPayloadLength
        );
    }
}

#[test]
fn set_feature_as_linux_does() {
    // Linux's EDAC driver: a full transfer with Saved Across Reset.
    let mut m = test_memdev();
    let flags = SET_FEATURE_SAVED_ACROSS_RESET;
    assert_eq!(
        m.execute(SET, &set_in(PATROL_SCRUB_UUID, flags, 0, &[24, 1])),
        (RetCode::Success, vec![])
    );
    for selection in [0, 2] {
        assert_eq!(
            m.execute(GET, &get_in(PATROL_SCRUB_UUID, 0, 4, selection))
                .1,
            vec![3, 24, 1, 1]
        );
    }
    // ECS: FRU 1 at threshold 1024, counting codewords.
    let data = [1u8, 3, 0, 4 | 8, 0, 3, 0];
    assert_eq!(
        m.execute(SET, &set_in(ECS_UUID, flags, 0, &data)).0,
        RetCode::Success
    );
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 5, 4, 0)).1,
        vec![1, 12, 0, 0]
    );
    // A cold reset keeps saved values.
    m.cold_reset();
    assert_eq!(
        m.execute(GET, &get_in(PATROL_SCRUB_UUID, 0, 4, 0)).1,
        vec![3, 24, 1, 1]
    );
}

#[test]
fn set_feature_in_parts() {
    let mut m = test_memdev();
    let ok = (RetCode::Success, vec![]);
    assert_eq!(m.execute(SET, &set_in(ECS_UUID, 1, 0, &[0, 5, 0])), ok);
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 0, 1, 0)).0,
        RetCode::FeatureTransferInProgress
    );
    assert_eq!(
        m.execute(SET, &set_in(PATROL_SCRUB_UUID, 0, 0, &[2, 0])).0,
        RetCode::FeatureTransferInProgress
    );
    assert_eq!(
        m.execute(SET, &set_in(ECS_UUID, 2, 4, &[5, 0])).0,
        RetCode::FeatureTransferOutOfOrder
    );
    assert_eq!(m.execute(SET, &set_in(ECS_UUID, 2, 3, &[5, 0])), ok);
    assert_eq!(m.execute(SET, &set_in(ECS_UUID, 3, 5, &[5, 0])), ok);
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 0, 13, 0)).1,
        vec![0, 1, 5, 0, 0, 1, 5, 0, 0, 1, 5, 0, 0]
    );
    // Not saved: a cold reset goes back to the defaults.
    m.cold_reset();
    assert_eq!(
        m.execute(GET, &get_in(ECS_UUID, 0, 13, 0)).1,
        m.execute(GET, &get_in(ECS_UUID, 0, 13, 1)).1
    );
}

#[test]
fn set_feature_malformed() {
    let mut m = test_memdev();
    for len in [0, 16, 31] {
        assert_eq!(
            m.execute(SET, &vec![0; len]).0,
            RetCode::InvalidPayloadLength
        );
    }
    // A header and no data.
    assert_eq!(
        m.execute(SET, &set_in(ECS_UUID, 0, 0, &[])).0,
        RetCode::InvalidPayloadLength
    );
    let mut wrong_version = set_in(ECS_UUID, 0, 0, &[1]);
    wrong_version[0x16] = 0;
    assert_eq!(
        m.execute(SET, &wrong_version).0,
        RetCode::UnsupportedFeatureVersion
    );
    assert_eq!(
        m.execute(SET, &set_in(Uuid::nil(), 0, 0, &[1])).0,
        RetCode::Unsupported
    );
    assert_eq!(
        m.execute(SET, &set_in(PATROL_SCRUB_UUID, 0, 0, &[0, 0])).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(SET, &set_in(PATROL_SCRUB_UUID, 7, 0, &[1, 0])).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(SET, &set_in(PATROL_SCRUB_UUID, 0, 0, &[1, 0, 0]))
            .0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(GET, &get_in(PATROL_SCRUB_UUID, 0, 4, 0)).1,
        vec![3, 12, 1, 0]
    );
}

#[test]
fn features_in_the_cel() {
    let m = test_memdev();
    let cel = command_effects_log(&m);
    let ops: Vec<(u16, u16)> = cel
        .chunks(4)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
            )
        })
        .collect();
    // Linux's features capability: both read commands, then Set Feature.
    assert!(ops.contains(&(SUPPORTED, 0)));
    assert!(ops.contains(&(GET, 0)));
    let set = ops.iter().find(|(op, _)| *op == SET).map(|(_, e)| *e);
    assert_ne!(
        set.unwrap_or(0) & effects::IMMEDIATE_CONFIGURATION_CHANGE,
        0
    );
}
