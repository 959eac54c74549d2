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
//! A command that runs in the background answers Background Command
//! Started; while it runs, Mailbox Status shows Background Operation and
//! the Background Command Status Register its opcode and percentage, both
//! read from the device state ([`Memdev::background_status`]). When it
//! completes ([`MailboxRegisters::complete_background`]) the register shows
//! 100% and the final return code, and with Background Command Complete
//! Interrupt set the mailbox's message number is signalled.
//!
//! Linux (`__cxl_pci_mbox_send_cmd`) polls Doorbell with `readl` at 04h,
//! writes the Command Register with `writeq`, reads the return code with
//! `readq` at 10h and the output length from the Command Register.

use std::time::Duration;

use crate::cxl::mailbox::{self, Completion, RetCode, PAYLOAD_SIZE, PAYLOAD_SIZE_LOG2};
use crate::cxl::memdev::background::{BackgroundDone, BackgroundStatus};
use crate::cxl::memdev::faults::MailboxFault;
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
/// Background Operation (bit 0).
pub const STATUS_BACKGROUND_OPERATION: u64 = 1 << 0;
/// Return Code field shift (bits 47:32).
pub const STATUS_RETURN_CODE_SHIFT: u32 = 32;

// CXL 3.1 8.2.8.4.7 Background Command Status Register
/// Percentage Complete field shift (bits 22:16).
pub const BG_STATUS_PERCENT_SHIFT: u32 = 16;
/// Return Code field shift (bits 47:32).
pub const BG_STATUS_RETURN_CODE_SHIFT: u32 = 32;
/// Vendor Specific Extended Status field shift (bits 63:48).
pub const BG_STATUS_VENDOR_SHIFT: u32 = 48;

/// The Background Command Status Register value of `s`.
pub fn background_command_status(s: &BackgroundStatus) -> u64 {
    u64::from(s.opcode)
        | u64::from(s.percent & 0x7F) << BG_STATUS_PERCENT_SHIFT
        | u64::from(s.return_code) << BG_STATUS_RETURN_CODE_SHIFT
        | u64::from(s.vendor_status) << BG_STATUS_VENDOR_SHIFT
}

/// The mailbox registers and payload.
#[derive(Clone, Debug)]
pub struct MailboxRegisters {
    control: u32,
    command: u64,
    status: u64,
    payload: Vec<u8>,
    msi_message_number: u8,
    /// A `doorbell-stuck` fault holds Doorbell set until this monotonic
    /// time (ns), then the command is dropped.
    stuck_until: Option<u64>,
}

impl MailboxRegisters {
    /// Idle mailbox registers; interrupts use MSI/MSI-X message number
    /// `msi_message_number` (0-15).
    pub fn new(msi_message_number: u8) -> Self {
        Self {
            control: 0,
            command: 0,
            status: 0,
            payload: vec![0; PAYLOAD_SIZE],
            msi_message_number: msi_message_number & 0xF,
            stuck_until: None,
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

    /// The register qword at `offset` (8-byte aligned, below 20h) as this
    /// block holds it.
    fn stored_qword(&self, offset: u64) -> u64 {
        match offset {
            MAILBOX_CAPABILITIES => u64::from(self.capabilities()) | u64::from(self.control) << 32,
            COMMAND => self.command,
            MAILBOX_STATUS => self.status,
            _ => 0,
        }
    }

    /// The register qword at `offset` (8-byte aligned, below 20h). The
    /// device state adds what it shows, read only for the register that
    /// shows it (a driver polls Doorbell): Doorbell held by a
    /// `doorbell-stuck` fault, Background Operation, the Background
    /// Command Status Register.
    pub fn read_qword(&self, offset: u64, memdev: &Memdev) -> u64 {
        let v = self.stored_qword(offset);
        match offset {
            MAILBOX_CAPABILITIES if self.doorbell_held(memdev) => {
                v | u64::from(CONTROL_DOORBELL) << 32
            }
            MAILBOX_STATUS if memdev.background().is_running() => v | STATUS_BACKGROUND_OPERATION,
            BACKGROUND_COMMAND_STATUS => background_command_status(&memdev.background_status()),
            _ => v,
        }
    }

    /// Writes the bytes of `value` selected by `mask` into the register
    /// qword at `offset`. Returns true if the write rang the doorbell.
    pub fn write_qword(&mut self, offset: u64, value: u64, mask: u64) -> bool {
        let old = self.stored_qword(offset);
        let new = (old & !mask) | (value & mask);
        match offset {
            MAILBOX_CAPABILITIES => {
                let control = (new >> 32) as u32;
                let rw =
                    CONTROL_MB_DOORBELL_INTERRUPT | CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT;
                // Only a write that covers the Doorbell byte can ring it.
                let ring = mask & (0xFF << 32) != 0 && control & CONTROL_DOORBELL != 0;
                if ring {
                    // A doorbell write may set an interrupt enable but never
                    // clears one: Linux enables the Background Command
                    // Complete Interrupt once, then rings with
                    // `writel(DOORBELL)` alone, and waits for that interrupt.
                    self.control |= control & rw;
                } else {
                    self.control = (self.control & !rw) | (control & rw);
                }
                ring
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
        if self.doorbell_held(memdev) {
            // Doorbell still reads set: the host rang it again too early.
            return (None, Effects::default());
        }
        self.stuck_until = None;
        let fault = memdev.mailbox_fault(opcode);
        if let Some(MailboxFault::DoorbellStuck { hold_ms }) = fault {
            self.hold_doorbell(opcode, memdev.monotonic_ns(), hold_ms);
            // Traced as the command the driver sent, with the answer it
            // finds when Doorbell clears, after the hold.
            let input = self.input(length).unwrap_or(&[]);
            let dropped = Completion::bare(RetCode::Aborted);
            let held = Duration::from_millis(u64::from(hold_ms));
            mailbox::trace::emit(&memdev.config().name, opcode, input, &dropped, held);
            return (None, Effects::default());
        }
        let Completion {
            rc,
            output: out,
            effects,
        } = match (fault, self.input(length)) {
            // A `return-code` fault answers without running the command.
            // It is traced as the command the driver sent, with that answer.
            (Some(MailboxFault::ReturnCode(rc)), input) => {
                let done = Completion::bare(rc);
                let name = &memdev.config().name;
                mailbox::trace::emit(name, opcode, input.unwrap_or(&[]), &done, Duration::ZERO);
                done
            }
            // A `background-hold` fault: the command runs as a background
            // operation taking `ms` (the table takes the hold when it runs
            // it; a command refused first leaves it, and it is dropped).
            (Some(MailboxFault::BackgroundHold { ms }), Some(input)) => {
                memdev.hold_in_background(opcode, u64::from(ms));
                let done = mailbox::execute(memdev, opcode, input);
                memdev.clear_background_hold();
                done
            }
            (_, Some(input)) => mailbox::execute(memdev, opcode, input),
            (_, None) => {
                mailbox::trace::emit_oversized(&memdev.config().name, opcode, length);
                Completion::bare(RetCode::InvalidPayloadLength)
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
        // Background Operation (shown while one runs, see read_qword);
        // Vendor Specific Extended Status 0.
        self.status = u64::from(rc.code()) << STATUS_RETURN_CODE_SHIFT;
        self.control &= !CONTROL_DOORBELL;
        let msi =
            (self.control & CONTROL_MB_DOORBELL_INTERRUPT != 0).then_some(self.msi_message_number);
        (msi, effects)
    }

    /// The input payload of a command of `length` bytes, if it fits.
    fn input(&self, length: u64) -> Option<&[u8]> {
        usize::try_from(length)
            .ok()
            .and_then(|l| self.payload.get(..l))
    }

    /// Whether a `doorbell-stuck` fault still holds Doorbell set on
    /// `memdev`'s clock (past the hold, Doorbell reads clear); the clock is
    /// read only while a hold is on.
    pub fn doorbell_held(&self, memdev: &Memdev) -> bool {
        self.stuck_until
            .is_some_and(|until| memdev.monotonic_ns() < until)
    }

    /// A `doorbell-stuck` fault took the command: Doorbell stays set for
    /// `hold_ms`, then reads clear with Aborted (CXL 3.1 8.2.8.4.5.1) and
    /// no output; the command never runs and no interrupt is sent.
    fn hold_doorbell(&mut self, opcode: u16, now_ns: u64, hold_ms: u32) {
        self.stuck_until = Some(now_ns.saturating_add(u64::from(hold_ms) * 1_000_000));
        self.command = u64::from(opcode);
        self.status = u64::from(RetCode::Aborted.code()) << STATUS_RETURN_CODE_SHIFT;
        self.control &= !CONTROL_DOORBELL;
    }

    /// Completes `memdev`'s background operation if it is due. Returns
    /// the message number to signal, if Background Command Complete
    /// Interrupt is enabled, and the completed operation.
    pub fn complete_background(
        &mut self,
        memdev: &mut Memdev,
    ) -> Option<(Option<u8>, BackgroundDone)> {
        let done = memdev.complete_background()?;
        let msi = (self.control & CONTROL_BACKGROUND_COMMAND_COMPLETE_INTERRUPT != 0)
            .then_some(self.msi_message_number);
        Some((msi, done))
    }
}
