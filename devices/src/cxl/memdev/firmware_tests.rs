//! Tests of `firmware.rs` (compiled as `cxl::memdev::firmware::tests`).

use super::*;

fn image(rev: &[u8], len: usize) -> Vec<u8> {
    let mut v = vec![0xA5; len.max(FW_REVISION_LEN)];
    v[..FW_REVISION_LEN].fill(0);
    v[..rev.len()].copy_from_slice(rev);
    v
}

fn rev(s: &[u8]) -> FwRevision {
    let mut r = [0; FW_REVISION_LEN];
    r[..s.len()].copy_from_slice(s);
    r
}

#[test]
fn revision_is_the_first_16_bytes() {
    assert_eq!(image_revision(&image(b"v2.0", 64)), Some(rev(b"v2.0")));
    assert_eq!(
        image_revision(b"0123456789ABCDEFtail"),
        Some(*b"0123456789ABCDEF")
    );
    assert_eq!(image_revision(b"short"), Some(rev(b"short")));
    assert_eq!(image_revision(b""), None);
    assert_eq!(image_revision(&[0; 32]), None, "empty revision");
    assert_eq!(image_revision(b"v1\x00x"), None, "text after the padding");
    assert_eq!(image_revision(b"v1\xff"), None, "not ASCII");
    assert_eq!(image_revision(b"v1\n"), None, "not printable");
}

#[test]
fn full_transfer_then_store_and_activate_online() {
    let mut f = Firmware::new("v1");
    assert_eq!((f.active_slot(), f.staged_slot()), (1, None));
    assert_eq!(f.full(1, 0, &image(b"v2", 300)), Err(RetCode::InvalidSlot));
    assert_eq!(f.full(0, 0, &image(b"v2", 300)), Err(RetCode::InvalidSlot));
    assert_eq!(f.full(3, 0, &image(b"v2", 300)), Err(RetCode::InvalidSlot));
    assert_eq!(f.full(2, 1, &image(b"v2", 300)), Err(RetCode::InvalidInput));
    assert_eq!(f.full(2, 0, &[]), Err(RetCode::InvalidInput));
    f.full(2, 0, &image(b"v2", 300)).unwrap();
    assert!(f.transfer_in_progress());
    assert_eq!(
        f.full(2, 0, &image(b"v3", 300)),
        Err(RetCode::FwTransferInProgress)
    );
    assert_eq!(f.activate(2, true), Err(RetCode::FwTransferInProgress));
    assert_eq!(f.store(2), RetCode::Success);
    assert_eq!(f.revision(2), Some(rev(b"v2")));
    assert_eq!(f.image_len(2), 300);
    f.activate(2, true).unwrap();
    assert_eq!(f.active_revision(), rev(b"v2"));
    assert_eq!(f.active_slot(), 2);
}

#[test]
fn parts_must_follow_each_other() {
    let mut f = Firmware::new("v1");
    let img = image(b"v9", 128 * 5 + 7);
    assert_eq!(
        f.continue_(0, &img[..128]),
        Err(RetCode::FwTransferOutOfOrder)
    );
    assert_eq!(f.end(2, 0, &img[..128]), Err(RetCode::FwTransferOutOfOrder));
    assert_eq!(
        f.initiate(1, &img[..128]),
        Err(RetCode::FwTransferOutOfOrder)
    );
    f.initiate(0, &img[..256]).unwrap();
    assert_eq!(
        f.initiate(0, &img[..256]),
        Err(RetCode::FwTransferInProgress)
    );
    assert_eq!(
        f.continue_(1, &img[128..256]),
        Err(RetCode::FwTransferOutOfOrder),
        "a gap or overlap"
    );
    f.continue_(2, &img[256..512]).unwrap();
    assert_eq!(f.end(1, 4, &img[512..]), Err(RetCode::InvalidSlot));
    f.end(2, 4, &img[512..]).unwrap();
    assert_eq!(f.store(2), RetCode::Success);
    assert_eq!(f.image_len(2), img.len());
    // Offline activation is staged until the cold reset.
    f.activate(2, false).unwrap();
    assert_eq!((f.active_slot(), f.staged_slot()), (1, Some(2)));
    f.cold_reset();
    assert_eq!((f.active_slot(), f.staged_slot()), (2, None));
    assert_eq!(f.active_revision(), rev(b"v9"));
}

#[test]
fn abort_and_verification_failure_keep_the_slot() {
    let mut f = Firmware::new("v1");
    f.initiate(0, &image(b"v2", 128)).unwrap();
    f.abort();
    assert!(!f.transfer_in_progress());
    assert_eq!(f.activate(2, true), Err(RetCode::InvalidSlot), "empty slot");
    f.full(2, 0, &[0xFF; 256]).unwrap();
    assert_eq!(f.store(2), RetCode::FwVerificationFailed);
    assert_eq!(f.revision(2), None);
    assert!(!f.transfer_in_progress());
    assert_eq!(
        f.store(2),
        RetCode::FwTransferOutOfOrder,
        "nothing received"
    );
}

#[test]
fn images_are_bounded() {
    let mut f = Firmware::new("v1");
    let big = vec![b'v'; MAX_FW_IMAGE + 1];
    assert_eq!(f.full(2, 0, &big), Err(RetCode::InvalidInput));
    let part = vec![b'v'; 1 << 20];
    f.initiate(0, &part).unwrap();
    let mut offset = part.len();
    while offset + part.len() <= MAX_FW_IMAGE {
        f.continue_((offset / FW_TRANSFER_ALIGN) as u32, &part)
            .unwrap();
        offset += part.len();
    }
    assert_eq!(
        f.continue_((offset / FW_TRANSFER_ALIGN) as u32, &part[..128]),
        Err(RetCode::InvalidInput)
    );
    assert!(!f.transfer_in_progress(), "the transfer is dropped");
    assert_eq!(
        f.continue_(u32::MAX, &part[..128]),
        Err(RetCode::FwTransferOutOfOrder)
    );
}

#[test]
fn activating_the_active_slot_offline_cancels_a_staged_one() {
    let mut f = Firmware::new("v1");
    f.full(2, 0, &image(b"v2", 16)).unwrap();
    f.store(2);
    f.activate(2, false).unwrap();
    f.activate(1, false).unwrap();
    assert_eq!(f.staged_slot(), None);
    f.activate(1, true).unwrap();
    assert_eq!(f.active_slot(), 1);
}
