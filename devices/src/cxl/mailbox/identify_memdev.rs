//! Identify Memory Device command set: Identify Memory Device (CXL 3.1
//! 8.2.9.9.1.1).

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::events::EventLogType;
use crate::cxl::memdev::{Effects, Memdev, CAPACITY_MULTIPLIER, FW_REVISION_LEN};

/// Size of the Identify Memory Device output payload (CXL 3.1, with the
/// Dynamic Capacity Event Log Size). Linux reads the first 43h bytes.
pub const IDENTIFY_MEMORY_DEVICE_SIZE: usize = 0x45;

// CXL 3.1 8.2.9.9.1.1 Identify Memory Device (Poison Handling Capabilities)
/// Poison Handling Capabilities: Injects Persistent Poison.
pub const POISON_CAP_INJECTS_PERSISTENT_POISON: u8 = 1 << 0;
/// Poison Handling Capabilities: Scans for Poison.
pub const POISON_CAP_SCANS_FOR_POISON: u8 = 1 << 1;

// CXL 3.1 8.2.9.9.1.1 Identify Memory Device (QoS Telemetry Capabilities)
/// QoS Telemetry Capabilities: Egress Port Congestion Supported.
pub const QOS_CAP_EGRESS_PORT_CONGESTION: u8 = 1 << 0;
/// QoS Telemetry Capabilities: Temporary Throughput Reduction Supported.
pub const QOS_CAP_TEMPORARY_THROUGHPUT_REDUCTION: u8 = 1 << 1;

// CXL 3.1 8.2.9.9.1.1 Identify Memory Device (Table 8-127 Identify Memory Device Output Payload)
/// Identify Memory Device output (`struct cxl_mbox_identify`); capacities
/// in 256 MiB units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentifyMemoryDeviceOut {
    /// FW Revision (ASCII, zero padded).
    pub fw_revision: [u8; FW_REVISION_LEN],
    /// Total Capacity.
    pub total_capacity: u64,
    /// Volatile Only Capacity.
    pub volatile_capacity: u64,
    /// Persistent Only Capacity.
    pub persistent_capacity: u64,
    /// Partition Alignment.
    pub partition_align: u64,
    /// Informational, Warning, Failure and Fatal Event Log Size.
    pub event_log_sizes: [u16; 4],
    /// LSA Size.
    pub lsa_size: u32,
    /// Poison List Maximum Media Error Records (24 bits).
    pub poison_list_max_mer: u32,
    /// Inject Poison Limit.
    pub inject_poison_limit: u16,
    /// Poison Handling Capabilities (`POISON_CAP_*`).
    pub poison_caps: u8,
    /// QoS Telemetry Capabilities (`QOS_CAP_*`).
    pub qos_telemetry_caps: u8,
    /// Dynamic Capacity Event Log Size.
    pub dc_event_log_size: u16,
}

impl Encode for IdentifyMemoryDeviceOut {
    fn encode(&self) -> Vec<u8> {
        let mut o = Output::zeroed(IDENTIFY_MEMORY_DEVICE_SIZE);
        o.put_bytes(0x00, &self.fw_revision);
        o.put_u64(0x10, self.total_capacity);
        o.put_u64(0x18, self.volatile_capacity);
        o.put_u64(0x20, self.persistent_capacity);
        o.put_u64(0x28, self.partition_align);
        for (i, size) in self.event_log_sizes.iter().enumerate() {
            o.put_u16(0x30 + 2 * i, *size);
        }
        o.put_u32(0x38, self.lsa_size);
        o.put_u24(0x3C, self.poison_list_max_mer);
        o.put_u16(0x3F, self.inject_poison_limit);
        o.put_u8(0x41, self.poison_caps);
        o.put_u8(0x42, self.qos_telemetry_caps);
        o.put_u16(0x43, self.dc_event_log_size);
        o.into_vec()
    }
}

// CXL 3.1 8.2.9.9.1.1 Identify Memory Device (Opcode 4000h)
/// Identify Memory Device: no input; capacities, log sizes, LSA size and
/// poison limits.
pub fn identify_memory_device(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    let c = memdev.config();
    let units = |bytes: u64| bytes / CAPACITY_MULTIPLIER;
    let depth = |t: EventLogType| c.event_log_depths.get(t);
    // The active slot's revision (Activate FW changes it).
    let fw_revision = memdev.firmware().active_revision();
    Ok(IdentifyMemoryDeviceOut {
        fw_revision,
        // Total Capacity is the static capacity only: volatile-only,
        // persistent-only and partitionable (DC capacity is reported by Get
        // Dynamic Capacity Configuration). Linux puts DC region 0 right
        // after it and refuses a gap.
        total_capacity: units(memdev.capacity_bytes()),
        volatile_capacity: units(c.volatile_bytes),
        persistent_capacity: units(c.persistent_bytes),
        partition_align: units(c.partition_align_bytes),
        event_log_sizes: [
            depth(EventLogType::Informational),
            depth(EventLogType::Warning),
            depth(EventLogType::Failure),
            depth(EventLogType::Fatal),
        ],
        lsa_size: c.lsa_size,
        poison_list_max_mer: c.poison_list_max_records,
        inject_poison_limit: c.inject_poison_limit,
        // Injected poison is not persistent; no Scan Media.
        poison_caps: 0,
        qos_telemetry_caps: 0,
        // 0 without Dynamic Capacity, the DC log depth (at least 1) with it.
        dc_event_log_size: if c.has_dynamic_capacity() {
            depth(EventLogType::DynamicCapacity)
        } else {
            0
        },
    }
    .encode())
}

#[cfg(test)]
#[path = "identify_memdev_tests.rs"]
mod tests;
