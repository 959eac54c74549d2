//! `GET /vm`: the VM at a glance.

use serde::{Deserialize, Serialize};

/// Whether the VM still takes requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmState {
    Running,
    ShuttingDown,
}

/// The answer to `GET /vm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VmInfo {
    pub state: VmState,
    /// Number of vCPUs.
    pub cpus: u32,
    /// Guest RAM in bytes (not counting CXL capacity).
    pub memory: u64,
    /// cxlvmm's version.
    pub version: String,
    /// Number of CXL Type 3 devices.
    pub devices: u32,
}
