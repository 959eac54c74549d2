//! The System Resource Affinity Table "SRAT" (ACPI 6.5 5.2.16): every vCPU
//! and all RAM in proximity domain 0, and a generic port per CXL host
//! bridge.
//!
//! Linux only trusts its ACPI NUMA setup when an SRAT describes memory
//! (drivers/acpi/numa/srat.c, acpi_numa_init); it then gives each CEDT
//! CFMWS window that the SRAT does not cover a proximity domain (and NUMA
//! node) of its own, so CXL memory shows up as a CPU-less node.
//!
//! A Generic Port Affinity structure names a CXL host bridge (`ACPI0016`
//! and its `_UID`) and puts it in a proximity domain of its own, which the
//! HMAT gives latencies and bandwidths from the vCPUs. Linux's HMAT code
//! keeps them per `_UID` (drivers/acpi/numa/hmat.c,
//! `srat_parse_genport_affinity`, `acpi_get_genport_coordinates`), cxl_acpi
//! copies them into the host bridge's dport and the CXL core adds the path
//! below to get a device's performance (drivers/cxl/core/port.c,
//! `cxl_endpoint_get_perf_coordinates`); without them Linux computes no
//! QoS class. Linux's NUMA setup ignores generic ports: their domains
//! become no node. See [`AcpiConfig::generic_ports`] for their numbering.
//!
//! acpi_tables 0.2.1 has the Memory Affinity structure and the device
//! handle but no x86 Processor Local APIC Affinity and no Generic Port
//! Affinity, and its SRAT container takes neither raw entries nor a
//! revision, so the table is assembled here.

use acpi_tables::srat::{Handle, MemoryAffinity};

use crate::config::AcpiConfig;
use crate::sdt::{self, bytes_of};

/// SRAT revision in ACPI 6.5.
const REVISION: u8 = 3;
/// The reserved DWORD after the header must be 1 (ACPI 6.5 5.2.16).
const RESERVED_ONE: u32 = 1;
/// Processor Local APIC/SAPIC Affinity structure type (ACPI 6.5 5.2.16.1).
const TYPE_LOCAL_APIC_AFFINITY: u8 = 0;
/// Length of a Processor Local APIC/SAPIC Affinity structure (ACPI 6.5 5.2.16.1).
const LOCAL_APIC_AFFINITY_LEN: u8 = 16;
/// Flags bit 0: Enabled (ACPI 6.5 5.2.16.1).
const ENABLED: u32 = 1 << 0;
/// The vCPUs' and RAM's proximity domain.
const PROXIMITY_DOMAIN: u32 = AcpiConfig::CPU_PROXIMITY_DOMAIN;
/// Generic Port Affinity structure type (ACPI 6.5 5.2.16.7).
const TYPE_GENERIC_PORT_AFFINITY: u8 = 6;
/// Length of a Generic Port Affinity structure (ACPI 6.5 5.2.16.7).
const GENERIC_PORT_AFFINITY_LEN: u8 = 32;
/// Device Handle Type 0: ACPI device handle, `_HID` then `_UID` (ACPI 6.5
/// Table 5.65).
const DEVICE_HANDLE_ACPI: u8 = 0;
/// `_HID` of a CXL host bridge (CXL 3.1 9.17.1).
const CXL_HOST_BRIDGE_HID: [u8; 8] = *b"ACPI0016";

/// Processor Local APIC/SAPIC Affinity (ACPI 6.5 5.2.16.1) of APIC ID `apic_id`.
fn local_apic_affinity(apic_id: u8, pxm: u32) -> Vec<u8> {
    let [pxm0, pxm1, pxm2, pxm3] = pxm.to_le_bytes();
    let mut s = vec![
        TYPE_LOCAL_APIC_AFFINITY,
        LOCAL_APIC_AFFINITY_LEN,
        pxm0,
        apic_id,
    ];
    s.extend_from_slice(&ENABLED.to_le_bytes()); // Flags
    s.push(0); // Local SAPIC EID
    s.extend_from_slice(&[pxm1, pxm2, pxm3]); // Proximity Domain [31:8]
    s.extend_from_slice(&0u32.to_le_bytes()); // Clock Domain
    s
}

/// Generic Port Affinity (ACPI 6.5 5.2.16.7) of the CXL host bridge with
/// `_UID` `uid`, in proximity domain `pxm`.
fn generic_port_affinity(uid: u32, pxm: u32) -> Vec<u8> {
    let mut s = vec![
        TYPE_GENERIC_PORT_AFFINITY,
        GENERIC_PORT_AFFINITY_LEN,
        0, // Reserved
        DEVICE_HANDLE_ACPI,
    ];
    s.extend_from_slice(&pxm.to_le_bytes()); // Proximity Domain
                                             // Device Handle: _HID, _UID as an integer, 4 reserved bytes.
    s.extend(bytes_of(&Handle::new_acpi(
        CXL_HOST_BRIDGE_HID,
        uid.to_le_bytes(),
    )));
    s.extend_from_slice(&ENABLED.to_le_bytes()); // Flags
    s.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    s
}

/// The SRAT for `cpus` vCPUs (APIC IDs `0..cpus`), the RAM ranges and the
/// generic ports of `cfg`.
pub(crate) fn build(cfg: &AcpiConfig, cpus: u8) -> Vec<u8> {
    let mut body = RESERVED_ONE.to_le_bytes().to_vec();
    body.extend_from_slice(&0u64.to_le_bytes()); // Reserved
    for apic_id in 0..cpus {
        body.extend(local_apic_affinity(apic_id, PROXIMITY_DOMAIN));
    }
    for &(base, size) in &cfg.ram {
        let mem = MemoryAffinity::new(PROXIMITY_DOMAIN, base, size).enabled();
        body.extend(bytes_of(&mem));
    }
    for (uid, pxm) in cfg.generic_ports() {
        body.extend(generic_port_affinity(uid, pxm));
    }
    sdt::table(*b"SRAT", REVISION, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u32_at, u64_at};

    fn config(cpus: u32, ram: &[(u64, u64)]) -> AcpiConfig {
        let mut cfg = AcpiConfig::new(cpus);
        cfg.ram = ram.to_vec();
        cfg
    }

    #[test]
    fn layout() {
        let b = build(
            &config(2, &[(0, 0xa_0000), (0x1_0000_0000, 0x4000_0000)]),
            2,
        );
        assert_eq!(&b[..4], b"SRAT");
        assert_eq!(b[8], 3);
        assert_eq!(b.len(), 48 + 2 * 16 + 2 * 40);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert!(checksum_ok(&b));
        assert_eq!(u32_at(&b, 36), 1);

        let cpu1 = &b[64..80];
        assert_eq!(&cpu1[..4], &[0, 16, 0, 1], "type, length, PXM, APIC ID 1");
        assert_eq!(u32_at(cpu1, 4), 1, "enabled");

        let mem = &b[120..160];
        assert_eq!(&mem[..2], &[1, 40], "type, length");
        assert_eq!(u32_at(mem, 2), 0, "proximity domain");
        assert_eq!(u64_at(mem, 8), 0x1_0000_0000, "base");
        assert_eq!(u64_at(mem, 16), 0x4000_0000, "length");
        assert_eq!(u32_at(mem, 28), 1, "enabled");
    }

    #[test]
    fn generic_port_layout() {
        let s = generic_port_affinity(0x0102_0304, 0x0506_0708);
        assert_eq!(s.len(), 32);
        assert_eq!(
            &s[..4],
            &[6, 32, 0, 0],
            "type, length, reserved, ACPI handle"
        );
        assert_eq!(u32_at(&s, 4), 0x0506_0708, "proximity domain");
        assert_eq!(&s[8..16], b"ACPI0016", "_HID");
        assert_eq!(u32_at(&s, 16), 0x0102_0304, "_UID");
        assert_eq!(u32_at(&s, 20), 0, "handle reserved");
        assert_eq!(u32_at(&s, 24), 1, "enabled");
        assert_eq!(u32_at(&s, 28), 0, "reserved");
    }

    #[test]
    fn generic_ports_follow_the_window_domains() {
        use crate::config::{CxlWindow, HostBridge, HostBridgeKind};
        let mut cfg = config(1, &[(0, 0x1000_0000)]);
        for uid in [3, 5] {
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
        let window = |targets: Vec<u32>| CxlWindow {
            base: 0,
            size: 0,
            interleave_ways: 1,
            granularity_bytes: 256,
            restrictions: 0,
            qtg_id: 0,
            targets,
        };
        cfg.cxl_windows = vec![window(vec![3]), window(vec![5]), window(vec![3])];
        // Linux gives the windows domains 1, 2 and 3.
        assert_eq!(cfg.generic_ports(), [(3, 4), (5, 5)]);

        let b = build(&cfg, 1);
        assert_eq!(b.len(), 48 + 16 + 40 + 2 * 32);
        assert!(checksum_ok(&b));
        let gp = &b[104..136];
        assert_eq!((gp[0], u32_at(gp, 4), u32_at(gp, 16)), (6, 4, 3));
        let gp = &b[136..168];
        assert_eq!((gp[0], u32_at(gp, 4), u32_at(gp, 16)), (6, 5, 5));
    }

    #[test]
    fn high_proximity_domain_bits() {
        let s = local_apic_affinity(5, 0x0403_0201);
        assert_eq!(s.len(), 16);
        assert_eq!((s[2], s[3]), (0x01, 5));
        assert_eq!(&s[9..12], &[0x02, 0x03, 0x04]);
    }
}
