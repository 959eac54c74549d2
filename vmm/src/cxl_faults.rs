//! Operator faults (`/devices/{id}/faults`, `/devices/{id}/dc-faults`):
//! armed on, listed from and cleared from one device; the device counts
//! them down as the guest's commands trigger them.

use devices::cxl::dcd::faults::DcFaultRequest;
use devices::cxl::memdev::faults::{FaultError, FaultList, FaultRequest};
use devices::cxl::memdev::FaultSelector;

use crate::cxl_devices::CxlDevices;
use crate::cxl_ops::OpError;

fn op_error(e: FaultError) -> OpError {
    match e {
        FaultError::Invalid(m) => OpError::Invalid(m),
        FaultError::Conflict(m) => OpError::Conflict(m),
        FaultError::NotFound(m) => OpError::NotFound(m),
    }
}

impl CxlDevices {
    /// Arms mailbox fault `req` on device `id`; its fault id.
    pub fn fault_add(&self, id: &str, req: FaultRequest) -> Result<u32, OpError> {
        let mut dev = Self::lock(self.handle(id)?);
        dev.fault_add(req).map_err(op_error)
    }

    /// Posts the records of DC fault `req` on device `id`; its fault id.
    pub fn dc_fault_add(&self, id: &str, req: DcFaultRequest) -> Result<u32, OpError> {
        let mut dev = Self::lock(self.handle(id)?);
        dev.dc_fault_add(req).map_err(op_error)
    }

    /// The faults of device `id`.
    pub fn fault_list(&self, id: &str) -> Result<FaultList, OpError> {
        let dev = Self::lock(self.handle(id)?);
        Ok(dev.memdev().fault_list())
    }

    /// Clears every fault of device `id`, or fault `fault`; their ids.
    pub fn fault_clear(&self, id: &str, fault: Option<u32>) -> Result<Vec<u32>, OpError> {
        let mut dev = Self::lock(self.handle(id)?);
        let which = fault.map_or(FaultSelector::All, FaultSelector::Id);
        dev.fault_clear(which).map_err(op_error)
    }
}
