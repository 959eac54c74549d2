//! The CXL Device Register block of a memory device (CXL 3.1 8.2.8), as an
//! MMIO register model.
//!
//! [`DeviceRegisters`] holds the registers; the device state they show and
//! the mailbox drives ([`Memdev`]) belongs to the device model, which lends
//! it for each access. The device model maps the block (at a BAR offset
//! named by the Register Locator DVSEC, Register Block Identifier 03h) and
//! forwards guest accesses to [`DeviceRegisters::read`] and
//! [`DeviceRegisters::write`]. Any width and offset is accepted: unknown
//! offsets read 0 and ignore writes. A write returns the MSI/MSI-X message
//! numbers the device model must signal ([`MsiVectors`]) and what a command
//! it ran caused ([`Effects`]); event records the device model adds itself
//! report theirs in [`crate::cxl::memdev::events::AddedEvent::msi`].
//!
//! Layout (offsets from the start of the block):
//!
//! | offset | length | registers |
//! |--------|--------|-----------|
//! | 000h   | 40h    | Device Capabilities Array Register + 3 headers |
//! | 100h   | 8h     | Device Status (Event Status Register) |
//! | 180h   | 8h     | Memory Device Status Register |
//! | 200h   | 820h   | Primary Mailbox (registers 20h + 2 KiB payload) |

pub mod caps;
pub mod layout;
pub mod mailbox;

#[cfg(test)]
mod background_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;

use self::mailbox::MailboxRegisters;
use crate::cxl::dcd::DcdEffect;
use crate::cxl::mailbox::PAYLOAD_SIZE;
use crate::cxl::memdev::background::BackgroundDone;
use crate::cxl::memdev::{Effects, Memdev};

/// A set of MSI/MSI-X message numbers (0-15) to signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsiVectors(u16);

impl MsiVectors {
    /// The empty set.
    pub const fn none() -> Self {
        Self(0)
    }

    /// Adds message number `n` (only 0-15 exist; others are ignored).
    pub fn insert(&mut self, n: u8) {
        if n < 16 {
            self.0 |= 1 << n;
        }
    }

    /// True if `n` is in the set.
    pub fn contains(&self, n: u8) -> bool {
        n < 16 && self.0 & (1 << n) != 0
    }

    /// True if nothing is to be signalled.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The message numbers, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..16u8).filter(|n| self.contains(*n))
    }
}

/// What a register write caused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterWrite {
    /// MSI/MSI-X message numbers to signal.
    pub msi: MsiVectors,
    /// What the command a doorbell ran caused.
    pub effects: Effects,
}

/// The CXL Device Register block of a memory device.
#[derive(Debug)]
pub struct DeviceRegisters {
    mailbox: MailboxRegisters,
    mailbox_msi_message_number: u8,
}

fn in_range(addr: u64, start: u64, len: u64) -> bool {
    addr >= start && addr - start < len
}

impl DeviceRegisters {
    /// The register block of `memdev`.
    pub fn new(memdev: &Memdev) -> Self {
        let msi = memdev.config().mailbox_msi_message_number;
        Self {
            mailbox: MailboxRegisters::new(msi),
            mailbox_msi_message_number: msi,
        }
    }

    /// The mailbox registers.
    pub fn mailbox(&self) -> &MailboxRegisters {
        &self.mailbox
    }

    /// Cold reset: idle mailbox registers, and the device's cold reset
    /// ([`Memdev::cold_reset`]), whose declined offers are returned.
    pub fn cold_reset(&mut self, memdev: &mut Memdev) -> Vec<DcdEffect> {
        self.mailbox = MailboxRegisters::new(self.mailbox_msi_message_number);
        memdev.cold_reset()
    }

    /// Completes `memdev`'s background operation if it is due (the device
    /// model calls this before every register access and when its timer
    /// fires): the MSI/MSI-X message numbers to signal (the completion
    /// interrupt, and the event interrupt of records it posted), the
    /// completed operation and what it caused.
    pub fn poll_background(&mut self, memdev: &mut Memdev) -> Option<(MsiVectors, BackgroundDone)> {
        let (msi, done) = self.mailbox.complete_background(memdev)?;
        let mut v = MsiVectors::none();
        for n in [msi, done.event_msi].into_iter().flatten() {
            v.insert(n);
        }
        Some((v, done))
    }

    /// Index into the payload of block offset `addr`, if it is there.
    fn payload_index(addr: u64) -> Option<usize> {
        let start = layout::MAILBOX_OFFSET + mailbox::COMMANDS_PAYLOAD;
        in_range(addr, start, PAYLOAD_SIZE as u64).then(|| (addr - start) as usize)
    }

    /// The register qword at 8-byte aligned block offset `base`.
    fn read_qword(&self, memdev: &Memdev, base: u64) -> u64 {
        use layout::*;
        if base < caps::CAPS_LEN {
            caps::read_qword(base)
        } else if in_range(base, DEVICE_STATUS_OFFSET, DEVICE_STATUS_LEN) {
            // CXL 3.1 8.2.8.3.1 Event Status Register
            u64::from(memdev.events().event_status())
        } else if in_range(base, MEMDEV_STATUS_OFFSET, MEMDEV_STATUS_LEN) {
            // CXL 3.1 8.2.8.5.1 Memory Device Status Register
            memdev.status().register()
        } else if in_range(base, MAILBOX_OFFSET, mailbox::COMMANDS_PAYLOAD) {
            self.mailbox.read_qword(base - MAILBOX_OFFSET, memdev)
        } else {
            0
        }
    }

    /// Writes the bytes of `value` selected by `mask` to the qword at
    /// 8-byte aligned block offset `base`; true if it rang the doorbell.
    fn write_qword(&mut self, base: u64, value: u64, mask: u64) -> bool {
        use layout::*;
        if in_range(base, MAILBOX_OFFSET, mailbox::COMMANDS_PAYLOAD) {
            self.mailbox.write_qword(base - MAILBOX_OFFSET, value, mask)
        } else {
            // Everything else is read-only or unimplemented.
            false
        }
    }

    /// Guest read of `data.len()` bytes at block offset `offset` of
    /// `memdev`'s registers.
    pub fn read(&self, memdev: &Memdev, offset: u64, data: &mut [u8]) {
        let mut cached: Option<(u64, u64)> = None;
        for (i, byte) in data.iter_mut().enumerate() {
            let Some(addr) = offset.checked_add(i as u64) else {
                *byte = 0;
                continue;
            };
            if let Some(p) = Self::payload_index(addr) {
                *byte = self.mailbox.payload().get(p).copied().unwrap_or(0);
                continue;
            }
            let base = addr & !7;
            let qword = match cached {
                Some((b, v)) if b == base => v,
                _ => {
                    let v = self.read_qword(memdev, base);
                    cached = Some((base, v));
                    v
                }
            };
            *byte = (qword >> ((addr & 7) * 8)) as u8;
        }
    }

    /// Guest write of `data` at block offset `offset`. All bytes are stored
    /// before a doorbell it rings runs the command against `memdev`.
    /// Returns the MSI/MSI-X message numbers to signal and what the command
    /// caused.
    pub fn write(&mut self, memdev: &mut Memdev, offset: u64, data: &[u8]) -> RegisterWrite {
        let mut doorbell = false;
        // (qword base, value, byte mask) of the register being assembled.
        let mut pending: Option<(u64, u64, u64)> = None;
        for (i, &byte) in data.iter().enumerate() {
            let Some(addr) = offset.checked_add(i as u64) else {
                break;
            };
            if let Some(p) = Self::payload_index(addr) {
                self.mailbox.write_payload(p, byte);
                continue;
            }
            let base = addr & !7;
            let shift = (addr & 7) * 8;
            let (b, v, m) = match pending {
                Some(p) if p.0 == base => p,
                other => {
                    if let Some((b, v, m)) = other {
                        doorbell |= self.write_qword(b, v, m);
                    }
                    (base, 0, 0)
                }
            };
            pending = Some((b, v | u64::from(byte) << shift, m | 0xFF << shift));
        }
        if let Some((b, v, m)) = pending {
            doorbell |= self.write_qword(b, v, m);
        }
        let mut out = RegisterWrite::default();
        if doorbell {
            let (msi, effects) = self.mailbox.ring_doorbell(memdev);
            if let Some(n) = msi {
                out.msi.insert(n);
            }
            out.effects = effects;
        }
        out
    }
}
