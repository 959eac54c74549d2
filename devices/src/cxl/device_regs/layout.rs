//! Offsets and lengths of the capabilities in the CXL Device Register
//! block (CXL 3.1 8.2.8).

use crate::cxl::mailbox::PAYLOAD_SIZE;

// CXL 3.1 8.2.8.3 Device Status Registers
/// Offset of the Device Status registers.
pub const DEVICE_STATUS_OFFSET: u64 = 0x100;
/// Length of the Device Status registers.
pub const DEVICE_STATUS_LEN: u64 = 0x8;
// CXL 3.1 8.2.8.5 Memory Device Registers
/// Offset of the Memory Device Status registers.
pub const MEMDEV_STATUS_OFFSET: u64 = 0x180;
/// Length of the Memory Device Status registers.
pub const MEMDEV_STATUS_LEN: u64 = 0x8;
// CXL 3.1 8.2.8.4 Mailbox Registers
/// Offset of the Primary Mailbox registers.
pub const MAILBOX_OFFSET: u64 = 0x200;
/// Length of the Primary Mailbox registers, payload included.
pub const MAILBOX_LEN: u64 = super::mailbox::COMMANDS_PAYLOAD + PAYLOAD_SIZE as u64;
/// Size of the whole register block (a power of two, for a BAR).
pub const DEVICE_REGS_SIZE: u64 = 0x1000;
