//! Operator injections (`POST /devices/{id}/inject/...`): the device
//! applies one (`Type3::inject`) and, for a RAS error it reports, the
//! error message goes to its root port, which raises the AER interrupt.
//!
//! Locks: the device, released, then its root port (never both at once).

use devices::cxl::inject::{InjectError, Injection};

use crate::cxl_devices::CxlDevices;
use crate::cxl_ops::OpError;

impl CxlDevices {
    /// Applies `inj` to device `id`.
    pub fn inject(&self, id: &str, inj: &Injection) -> Result<(), OpError> {
        let h = self.handle(id)?;
        let message = {
            let mut dev = Self::lock(h);
            dev.inject(id, inj).map_err(|e| match e {
                InjectError::Invalid(m) => OpError::Invalid(m),
                InjectError::Conflict(m) => OpError::Conflict(m),
            })?
        };
        if let Some(msg) = message {
            let mut port = h.port.lock().unwrap_or_else(|e| e.into_inner());
            port.receive_error(msg);
        }
        Ok(())
    }
}
