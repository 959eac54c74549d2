//! Why a configuration cannot be turned into ACPI tables.

use arch::layout;

/// An invalid [`AcpiConfig`](crate::AcpiConfig) or a layout that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The vCPU count is zero or above [`layout::MAX_VCPUS`].
    #[error("invalid vCPU count {0}: must be 1..={max}", max = layout::MAX_VCPUS)]
    CpuCount(u32),
    /// No host bridge was configured.
    #[error("no PCI host bridge configured")]
    NoHostBridge,
    /// A host bridge is malformed or clashes with another one.
    #[error("host bridge _UID {uid}: {reason}")]
    HostBridge {
        /// The bridge's `_UID`.
        uid: u32,
        /// What is wrong.
        reason: String,
    },
    /// A CXL fixed memory window is malformed.
    #[error("CXL fixed memory window {index}: {reason}")]
    CxlWindow {
        /// Position in [`AcpiConfig::cxl_windows`](crate::AcpiConfig::cxl_windows).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A RAM range for the SRAT is malformed.
    #[error("RAM range {index}: {reason}")]
    Ram {
        /// Position in [`AcpiConfig::ram`](crate::AcpiConfig::ram).
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// HMAT performance numbers out of range.
    #[error("{what} performance: {reason}")]
    Perf {
        /// `"RAM"` or `"CXL host bridge"`.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The guest-physical base of the tables is not 16-byte aligned.
    #[error("ACPI table base {0:#x} is not 16-byte aligned")]
    UnalignedBase(u64),
    /// The tables do not fit in [`layout::ACPI_TABLES_SIZE`].
    #[error("ACPI tables need {needed:#x} bytes but only {available:#x} are reserved")]
    TooLarge {
        /// Bytes from the base to the end of the last table.
        needed: u64,
        /// [`layout::ACPI_TABLES_SIZE`].
        available: u64,
    },
}
