//! Tests of the commands in `lsa.rs` (compiled as
//! `cxl::mailbox::lsa::tests`).

use std::path::PathBuf;

use super::*;
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::tests::test_config;

const GET: u16 = Opcode::GetLsa as u16;
const SET: u16 = Opcode::SetLsa as u16;

fn get_in(offset: u32, length: u32) -> Vec<u8> {
    GetLsaIn { offset, length }.encode()
}

fn set_in(offset: u32, data: &[u8]) -> Vec<u8> {
    SetLsaIn { offset, data }.encode()
}

fn temp_path(name: &str) -> PathBuf {
    let mut p = std::env::temp_dir();
    p.push(format!("cxlvmm-lsa-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn set_then_get() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(SET, &set_in(100, b"label")),
        (RetCode::Success, vec![])
    );
    assert_eq!(
        m.execute(GET, &get_in(100, 5)),
        (RetCode::Success, b"label".to_vec())
    );
    assert_eq!(
        m.execute(GET, &get_in(98, 4)),
        (RetCode::Success, vec![0, 0, b'l', b'a'])
    );
    // Up to the last byte, and empty reads/writes.
    assert_eq!(m.execute(SET, &set_in(4095, &[9])).0, RetCode::Success);
    assert_eq!(
        m.execute(GET, &get_in(4095, 1)),
        (RetCode::Success, vec![9])
    );
    assert_eq!(m.execute(GET, &get_in(4096, 0)), (RetCode::Success, vec![]));
    assert_eq!(m.execute(SET, &set_in(4096, &[])).0, RetCode::Success);
}

#[test]
fn full_payload_set_and_get() {
    let mut m = test_memdev();
    let data: Vec<u8> = (0..(PAYLOAD_SIZE - 8)).map(|i| i as u8).collect();
    assert_eq!(m.execute(SET, &set_in(8, &data)).0, RetCode::Success);
    let (rc, out) = m.execute(GET, &get_in(8, 2040));
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out, data);
    assert_eq!(m.execute(GET, &get_in(0, 2048)).1.len(), 2048);
}

#[test]
fn out_of_range() {
    let mut m = test_memdev();
    assert_eq!(m.execute(GET, &get_in(4096, 1)).0, RetCode::InvalidInput);
    assert_eq!(m.execute(GET, &get_in(4000, 97)).0, RetCode::InvalidInput);
    assert_eq!(
        m.execute(GET, &get_in(u32::MAX, 2)).0,
        RetCode::InvalidInput
    );
    assert_eq!(m.execute(GET, &get_in(0, 2049)).0, RetCode::InvalidInput);
    assert_eq!(
        m.execute(SET, &set_in(4095, &[1, 2])).0,
        RetCode::InvalidInput
    );
    assert_eq!(
        m.execute(SET, &set_in(u32::MAX, &[1])).0,
        RetCode::InvalidInput
    );
    assert!(m.lsa().as_bytes().iter().all(|&b| b == 0));
}

#[test]
fn malformed() {
    let mut m = test_memdev();
    assert_eq!(m.execute(GET, &[0; 7]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(GET, &[0; 9]).0, RetCode::InvalidPayloadLength);
    assert_eq!(m.execute(SET, &[0; 7]).0, RetCode::InvalidPayloadLength);
}

#[test]
fn zero_sized_lsa() {
    let mut c = test_config();
    c.lsa_size = 0;
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(m.execute(GET, &get_in(0, 0)), (RetCode::Success, vec![]));
    assert_eq!(m.execute(GET, &get_in(0, 1)).0, RetCode::InvalidInput);
    assert_eq!(m.execute(SET, &set_in(0, &[1])).0, RetCode::InvalidInput);
}

#[test]
fn file_backed_write_through_and_reload() {
    let path = temp_path("wt");
    let mut c = test_config();
    c.lsa_file = Some(path.clone());
    {
        let mut m = TestMemdev::new(c.clone()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        assert_eq!(m.execute(SET, &set_in(10, b"persist")).0, RetCode::Success);
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[10..17], b"persist");
        m.flush_lsa().unwrap();
    }
    let mut m = TestMemdev::new(c).unwrap();
    assert_eq!(m.execute(GET, &get_in(10, 7)).1, b"persist".to_vec());
    // load() picks up outside changes.
    let mut raw = std::fs::read(&path).unwrap();
    raw[0] = 0xEE;
    std::fs::write(&path, &raw).unwrap();
    m.reload_lsa().unwrap();
    assert_eq!(m.lsa().as_bytes()[0], 0xEE);
    assert_eq!(m.lsa().path(), Some(path.as_path()));
    std::fs::remove_file(&path).unwrap();
}
