//! The Type 3 device model's own trace records: the MSI-X messages it
//! signals, with the device's id.

use super::testing::build;
use super::*;
use crate::cxl::test_rig::memfd;
use crate::trace::{capture, Kind};

const SIZE: u64 = 256 << 20;

fn device(name: &str) -> Type3 {
    build(
        Type3Config {
            memdev: MemdevConfig {
                name: name.into(),
                volatile_bytes: SIZE,
                ..MemdevConfig::default()
            },
            volatile: Some(memfd("tvmem0", SIZE, None)),
            persistent: None,
            dc_backing: None,
            partitionable: None,
        },
        SIZE,
    )
    .0
}

#[test]
fn each_message_signalled_is_one_interrupt_record() {
    let mut d = device("mem7");
    let mut v = MsiVectors::none();
    v.insert(1);
    v.insert(3);
    let ((), records) = capture(|| d.signal(v));
    assert_eq!(records.len(), 2, "{records:?}");
    for (r, n) in records.iter().zip([1, 3]) {
        assert_eq!(r.kind, Kind::Interrupt);
        assert_eq!(r.device.as_deref(), Some("mem7"));
        assert_eq!(r.fields["type"], "msi-x");
        assert_eq!(r.fields["vector"], n);
    }
    let ((), records) = capture(|| d.signal(MsiVectors::none()));
    assert!(records.is_empty());
}
