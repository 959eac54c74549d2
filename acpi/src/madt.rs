//! The Multiple APIC Description Table "APIC" (ACPI 6.5 5.2.12).
//!
//! acpi_tables builds the Processor Local APIC (5.2.12.2) and I/O APIC
//! (5.2.12.3) entries, but its
//! `MADT` cannot set the header Flags and lacks Interrupt Source Override and
//! Local APIC NMI entries, so the table itself is assembled here.

use acpi_tables::madt::{EnabledStatus, IoApic, ProcessorLocalApic};
use arch::layout;

use crate::sdt::{self, bytes_of};

/// MADT revision in ACPI 6.5.
const REVISION: u8 = 6;
/// Flags PCAT_COMPAT: dual 8259 PICs are present (ACPI 6.5 5.2.12).
const PCAT_COMPAT: u32 = 1 << 0;
/// Interrupt Source Override entry type (ACPI 6.5 5.2.12).
const TYPE_INTERRUPT_SOURCE_OVERRIDE: u8 = 2;
/// Local APIC NMI entry type (ACPI 6.5 5.2.12).
const TYPE_LOCAL_APIC_NMI: u8 = 4;
/// MPS INTI flags: active high (bits 1:0 = 01), edge (bits 3:2 = 01) (ACPI 6.5 5.2.12.5).
const EDGE_HIGH: u16 = 0b01 << 2 | 0b01;
/// MPS INTI flags: active high (bits 1:0 = 01), level (bits 3:2 = 11) (ACPI 6.5 5.2.12.5).
const LEVEL_HIGH: u16 = 0b11 << 2 | 0b01;
/// Bus 0 is ISA (ACPI 6.5 5.2.12.5).
const BUS_ISA: u8 = 0;
/// ACPI Processor UID meaning "all processors" (ACPI 6.5 5.2.12.7).
const ALL_PROCESSORS: u8 = 0xff;
/// The local APIC pin wired to NMI.
const LINT1: u8 = 1;
/// The ISA timer IRQ, routed to I/O APIC pin 2.
const PIT_IRQ: u8 = 0;
/// I/O APIC input of the ISA timer.
const PIT_GSI: u32 = 2;

const _: () = assert!(layout::APIC_START <= u32::MAX as u64);
const _: () = assert!(layout::IOAPIC_START <= u32::MAX as u64);
const _: () = assert!(layout::ACPI_SCI_IRQ <= u8::MAX as u32);
const _: () = assert!(layout::MAX_VCPUS < 0xff);

/// Interrupt Source Override (ACPI 6.5 5.2.12.5): ISA `source` drives `gsi`.
fn interrupt_source_override(source: u8, gsi: u32, flags: u16) -> Vec<u8> {
    let mut e = vec![TYPE_INTERRUPT_SOURCE_OVERRIDE, 10, BUS_ISA, source];
    e.extend_from_slice(&gsi.to_le_bytes());
    e.extend_from_slice(&flags.to_le_bytes());
    e
}

/// Local APIC NMI (ACPI 6.5 5.2.12.7): LINT1 of every processor is NMI.
fn local_apic_nmi() -> Vec<u8> {
    let mut e = vec![TYPE_LOCAL_APIC_NMI, 6, ALL_PROCESSORS];
    e.extend_from_slice(&EDGE_HIGH.to_le_bytes());
    e.push(LINT1);
    e
}

/// The MADT for `cpus` vCPUs (1..=[`layout::MAX_VCPUS`], checked by the
/// caller). vCPU `i` has ACPI processor UID and APIC ID `i`; the I/O APIC
/// takes ID `cpus`, the first free one.
pub(crate) fn build(cpus: u8) -> Vec<u8> {
    // Local Interrupt Controller Address, then Flags.
    let mut body = (layout::APIC_START as u32).to_le_bytes().to_vec();
    body.extend_from_slice(&PCAT_COMPAT.to_le_bytes());
    for id in 0..cpus {
        let lapic = ProcessorLocalApic::new(id, id, EnabledStatus::Enabled);
        body.extend(bytes_of(&lapic));
    }
    let ioapic = IoApic::new(cpus, layout::IOAPIC_START as u32, 0);
    body.extend(bytes_of(&ioapic));
    body.extend(interrupt_source_override(PIT_IRQ, PIT_GSI, EDGE_HIGH));
    let sci = layout::ACPI_SCI_IRQ as u8;
    body.extend(interrupt_source_override(sci, u32::from(sci), LEVEL_HIGH));
    body.extend(local_apic_nmi());
    sdt::table(*b"APIC", REVISION, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdt::tests::{checksum_ok, u16_at, u32_at};

    /// The interrupt controller structures as (type, bytes).
    fn entries(b: &[u8]) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        let mut off = 44;
        while off < b.len() {
            let len = b[off + 1] as usize;
            out.push((b[off], &b[off..off + len]));
            off += len;
        }
        assert_eq!(off, b.len(), "entries fill the table exactly");
        out
    }

    #[test]
    fn header() {
        let b = build(2);
        assert_eq!(&b[..4], b"APIC");
        assert_eq!(b[8], REVISION);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert_eq!(u32_at(&b, 36), 0xfee0_0000);
        assert_eq!(u32_at(&b, 40), PCAT_COMPAT);
        assert!(checksum_ok(&b));
    }

    #[test]
    fn one_enabled_local_apic_per_vcpu() {
        for cpus in [1u8, 4, 254] {
            let b = build(cpus);
            assert!(checksum_ok(&b));
            let lapics: Vec<_> = entries(&b).into_iter().filter(|e| e.0 == 0).collect();
            assert_eq!(lapics.len(), cpus as usize);
            for (i, (_, e)) in lapics.iter().enumerate() {
                assert_eq!(e.len(), 8);
                assert_eq!(e[2] as usize, i, "ACPI processor UID");
                assert_eq!(e[3] as usize, i, "APIC ID");
                assert_eq!(u32_at(e, 4), 1, "enabled");
            }
        }
    }

    #[test]
    fn ioapic_overrides_and_nmi() {
        let b = build(3);
        let e = entries(&b);
        let ioapic = e.iter().find(|e| e.0 == 1).unwrap().1;
        assert_eq!(ioapic.len(), 12);
        assert_eq!(ioapic[2], 3, "I/O APIC ID after the APIC IDs");
        assert_eq!(u32_at(ioapic, 4), 0xfec0_0000);
        assert_eq!(u32_at(ioapic, 8), 0, "GSI base");

        let isos: Vec<_> = e.iter().filter(|e| e.0 == 2).map(|e| e.1).collect();
        assert_eq!(isos.len(), 2);
        for iso in &isos {
            assert_eq!(iso.len(), 10);
            assert_eq!(iso[2], 0, "ISA bus");
        }
        assert_eq!((isos[0][3], u32_at(isos[0], 4)), (0, 2));
        assert_eq!(u16_at(isos[0], 8), 0b0101, "edge, active high");
        assert_eq!((isos[1][3], u32_at(isos[1], 4)), (9, 9));
        assert_eq!(u16_at(isos[1], 8), 0b1101, "level, active high");

        let nmi = e.iter().find(|e| e.0 == 4).unwrap().1;
        assert_eq!(nmi, &[4, 6, 0xff, 0b0101, 0, 1]);
    }
}
