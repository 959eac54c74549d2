//! Register access for the Type 3 device model's tests, as a driver does
//! it: 64- and 32-bit accesses to the register BAR and one mailbox command
//! (payload, Command Register, Doorbell, then the return code and output).

use super::{Type3, DEVICE_REGS_OFFSET, REGS_BAR};
use crate::cxl::device_regs::layout::MAILBOX_OFFSET;
use crate::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use crate::pci::PciDevice;

/// Reads 8 bytes of the register BAR at `off`.
pub fn read64(d: &mut Type3, off: u64) -> u64 {
    let mut b = [0u8; 8];
    d.bar_read(REGS_BAR, off, &mut b);
    u64::from_le_bytes(b)
}

/// Writes 4 bytes of the register BAR at `off`.
pub fn write32(d: &mut Type3, off: u64, v: u32) {
    d.bar_write(REGS_BAR, off, &v.to_le_bytes());
}

/// Runs one mailbox command; returns (return code, output payload).
pub fn mbox(d: &mut Type3, opcode: u16, input: &[u8]) -> (u64, Vec<u8>) {
    let mb = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
    d.bar_write(REGS_BAR, mb + COMMANDS_PAYLOAD, input);
    let cmd = u64::from(opcode) | ((input.len() as u64) << 16);
    d.bar_write(REGS_BAR, mb + COMMAND, &cmd.to_le_bytes());
    write32(d, mb + MAILBOX_CONTROL, CONTROL_DOORBELL);
    let rc = (read64(d, mb + MAILBOX_STATUS) >> 32) & 0xffff;
    let len = ((read64(d, mb + COMMAND) >> 16) & 0x1f_ffff) as usize;
    let mut out = vec![0u8; len];
    d.bar_read(REGS_BAR, mb + COMMANDS_PAYLOAD, &mut out);
    (rc, out)
}
