//! Memory Device Status Register (CXL 3.1 8.2.8.5.1).
//!
//! Linux reads it with `readq`: `cxl_pci_setup_mailbox` waits for Mailbox
//! Interface Ready (bit 4), and the media-ready check after
//! `cxl_await_media_ready` requires Media Status == Ready (bits 3:2 == 01b).

// CXL 3.1 8.2.8.5.1 Memory Device Status Register (Media Status)
/// Media Status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum MediaStatus {
    /// Not Ready.
    NotReady = 0,
    /// Ready.
    #[default]
    Ready = 1,
    /// Error.
    Error = 2,
    /// Disabled.
    Disabled = 3,
}

// CXL 3.1 8.2.8.5.1 Memory Device Status Register (Reset Needed)
/// Reset Needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum ResetNeeded {
    /// No reset needed.
    #[default]
    NotNeeded = 0,
    /// Cold reset needed.
    Cold = 1,
    /// Warm reset needed.
    Warm = 2,
    /// Hot reset needed.
    Hot = 3,
    /// CXL reset needed.
    Cxl = 4,
}

/// The state the Memory Device Status Register reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemdevStatus {
    /// Device Fatal.
    pub device_fatal: bool,
    /// FW Halt.
    pub fw_halt: bool,
    /// Media Status.
    pub media_status: MediaStatus,
    /// Mailbox Interface Ready.
    pub mailbox_interface_ready: bool,
    /// Reset Needed.
    pub reset_needed: ResetNeeded,
}

impl Default for MemdevStatus {
    /// A healthy device: media ready, mailbox ready.
    fn default() -> Self {
        Self {
            device_fatal: false,
            fw_halt: false,
            media_status: MediaStatus::Ready,
            mailbox_interface_ready: true,
            reset_needed: ResetNeeded::NotNeeded,
        }
    }
}

impl MemdevStatus {
    // CXL 3.1 8.2.8.5.1 Memory Device Status Register
    /// The 64-bit register value.
    pub fn register(&self) -> u64 {
        u64::from(self.device_fatal)
            | u64::from(self.fw_halt) << 1
            | (self.media_status as u64) << 2
            | u64::from(self.mailbox_interface_ready) << 4
            | (self.reset_needed as u64) << 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_what_linux_waits_for() {
        let r = MemdevStatus::default().register();
        assert_eq!(r & 1, 0, "Device Fatal");
        assert_eq!(r >> 1 & 1, 0, "FW Halt");
        assert_eq!(r >> 2 & 3, 1, "Media Status Ready");
        assert_eq!(r >> 4 & 1, 1, "Mailbox Interface Ready");
        assert_eq!(r >> 5 & 7, 0, "Reset Needed");
        assert_eq!(r, 0x14);
    }

    #[test]
    fn all_fields_encode() {
        let s = MemdevStatus {
            device_fatal: true,
            fw_halt: true,
            media_status: MediaStatus::Disabled,
            mailbox_interface_ready: false,
            reset_needed: ResetNeeded::Cxl,
        };
        // Reset Needed 100b, Mailbox Ready 0, Media 11b, FW Halt 1, Fatal 1.
        assert_eq!(s.register(), 0x8F);
        let s = MemdevStatus {
            media_status: MediaStatus::Error,
            reset_needed: ResetNeeded::Warm,
            ..Default::default()
        };
        // Reset Needed 010b, Mailbox Ready 1, Media 10b.
        assert_eq!(s.register(), 0x58);
    }
}
