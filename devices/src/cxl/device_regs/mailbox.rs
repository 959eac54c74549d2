//! Mailbox registers (CXL 3.1 8.2.8.4).
//!
//! The host writes the Command Register (opcode, input payload length) and
//! the Commands Payload Registers, then sets Doorbell in the Mailbox Control
//! Register. The command runs synchronously inside that write: the return
//! code goes to the Mailbox Status Register, the output payload to the
//! payload registers and its length to the Command Register, and Doorbell
//! reads back clear. With MB Doorbell Interrupt set, completion asks for the
//! mailbox's MSI/MSI-X message number to be signalled.
//!
//! Linux (`__cxl_pci_mbox_send_cmd`) polls Doorbell with `readl` at 04h,
//! writes the Command Register with `writeq`, reads the return code with
//! `readq` at 10h and the output length from the Command Register.

use crate::cxl::mailbox::{self, Completion, RetCode, PAYLOAD_SIZE, PAYLOAD_SIZE_LOG2};
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.8.4 Mailbox Registers (offsets within the capability)
/// Mailbox Capabilities Register.
pub const MAILBOX_CAPABILITIES: u64 = 0x00;
/// Mailbox Control Register.
pub const MAILBOX_CONTROL: u64 = 0x04;
/// Command Register.
pub const COMMAND: u64 = 0x08;
/// Mailbox Status Register.
pub const MAILBOX_STATUS: u64 = 0x10;
/// Background Command Status Register.
pub const BACKGROUND_COMMAND_STATUS: u64 = 0x18;
/// Commands Payload Registers.
pub const COMMANDS_PAYLOAD: u64 = 0x20;

// CXL 3.1 8.2.8.4.3 Mailbox Capabilities Register
/// Payload Size field (bits 4:0).
pub const CAP_PAYLOAD_SIZE_MASK: u32 = 0x1F;
/// MB Doorbell Interrupt Capable.
pub const CAP_MB_DOORBELL_INTERRUPT_CAPABLE: u32 = 1 << 5;
/// Background Command Complete Interrupt Capable.
pub const CAP_BACKGROUND_COMMAND_COMPLETE_INTERRUPT_CAPABLE: u32 = 1 << 6;
/// Interrupt Message Number field shift (bits 10:7).
pub const CAP_INTERRUPT_MESSAGE_NUMBER_SHIFT: u32 = 7;

// CXL 3.1 8.2.8.4.4 Mailbox Control Register
/// Doorbell.
pub const CONTROL_DOORBELL: u32 = 1 << 0;
/// MB Doorbell Interrupt.
pub const CONTROL_MB_DOORBELL_INTERRUPT: u32 = 1 << 1;
/// Background Command Complete Interrupt.
pub const CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT: u32 = 1 << 2;

// CXL 3.1 8.2.8.4.5 Command Register
/// Command Opcode field (bits 15:0).
pub const COMMAND_OPCODE_MASK: u64 = 0xFFFF;
/// Payload Length field shift (bits 36:16).
pub const COMMAND_PAYLOAD_LENGTH_SHIFT: u32 = 16;
/// Payload Length field mask, after shifting.
pub const COMMAND_PAYLOAD_LENGTH_MASK: u64 = 0x1F_FFFF;

// CXL 3.1 8.2.8.4.6 Mailbox Status Register
/// Return Code field shift (bits 47:32).
pub const STATUS_RETURN_CODE_SHIFT: u32 = 32;

/// The mailbox registers and payload.
#[derive(Clone, Debug)]
pub struct MailboxRegisters {
    control: u32,
    command: u64,
    status: u64,
    background_status: u64,
    payload: Vec<u8>,
    msi_message_number: u8,
}

impl MailboxRegisters {
    /// Idle mailbox registers; interrupts use MSI/MSI-X message number
    /// `msi_message_number` (0-15).
    pub fn new(msi_message_number: u8) -> Self {
        Self {
            control: 0,
            command: 0,
            status: 0,
            background_status: 0,
            payload: vec![0; PAYLOAD_SIZE],
            msi_message_number: msi_message_number & 0xF,
        }
    }

    /// The Mailbox Capabilities Register: 2 KiB payload, doorbell and
    /// background completion interrupt capable, and the message number.
    pub fn capabilities(&self) -> u32 {
        u32::from(PAYLOAD_SIZE_LOG2)
            | CAP_MB_DOORBELL_INTERRUPT_CAPABLE
            | CAP_BACKGROUND_COMMAND_COMPLETE_INTERRUPT_CAPABLE
            | u32::from(self.msi_message_number) << CAP_INTERRUPT_MESSAGE_NUMBER_SHIFT
    }

    /// The Mailbox Control Register.
    pub fn control(&self) -> u32 {
        self.control
    }

    /// The Command Register.
    pub fn command(&self) -> u64 {
        self.command
    }

    /// The Mailbox Status Register.
    pub fn status(&self) -> u64 {
        self.status
    }

    /// The return code of the last command.
    pub fn return_code(&self) -> u16 {
        (self.status >> STATUS_RETURN_CODE_SHIFT) as u16
    }

    /// The Commands Payload Registers.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The register qword at `offset` (8-byte aligned, below 20h).
    pub fn read_qword(&self, offset: u64) -> u64 {
        match offset {
            MAILBOX_CAPABILITIES => u64::from(self.capabilities()) | u64::from(self.control) << 32,
            COMMAND => self.command,
            MAILBOX_STATUS => self.status,
            BACKGROUND_COMMAND_STATUS => self.background_status,
            _ => 0,
        }
    }

    /// Writes the bytes of `value` selected by `mask` into the register
    /// qword at `offset`. Returns true if the write rang the doorbell.
    pub fn write_qword(&mut self, offset: u64, value: u64, mask: u64) -> bool {
        let old = self.read_qword(offset);
        let new = (old & !mask) | (value & mask);
        match offset {
            MAILBOX_CAPABILITIES => {
                let control = (new >> 32) as u32;
                let rw =
                    CONTROL_MB_DOORBELL_INTERRUPT | CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT;
                self.control = (self.control & !rw) | (control & rw);
                // Only a write that covers the Doorbell byte can ring it.
                mask & (0xFF << 32) != 0 && control & CONTROL_DOORBELL != 0
            }
            COMMAND => {
                let fields = COMMAND_OPCODE_MASK
                    | COMMAND_PAYLOAD_LENGTH_MASK << COMMAND_PAYLOAD_LENGTH_SHIFT;
                self.command = new & fields;
                false
            }
            // Mailbox Status and Background Command Status are read-only.
            _ => false,
        }
    }

    /// Writes payload byte `index` (ignored past the payload).
    pub fn write_payload(&mut self, index: usize, byte: u8) {
        if let Some(b) = self.payload.get_mut(index) {
            *b = byte;
        }
    }

    /// Runs the command in the Command Register against `memdev` and
    /// completes it. Returns the message number to signal, if MB Doorbell
    /// Interrupt is enabled, and what the command caused.
    pub fn ring_doorbell(&mut self, memdev: &mut Memdev) -> (Option<u8>, Effects) {
        let opcode = (self.command & COMMAND_OPCODE_MASK) as u16;
        let length = (self.command >> COMMAND_PAYLOAD_LENGTH_SHIFT) & COMMAND_PAYLOAD_LENGTH_MASK;
        let Completion {
            rc,
            output: out,
            effects,
        } = match usize::try_from(length)
            .ok()
            .and_then(|l| self.payload.get(..l))
        {
            Some(input) => mailbox::execute(memdev, opcode, input),
            None => {
                mailbox::trace::emit_oversized(&memdev.config().name, opcode, length);
                Completion {
                    rc: RetCode::InvalidPayloadLength,
                    output: Vec::new(),
                    effects: Effects::default(),
                }
            }
        };
        // What a driver did and what the device answered, for driver testing
        // (`cxlvmm -v` shows it).
        crate::info_limited!(
            burst = crate::log_limit::VERBOSE_BURST;
            "CXL memdev serial {:#x}: mailbox opcode {opcode:#06x}, {length} bytes in -> {rc:?}, {} bytes out",
            memdev.config().serial,
            out.len()
        );
        let out_len = match self.payload.get_mut(..out.len()) {
            Some(dst) => {
                dst.copy_from_slice(&out);
                out.len()
            }
            None => 0,
        };
        self.command = u64::from(opcode) | (out_len as u64) << COMMAND_PAYLOAD_LENGTH_SHIFT;
        // Background Operation clear; Vendor Specific Extended Status 0.
        self.status = u64::from(rc.code()) << STATUS_RETURN_CODE_SHIFT;
        self.control &= !CONTROL_DOORBELL;
        let msi =
            (self.control & CONTROL_MB_DOORBELL_INTERRUPT != 0).then_some(self.msi_message_number);
        (msi, effects)
    }
}
