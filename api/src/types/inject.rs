//! Error, event and health injection (QMP `cxl-inject-*`): the requests
//! are the device model's own types (`devices::cxl::inject`), which carry
//! the QMP field names; the device checks ranges against itself.

pub use devices::cxl::inject::{
    CorrectableErrorInjection, CorrectableErrorType, DramInjection, EventLogName,
    GeneralMediaInjection, Injection, MemoryModuleInjection, PoisonInjection, UncorrectableError,
    UncorrectableErrorType, UncorrectableErrorsInjection,
};
pub use devices::cxl::memdev::health::HealthUpdate;

use super::validate::Validate;

/// Field widths, alignment and lengths (the device checks the rest).
impl Validate for Injection {
    fn validate(&self) -> Result<(), String> {
        self.check()
    }
}
