//! Command Effect bits of a Command Effects Log entry (CXL 3.1
//! 8.2.9.5.2.1 Command Effects Log, Command Effect field).

/// Configuration Change after Cold Reset.
pub const CONFIGURATION_CHANGE_AFTER_COLD_RESET: u16 = 1 << 0;
/// Immediate Configuration Change.
pub const IMMEDIATE_CONFIGURATION_CHANGE: u16 = 1 << 1;
/// Immediate Data Change.
pub const IMMEDIATE_DATA_CHANGE: u16 = 1 << 2;
/// Immediate Policy Change.
pub const IMMEDIATE_POLICY_CHANGE: u16 = 1 << 3;
/// Immediate Log Change.
pub const IMMEDIATE_LOG_CHANGE: u16 = 1 << 4;
/// Security State Change.
pub const SECURITY_STATE_CHANGE: u16 = 1 << 5;
/// Background Operation.
pub const BACKGROUND_OPERATION: u16 = 1 << 6;
/// Secondary Mailbox Supported.
pub const SECONDARY_MAILBOX_SUPPORTED: u16 = 1 << 7;
/// Request Abort Background Operation Supported: Request Abort Background
/// Operation (0005h) aborts this command while it runs in the background.
/// (Linux's `CXL_CMD_BGCMD_ABORT_SUPPORTED` says bit 7; the spec's table
/// has Secondary Mailbox Supported there and this at bit 8.)
pub const REQUEST_ABORT_BACKGROUND_OPERATION_SUPPORTED: u16 = 1 << 8;
