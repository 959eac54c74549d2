//! The guest's side of a Type 3 device: everything here goes through the
//! device's configuration space and BARs, in accesses of 1 to 8 bytes as a
//! vCPU makes them, and finds the structures it needs the way a driver does
//! (capability lists, DVSECs).

use devices::cxl::component::hdm::{
    DECODER_BASE_HIGH, DECODER_BASE_LOW, DECODER_CONTROL, DECODER_REGS_START, DECODER_SIZE_HIGH,
    DECODER_SIZE_LOW, DECODER_STRIDE, DECODER_TARGET_LIST_HIGH, DECODER_TARGET_LIST_LOW,
    HDM_DECODER_ENABLE, HDM_DECODER_GLOBAL_CONTROL,
};
use devices::cxl::component::{CACHEMEM_OFFSET, HDM_POINTER};
use devices::cxl::device_regs::layout::MAILBOX_OFFSET;
use devices::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, COMMAND_PAYLOAD_LENGTH_MASK, COMMAND_PAYLOAD_LENGTH_SHIFT,
    CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS, STATUS_RETURN_CODE_SHIFT,
};
use devices::cxl::doe::{DOE_CONTROL, DOE_READ_DATA_MAILBOX, DOE_STATUS, DOE_WRITE_DATA_MAILBOX};
use devices::cxl::dvsec::{CXL_VENDOR_ID, DEV_CONTROL, DEV_CTRL_MEM_ENABLE, DVSEC_CXL_DEVICE};
use devices::cxl::mailbox::PAYLOAD_SIZE;
use devices::cxl::type3::{Type3, DEVICE_REGS_OFFSET, REGS_BAR};
use devices::pci::caps::{EXT_CAP_ID_DOE, EXT_CAP_ID_DVSEC};
use devices::pci::PciDevice;

/// Offset of the mailbox registers in the registers BAR.
pub const MAILBOX: u64 = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
/// Offset of the HDM decoder capability in the registers BAR.
pub const HDM: u64 = CACHEMEM_OFFSET + HDM_POINTER;

/// Reads `len` (1..=8) bytes of configuration space.
pub fn cfg_read(d: &mut Type3, offset: u16, len: usize) -> u64 {
    let mut b = [0u8; 8];
    d.config_read(offset, &mut b[..len.clamp(1, 8)]);
    u64::from_le_bytes(b)
}

/// Writes the low `len` (1..=8) bytes of `value` to configuration space.
pub fn cfg_write(d: &mut Type3, offset: u16, len: usize, value: u64) {
    d.config_write(offset, &value.to_le_bytes()[..len.clamp(1, 8)]);
}

/// Reads `len` (1..=8) bytes of a BAR.
pub fn bar_read(d: &mut Type3, bar: u8, offset: u64, len: usize) -> u64 {
    let mut b = [0u8; 8];
    d.bar_read(bar, offset, &mut b[..len.clamp(1, 8)]);
    u64::from_le_bytes(b)
}

/// Writes the low `len` (1..=8) bytes of `value` to a BAR.
pub fn bar_write(d: &mut Type3, bar: u8, offset: u64, len: usize, value: u64) {
    d.bar_write(bar, offset, &value.to_le_bytes()[..len.clamp(1, 8)]);
}

/// Offsets of the PCIe extended capabilities with `id`, walking the list
/// from 100h as software does (bounded, so a looping list cannot hang).
pub fn ext_caps(d: &mut Type3, id: u16) -> Vec<u16> {
    let mut out = Vec::new();
    let mut off = 0x100u16;
    for _ in 0..64 {
        let hdr = cfg_read(d, off, 4) as u32;
        if hdr == 0 || hdr == u32::MAX {
            break;
        }
        if hdr as u16 == id {
            out.push(off);
        }
        let next = (hdr >> 20) as u16 & !3;
        if next < 0x100 {
            break;
        }
        off = next;
    }
    out
}

/// The offset of the CXL DVSEC with `dvsec_id`.
pub fn find_dvsec(d: &mut Type3, dvsec_id: u16) -> Option<u16> {
    ext_caps(d, EXT_CAP_ID_DVSEC).into_iter().find(|&off| {
        let h1 = cfg_read(d, off + 4, 4) as u32;
        let h2 = cfg_read(d, off + 8, 2) as u16;
        h1 as u16 == CXL_VENDOR_ID && h2 == dvsec_id
    })
}

/// The offset of the DOE capability.
pub fn find_doe(d: &mut Type3) -> Option<u16> {
    ext_caps(d, EXT_CAP_ID_DOE).first().copied()
}

/// What a mailbox command gave back.
#[derive(Debug)]
pub struct MailboxResult {
    /// The return code.
    pub rc: u16,
    /// The output payload (as long as the Command Register says).
    pub output: Vec<u8>,
}

/// Runs one mailbox command as Linux's `__cxl_pci_mbox_send_cmd` does:
/// payload in 8-byte writes, the Command Register (opcode and
/// `declared_len`), Doorbell (with `control_extra` bits), then the status,
/// the output length and the output. Checks what any command must give:
/// Doorbell reads clear again and the output fits the payload registers.
pub fn mailbox(
    d: &mut Type3,
    opcode: u16,
    payload: &[u8],
    declared_len: u64,
    control_extra: u32,
) -> MailboxResult {
    let payload = &payload[..payload.len().min(PAYLOAD_SIZE)];
    for (i, chunk) in payload.chunks(8).enumerate() {
        d.bar_write(REGS_BAR, MAILBOX + COMMANDS_PAYLOAD + 8 * i as u64, chunk);
    }
    let cmd = u64::from(opcode)
        | ((declared_len & COMMAND_PAYLOAD_LENGTH_MASK) << COMMAND_PAYLOAD_LENGTH_SHIFT);
    bar_write(d, REGS_BAR, MAILBOX + COMMAND, 8, cmd);
    bar_write(
        d,
        REGS_BAR,
        MAILBOX + MAILBOX_CONTROL,
        4,
        u64::from(CONTROL_DOORBELL | control_extra),
    );
    let control = bar_read(d, REGS_BAR, MAILBOX + MAILBOX_CONTROL, 4) as u32;
    assert_eq!(
        control & CONTROL_DOORBELL,
        0,
        "doorbell still set after {opcode:#06x}"
    );
    let status = bar_read(d, REGS_BAR, MAILBOX + MAILBOX_STATUS, 8);
    let rc = (status >> STATUS_RETURN_CODE_SHIFT) as u16;
    let out_len = (bar_read(d, REGS_BAR, MAILBOX + COMMAND, 8) >> COMMAND_PAYLOAD_LENGTH_SHIFT)
        & COMMAND_PAYLOAD_LENGTH_MASK;
    assert!(
        out_len as usize <= PAYLOAD_SIZE,
        "{opcode:#06x}: output length {out_len:#x} beyond the payload registers"
    );
    let mut output = vec![0u8; out_len as usize];
    for (i, chunk) in output.chunks_mut(8).enumerate() {
        d.bar_read(REGS_BAR, MAILBOX + COMMANDS_PAYLOAD + 8 * i as u64, chunk);
    }
    MailboxResult { rc, output }
}

/// One DOE exchange: the request dwords, then Go (or the raw `control`),
/// then up to `reads` response dwords while Data Object Ready is set.
pub fn doe_exchange(d: &mut Type3, request: &[u32], control: u32, reads: usize) -> Vec<u32> {
    let Some(doe) = find_doe(d) else {
        return Vec::new();
    };
    for &w in request {
        cfg_write(d, doe + DOE_WRITE_DATA_MAILBOX as u16, 4, u64::from(w));
    }
    cfg_write(d, doe + DOE_CONTROL as u16, 4, u64::from(control));
    let mut out = Vec::new();
    for _ in 0..reads {
        let status = cfg_read(d, doe + DOE_STATUS as u16, 4) as u32;
        if status & (1 << 31) == 0 {
            break;
        }
        out.push(cfg_read(d, doe + DOE_READ_DATA_MAILBOX as u16, 4) as u32);
        cfg_write(d, doe + DOE_READ_DATA_MAILBOX as u16, 4, 0);
    }
    out
}

/// Register values of one endpoint HDM decoder.
#[derive(Clone, Copy, Debug)]
pub struct DecoderProgram {
    /// Decoder index (0..4 exist).
    pub index: u64,
    /// Base HPA.
    pub base: u64,
    /// Size.
    pub size: u64,
    /// DPA Skip.
    pub skip: u64,
    /// Control register value (Commit, Lock On Commit, IG, IW...).
    pub control: u32,
}

/// Programs an endpoint decoder's registers, Control last, as Linux's
/// `cxl_decoder_commit` does.
pub fn program_decoder(d: &mut Type3, p: &DecoderProgram) {
    let dec = HDM + DECODER_REGS_START + DECODER_STRIDE * p.index;
    let w = |d: &mut Type3, reg: u64, v: u64| bar_write(d, REGS_BAR, dec + reg, 4, v & 0xffff_ffff);
    w(d, DECODER_BASE_LOW, p.base);
    w(d, DECODER_BASE_HIGH, p.base >> 32);
    w(d, DECODER_SIZE_LOW, p.size);
    w(d, DECODER_SIZE_HIGH, p.size >> 32);
    w(d, DECODER_TARGET_LIST_LOW, p.skip);
    w(d, DECODER_TARGET_LIST_HIGH, p.skip >> 32);
    w(d, DECODER_CONTROL, u64::from(p.control));
}

/// Commits one endpoint decoder per partition (volatile, persistent, each
/// DC region's decode range), each mapping its DPA at `window + DPA`, and
/// enables decoding: where a driver that creates a region for every
/// partition ends up. Decoders beyond the device's count are skipped.
pub fn commit_every_partition(d: &mut Type3, window: u64) {
    let m = d.memdev();
    let (vol, pmem) = (m.config().volatile_bytes, m.config().persistent_bytes);
    let mut ranges = Vec::new();
    if vol > 0 {
        ranges.push((0, vol));
    }
    if pmem > 0 {
        ranges.push((vol, pmem));
    }
    for r in m.dcd().regions() {
        ranges.push((r.base, r.decode_length));
    }
    for (index, (dpa, len)) in ranges.into_iter().enumerate() {
        program_decoder(
            d,
            &DecoderProgram {
                index: index as u64,
                base: window + dpa,
                size: len,
                skip: 0,
                control: 1 << 9,
            },
        );
    }
    set_hdm_enable(d, true);
    set_mem_enable(d, true);
}

/// Sets or clears HDM Decoder Enable (Global Control).
pub fn set_hdm_enable(d: &mut Type3, on: bool) {
    let v = bar_read(d, REGS_BAR, HDM + HDM_DECODER_GLOBAL_CONTROL, 4) as u32;
    let v = if on {
        v | HDM_DECODER_ENABLE
    } else {
        v & !HDM_DECODER_ENABLE
    };
    bar_write(
        d,
        REGS_BAR,
        HDM + HDM_DECODER_GLOBAL_CONTROL,
        4,
        u64::from(v),
    );
}

/// Sets or clears Mem_Enable in the CXL device DVSEC.
pub fn set_mem_enable(d: &mut Type3, on: bool) {
    let Some(dvsec) = find_dvsec(d, DVSEC_CXL_DEVICE) else {
        return;
    };
    let off = dvsec + DEV_CONTROL as u16;
    let v = cfg_read(d, off, 2) as u16;
    let v = if on {
        v | DEV_CTRL_MEM_ENABLE
    } else {
        v & !DEV_CTRL_MEM_ENABLE
    };
    cfg_write(d, off, 2, u64::from(v));
}

/// Whether HDM Decoder Enable and Mem_Enable both read back set.
pub fn decoding_enabled(d: &mut Type3) -> bool {
    let hdm = bar_read(d, REGS_BAR, HDM + HDM_DECODER_GLOBAL_CONTROL, 4) as u32;
    let mem = find_dvsec(d, DVSEC_CXL_DEVICE)
        .map(|o| cfg_read(d, o + DEV_CONTROL as u16, 2) as u16 & DEV_CTRL_MEM_ENABLE != 0);
    hdm & HDM_DECODER_ENABLE != 0 && mem == Some(true)
}
