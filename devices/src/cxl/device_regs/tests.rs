//! Tests of the device register block, driven the way Linux drives it.

use uuid::Uuid;

use super::caps::*;
use super::layout::*;
use super::mailbox::*;
use super::*;
use crate::cxl::mailbox::{Opcode, RetCode};
use crate::cxl::memdev::events::{EventHeader, EventLogType, EventRecord};
use crate::cxl::memdev::status::{MediaStatus, MemdevStatus, ResetNeeded};
use crate::cxl::memdev::tests::test_memdev;

/// The register block with the device state the device model lends it.
struct Regs {
    regs: DeviceRegisters,
    memdev: Memdev,
}

impl Regs {
    fn read(&self, offset: u64, data: &mut [u8]) {
        self.regs.read(&self.memdev, offset, data)
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> MsiVectors {
        self.regs.write(&mut self.memdev, offset, data).msi
    }

    fn mailbox(&self) -> &MailboxRegisters {
        self.regs.mailbox()
    }

    fn cold_reset(&mut self) {
        self.regs.cold_reset(&mut self.memdev);
    }
}

fn regs() -> Regs {
    let memdev = test_memdev();
    Regs {
        regs: DeviceRegisters::new(&memdev),
        memdev,
    }
}

fn readl(r: &Regs, off: u64) -> u32 {
    let mut b = [0u8; 4];
    r.read(off, &mut b);
    u32::from_le_bytes(b)
}

fn readq(r: &Regs, off: u64) -> u64 {
    let mut b = [0u8; 8];
    r.read(off, &mut b);
    u64::from_le_bytes(b)
}

fn writel(r: &mut Regs, off: u64, v: u32) -> MsiVectors {
    r.write(off, &v.to_le_bytes())
}

fn writeq(r: &mut Regs, off: u64, v: u64) -> MsiVectors {
    r.write(off, &v.to_le_bytes())
}

/// What `__cxl_pci_mbox_send_cmd` does; returns (return code, output).
fn send(r: &mut Regs, opcode: u16, input: &[u8]) -> (u16, Vec<u8>) {
    assert_eq!(
        readl(r, MAILBOX_OFFSET + MAILBOX_CONTROL) & CONTROL_DOORBELL,
        0
    );
    let mut cmd = u64::from(opcode);
    if !input.is_empty() {
        cmd |= (input.len() as u64) << 16;
        r.write(MAILBOX_OFFSET + COMMANDS_PAYLOAD, input);
    }
    writeq(r, MAILBOX_OFFSET + COMMAND, cmd);
    writel(r, MAILBOX_OFFSET + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!(
        readl(r, MAILBOX_OFFSET + MAILBOX_CONTROL) & CONTROL_DOORBELL,
        0
    );
    let status = readq(r, MAILBOX_OFFSET + MAILBOX_STATUS);
    assert_eq!(status & 1, 0, "no background operation");
    let rc = (status >> 32) as u16;
    let out_len = ((readq(r, MAILBOX_OFFSET + COMMAND) >> 16) & 0x1F_FFFF) as usize;
    let mut out = vec![0u8; out_len.min(2048)];
    r.read(MAILBOX_OFFSET + COMMANDS_PAYLOAD, &mut out);
    (rc, out)
}

#[test]
fn capability_array_as_linux_probes_it() {
    let r = regs();
    let array = readq(&r, 0);
    assert_eq!(array & 0xFFFF, 0, "CXLDEV_CAP_ARRAY_CAP_ID");
    assert_eq!((array >> 16) & 0xFF, 1, "version");
    let count = (array >> 32) & 0xFFFF;
    assert_eq!(count, 3);
    let mut found = Vec::new();
    for cap in 1..=count {
        let id = readl(&r, cap * 0x10) & 0xFFFF;
        let version = (readl(&r, cap * 0x10) >> 16) & 0xFF;
        let offset = u64::from(readl(&r, cap * 0x10 + 4));
        let length = u64::from(readl(&r, cap * 0x10 + 8));
        assert_eq!(readl(&r, cap * 0x10 + 12), 0);
        found.push((id as u16, version, offset, length));
    }
    assert_eq!(
        found,
        vec![
            (CAP_ID_DEVICE_STATUS, 2, 0x100, 0x8),
            (CAP_ID_PRIMARY_MAILBOX, 1, 0x200, 0x820),
            (CAP_ID_MEMORY_DEVICE, 1, 0x180, 0x8),
        ]
    );
    // devm_request_mem_region of each must not collide, and all must fit
    // the block and stay clear of the header area.
    let mut spans: Vec<(u64, u64)> = found.iter().map(|f| (f.2, f.2 + f.3)).collect();
    spans.sort();
    assert!(spans[0].0 >= CAPS_LEN);
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0);
    }
    assert!(spans.last().unwrap().1 <= DEVICE_REGS_SIZE);
    assert!(DEVICE_REGS_SIZE.is_power_of_two());
}

#[test]
fn event_status_reflects_logs() {
    let mut r = regs();
    assert_eq!(readq(&r, DEVICE_STATUS_OFFSET), 0);
    let rec = EventRecord::raw(Uuid::nil(), &EventHeader::default(), &[]);
    r.memdev.add_event(EventLogType::Failure, rec);
    r.memdev.add_event(EventLogType::DynamicCapacity, rec);
    assert_eq!(readl(&r, DEVICE_STATUS_OFFSET), 0b10100);
    // Clear through the mailbox: the bit drops.
    let (rc, _) = send(
        &mut r,
        Opcode::ClearEventRecords as u16,
        &[2, 0, 1, 0, 0, 0, 1, 0],
    );
    assert_eq!(rc, RetCode::Success.code());
    assert_eq!(readl(&r, DEVICE_STATUS_OFFSET), 0b10000);
    // Read-only.
    writeq(&mut r, DEVICE_STATUS_OFFSET, 0);
    assert_eq!(readl(&r, DEVICE_STATUS_OFFSET), 0b10000);
}

#[test]
fn memory_device_status() {
    let mut r = regs();
    let s = readq(&r, MEMDEV_STATUS_OFFSET);
    assert_eq!((s >> 2) & 3, 1, "CXLMDEV_READY");
    assert_ne!(s & (1 << 4), 0, "CXLMDEV_MBOX_IF_READY");
    assert_eq!(s & 0b11, 0);
    assert_eq!((s >> 5) & 7, 0);
    writeq(&mut r, MEMDEV_STATUS_OFFSET, u64::MAX);
    assert_eq!(readq(&r, MEMDEV_STATUS_OFFSET), s);
    r.memdev.set_status(MemdevStatus {
        device_fatal: true,
        media_status: MediaStatus::Error,
        reset_needed: ResetNeeded::Cold,
        ..MemdevStatus::default()
    });
    // Reset Needed 001b, Mailbox Ready 1, Media 10b, Fatal 1.
    assert_eq!(readq(&r, MEMDEV_STATUS_OFFSET), 0x39);
}

#[test]
fn mailbox_capabilities() {
    let r = regs();
    let cap = readl(&r, MAILBOX_OFFSET + MAILBOX_CAPABILITIES);
    assert_eq!(cap & 0x1F, 11, "2 KiB");
    assert_ne!(cap & CAP_MB_DOORBELL_INTERRUPT_CAPABLE, 0);
    assert_ne!(cap & CAP_BACKGROUND_COMMAND_COMPLETE_INTERRUPT_CAPABLE, 0);
    assert_eq!((cap >> 7) & 0xF, 1, "test device's mailbox message number");
}

#[test]
fn doorbell_runs_the_command_and_clears() {
    let mut r = regs();
    let (rc, out) = send(&mut r, Opcode::Identify as u16, &[]);
    assert_eq!(rc, 0);
    assert_eq!(out.len(), 0x12);
    assert_eq!(&out[8..16], &0x0123_4567_89AB_CDEFu64.to_le_bytes());
    // Command Register keeps the opcode, now with the output length.
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND), 0x0001 | (0x12 << 16));
    // With input.
    let (rc, out) = send(&mut r, Opcode::SetTimestamp as u16, &42u64.to_le_bytes());
    assert_eq!((rc, out.len()), (0, 0));
    let (rc, out) = send(&mut r, Opcode::GetTimestamp as u16, &[]);
    assert_eq!(rc, 0);
    assert_eq!(u64::from_le_bytes(out.try_into().unwrap()), 42);
    // Errors report a return code and zero output length.
    let (rc, out) = send(&mut r, 0x4900, &[]);
    assert_eq!(rc, RetCode::Unsupported.code());
    assert!(out.is_empty());
    let (rc, _) = send(&mut r, Opcode::GetEventRecords as u16, &[9]);
    assert_eq!(rc, RetCode::InvalidInput.code());
}

#[test]
fn payload_length_over_2k_is_invalid_payload_length() {
    let mut r = regs();
    let cmd = u64::from(Opcode::SetLsa as u16) | (2049u64 << 16);
    writeq(&mut r, MAILBOX_OFFSET + COMMAND, cmd);
    writel(&mut r, MAILBOX_OFFSET + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!(
        readq(&r, MAILBOX_OFFSET + MAILBOX_STATUS) >> 32,
        u64::from(RetCode::InvalidPayloadLength.code())
    );
    // The largest Payload Length the field holds.
    writeq(&mut r, MAILBOX_OFFSET + COMMAND, 0x4103 | (0x1F_FFFF << 16));
    writel(&mut r, MAILBOX_OFFSET + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert_eq!(
        r.mailbox().return_code(),
        RetCode::InvalidPayloadLength.code()
    );
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND) >> 16, 0);
    // Reserved bits above the Payload Length do not stick.
    writeq(&mut r, MAILBOX_OFFSET + COMMAND, u64::MAX);
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND), 0x1F_FFFF_FFFF);
}

#[test]
fn doorbell_interrupt() {
    let mut r = regs();
    writeq(&mut r, MAILBOX_OFFSET + COMMAND, 0x0001);
    let msi = writel(&mut r, MAILBOX_OFFSET + MAILBOX_CONTROL, CONTROL_DOORBELL);
    assert!(msi.is_empty());
    let msi = writel(
        &mut r,
        MAILBOX_OFFSET + MAILBOX_CONTROL,
        CONTROL_DOORBELL | CONTROL_MB_DOORBELL_INTERRUPT,
    );
    assert!(msi.contains(1));
    assert_eq!(msi.iter().collect::<Vec<_>>(), vec![1]);
    // The interrupt enables stick, the doorbell does not.
    assert_eq!(
        readl(&r, MAILBOX_OFFSET + MAILBOX_CONTROL),
        CONTROL_MB_DOORBELL_INTERRUPT
    );
    // Enabling the background interrupt (as Linux does) does not ring.
    let ctrl = readl(&r, MAILBOX_OFFSET + MAILBOX_CONTROL);
    let msi = writel(
        &mut r,
        MAILBOX_OFFSET + MAILBOX_CONTROL,
        ctrl | CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT,
    );
    assert!(msi.is_empty());
    assert_eq!(readl(&r, MAILBOX_OFFSET + MAILBOX_CONTROL), 0b110);
}

#[test]
fn read_only_mailbox_registers() {
    let mut r = regs();
    let cap = readl(&r, MAILBOX_OFFSET);
    writel(&mut r, MAILBOX_OFFSET, 0);
    assert_eq!(readl(&r, MAILBOX_OFFSET), cap);
    send(&mut r, 0xFFFF, &[]);
    let status = readq(&r, MAILBOX_OFFSET + MAILBOX_STATUS);
    writeq(&mut r, MAILBOX_OFFSET + MAILBOX_STATUS, 0);
    writeq(&mut r, MAILBOX_OFFSET + BACKGROUND_COMMAND_STATUS, u64::MAX);
    assert_eq!(readq(&r, MAILBOX_OFFSET + MAILBOX_STATUS), status);
    assert_eq!(readq(&r, MAILBOX_OFFSET + BACKGROUND_COMMAND_STATUS), 0);
    // The capability array too.
    writeq(&mut r, 0, 0);
    writel(&mut r, 0x14, 0xDEAD);
    assert_eq!(readq(&r, 0) >> 32, 3);
    assert_eq!(readl(&r, 0x14), 0x100);
}

#[test]
fn any_width_at_any_offset() {
    let mut r = regs();
    send(&mut r, Opcode::GetFwInfo as u16, &[]);
    // Byte, word and dword reads agree with qword reads everywhere.
    for base in (0..DEVICE_REGS_SIZE + 0x40).step_by(8) {
        let q = readq(&r, base);
        for width in [1usize, 2, 4] {
            for sub in (0..8).step_by(width) {
                let mut b = vec![0u8; width];
                r.read(base + sub as u64, &mut b);
                let mut want = vec![0u8; width];
                want.copy_from_slice(&q.to_le_bytes()[sub..sub + width]);
                assert_eq!(b, want, "{base:#x}+{sub} w{width}");
            }
        }
    }
    // Unaligned and odd-sized reads, and reads past the end.
    let mut b = [0xFFu8; 3];
    r.read(0x31, &mut b);
    // The Memory Device header: ID 4000h, version 1.
    assert_eq!(b, [0x40, 0x01, 0x00]);
    let mut b = [0xFFu8; 16];
    r.read(DEVICE_REGS_SIZE, &mut b);
    assert_eq!(b, [0; 16]);
    let mut b = [0xFFu8; 8];
    r.read(u64::MAX - 2, &mut b);
    assert_eq!(b, [0; 8]);
    r.read(0, &mut []);
    // Writes anywhere never panic and change nothing unexpected.
    let before = readq(&r, 0);
    for off in [DEVICE_REGS_SIZE, u64::MAX, u64::MAX - 3, 0x7, 0x1F0] {
        assert!(r.write(off, &[0xFF; 9]).is_empty());
    }
    assert!(r.write(0, &[]).is_empty());
    assert_eq!(readq(&r, 0), before);
}

#[test]
fn byte_wise_command_and_doorbell() {
    let mut r = regs();
    // Opcode 4000h, no input, written a byte at a time.
    for (i, b) in 0x4000u64.to_le_bytes().iter().enumerate() {
        r.write(MAILBOX_OFFSET + COMMAND + i as u64, &[*b]);
    }
    // Writing the upper control bytes alone does not ring.
    r.write(MAILBOX_OFFSET + MAILBOX_CONTROL + 1, &[1]);
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND) >> 16, 0);
    r.write(MAILBOX_OFFSET + MAILBOX_CONTROL, &[1]);
    assert_eq!(r.mailbox().return_code(), 0);
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND) >> 16, 0x45);
    assert_eq!(&r.mailbox().payload()[..8], b"FW-1.2.3");
}

#[test]
fn straddling_write_stores_command_before_ringing() {
    let mut r = regs();
    // One 8-byte write at 04h: Control (doorbell) then the low dword of the
    // Command Register (opcode 0001h). The command that runs is the new one.
    let mut bytes = CONTROL_DOORBELL.to_le_bytes().to_vec();
    bytes.extend_from_slice(&1u32.to_le_bytes());
    r.write(MAILBOX_OFFSET + MAILBOX_CONTROL, &bytes);
    assert_eq!(r.mailbox().return_code(), 0);
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND) >> 16, 0x12);
}

#[test]
fn payload_window() {
    let mut r = regs();
    let start = MAILBOX_OFFSET + COMMANDS_PAYLOAD;
    r.write(start + 2045, &[1, 2, 3, 4, 5]);
    let mut b = [0u8; 5];
    r.read(start + 2045, &mut b);
    assert_eq!(b, [1, 2, 3, 0, 0]);
    let p = r.mailbox().payload();
    assert_eq!(p.len(), 2048);
    assert_eq!(&p[2045..], &[1, 2, 3]);
}

#[test]
fn linux_probe_sequence() {
    let mut r = regs();
    // cxl_enumerate_cmds: Get Supported Logs, then the CEL.
    let (rc, gsl) = send(&mut r, 0x0400, &[]);
    assert_eq!(rc, 0);
    let size = u32::from_le_bytes(gsl[24..28].try_into().unwrap());
    let mut get_log = gsl[8..24].to_vec();
    get_log.extend_from_slice(&0u32.to_le_bytes());
    get_log.extend_from_slice(&size.to_le_bytes());
    let (rc, cel) = send(&mut r, 0x0401, &get_log);
    assert_eq!(rc, 0);
    assert_eq!(cel.len(), size as usize);
    // cxl_set_timestamp, cxl_dev_state_identify, cxl_mem_dpa_fetch.
    assert_eq!(send(&mut r, 0x0301, &1u64.to_le_bytes()).0, 0);
    let (rc, id) = send(&mut r, 0x4000, &[]);
    assert_eq!(rc, 0);
    assert!(id.len() >= 0x43);
    let (rc, pi) = send(&mut r, 0x4100, &[]);
    assert_eq!((rc, pi.len()), (0, 0x20));
    // cxl_event_config: get policy, set MSI on four logs, get it back.
    assert_eq!(send(&mut r, 0x0102, &[]).0, 0);
    assert_eq!(send(&mut r, 0x0103, &[1, 1, 1, 1]).0, 0);
    let (_, policy) = send(&mut r, 0x0102, &[]);
    for s in &policy[..4] {
        assert_eq!(s & 3, 1);
        assert_eq!(s >> 4, 2, "event message number");
    }
    // An event now asks for message number 2.
    let rec = EventRecord::raw(Uuid::nil(), &EventHeader::default(), &[]);
    let added = r.memdev.add_event(EventLogType::Warning, rec);
    assert_eq!(added.msi, Some(2));
    // cxl_mem_get_records_log: get, then clear what was returned.
    let (rc, recs) = send(&mut r, 0x0100, &[1]);
    assert_eq!(rc, 0);
    assert_eq!(u16::from_le_bytes([recs[0x14], recs[0x15]]), 1);
    let handle = [recs[0x20 + 0x14], recs[0x20 + 0x15]];
    let (rc, _) = send(&mut r, 0x0101, &[1, 0, 1, 0, 0, 0, handle[0], handle[1]]);
    assert_eq!(rc, 0);
    assert_eq!(readl(&r, DEVICE_STATUS_OFFSET), 0);
}

#[test]
fn msi_vectors_set() {
    let mut v = MsiVectors::none();
    assert!(v.is_empty());
    v.insert(0);
    v.insert(15);
    v.insert(16);
    assert!(v.contains(0) && v.contains(15) && !v.contains(16) && !v.contains(200));
    assert_eq!(v.iter().collect::<Vec<_>>(), vec![0, 15]);
}

#[test]
fn fuzz_register_accesses() {
    let mut r = regs();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let width = [1usize, 2, 4, 8, 3, 16][(next() % 6) as usize];
        let off = match next() % 4 {
            0 => next(),
            1 => MAILBOX_OFFSET + next() % 0x40,
            _ => next() % (DEVICE_REGS_SIZE + 0x100),
        };
        let bytes: Vec<u8> = (0..width).map(|_| next() as u8).collect();
        if next() % 2 == 0 {
            let msi = r.write(off, &bytes);
            assert!(msi.iter().all(|n| n == 1));
        } else {
            let mut b = vec![0u8; width];
            r.read(off, &mut b);
        }
        assert_eq!(
            readl(&r, MAILBOX_OFFSET + MAILBOX_CONTROL) & CONTROL_DOORBELL,
            0
        );
    }
}

#[test]
fn cold_reset_idles_the_mailbox() {
    let mut r = regs();
    writel(
        &mut r,
        MAILBOX_OFFSET + MAILBOX_CONTROL,
        CONTROL_MB_DOORBELL_INTERRUPT,
    );
    send(&mut r, 0xFFFF, &[1, 2, 3]);
    r.cold_reset();
    assert_eq!(readl(&r, MAILBOX_OFFSET + MAILBOX_CONTROL), 0);
    assert_eq!(readq(&r, MAILBOX_OFFSET + COMMAND), 0);
    assert_eq!(readq(&r, MAILBOX_OFFSET + MAILBOX_STATUS), 0);
    assert_eq!(readl(&r, MAILBOX_OFFSET + COMMANDS_PAYLOAD), 0);
}

#[test]
fn register_block_is_send() {
    fn is_send<T: Send>() {}
    is_send::<DeviceRegisters>();
    is_send::<crate::cxl::memdev::Memdev>();
}
