//! Fault injection (`/devices/{id}/faults`, `/devices/{id}/dc-faults`):
//! the requests and answers are the device model's own types
//! (`devices::cxl::memdev::faults`, `devices::cxl::dcd::faults`); the
//! device checks what depends on its state.

pub use devices::cxl::dcd::faults::{DcFaultInfo, DcFaultRequest, FaultExtent};
pub use devices::cxl::memdev::faults::{
    ArmedFault, FaultId, FaultList, FaultRequest, FaultsCleared,
    DEFAULT_HOLD_MS as DEFAULT_FAULT_HOLD_MS,
};

use super::validate::Validate;

/// A real return code, count and hold bounds.
impl Validate for FaultRequest {
    fn validate(&self) -> Result<(), String> {
        self.check()
    }
}

/// Record count bounds.
impl Validate for DcFaultRequest {
    fn validate(&self) -> Result<(), String> {
        self.check()
    }
}
