//! Legacy PC devices on the port I/O bus: COM1, CMOS/RTC, the i8042 reset
//! line and the ACPI fixed hardware (PM1 blocks, PM timer) and reset register.

pub mod acpi_pm;
pub mod cmos;
pub mod exit;
pub mod i8042;
pub mod pvpanic;
pub mod serial;

pub use acpi_pm::{AcpiPm, AcpiReset};
pub use cmos::Cmos;
pub use exit::{ExitHandler, ExitRecorder, ExitRequest};
pub use i8042::I8042;
pub use pvpanic::PvPanic;
pub use serial::Serial;
