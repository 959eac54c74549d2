//! The Advanced Error Reporting extended capability (PCIe 6.0 7.8.4), for
//! an endpoint that reports internal errors and a root port that collects
//! error messages and interrupts software.
//!
//! [`aer_capability`] builds the registers with their masks; [`Aer`] knows
//! where they sit in a function's configuration space and does what the
//! hardware does: an endpoint logs an Uncorrectable or Corrected Internal
//! Error and, unless masked or disabled in Device Control, sends ERR_COR,
//! ERR_NONFATAL or ERR_FATAL ([`Aer::log_internal`]); a root port that
//! receives one sets Root Error Status and Error Source Identification and
//! asks for its interrupt when Root Error Command enables it
//! ([`Aer::receive`]). This is the path Linux's AER driver services
//! (`aer_isr`: Root Error Status, Error Source ID, then the source's AER
//! status) before calling the device driver's error handlers.

use super::config::ConfigSpace;
use super::pcie_cap::{DEVICE_CONTROL, DEVICE_STATUS};
use super::regblock::RegisterBlock;

/// AER capability version.
pub const AER_VERSION: u8 = 2;
/// Size of an endpoint's AER capability (through the Header Log).
pub const AER_SIZE_ENDPOINT: usize = 0x2c;
/// Size of a root port's AER capability (through Error Source
/// Identification; no TLP Prefix Log).
pub const AER_SIZE_ROOT_PORT: usize = 0x38;

// PCIe 6.0 7.8.4 Advanced Error Reporting Extended Capability (register offsets)
/// Uncorrectable Error Status Register (7.8.4.2).
pub const UNCORRECTABLE_STATUS: usize = 0x04;
/// Uncorrectable Error Mask Register (7.8.4.3).
pub const UNCORRECTABLE_MASK: usize = 0x08;
/// Uncorrectable Error Severity Register (7.8.4.4).
pub const UNCORRECTABLE_SEVERITY: usize = 0x0c;
/// Correctable Error Status Register (7.8.4.5).
pub const CORRECTABLE_STATUS: usize = 0x10;
/// Correctable Error Mask Register (7.8.4.6).
pub const CORRECTABLE_MASK: usize = 0x14;
/// Advanced Error Capabilities and Control Register (7.8.4.7).
pub const CAPABILITIES_AND_CONTROL: usize = 0x18;
/// Header Log Register (7.8.4.8), 4 dwords.
pub const HEADER_LOG: usize = 0x1c;
/// Root Error Command Register (7.8.4.9).
pub const ROOT_ERROR_COMMAND: usize = 0x2c;
/// Root Error Status Register (7.8.4.10).
pub const ROOT_ERROR_STATUS: usize = 0x30;
/// Error Source Identification Register (7.8.4.11).
pub const ERROR_SOURCE_ID: usize = 0x34;

// PCIe 6.0 7.8.4.2 Uncorrectable Error Status Register (bits)
/// Uncorrectable Internal Error Status (bit 22).
pub const UNC_INTERNAL: u32 = 1 << 22;
/// The uncorrectable errors this model can log: Data Link Protocol (4),
/// Surprise Down (5), Poisoned TLP (12), Flow Control Protocol (13),
/// Completion Timeout (14), Completer Abort (15), Unexpected Completion
/// (16), Receiver Overflow (17), Malformed TLP (18), ECRC (19), Unsupported
/// Request (20), Uncorrectable Internal Error (22).
pub const UNC_SUPPORTED: u32 = 0x005f_f030;
/// Uncorrectable Error Severity default (7.8.4.4): Data Link Protocol,
/// Surprise Down, Flow Control Protocol, Receiver Overflow, Malformed TLP
/// and Uncorrectable Internal Error are fatal.
pub const UNC_SEVERITY_DEFAULT: u32 = 0x0046_2030;
// PCIe 6.0 7.8.4.5 Correctable Error Status Register (bits)
/// Corrected Internal Error Status (bit 14).
pub const COR_INTERNAL: u32 = 1 << 14;
/// The correctable errors this model can log: Receiver Error (0), Bad TLP
/// (6), Bad DLLP (7), REPLAY_NUM Rollover (8), Replay Timer Timeout (12),
/// Advisory Non-Fatal (13), Corrected Internal Error (14), Header Log
/// Overflow (15).
pub const COR_SUPPORTED: u32 = 0x0000_f1c1;
/// Advanced Error Capabilities and Control: First Error Pointer (4:0).
pub const FIRST_ERROR_POINTER: u32 = 0x1f;

// PCIe 6.0 7.8.4.9 Root Error Command Register (bits)
/// Correctable Error Reporting Enable.
pub const ROOT_CMD_COR_EN: u32 = 1 << 0;
/// Non-Fatal Error Reporting Enable.
pub const ROOT_CMD_NONFATAL_EN: u32 = 1 << 1;
/// Fatal Error Reporting Enable.
pub const ROOT_CMD_FATAL_EN: u32 = 1 << 2;
// PCIe 6.0 7.8.4.10 Root Error Status Register (bits)
/// ERR_COR Received.
pub const ROOT_STA_COR_RCV: u32 = 1 << 0;
/// Multiple ERR_COR Received.
pub const ROOT_STA_MULTI_COR_RCV: u32 = 1 << 1;
/// ERR_FATAL/NONFATAL Received.
pub const ROOT_STA_UNCOR_RCV: u32 = 1 << 2;
/// Multiple ERR_FATAL/NONFATAL Received.
pub const ROOT_STA_MULTI_UNCOR_RCV: u32 = 1 << 3;
/// First Uncorrectable Fatal.
pub const ROOT_STA_FIRST_FATAL: u32 = 1 << 4;
/// Non-Fatal Error Messages Received.
pub const ROOT_STA_NONFATAL_RCV: u32 = 1 << 5;
/// Fatal Error Messages Received.
pub const ROOT_STA_FATAL_RCV: u32 = 1 << 6;
const ROOT_STA_RW1C: u32 = 0x7f;

// PCIe 6.0 7.5.3.4 Device Control / 7.5.3.5 Device Status (error bits)
const DEVCTL_COR_EN: u16 = 1 << 0;
const DEVCTL_NONFATAL_EN: u16 = 1 << 1;
const DEVCTL_FATAL_EN: u16 = 1 << 2;
const DEVSTA_COR: u16 = 1 << 0;
const DEVSTA_NONFATAL: u16 = 1 << 1;
const DEVSTA_FATAL: u16 = 1 << 2;

/// An error message (PCIe 6.0 6.2.3.1): what an endpoint sends its root
/// port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorMessage {
    /// ERR_COR.
    Correctable,
    /// ERR_NONFATAL.
    NonFatal,
    /// ERR_FATAL.
    Fatal,
}

impl ErrorMessage {
    /// Its name as the spec writes it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorMessage::Correctable => "ERR_COR",
            ErrorMessage::NonFatal => "ERR_NONFATAL",
            ErrorMessage::Fatal => "ERR_FATAL",
        }
    }
}

/// Which internal error an endpoint logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalError {
    /// Corrected Internal Error.
    Corrected,
    /// Uncorrectable Internal Error (its severity as the register says).
    Uncorrectable,
}

/// The AER capability's registers with their reset values and masks.
///
/// The internal errors are unmasked at reset (the spec's default masks
/// them): the device's own CXL RAS capability already masks what software
/// did not unmask, and this is how QEMU's CXL devices report, so Linux sees
/// CXL RAS errors without unmasking them in AER first.
pub fn aer_capability(root_port: bool) -> RegisterBlock {
    let size = if root_port {
        AER_SIZE_ROOT_PORT
    } else {
        AER_SIZE_ENDPOINT
    };
    let mut b = RegisterBlock::new(size);
    b.set_w1c_u32(UNCORRECTABLE_STATUS, UNC_SUPPORTED);
    b.set_wmask_u32(UNCORRECTABLE_MASK, UNC_SUPPORTED);
    b.set_u32(UNCORRECTABLE_SEVERITY, UNC_SEVERITY_DEFAULT);
    b.set_wmask_u32(UNCORRECTABLE_SEVERITY, UNC_SUPPORTED);
    b.set_w1c_u32(CORRECTABLE_STATUS, COR_SUPPORTED);
    b.set_wmask_u32(CORRECTABLE_MASK, COR_SUPPORTED);
    // Advisory Non-Fatal is masked at reset (7.8.4.6).
    b.set_u32(CORRECTABLE_MASK, 1 << 13);
    if root_port {
        b.set_wmask_u32(
            ROOT_ERROR_COMMAND,
            ROOT_CMD_COR_EN | ROOT_CMD_NONFATAL_EN | ROOT_CMD_FATAL_EN,
        );
        b.set_w1c_u32(ROOT_ERROR_STATUS, ROOT_STA_RW1C);
    }
    b
}

/// Where a function's AER and PCI Express capabilities are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aer {
    /// Offset of the AER capability.
    pub offset: u16,
    /// Offset of the PCI Express Capability.
    pub pcie_cap: u16,
}

impl Aer {
    /// Adds the AER capability to `config`, whose PCI Express Capability is
    /// at `pcie_cap`.
    pub fn add(
        config: &mut ConfigSpace,
        pcie_cap: u16,
        root_port: bool,
    ) -> Result<Self, super::ConfigError> {
        let offset = config.add_ext_capability(
            super::caps::EXT_CAP_ID_AER,
            AER_VERSION,
            &aer_capability(root_port),
        )?;
        Ok(Self { offset, pcie_cap })
    }

    fn at(&self, reg: usize) -> usize {
        usize::from(self.offset) + reg
    }

    fn get(&self, config: &ConfigSpace, reg: usize) -> u32 {
        config.regs().get_u32(self.at(reg))
    }

    fn set(&self, config: &mut ConfigSpace, reg: usize, value: u32) {
        config.regs_mut().set_u32(self.at(reg), value)
    }

    fn set_device_status(&self, config: &mut ConfigSpace, bits: u16) {
        let at = usize::from(self.pcie_cap) + DEVICE_STATUS;
        let v = config.regs().get_u16(at);
        config.regs_mut().set_u16(at, v | bits);
    }

    /// An endpoint logs an internal error: status, First Error Pointer and
    /// Header Log (when no earlier uncorrectable error is pending), Device
    /// Status. Returns the message it sends, if the error is unmasked and
    /// its reporting enabled in Device Control.
    pub fn log_internal(
        &self,
        config: &mut ConfigSpace,
        error: InternalError,
        header: &[u32; 4],
    ) -> Option<ErrorMessage> {
        let devctl = config
            .regs()
            .get_u16(usize::from(self.pcie_cap) + DEVICE_CONTROL);
        match error {
            InternalError::Corrected => {
                let status = self.get(config, CORRECTABLE_STATUS);
                self.set(config, CORRECTABLE_STATUS, status | COR_INTERNAL);
                self.set_device_status(config, DEVSTA_COR);
                let masked = self.get(config, CORRECTABLE_MASK) & COR_INTERNAL != 0;
                (!masked && devctl & DEVCTL_COR_EN != 0).then_some(ErrorMessage::Correctable)
            }
            InternalError::Uncorrectable => {
                let status = self.get(config, UNCORRECTABLE_STATUS);
                let caps = self.get(config, CAPABILITIES_AND_CONTROL);
                let fep = caps & FIRST_ERROR_POINTER;
                if status & (1 << fep) == 0 {
                    self.set(
                        config,
                        CAPABILITIES_AND_CONTROL,
                        (caps & !FIRST_ERROR_POINTER) | UNC_INTERNAL.trailing_zeros(),
                    );
                    for (i, dw) in header.iter().enumerate() {
                        self.set(config, HEADER_LOG + 4 * i, *dw);
                    }
                }
                self.set(config, UNCORRECTABLE_STATUS, status | UNC_INTERNAL);
                let fatal = self.get(config, UNCORRECTABLE_SEVERITY) & UNC_INTERNAL != 0;
                let (sta, enable, msg) = if fatal {
                    (DEVSTA_FATAL, DEVCTL_FATAL_EN, ErrorMessage::Fatal)
                } else {
                    (DEVSTA_NONFATAL, DEVCTL_NONFATAL_EN, ErrorMessage::NonFatal)
                };
                self.set_device_status(config, sta);
                let masked = self.get(config, UNCORRECTABLE_MASK) & UNC_INTERNAL != 0;
                (!masked && devctl & enable != 0).then_some(msg)
            }
        }
    }

    /// A root port receives `msg` from `source` (its bus/device/function
    /// routing ID): Root Error Status and Error Source Identification as
    /// the spec says (the first of a kind records its source, later ones
    /// set Multiple). True if Root Error Command asks for the interrupt.
    pub fn receive(&self, config: &mut ConfigSpace, msg: ErrorMessage, source: u16) -> bool {
        let mut status = self.get(config, ROOT_ERROR_STATUS);
        let mut source_id = self.get(config, ERROR_SOURCE_ID);
        let command = self.get(config, ROOT_ERROR_COMMAND);
        let enabled = match msg {
            ErrorMessage::Correctable => {
                if status & ROOT_STA_COR_RCV != 0 {
                    status |= ROOT_STA_MULTI_COR_RCV;
                } else {
                    status |= ROOT_STA_COR_RCV;
                    source_id = (source_id & 0xffff_0000) | u32::from(source);
                }
                command & ROOT_CMD_COR_EN != 0
            }
            ErrorMessage::NonFatal | ErrorMessage::Fatal => {
                let fatal = msg == ErrorMessage::Fatal;
                if status & ROOT_STA_UNCOR_RCV != 0 {
                    status |= ROOT_STA_MULTI_UNCOR_RCV;
                } else {
                    status |= ROOT_STA_UNCOR_RCV;
                    source_id = (source_id & 0xffff) | (u32::from(source) << 16);
                    if fatal {
                        status |= ROOT_STA_FIRST_FATAL;
                    }
                }
                if fatal {
                    status |= ROOT_STA_FATAL_RCV;
                    command & ROOT_CMD_FATAL_EN != 0
                } else {
                    status |= ROOT_STA_NONFATAL_RCV;
                    command & ROOT_CMD_NONFATAL_EN != 0
                }
            }
        };
        self.set(config, ROOT_ERROR_STATUS, status);
        self.set(config, ERROR_SOURCE_ID, source_id);
        enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::caps::{CAP_ID_PCI_EXPRESS, EXT_CAP_ID_AER};
    use crate::pci::config::{HeaderType, PciIds};
    use crate::pci::pcie_cap::{pcie_capability, PcieCapConfig};

    fn function(root_port: bool) -> (ConfigSpace, Aer) {
        let (header, cap) = if root_port {
            (HeaderType::Bridge, PcieCapConfig::root_port(1))
        } else {
            (HeaderType::Endpoint, PcieCapConfig::endpoint())
        };
        let mut c = ConfigSpace::new(header, &PciIds::default());
        let pcie = c
            .add_capability(CAP_ID_PCI_EXPRESS, &pcie_capability(&cap))
            .unwrap();
        let aer = Aer::add(&mut c, pcie, root_port).unwrap();
        (c, aer)
    }

    fn w32(c: &mut ConfigSpace, off: usize, v: u32) {
        c.write(off as u16, &v.to_le_bytes());
    }

    #[test]
    fn registers_and_masks() {
        let (mut c, aer) = function(false);
        assert_eq!(c.find_ext_capability(EXT_CAP_ID_AER), Some(aer.offset));
        let o = usize::from(aer.offset);
        assert_eq!(c.read_u32(aer.offset) >> 16 & 0xf, 2, "version 2");
        assert_eq!(
            c.read_u32((o + UNCORRECTABLE_SEVERITY) as u16),
            UNC_SEVERITY_DEFAULT
        );
        assert_eq!(c.read_u32((o + UNCORRECTABLE_MASK) as u16), 0);
        w32(&mut c, o + UNCORRECTABLE_MASK, u32::MAX);
        assert_eq!(c.read_u32((o + UNCORRECTABLE_MASK) as u16), UNC_SUPPORTED);
        w32(&mut c, o + UNCORRECTABLE_STATUS, u32::MAX);
        assert_eq!(c.read_u32((o + UNCORRECTABLE_STATUS) as u16), 0, "RW1C");
        let (mut rp, raer) = function(true);
        let ro = usize::from(raer.offset);
        w32(&mut rp, ro + ROOT_ERROR_COMMAND, u32::MAX);
        assert_eq!(rp.read_u32((ro + ROOT_ERROR_COMMAND) as u16), 0x7);
        assert_eq!(rp.read_u32((ro + ERROR_SOURCE_ID) as u16), 0, "RO");
        w32(&mut rp, ro + ERROR_SOURCE_ID, u32::MAX);
        assert_eq!(rp.read_u32((ro + ERROR_SOURCE_ID) as u16), 0, "RO");
    }

    #[test]
    fn endpoint_internal_errors_need_devctl_and_no_mask() {
        let (mut c, aer) = function(false);
        let o = usize::from(aer.offset);
        let devctl = (aer.pcie_cap as usize + DEVICE_CONTROL) as u16;
        // Reporting disabled in Device Control: logged, not sent.
        assert_eq!(
            aer.log_internal(&mut c, InternalError::Corrected, &[0; 4]),
            None
        );
        assert_eq!(c.read_u32((o + CORRECTABLE_STATUS) as u16), COR_INTERNAL);
        assert_eq!(
            c.read_u16(aer.pcie_cap + DEVICE_STATUS as u16) & DEVSTA_COR,
            DEVSTA_COR
        );
        // Linux's pci_aer_init enables all three.
        let v = c.read_u16(devctl) | 0x7;
        c.write(devctl, &v.to_le_bytes());
        assert_eq!(
            aer.log_internal(&mut c, InternalError::Corrected, &[0; 4]),
            Some(ErrorMessage::Correctable)
        );
        assert_eq!(
            aer.log_internal(&mut c, InternalError::Uncorrectable, &[1, 2, 3, 4]),
            Some(ErrorMessage::Fatal),
            "internal errors are fatal by default"
        );
        assert_eq!(c.read_u32((o + CAPABILITIES_AND_CONTROL) as u16) & 0x1f, 22);
        assert_eq!(c.read_u32((o + HEADER_LOG + 12) as u16), 4);
        // Non-fatal once the severity says so; the header stays the first.
        w32(&mut c, o + UNCORRECTABLE_SEVERITY, 0);
        assert_eq!(
            aer.log_internal(&mut c, InternalError::Uncorrectable, &[9; 4]),
            Some(ErrorMessage::NonFatal)
        );
        assert_eq!(c.read_u32((o + HEADER_LOG) as u16), 1);
        // Masked: nothing sent.
        w32(&mut c, o + UNCORRECTABLE_MASK, UNC_INTERNAL);
        assert_eq!(
            aer.log_internal(&mut c, InternalError::Uncorrectable, &[0; 4]),
            None
        );
        // Cleared, a new first error records its header.
        w32(&mut c, o + UNCORRECTABLE_STATUS, UNC_INTERNAL);
        aer.log_internal(&mut c, InternalError::Uncorrectable, &[7; 4]);
        assert_eq!(c.read_u32((o + HEADER_LOG) as u16), 7);
    }

    #[test]
    fn root_port_collects_messages_and_sources() {
        let (mut c, aer) = function(true);
        let o = usize::from(aer.offset);
        assert!(!aer.receive(&mut c, ErrorMessage::Correctable, 0x8100));
        assert_eq!(c.read_u32((o + ROOT_ERROR_STATUS) as u16), ROOT_STA_COR_RCV);
        assert_eq!(c.read_u32((o + ERROR_SOURCE_ID) as u16), 0x8100);
        w32(&mut c, o + ROOT_ERROR_COMMAND, 0x7);
        assert!(aer.receive(&mut c, ErrorMessage::Correctable, 0x8200));
        assert_eq!(
            c.read_u32((o + ROOT_ERROR_STATUS) as u16),
            ROOT_STA_COR_RCV | ROOT_STA_MULTI_COR_RCV
        );
        assert_eq!(
            c.read_u32((o + ERROR_SOURCE_ID) as u16),
            0x8100,
            "first kept"
        );
        assert!(aer.receive(&mut c, ErrorMessage::Fatal, 0x8100));
        let sta = c.read_u32((o + ROOT_ERROR_STATUS) as u16);
        assert_eq!(
            sta & 0x7c,
            ROOT_STA_UNCOR_RCV | ROOT_STA_FIRST_FATAL | ROOT_STA_FATAL_RCV
        );
        assert_eq!(c.read_u32((o + ERROR_SOURCE_ID) as u16), 0x8100_8100);
        // Linux clears what it read.
        w32(&mut c, o + ROOT_ERROR_STATUS, sta);
        assert_eq!(c.read_u32((o + ROOT_ERROR_STATUS) as u16), 0);
        assert!(aer.receive(&mut c, ErrorMessage::NonFatal, 0x8100));
        assert_eq!(
            c.read_u32((o + ROOT_ERROR_STATUS) as u16),
            ROOT_STA_UNCOR_RCV | ROOT_STA_NONFATAL_RCV
        );
        assert_eq!(ErrorMessage::NonFatal.name(), "ERR_NONFATAL");
    }
}
