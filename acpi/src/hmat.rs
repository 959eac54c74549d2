//! The Heterogeneous Memory Attribute Table "HMAT" (ACPI 6.5 5.2.28):
//! latencies and bandwidths from the vCPUs' proximity domain to the RAM and
//! to each CXL host bridge's generic port (see [`crate::srat`]).
//!
//! ```text
//! Memory Proximity Domain Attributes: RAM domain 0, attached initiator 0
//! System Locality Latency and Bandwidth Information, one per data type
//! (read latency, write latency, read bandwidth, write bandwidth):
//!     initiators [0], targets [0, generic port domains...], one entry each
//! ```
//!
//! Linux keeps one locality structure per data type and memory hierarchy
//! (drivers/acpi/numa/hmat.c, `hmat_add_locality`), so every target of a
//! data type shares its structure. From them it computes a generic port's
//! access coordinates for both access classes (`hmat_update_target_attrs`,
//! initiators with and without CPUs) and the CXL core needs all four
//! numbers of both (drivers/cxl/core/port.c, `coordinates_valid`). A
//! Memory Proximity Domain Attributes structure for a domain the SRAT gives
//! no memory makes Linux ignore the whole table, so only RAM's domain has
//! one.
//!
//! acpi_tables 0.2.1's Memory Proximity Domain Attributes structure is
//! right and used; its HMAT says revision 1 (ACPI 6.2's layout, whose
//! latencies Linux reads in tenths of the base unit) for revision 2
//! structures, and its locality structure indexes entries by the initiator
//! count instead of the target count, so those two are written here.

use acpi_tables::hmat::MemoryProximityDomain;

use crate::config::{AccessPerf, AcpiConfig};
use crate::sdt::{self, bytes_of};

/// HMAT revision of ACPI 6.3 and later (ACPI 6.5 Table 5.148).
const REVISION: u8 = 2;
/// System Locality Latency and Bandwidth Information structure type.
const TYPE_LOCALITY: u16 = 1;
/// Its length without the domain lists and entries (ACPI 6.5 Table 5.151).
const LOCALITY_FIXED_LEN: usize = 32;
/// Flags: Memory Hierarchy 0, memory (not a memory-side cache).
const HIERARCHY_MEMORY: u8 = 0;
/// Data types (ACPI 6.5 Table 5.151).
const READ_LATENCY: u8 = 1;
const WRITE_LATENCY: u8 = 2;
const READ_BANDWIDTH: u8 = 4;
const WRITE_BANDWIDTH: u8 = 5;
/// Latency entries are in picoseconds times the base unit, so a base unit
/// of 1000 makes them nanoseconds.
const PS_PER_NS: u64 = 1000;
/// Bandwidth entries are in MB/s times the base unit.
const MBPS: u64 = 1;
/// Largest entry: 0xffff means unreachable and 0 no information.
const MAX_ENTRY: u64 = 0xfffe;

/// One number of an [`AccessPerf`].
type PerfField = fn(&AccessPerf) -> u32;

/// Picks an entry base unit (`unit` times a power of ten) in which every
/// one of `values` (in `unit`s, not zero) fits an entry, and the entries,
/// rounded up so none becomes 0.
fn encode(values: &[u64], unit: u64) -> (u64, Vec<u16>) {
    let mut scale = 1;
    while values.iter().any(|v| v.div_ceil(scale) > MAX_ENTRY) {
        scale *= 10;
    }
    let entries = values.iter().map(|v| v.div_ceil(scale) as u16).collect();
    (unit * scale, entries)
}

/// System Locality Latency and Bandwidth Information (ACPI 6.5 5.2.28.4):
/// `entries[i * targets.len() + t]` from `initiators[i]` to `targets[t]`.
fn locality(
    data_type: u8,
    initiators: &[u32],
    targets: &[u32],
    base_unit: u64,
    entries: &[u16],
) -> Vec<u8> {
    assert_eq!(entries.len(), initiators.len() * targets.len());
    let len = LOCALITY_FIXED_LEN + 4 * (initiators.len() + targets.len()) + 2 * entries.len();
    let mut s = Vec::with_capacity(len);
    s.extend_from_slice(&TYPE_LOCALITY.to_le_bytes()); // Type
    s.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    s.extend_from_slice(&(len as u32).to_le_bytes()); // Length
    s.push(HIERARCHY_MEMORY); // Flags
    s.push(data_type); // Data Type
    s.push(0); // Minimum Transfer Size
    s.push(0); // Reserved
    s.extend_from_slice(&(initiators.len() as u32).to_le_bytes());
    s.extend_from_slice(&(targets.len() as u32).to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    s.extend_from_slice(&base_unit.to_le_bytes()); // Entry Base Unit
    for pd in initiators.iter().chain(targets) {
        s.extend_from_slice(&pd.to_le_bytes());
    }
    for e in entries {
        s.extend_from_slice(&e.to_le_bytes());
    }
    s
}

/// The HMAT for `cfg`: RAM and every generic port seen from the vCPUs.
pub(crate) fn build(cfg: &AcpiConfig) -> Vec<u8> {
    let cpu = AcpiConfig::CPU_PROXIMITY_DOMAIN;
    let ports = cfg.generic_ports();
    let targets: Vec<u32> = [cpu]
        .into_iter()
        .chain(ports.iter().map(|&(_, pxm)| pxm))
        .collect();
    let perfs: Vec<AccessPerf> = [cfg.ram_perf]
        .into_iter()
        .chain(ports.iter().map(|_| cfg.host_bridge_perf))
        .collect();

    let mut body = 0u32.to_le_bytes().to_vec(); // Reserved
    body.extend(bytes_of(&MemoryProximityDomain::new(cpu, cpu)));
    let fields: [(u8, u64, PerfField); 4] = [
        (READ_LATENCY, PS_PER_NS, |p| p.read_latency_ns),
        (WRITE_LATENCY, PS_PER_NS, |p| p.write_latency_ns),
        (READ_BANDWIDTH, MBPS, |p| p.read_bandwidth_mbps),
        (WRITE_BANDWIDTH, MBPS, |p| p.write_bandwidth_mbps),
    ];
    for (data_type, unit, field) in fields {
        let values: Vec<u64> = perfs.iter().map(|p| u64::from(field(p))).collect();
        let (base, entries) = encode(&values, unit);
        body.extend(locality(data_type, &[cpu], &targets, base, &entries));
    }
    sdt::table(*b"HMAT", REVISION, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CxlWindow, HostBridge, HostBridgeKind};
    use crate::sdt::tests::{checksum_ok, u16_at, u32_at, u64_at};

    /// RAM, two CXL host bridges (`_UID` 1 and 2) and one window.
    fn config() -> AcpiConfig {
        let mut cfg = AcpiConfig::new(2);
        cfg.ram.push((0, 0x2000_0000));
        for uid in [1, 2] {
            cfg.host_bridges.push(HostBridge {
                uid,
                bus_start: 0x80 + uid as u8,
                bus_end: 0x80 + uid as u8,
                io: None,
                mmio32: (0, 0),
                mmio64: (0, 0),
                kind: HostBridgeKind::Cxl { chbs_base: 0 },
            });
        }
        cfg.cxl_windows.push(CxlWindow {
            base: 0,
            size: 0,
            interleave_ways: 2,
            granularity_bytes: 256,
            restrictions: 0,
            qtg_id: 0,
            targets: vec![1, 2],
        });
        cfg.host_bridge_perf.write_latency_ns = 120;
        cfg.host_bridge_perf.read_bandwidth_mbps = 100_000;
        cfg
    }

    #[test]
    fn encodings() {
        assert_eq!(encode(&[80, 100], 1000), (1000, vec![80, 100]));
        assert_eq!(encode(&[65534, 1], 1), (1, vec![65534, 1]));
        assert_eq!(encode(&[65535, 1], 1), (10, vec![6554, 1]));
        assert_eq!(encode(&[1_000_000], 1000), (100_000, vec![10_000]));
        assert_eq!(encode(&[100_000_000, 51_200], 1), (10_000, vec![10_000, 6]));
    }

    #[test]
    fn layout() {
        let b = build(&config());
        assert_eq!(&b[..4], b"HMAT");
        assert_eq!(b[8], 2, "revision");
        // Header, reserved, proximity domain attributes, and 4 localities
        // of 1 initiator, 3 targets and 3 entries.
        let loc_len = 32 + 4 + 12 + 6;
        assert_eq!(b.len(), 36 + 4 + 40 + 4 * loc_len);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert!(checksum_ok(&b));
        assert_eq!(u32_at(&b, 36), 0, "reserved");

        let mpda = &b[40..80];
        assert_eq!(u16_at(mpda, 0), 0, "type");
        assert_eq!(u32_at(mpda, 4), 40, "length");
        assert_eq!(u16_at(mpda, 8), 1, "initiator domain valid");
        assert_eq!(u32_at(mpda, 12), 0, "attached initiator");
        assert_eq!(u32_at(mpda, 16), 0, "memory domain");
        assert!(mpda[20..].iter().all(|&x| x == 0));

        // (data type, base unit, RAM, host bridge 1, host bridge 2)
        let want = [
            (1, 1000, 80, 100, 100),
            (2, 1000, 80, 120, 120),
            (4, 10, 5120, 10_000, 10_000),
            (5, 1, 51_200, 64_000, 64_000),
        ];
        for (i, (ty, base, ram, hb1, hb2)) in want.into_iter().enumerate() {
            let l = &b[80 + i * loc_len..80 + (i + 1) * loc_len];
            assert_eq!(u16_at(l, 0), 1, "type");
            assert_eq!(u32_at(l, 4) as usize, loc_len, "length");
            assert_eq!((l[8], l[9], l[10]), (0, ty, 0), "flags, data type");
            assert_eq!((u32_at(l, 12), u32_at(l, 16)), (1, 3), "domain counts");
            assert_eq!(u64_at(l, 24), base, "entry base unit");
            assert_eq!(u32_at(l, 32), 0, "initiator");
            // The window has domain 1; the generic ports follow it.
            let targets = [u32_at(l, 36), u32_at(l, 40), u32_at(l, 44)];
            assert_eq!(targets, [0, 2, 3]);
            let entries = [u16_at(l, 48), u16_at(l, 50), u16_at(l, 52)];
            assert_eq!(entries, [ram, hb1, hb2], "data type {ty}");
        }
    }

    #[test]
    fn ram_only() {
        let mut cfg = AcpiConfig::new(1);
        cfg.ram.push((0, 0x1000_0000));
        let b = build(&cfg);
        let loc_len = 32 + 4 + 4 + 2;
        assert_eq!(b.len(), 36 + 4 + 40 + 4 * loc_len);
        assert!(checksum_ok(&b));
        assert_eq!(u32_at(&b, 80 + 16), 1, "one target");
    }
}
