//! Laying the tables out in guest-physical memory.

use arch::layout;

use crate::config::AcpiConfig;
use crate::{cedt, dsdt, fadt, hmat, madt, mcfg, rsdp, srat, Error};

/// Alignment of every table (the RSDP needs 16 bytes, ACPI 6.5 5.2.5.1).
const TABLE_ALIGN: u64 = 16;

/// One table and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiBlob {
    /// "RSDP", "XSDT", "FACS", "FACP", "DSDT", "APIC", "MCFG", "CEDT", "SRAT"
    /// or "HMAT".
    pub signature: String,
    /// Guest-physical address of the first byte.
    pub gpa: u64,
    /// The whole table, checksum included.
    pub bytes: Vec<u8>,
}

/// Every table, RSDP first, each to be written at its `gpa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiTables {
    /// The tables in address order.
    pub tables: Vec<AcpiBlob>,
    rsdp_addr: u64,
}

impl AcpiTables {
    /// Where the RSDP is (for boot_params.acpi_rsdp_addr).
    pub fn rsdp_addr(&self) -> u64 {
        self.rsdp_addr
    }

    /// The table with `signature`, if built.
    pub fn get(&self, signature: &str) -> Option<&AcpiBlob> {
        self.tables.iter().find(|t| t.signature == signature)
    }
}

/// Hands out 16-byte aligned addresses from `base` on.
struct Cursor {
    base: u64,
    next: u64,
}

impl Cursor {
    /// Reserves `len` bytes at an `align`-byte boundary.
    fn place_aligned(&mut self, len: usize, align: u64) -> Result<u64, Error> {
        let too_large = Error::TooLarge {
            needed: u64::MAX,
            available: layout::ACPI_TABLES_SIZE,
        };
        self.next = self.next.checked_next_multiple_of(align).ok_or(too_large)?;
        self.place(len)
    }

    /// Reserves `len` bytes, returning their address.
    fn place(&mut self, len: usize) -> Result<u64, Error> {
        let addr = self.next;
        let end = addr.checked_add(len as u64);
        let next = end.and_then(|e| e.checked_next_multiple_of(TABLE_ALIGN));
        match (end, next) {
            (Some(end), Some(next)) if end - self.base <= layout::ACPI_TABLES_SIZE => {
                self.next = next;
                Ok(addr)
            }
            _ => Err(Error::TooLarge {
                needed: end.map_or(u64::MAX, |e| e - self.base),
                available: layout::ACPI_TABLES_SIZE,
            }),
        }
    }
}

/// Builds every table for `cfg`, laid out from guest-physical `base`
/// (normally [`layout::ACPI_TABLES_START`]): RSDP, XSDT, FACS, FACP, DSDT, APIC,
/// MCFG, then CEDT if there is a CXL host bridge, and SRAT and HMAT if
/// [`AcpiConfig::ram`] is not empty.
pub fn build(cfg: &AcpiConfig, base: u64) -> Result<AcpiTables, Error> {
    cfg.validate()?;
    if !base.is_multiple_of(TABLE_ALIGN) {
        return Err(Error::UnalignedBase(base));
    }
    let cpus = u8::try_from(cfg.cpus).map_err(|_| Error::CpuCount(cfg.cpus))?;

    let dsdt = dsdt::build(cfg);
    let mut listed = vec![("APIC", madt::build(cpus)), ("MCFG", mcfg::build())];
    if cfg.has_cxl() {
        listed.push(("CEDT", cedt::build(cfg)?));
    }
    if !cfg.ram.is_empty() {
        listed.push(("SRAT", srat::build(cfg, cpus)));
        listed.push(("HMAT", hmat::build(cfg)));
    }

    let mut cursor = Cursor { base, next: base };
    let rsdp_addr = cursor.place(rsdp::rsdp(0).len())?;
    let xsdt_addr = cursor.place(rsdp::xsdt(&vec![0; 1 + listed.len()]).len())?;
    let facs_addr = cursor.place_aligned(fadt::facs_len(), fadt::FACS_ALIGN)?;
    let fadt_addr = cursor.place(fadt::len())?;
    let dsdt_addr = cursor.place(dsdt.len())?;
    let mut xsdt_entries = vec![fadt_addr];
    for (_, bytes) in &listed {
        xsdt_entries.push(cursor.place(bytes.len())?);
    }

    let blob = |signature: &str, gpa, bytes| AcpiBlob {
        signature: signature.to_string(),
        gpa,
        bytes,
    };
    let mut tables = vec![
        blob("RSDP", rsdp_addr, rsdp::rsdp(xsdt_addr)),
        blob("XSDT", xsdt_addr, rsdp::xsdt(&xsdt_entries)),
        blob("FACS", facs_addr, fadt::facs()),
        blob("FACP", fadt_addr, fadt::build(dsdt_addr, facs_addr)),
        blob("DSDT", dsdt_addr, dsdt),
    ];
    for ((signature, bytes), &gpa) in listed.into_iter().zip(&xsdt_entries[1..]) {
        tables.push(blob(signature, gpa, bytes));
    }
    Ok(AcpiTables { tables, rsdp_addr })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CxlWindow, HostBridge, HostBridgeKind};
    use crate::sdt::tests::{checksum_ok, u32_at, u64_at};

    fn cxl_config() -> AcpiConfig {
        let mut cfg = AcpiConfig::new(8);
        cfg.host_bridges[0].bus_end = 0x7f;
        cfg.host_bridges.push(HostBridge {
            uid: 1,
            bus_start: 0x80,
            bus_end: 0xff,
            io: None,
            mmio32: (0, 0),
            mmio64: (0, 0),
            kind: HostBridgeKind::Cxl {
                chbs_base: layout::CXL_CHBS_START,
            },
        });
        cfg.cxl_windows.push(CxlWindow {
            base: layout::CXL_FMW_START,
            size: layout::CXL_FMW_ALIGN,
            interleave_ways: 1,
            granularity_bytes: 256,
            restrictions: CxlWindow::HOST_ONLY_COHERENT | CxlWindow::VOLATILE,
            qtg_id: 0,
            targets: vec![1],
        });
        cfg.ram.push((0, layout::MMIO32_START));
        cfg
    }

    fn signatures(t: &AcpiTables) -> Vec<&str> {
        t.tables.iter().map(|b| b.signature.as_str()).collect()
    }

    #[test]
    fn minimal_set() {
        let t = build(&AcpiConfig::new(1), layout::ACPI_TABLES_START).unwrap();
        assert_eq!(
            signatures(&t),
            ["RSDP", "XSDT", "FACS", "FACP", "DSDT", "APIC", "MCFG"]
        );
    }

    #[test]
    fn layout_checksums_and_pointers() {
        let base = layout::ACPI_TABLES_START;
        let t = build(&cxl_config(), base).unwrap();
        assert_eq!(
            signatures(&t),
            ["RSDP", "XSDT", "FACS", "FACP", "DSDT", "APIC", "MCFG", "CEDT", "SRAT", "HMAT"]
        );
        assert_eq!(t.rsdp_addr(), base);
        assert_eq!(t.tables[0].gpa, base, "RSDP first");

        let mut end = base;
        for b in &t.tables {
            assert_eq!(b.gpa % 16, 0, "{} aligned", b.signature);
            assert!(b.gpa >= end, "{} overlaps the previous table", b.signature);
            end = b.gpa + b.bytes.len() as u64;
            if b.signature == "RSDP" {
                assert!(checksum_ok(&b.bytes[..20]) && checksum_ok(&b.bytes));
            } else {
                assert_eq!(&b.bytes[..4], b.signature.as_bytes());
                assert_eq!(
                    u32_at(&b.bytes, 4) as usize,
                    b.bytes.len(),
                    "{}",
                    b.signature
                );
                // The FACS has no checksum (ACPI 6.5 5.2.10).
                if b.signature != "FACS" {
                    assert!(checksum_ok(&b.bytes), "{} checksum", b.signature);
                }
            }
        }
        assert!(end - base <= layout::ACPI_TABLES_SIZE);

        let gpa = |sig| t.get(sig).unwrap().gpa;
        assert_eq!(u64_at(&t.get("RSDP").unwrap().bytes, 24), gpa("XSDT"));
        let xsdt = &t.get("XSDT").unwrap().bytes;
        let entries: Vec<u64> = (36..xsdt.len())
            .step_by(8)
            .map(|o| u64_at(xsdt, o))
            .collect();
        let listed = ["FACP", "APIC", "MCFG", "CEDT", "SRAT", "HMAT"].map(gpa);
        assert_eq!(entries, listed);
        assert_eq!(
            u64_at(&t.get("FACP").unwrap().bytes, 140),
            gpa("DSDT"),
            "X_DSDT"
        );
    }

    #[test]
    fn rejects_unaligned_base() {
        let err = build(&AcpiConfig::new(1), layout::ACPI_TABLES_START + 8).unwrap_err();
        assert_eq!(err, Error::UnalignedBase(layout::ACPI_TABLES_START + 8));
    }

    #[test]
    fn rejects_tables_that_do_not_fit() {
        let mut cfg = AcpiConfig::new(1);
        // 4000 SRAT memory affinity structures of 40 bytes: 160 KB.
        cfg.ram = (0..4000).map(|i| (i << 30, 1 << 30)).collect();
        let err = build(&cfg, layout::ACPI_TABLES_START).unwrap_err();
        assert!(
            matches!(err, Error::TooLarge { available, .. } if available == layout::ACPI_TABLES_SIZE)
        );
        let err = build(&AcpiConfig::new(1), u64::MAX - 15).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }));
    }
}
