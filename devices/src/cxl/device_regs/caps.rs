//! Device Capabilities Array Register and the CXL Device Capability Headers
//! (CXL 3.1 8.2.8.1, 8.2.8.2).
//!
//! Linux (`cxl_probe_device_regs`) reads the array register with `readq`,
//! takes the count from bits 47:32, then for capability N reads the ID from
//! the dword at 10h * N, the offset from 10h * N + 4 and the length from
//! 10h * N + 8. It needs Device Status, Primary Mailbox and Memory Device
//! capabilities (`cxl_probe_regs`: "registers not found" otherwise), and
//! maps each at its offset and length, which must not overlap.

use super::layout;

// CXL 3.1 8.2.8.2.1 CXL Device Capabilities (Capability IDs)
/// Capability ID of the Device Status registers.
pub const CAP_ID_DEVICE_STATUS: u16 = 0x0001;
/// Capability ID of the Primary Mailbox registers.
pub const CAP_ID_PRIMARY_MAILBOX: u16 = 0x0002;
/// Capability ID of the Memory Device Status registers.
pub const CAP_ID_MEMORY_DEVICE: u16 = 0x4000;

/// One CXL Device Capability Header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilityHeader {
    /// Capability ID.
    pub id: u16,
    /// Version.
    pub version: u8,
    /// Offset of the capability's registers from the start of the block.
    pub offset: u32,
    /// Length of the capability's registers in bytes.
    pub length: u32,
}

/// The capabilities, in array order.
pub const CAPABILITIES: [CapabilityHeader; 3] = [
    CapabilityHeader {
        id: CAP_ID_DEVICE_STATUS,
        version: 2,
        offset: layout::DEVICE_STATUS_OFFSET as u32,
        length: layout::DEVICE_STATUS_LEN as u32,
    },
    CapabilityHeader {
        id: CAP_ID_PRIMARY_MAILBOX,
        version: 1,
        offset: layout::MAILBOX_OFFSET as u32,
        length: layout::MAILBOX_LEN as u32,
    },
    CapabilityHeader {
        id: CAP_ID_MEMORY_DEVICE,
        version: 1,
        offset: layout::MEMDEV_STATUS_OFFSET as u32,
        length: layout::MEMDEV_STATUS_LEN as u32,
    },
];

/// Size of the array register plus the headers.
pub const CAPS_LEN: u64 = 0x10 * (CAPABILITIES.len() as u64 + 1);

// CXL 3.1 8.2.8.1 Device Capabilities Array Register
/// The array register: Capability ID 0000h, Version 01h, Capabilities Count.
pub const fn array_register() -> u64 {
    let id: u64 = 0x0000;
    let version: u64 = 0x01;
    let count = CAPABILITIES.len() as u64;
    id | version << 16 | count << 32
}

/// The qword at `offset` (8-byte aligned) within the capability area.
pub fn read_qword(offset: u64) -> u64 {
    if offset == 0 {
        return array_register();
    }
    if offset == 8 {
        return 0;
    }
    let index = offset / 0x10;
    let Some(cap) = usize::try_from(index)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| CAPABILITIES.get(i))
    else {
        return 0;
    };
    // CXL 3.1 8.2.8.2 CXL Device Capability Header Register
    if offset.is_multiple_of(0x10) {
        u64::from(cap.id) | u64::from(cap.version) << 16 | u64::from(cap.offset) << 32
    } else {
        u64::from(cap.length)
    }
}
