//! The System Resource Affinity Table "SRAT" (ACPI 6.5 5.2.16): every vCPU
//! and all RAM in proximity domain 0.
//!
//! Linux only trusts its ACPI NUMA setup when an SRAT describes memory
//! (drivers/acpi/numa/srat.c, acpi_numa_init); it then gives each CEDT
//! CFMWS window that the SRAT does not cover a proximity domain (and NUMA
//! node) of its own, so CXL memory shows up as a CPU-less node.
//!
//! acpi_tables 0.2.1 has the Memory Affinity structure but no x86 Processor
//! Local APIC Affinity, and its SRAT container takes neither raw entries
//! nor a revision, so the table is assembled here.

use acpi_tables::srat::MemoryAffinity;

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
/// The one proximity domain.
const PROXIMITY_DOMAIN: u32 = 0;

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

/// The SRAT for `cpus` vCPUs (APIC IDs `0..cpus`) and `ram` ranges.
pub(crate) fn build(cpus: u8, ram: &[(u64, u64)]) -> Vec<u8> {
    let mut body = RESERVED_ONE.to_le_bytes().to_vec();
    body.extend_from_slice(&0u64.to_le_bytes()); // Reserved
    for apic_id in 0..cpus {
        body.extend(local_apic_affinity(apic_id, PROXIMITY_DOMAIN));
    }
    for &(base, size) in ram {
        let mem = MemoryAffinity::new(PROXIMITY_DOMAIN, base, size).enabled();
        body.extend(bytes_of(&mem));
    }
    sdt::table(*b"SRAT", REVISION, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u32_at, u64_at};

    #[test]
    fn layout() {
        let b = build(2, &[(0, 0xa_0000), (0x1_0000_0000, 0x4000_0000)]);
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
    fn high_proximity_domain_bits() {
        let s = local_apic_affinity(5, 0x0403_0201);
        assert_eq!(s.len(), 16);
        assert_eq!((s[2], s[3]), (0x01, 5));
        assert_eq!(&s[9..12], &[0x02, 0x03, 0x04]);
    }
}
