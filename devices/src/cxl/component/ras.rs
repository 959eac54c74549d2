//! CXL RAS Capability Structure (CXL 3.1 8.2.4.17).
//!
//! Layout (offsets from the capability pointer), as Linux's
//! `cxl_handle_ras`/`cxl_pci_ras_unmask` use it:
//! - 0x00 Uncorrectable Error Status (RW1CS)
//! - 0x04 Uncorrectable Error Mask (RWS)
//! - 0x08 Uncorrectable Error Severity (RWS)
//! - 0x0C Correctable Error Status (RW1CS)
//! - 0x10 Correctable Error Mask (RWS)
//! - 0x14 Error Capabilities and Control (First Error Pointer ROS,
//!   Multiple Header Recording Capability RO)
//! - 0x18..0x58 Header Log (16 dwords, ROS)
//!
//! Errors are injected by the device model ([`RasCapability::inject_uncorrectable`],
//! [`RasCapability::inject_correctable`]); the returned [`RasSignal`] says
//! which AER message (if any) the device must send.

use super::access::{merge, write_one_to_clear};

/// CXL_Capability_ID of the RAS capability (CXL 3.1 8.2.4, Table 8-22).
pub const RAS_CAPABILITY_ID: u16 = 0x0002;
/// CXL_Capability_Version of the RAS capability this model implements.
pub const RAS_CAPABILITY_VERSION: u8 = 3;
/// Bytes of the RAS capability structure (Linux `CXL_RAS_CAPABILITY_LENGTH`).
pub const RAS_CAPABILITY_LENGTH: u64 = 0x58;

/// Uncorrectable Error Status register offset (8.2.4.17.1).
pub const UNCORRECTABLE_ERROR_STATUS: u64 = 0x00;
/// Uncorrectable Error Mask register offset (8.2.4.17.2).
pub const UNCORRECTABLE_ERROR_MASK: u64 = 0x04;
/// Uncorrectable Error Severity register offset (8.2.4.17.3).
pub const UNCORRECTABLE_ERROR_SEVERITY: u64 = 0x08;
/// Correctable Error Status register offset (8.2.4.17.4).
pub const CORRECTABLE_ERROR_STATUS: u64 = 0x0c;
/// Correctable Error Mask register offset (8.2.4.17.5).
pub const CORRECTABLE_ERROR_MASK: u64 = 0x10;
/// Error Capabilities and Control register offset (8.2.4.17.6).
pub const ERROR_CAPABILITIES_AND_CONTROL: u64 = 0x14;
/// Header Log registers offset (8.2.4.17.7).
pub const HEADER_LOG: u64 = 0x18;
/// Dwords of Header Log (512 bits).
pub const HEADER_LOG_DWORDS: usize = 16;

/// Defined uncorrectable error bits: 11:0 (cache/mem parity and ECC,
/// REINIT threshold, reserved encoding, poison received, receiver overflow),
/// 14 Internal Error, 15 CXL IDE Tx Error, 16 CXL IDE Rx Error (8.2.4.17.1).
pub const UNCORRECTABLE_ERROR_BITS: u32 = 0x0001_cfff;
/// Defined correctable error bits 6:0 (8.2.4.17.4).
pub const CORRECTABLE_ERROR_BITS: u32 = 0x0000_007f;
/// First Error Pointer field, bits 5:0 of Error Capabilities and Control.
pub const FIRST_ERROR_POINTER_MASK: u32 = 0x3f;
/// Multiple Header Recording Capability, bit 9 (not supported here).
pub const MULTIPLE_HEADER_RECORDING_CAPABILITY: u32 = 1 << 9;

/// What the device must signal after an error was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RasSignal {
    /// Masked: nothing to report.
    None,
    /// Send ERR_COR (AER Correctable Internal Error).
    Correctable,
    /// Send ERR_NONFATAL (AER Uncorrectable Internal Error, non-fatal).
    UncorrectableNonFatal,
    /// Send ERR_FATAL.
    UncorrectableFatal,
}

/// The RAS capability registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RasCapability {
    uncorrectable_status: u32,
    uncorrectable_mask: u32,
    uncorrectable_severity: u32,
    correctable_status: u32,
    correctable_mask: u32,
    first_error_pointer: u32,
    header_log: [u32; HEADER_LOG_DWORDS],
}

impl Default for RasCapability {
    fn default() -> Self {
        Self::new()
    }
}

impl RasCapability {
    /// Registers at their reset values: nothing logged, every error masked
    /// and uncorrectable errors fatal (the spec's defaults; Linux's
    /// `cxl_pci_ras_unmask` clears the masks it wants).
    pub fn new() -> Self {
        Self {
            uncorrectable_status: 0,
            uncorrectable_mask: UNCORRECTABLE_ERROR_BITS,
            uncorrectable_severity: UNCORRECTABLE_ERROR_BITS,
            correctable_status: 0,
            correctable_mask: CORRECTABLE_ERROR_BITS,
            first_error_pointer: 0,
            header_log: [0; HEADER_LOG_DWORDS],
        }
    }

    /// Reads the dword at `offset` (dword aligned, relative to the capability).
    pub fn read32(&self, offset: u64) -> u32 {
        match offset {
            UNCORRECTABLE_ERROR_STATUS => self.uncorrectable_status,
            UNCORRECTABLE_ERROR_MASK => self.uncorrectable_mask,
            UNCORRECTABLE_ERROR_SEVERITY => self.uncorrectable_severity,
            CORRECTABLE_ERROR_STATUS => self.correctable_status,
            CORRECTABLE_ERROR_MASK => self.correctable_mask,
            ERROR_CAPABILITIES_AND_CONTROL => self.first_error_pointer & FIRST_ERROR_POINTER_MASK,
            o if (HEADER_LOG..RAS_CAPABILITY_LENGTH).contains(&o) => {
                let i = ((o - HEADER_LOG) / 4) as usize;
                self.header_log.get(i).copied().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Writes the dword at `offset` with `mask` selecting the written bits.
    pub fn write32(&mut self, offset: u64, value: u32, mask: u32) {
        match offset {
            UNCORRECTABLE_ERROR_STATUS => {
                self.uncorrectable_status = write_one_to_clear(
                    self.uncorrectable_status,
                    value,
                    mask,
                    UNCORRECTABLE_ERROR_BITS,
                )
            }
            UNCORRECTABLE_ERROR_MASK => {
                self.uncorrectable_mask = merge(
                    self.uncorrectable_mask,
                    value,
                    mask,
                    UNCORRECTABLE_ERROR_BITS,
                )
            }
            UNCORRECTABLE_ERROR_SEVERITY => {
                self.uncorrectable_severity = merge(
                    self.uncorrectable_severity,
                    value,
                    mask,
                    UNCORRECTABLE_ERROR_BITS,
                )
            }
            CORRECTABLE_ERROR_STATUS => {
                self.correctable_status =
                    write_one_to_clear(self.correctable_status, value, mask, CORRECTABLE_ERROR_BITS)
            }
            CORRECTABLE_ERROR_MASK => {
                self.correctable_mask =
                    merge(self.correctable_mask, value, mask, CORRECTABLE_ERROR_BITS)
            }
            // Error Capabilities and Control and the Header Log are RO(S).
            _ => {}
        }
    }

    /// Logs uncorrectable errors `bits` (Uncorrectable Error Status bit
    /// positions) with the header of the offending request. The First Error
    /// Pointer and Header Log are updated only when no earlier error is still
    /// pending (its status bit not yet cleared), since one header is recorded.
    pub fn inject_uncorrectable(
        &mut self,
        bits: u32,
        header: &[u32; HEADER_LOG_DWORDS],
    ) -> RasSignal {
        let bits = bits & UNCORRECTABLE_ERROR_BITS;
        if bits == 0 {
            return RasSignal::None;
        }
        let fep_pending = self.uncorrectable_status & (1 << self.first_error_pointer) != 0;
        if !fep_pending {
            self.first_error_pointer = bits.trailing_zeros();
            self.header_log = *header;
        }
        self.uncorrectable_status |= bits;
        let unmasked = bits & !self.uncorrectable_mask;
        if unmasked == 0 {
            RasSignal::None
        } else if unmasked & self.uncorrectable_severity != 0 {
            RasSignal::UncorrectableFatal
        } else {
            RasSignal::UncorrectableNonFatal
        }
    }

    /// Logs correctable errors `bits` (Correctable Error Status positions).
    pub fn inject_correctable(&mut self, bits: u32) -> RasSignal {
        let bits = bits & CORRECTABLE_ERROR_BITS;
        self.correctable_status |= bits;
        if bits & !self.correctable_mask != 0 {
            RasSignal::Correctable
        } else {
            RasSignal::None
        }
    }

    /// Uncorrectable errors logged and not masked.
    pub fn uncorrectable_pending(&self) -> u32 {
        self.uncorrectable_status & !self.uncorrectable_mask
    }

    /// Correctable errors logged and not masked.
    pub fn correctable_pending(&self) -> u32 {
        self.correctable_status & !self.correctable_mask
    }
}
