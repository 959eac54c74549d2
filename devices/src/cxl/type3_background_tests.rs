//! Background operations on a Type 3 device, driven the way Linux's
//! cxl_pci drives them: the timer armed at start, the media erased at
//! completion (not before), the completion interrupt.

use std::sync::Mutex;
use std::time::Duration;

use super::testing::{build, dc_only, read64, write32};
use super::*;
use crate::cxl::device_regs::layout::MAILBOX_OFFSET;
use crate::cxl::device_regs::mailbox::{
    BACKGROUND_COMMAND_STATUS, COMMAND, CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
    CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use crate::cxl::memdev::background_ops::SANITIZE_MS;
use crate::cxl::test_rig::memfd;
use crate::interrupt::RecordingMsiGroup;
use crate::memory::HostMemory;
use crate::pci::caps::CAP_ID_MSIX;

const SIZE: u64 = 256 << 20;
const MB: u64 = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;

#[derive(Default)]
struct RecordingTimer(Mutex<Vec<Duration>>);

impl BackgroundTimer for RecordingTimer {
    fn arm(&self, after: Duration) {
        self.0.lock().unwrap().push(after);
    }
}

/// A device with `vmem` (and `pmem`) behind it, MSI-X on, its interrupts
/// and the VMM's timer recorded.
fn device(
    vmem: &Arc<HostMemory>,
    pmem: Option<&Arc<HostMemory>>,
) -> (Type3, Arc<RecordingMsiGroup>, Arc<RecordingTimer>) {
    let (mut d, _, msi) = build(
        Type3Config {
            memdev: MemdevConfig {
                name: "mem0".into(),
                volatile_bytes: SIZE,
                persistent_bytes: if pmem.is_some() { SIZE } else { 0 },
                ..MemdevConfig::default()
            },
            volatile: Some(vmem.clone()),
            persistent: pmem.cloned(),
            partitionable: None,
            dc_backing: None,
        },
        2 * SIZE,
    );
    let timer = Arc::new(RecordingTimer::default());
    d.set_background_timer(timer.clone());
    let cap = d.function.config().find_capability(CAP_ID_MSIX).unwrap();
    d.config_write(cap + 2, &0x8000u16.to_le_bytes());
    (d, msi, timer)
}

#[test]
fn sanitize_erases_at_completion_and_interrupts() {
    let vmem = memfd("vmem0", SIZE, None);
    let pmem = memfd("pmem0", SIZE, None);
    let (mut d, msi, timer) = device(&vmem, Some(&pmem));
    // MSI-X on (above), vector 0 unmasked.
    d.bar_write(MSIX_BAR, 0, &0xfee0_0000u32.to_le_bytes());
    d.bar_write(MSIX_BAR, 8, &0x40u32.to_le_bytes());
    d.bar_write(MSIX_BAR, 12, &0u32.to_le_bytes());
    vmem.write(0x1000, &[0x11; 64]).unwrap();
    pmem.write(SIZE - 64, &[0x22; 64]).unwrap();

    // As cxl_pci_setup_mailbox: enable the background interrupt, then
    // ring with the Doorbell bit alone.
    write32(
        &mut d,
        MB + MAILBOX_CONTROL,
        CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
    );
    d.bar_write(REGS_BAR, MB + COMMAND, &0x4400u64.to_le_bytes());
    let ((), records) = crate::trace::capture(|| {
        write32(&mut d, MB + MAILBOX_CONTROL, CONTROL_DOORBELL);
    });
    assert!(records
        .iter()
        .any(|r| r.fields["background"] == "started" && r.fields["opcode"] == 0x4400));
    let status = read64(&mut d, MB + MAILBOX_STATUS);
    assert_eq!(status >> 32 & 0xFFFF, 1, "Background Command Started");
    let armed = timer.0.lock().unwrap().clone();
    assert_eq!(armed.len(), 1);
    assert!(armed[0] <= Duration::from_millis(SANITIZE_MS));
    // Not erased at start (no register access since: nothing polled).
    let mut b = [0u8; 64];
    vmem.read(0x1000, &mut b).unwrap();
    assert_eq!(b, [0x11; 64]);
    assert!(msi.fired().is_empty());

    // The timer fires at the deadline: the VMM polls.
    std::thread::sleep(Duration::from_millis(SANITIZE_MS + 10));
    let (done, records) = crate::trace::capture(|| d.poll_background());
    assert!(done);
    assert!(records.iter().any(|r| r.fields["media"] == "sanitized"));
    vmem.read(0x1000, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
    pmem.read(SIZE - 64, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
    assert_eq!(
        msi.fired().len(),
        1,
        "Background Command Complete Interrupt"
    );
    let bg = read64(&mut d, MB + BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg & 0xFFFF, 0x4400);
    assert_eq!(bg >> 16 & 0x7F, 100);
    assert_eq!(bg >> 32 & 0xFFFF, 0);
    assert!(!d.poll_background(), "completes once");
}

#[test]
fn sanitize_erases_dc_backing_memory_no_extent_holds() {
    let backing = memfd("dc0", SIZE, None);
    let (mut d, _, _) = build(dc_only(SIZE, Some(backing.clone())), SIZE);
    backing.write(SIZE - 64, &[0x5a; 64]).unwrap();
    d.bar_write(REGS_BAR, MB + COMMAND, &0x4400u64.to_le_bytes());
    write32(&mut d, MB + MAILBOX_CONTROL, CONTROL_DOORBELL);
    std::thread::sleep(Duration::from_millis(SANITIZE_MS + 10));
    assert!(d.poll_background());
    let mut b = [0u8; 64];
    backing.read(SIZE - 64, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
}

/// Request Abort Background Operation through the registers: Background
/// Operation clears in Mailbox Status, the Background Command Status
/// Register keeps the opcode with Aborted short of 100%, the abort is
/// traced, nothing is erased and no completion interrupt comes.
#[test]
fn an_aborted_sanitize_erases_nothing_and_shows_aborted() {
    let vmem = memfd("vmem0", SIZE, None);
    let (mut d, msi, _) = device(&vmem, None);
    vmem.write(0x1000, &[0x11; 64]).unwrap();
    write32(
        &mut d,
        MB + MAILBOX_CONTROL,
        CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
    );
    d.bar_write(REGS_BAR, MB + COMMAND, &0x4400u64.to_le_bytes());
    write32(&mut d, MB + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!(read64(&mut d, MB + MAILBOX_STATUS) & 1, 1, "running");

    d.bar_write(REGS_BAR, MB + COMMAND, &0x0005u64.to_le_bytes());
    let ((), records) = crate::trace::capture(|| {
        write32(&mut d, MB + MAILBOX_CONTROL, CONTROL_DOORBELL);
    });
    let status = read64(&mut d, MB + MAILBOX_STATUS);
    assert_eq!(status >> 32 & 0xFFFF, 0, "the abort succeeded");
    assert_eq!(status & 1, 0, "Background Operation clear");
    let bg = read64(&mut d, MB + BACKGROUND_COMMAND_STATUS);
    assert_eq!(bg & 0xFFFF, 0x4400);
    assert!(bg >> 16 & 0x7F < 100, "short of 100%: {bg:#x}");
    assert_eq!(bg >> 32 & 0xFFFF, 0x12, "Aborted");
    assert!(records
        .iter()
        .any(|r| r.fields["background"] == "aborted" && r.fields["opcode"] == 0x4400));

    std::thread::sleep(Duration::from_millis(SANITIZE_MS + 10));
    assert!(!d.poll_background(), "an aborted operation never completes");
    let mut b = [0u8; 64];
    vmem.read(0x1000, &mut b).unwrap();
    assert_eq!(b, [0x11; 64], "nothing erased");
    assert!(msi.fired().is_empty(), "no completion interrupt");
}
