//! `GET /devices`: the CXL Type 3 devices and their Dynamic Capacity regions.

use serde::{Deserialize, Serialize};

/// One Dynamic Capacity region of a device (CXL 3.1 8.2.9.9.9.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcRegionInfo {
    /// Region number, 0..=7.
    pub index: u8,
    /// Region base in the device's DPA space.
    pub base: u64,
    /// Region length in bytes.
    pub length: u64,
    /// Extent granularity in bytes.
    pub block_size: u64,
    /// The CDAT DSMAS handle describing the region.
    pub dsmad_handle: u32,
    /// Whether released capacity is sanitized before reuse, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitize_on_release: Option<bool>,
}

/// How full a device's Dynamic Capacity Event Log is (CXL 3.1 8.2.9.2):
/// the guest reads records with Get Event Records and frees them with
/// Clear Event Records; while the log is full, adds are refused (503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DcEventLogInfo {
    /// Records the log holds at most (`dc-event-log-depth`).
    pub depth: u32,
    /// Records in the log that the guest has not cleared.
    pub used: u32,
    /// Of those, how many the guest has read.
    pub read: u32,
    /// No record fits: every add is refused until the guest clears records
    /// or unread offers are withdrawn.
    pub full: bool,
}

/// How the guest reaches an HPA range of a device's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryPath {
    /// Every level 1-way: memslots on the backend (native speed).
    Direct,
    /// Interleaved at page granularity or coarser: one memslot composed of
    /// the devices' backends (native speed).
    Composed,
    /// Every access decoded by the window's MMIO device (data only, slow).
    Trapped,
}

/// An HPA range the committed decoders decode a device at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HpaRangeInfo {
    /// First HPA.
    pub hpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// How the guest reaches it.
    pub path: MemoryPath,
    /// Why an interleaved range is trapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One CXL Type 3 device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CxlDeviceInfo {
    pub id: String,
    pub serial: u64,
    /// Statically provisioned (persistent plus volatile) capacity in bytes.
    pub static_capacity: u64,
    pub dc_regions: Vec<DcRegionInfo>,
    /// The Dynamic Capacity Event Log, on devices with DC regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dc_event_log: Option<DcEventLogInfo>,
    /// Where its memory is decoded now and how the guest reaches it.
    #[serde(default)]
    pub hpa_ranges: Vec<HpaRangeInfo>,
}
