//! Identify Memory Device command set: Identify Memory Device (CXL 3.1
//! 8.2.9.9.1.1).

use super::payload::{Input, Output};
use super::RetCode;
use crate::cxl::events::EventLogType;
use crate::cxl::memdev::{Memdev, CAPACITY_MULTIPLIER, FW_REVISION_LEN};

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

// CXL 3.1 8.2.9.9.1.1 Identify Memory Device (Opcode 4000h)
/// Identify Memory Device: no input; FW revision, capacities in 256 MiB
/// units, event log sizes, LSA size, poison limits and capabilities.
pub fn identify_memory_device(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    let c = memdev.config();
    let units = |bytes: u64| bytes / CAPACITY_MULTIPLIER;
    let depth = |t: EventLogType| c.event_log_depths.get(t);
    let mut o = Output::zeroed(IDENTIFY_MEMORY_DEVICE_SIZE);
    let rev = c.fw_revision.as_bytes();
    o.put_bytes(0x00, rev.get(..FW_REVISION_LEN).unwrap_or(rev));
    // Total Capacity is the static capacity only: volatile-only,
    // persistent-only and partitionable (DC capacity is reported by Get
    // Dynamic Capacity Configuration). Linux puts DC region 0 right after
    // it and refuses a gap.
    o.put_u64(0x10, units(memdev.capacity_bytes()));
    o.put_u64(0x18, units(c.volatile_bytes));
    o.put_u64(0x20, units(c.persistent_bytes));
    o.put_u64(0x28, units(c.partition_align_bytes));
    o.put_u16(0x30, depth(EventLogType::Informational));
    o.put_u16(0x32, depth(EventLogType::Warning));
    o.put_u16(0x34, depth(EventLogType::Failure));
    o.put_u16(0x36, depth(EventLogType::Fatal));
    o.put_u32(0x38, c.lsa_size);
    o.put_u24(0x3C, c.poison_list_max_records);
    o.put_u16(0x3F, c.inject_poison_limit);
    // Injected poison is not persistent; no Scan Media.
    o.put_u8(0x41, 0);
    o.put_u8(0x42, 0);
    // Dynamic Capacity Event Log Size: 0 without Dynamic Capacity, the DC
    // log depth (at least 1) with it.
    if c.has_dynamic_capacity() {
        o.put_u16(0x43, depth(EventLogType::DynamicCapacity));
    }
    Ok(o.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{dc_only_config, test_config, test_memdev};
    use crate::cxl::memdev::Memdev;

    #[test]
    fn identify_memory_device_fields() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x45);
        let u64_at = |o: usize| u64::from_le_bytes(out[o..o + 8].try_into().unwrap());
        let u16_at = |o: usize| u16::from_le_bytes([out[o], out[o + 1]]);
        assert_eq!(&out[0..8], b"FW-1.2.3");
        assert!(out[8..16].iter().all(|&b| b == 0));
        // 1 GiB + 512 MiB + 1 GiB = 10 x 256 MiB.
        assert_eq!(u64_at(0x10), 10);
        assert_eq!(u64_at(0x18), 4);
        assert_eq!(u64_at(0x20), 2);
        assert_eq!(u64_at(0x28), 1);
        assert_eq!(u16_at(0x30), 4);
        assert_eq!(u16_at(0x32), 3);
        assert_eq!(u16_at(0x34), 2);
        assert_eq!(u16_at(0x36), 1);
        assert_eq!(
            u32::from_le_bytes(out[0x38..0x3C].try_into().unwrap()),
            4096
        );
        assert_eq!(&out[0x3C..0x3F], &[8, 0, 0]);
        assert_eq!(u16_at(0x3F), 4);
        assert_eq!(out[0x41], 0);
        assert_eq!(out[0x42], 0);
        // Dynamic Capacity Event Log Size: the DC log depth.
        assert_eq!(u16_at(0x43), 64);
    }

    #[test]
    fn identify_memory_device_dc_log_size() {
        let u16_at = |out: &[u8], o: usize| u16::from_le_bytes([out[o], out[o + 1]]);
        // Without DC regions the field is 0.
        let mut c = test_config();
        c.dc = Default::default();
        let mut m = Memdev::new(c).unwrap();
        let (_, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
        assert_eq!(u16_at(&out, 0x43), 0);
        // A DC-only device: no static capacity, a DC log of its depth.
        let mut c = dc_only_config();
        c.event_log_depths.dynamic_capacity = 100;
        let mut m = Memdev::new(c).unwrap();
        let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[]);
        assert_eq!(rc, RetCode::Success);
        let u64_at = |o: usize| u64::from_le_bytes(out[o..o + 8].try_into().unwrap());
        assert_eq!(u64_at(0x10), 0);
        assert_eq!(u64_at(0x18), 0);
        assert_eq!(u64_at(0x20), 0);
        assert_eq!(u64_at(0x28), 0);
        assert_eq!(u16_at(&out, 0x43), 100);
    }

    #[test]
    fn identify_memory_device_rejects_input() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(Opcode::IdentifyMemoryDevice as u16, &[0; 4]);
        assert_eq!(rc, RetCode::InvalidPayloadLength);
        assert!(out.is_empty());
    }
}
