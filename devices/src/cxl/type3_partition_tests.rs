//! Partitionable capacity on a Type 3 device: its backend laid out at the
//! volatile share, and laid out again after an immediate Set Partition
//! Info.

use super::testing::{build, read64, write32};
use super::*;
use crate::cxl::device_regs::layout::MAILBOX_OFFSET;
use crate::cxl::device_regs::mailbox::{
    COMMAND, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use crate::cxl::test_rig::{memfd, one_window, RecordingMapper};
use crate::interrupt::RecordingMsiGroup;

const SIZE: u64 = 256 << 20;
const MB: u64 = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;

#[test]
fn partitionable_capacity_is_backed_and_follows_an_immediate_change() {
    let vmem = memfd("vmem0", SIZE, None);
    let part = memfd("part0", 2 * SIZE, None);
    let (mut d, _, _) = build(
        Type3Config {
            memdev: MemdevConfig {
                volatile_bytes: SIZE,
                partitionable_bytes: 2 * SIZE,
                partition_align_bytes: SIZE,
                initial_partition_volatile_bytes: SIZE,
                ..MemdevConfig::default()
            },
            volatile: Some(vmem),
            persistent: None,
            partitionable: Some(part),
            dc_backing: None,
        },
        4 * SIZE,
    );
    let layout = |d: &Type3| -> Vec<(u64, u64, u64)> {
        d.static_memory
            .iter()
            .map(|r| (r.dpa, r.len, r.offset))
            .collect()
    };
    // Volatile-only, the volatile share, then the persistent rest.
    assert_eq!(
        layout(&d),
        vec![(0, SIZE, 0), (SIZE, SIZE, 0), (2 * SIZE, SIZE, SIZE)]
    );
    // Set Partition Info (4101h): 0 volatile units, Immediate.
    let mut input = 0u64.to_le_bytes().to_vec();
    input.push(1);
    d.bar_write(REGS_BAR, MB + 0x20, &input);
    let cmd = 0x4101u64 | (input.len() as u64) << 16;
    d.bar_write(REGS_BAR, MB + COMMAND, &cmd.to_le_bytes());
    write32(&mut d, MB + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!(read64(&mut d, MB + MAILBOX_STATUS) >> 32 & 0xFFFF, 0);
    assert_eq!(layout(&d), vec![(0, SIZE, 0), (SIZE, 2 * SIZE, 0)]);
    assert_eq!(d.memdev().partition().active_persistent_bytes(), 2 * SIZE);
}

#[test]
fn a_partitionable_backend_must_match() {
    let maps = RecordingMapper::new();
    let path = Arc::new(one_window(4 * SIZE, maps));
    let msi = Arc::new(RecordingMsiGroup::new(usize::from(MSIX_VECTORS)));
    let memdev = MemdevConfig {
        volatile_bytes: 0,
        partitionable_bytes: 2 * SIZE,
        partition_align_bytes: SIZE,
        ..MemdevConfig::default()
    };
    for (backend, want) in [
        (None, "partitionable capacity needs a backend"),
        (Some(memfd("small", SIZE, None)), "has 0x10000000 bytes"),
    ] {
        let e = Type3::new(
            Type3Config {
                memdev: memdev.clone(),
                volatile: None,
                persistent: None,
                partitionable: backend,
                dc_backing: None,
            },
            msi.clone(),
            path.clone(),
            0,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains(want), "{e}");
    }
}
