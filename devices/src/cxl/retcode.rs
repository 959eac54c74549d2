//! Mailbox command return codes.

// CXL 3.1 8.2.8.4.5.1 Command Return Codes
//
// The table is the one Linux decodes (`CXL_MBOX_CMD_RC_*` in
// drivers/cxl/cxlmem.h, which indexes an array by the code, so the values
// must stay dense and in this order); the names are the specification's.

/// A mailbox command return code, as written to the Mailbox Status Register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RetCode {
    /// 0000h: the command completed successfully.
    Success = 0x0000,
    /// 0001h: the background command started successfully.
    BackgroundCommandStarted = 0x0001,
    /// 0002h: the command input was invalid.
    InvalidInput = 0x0002,
    /// 0003h: the command is not supported.
    Unsupported = 0x0003,
    /// 0004h: the command failed with an internal device error.
    InternalError = 0x0004,
    /// 0005h: a temporary error; retry once.
    RetryRequired = 0x0005,
    /// 0006h: the device is busy processing a background operation.
    Busy = 0x0006,
    /// 0007h: the command requires media access and the media is disabled.
    MediaDisabled = 0x0007,
    /// 0008h: only one FW package can be transferred at a time.
    FwTransferInProgress = 0x0008,
    /// 0009h: the FW package content was transferred out of order.
    FwTransferOutOfOrder = 0x0009,
    /// 000Ah: the FW package failed verification.
    FwVerificationFailed = 0x000A,
    /// 000Bh: the FW slot is not supported for the requested operation.
    InvalidSlot = 0x000B,
    /// 000Ch: the new FW failed to activate and rolled back.
    ActivationFailedFwRolledBack = 0x000C,
    /// 000Dh: the new FW failed to activate; a cold reset is required.
    ActivationFailedColdResetRequired = 0x000D,
    /// 000Eh: one or more Event Record Handles were invalid or out of order.
    InvalidHandle = 0x000E,
    /// 000Fh: the physical address specified is invalid.
    InvalidPhysicalAddress = 0x000F,
    /// 0010h: the device's poison injection limit has been reached.
    InjectPoisonLimitReached = 0x0010,
    /// 0011h: the device could not complete the request because of a
    /// permanent issue with the media.
    PermanentMediaFailure = 0x0011,
    /// 0012h: the background command was aborted by the device.
    Aborted = 0x0012,
    /// 0013h: the command is not valid in the current security state.
    InvalidSecurityState = 0x0013,
    /// 0014h: the passphrase does not match the currently set passphrase.
    IncorrectPassphrase = 0x0014,
    /// 0015h: the command is not supported on the mailbox or CCI it was
    /// issued on.
    UnsupportedMailbox = 0x0015,
    /// 0016h: the input payload length is not valid for the command.
    InvalidPayloadLength = 0x0016,
    /// 0017h: the log page is invalid or not supported.
    InvalidLog = 0x0017,
    /// 0018h: an asynchronous event interrupted the command.
    Interrupted = 0x0018,
    /// 0019h: the feature version is not supported.
    UnsupportedFeatureVersion = 0x0019,
    /// 001Ah: the feature selection value is not supported.
    UnsupportedFeatureSelectionValue = 0x001A,
    /// 001Bh: a feature transfer is already in progress.
    FeatureTransferInProgress = 0x001B,
    /// 001Ch: the feature data was transferred out of order.
    FeatureTransferOutOfOrder = 0x001C,
    /// 001Dh: the device's resources are exhausted.
    ResourcesExhausted = 0x001D,
    /// 001Eh: the extent list is invalid.
    InvalidExtentList = 0x001E,
    /// 001Fh: the input data transfer was aborted: it came out of order.
    TransferOutOfOrder = 0x001F,
    /// 0020h: the ongoing background operation does not support Request
    /// Abort Background Operation.
    RequestAbortNotSupported = 0x0020,
}

impl RetCode {
    /// The code as written to the Return Code field.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The return code with value `code`, if it is one of the table's.
    pub const fn from_code(code: u16) -> Option<Self> {
        use RetCode::*;
        Some(match code {
            0x00 => Success,
            0x01 => BackgroundCommandStarted,
            0x02 => InvalidInput,
            0x03 => Unsupported,
            0x04 => InternalError,
            0x05 => RetryRequired,
            0x06 => Busy,
            0x07 => MediaDisabled,
            0x08 => FwTransferInProgress,
            0x09 => FwTransferOutOfOrder,
            0x0A => FwVerificationFailed,
            0x0B => InvalidSlot,
            0x0C => ActivationFailedFwRolledBack,
            0x0D => ActivationFailedColdResetRequired,
            0x0E => InvalidHandle,
            0x0F => InvalidPhysicalAddress,
            0x10 => InjectPoisonLimitReached,
            0x11 => PermanentMediaFailure,
            0x12 => Aborted,
            0x13 => InvalidSecurityState,
            0x14 => IncorrectPassphrase,
            0x15 => UnsupportedMailbox,
            0x16 => InvalidPayloadLength,
            0x17 => InvalidLog,
            0x18 => Interrupted,
            0x19 => UnsupportedFeatureVersion,
            0x1A => UnsupportedFeatureSelectionValue,
            0x1B => FeatureTransferInProgress,
            0x1C => FeatureTransferOutOfOrder,
            0x1D => ResourcesExhausted,
            0x1E => InvalidExtentList,
            0x1F => TransferOutOfOrder,
            0x20 => RequestAbortNotSupported,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RetCode;

    #[test]
    fn codes_are_dense_and_round_trip() {
        for code in 0..=0x20u16 {
            let rc = RetCode::from_code(code);
            assert_eq!(rc.map(RetCode::code), Some(code));
        }
        assert_eq!(RetCode::from_code(0x21), None);
        assert_eq!(RetCode::from_code(0xFFFF), None);
    }

    #[test]
    fn linux_visible_values() {
        // The values Linux branches on (drivers/cxl/core/mbox.c, pci.c).
        assert_eq!(RetCode::Success.code(), 0);
        assert_eq!(RetCode::BackgroundCommandStarted.code(), 1);
        assert_eq!(RetCode::Unsupported.code(), 3);
        assert_eq!(RetCode::InvalidHandle.code(), 0x0E);
        assert_eq!(RetCode::InvalidPhysicalAddress.code(), 0x0F);
        assert_eq!(RetCode::InjectPoisonLimitReached.code(), 0x10);
        assert_eq!(RetCode::InvalidPayloadLength.code(), 0x16);
        assert_eq!(RetCode::InvalidLog.code(), 0x17);
    }
}
