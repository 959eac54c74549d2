//! The CXL Early Discovery Table "CEDT" (CXL 3.1 9.18.1).
//!
//! Hand-written: acpi_tables 0.2.1's CHBS writes the 2-byte Record Length
//! as one byte and drops the reserved DWORD (27 bytes for a 32-byte record),
//! and its CFMWS sets the Type 2 bit for Type 3 windows and hides the
//! restrictions field.

use arch::layout;

use crate::config::{AcpiConfig, CxlWindow};
use crate::sdt;
use crate::Error;

/// CEDT revision (CXL 3.1 Table 9-19).
const REVISION: u8 = 1;
/// CEDT structure type of a CHBS (CXL 3.1 Table 9-20).
const TYPE_CHBS: u8 = 0;
/// CEDT structure type of a CFMWS (CXL 3.1 Table 9-20).
const TYPE_CFMWS: u8 = 1;
/// CHBS record length (CXL 3.1 Table 9-21).
const CHBS_LEN: u16 = 32;
/// CHBS CXL Version 1: a CXL 2.0+ (virtual hierarchy) host bridge whose
/// Base is its component register block (CXL 3.1 Table 9-21).
const CHBS_VERSION_CXL2: u32 = 1;
/// CFMWS record length without the target list (CXL 3.1 Table 9-22).
const CFMWS_FIXED_LEN: u16 = 36;
/// CFMWS Interleave Arithmetic 0: standard modulo (CXL 3.1 Table 9-22).
const ARITHMETIC_MODULO: u8 = 0;

/// CXL Host Bridge Structure (CXL 3.1 Table 9-21).
fn chbs(uid: u32, base: u64) -> Vec<u8> {
    let mut s = Vec::with_capacity(usize::from(CHBS_LEN));
    s.push(TYPE_CHBS); // Type
    s.push(0); // Reserved
    s.extend_from_slice(&CHBS_LEN.to_le_bytes()); // Record Length
    s.extend_from_slice(&uid.to_le_bytes()); // UID
    s.extend_from_slice(&CHBS_VERSION_CXL2.to_le_bytes()); // CXL Version
    s.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    s.extend_from_slice(&base.to_le_bytes()); // Base
    s.extend_from_slice(&layout::CXL_CHBS_SIZE.to_le_bytes()); // Length
    s
}

/// CXL Fixed Memory Window Structure (CXL 3.1 Table 9-22).
fn cfmws(w: &CxlWindow) -> Result<Vec<u8>, String> {
    let targets = u16::try_from(w.targets.len())
        .ok()
        .and_then(|n| n.checked_mul(4)?.checked_add(CFMWS_FIXED_LEN))
        .ok_or("too many targets")?;
    let mut s = Vec::with_capacity(usize::from(targets));
    s.push(TYPE_CFMWS); // Type
    s.push(0); // Reserved
    s.extend_from_slice(&targets.to_le_bytes()); // Record Length
    s.extend_from_slice(&0u32.to_le_bytes()); // Reserved
    s.extend_from_slice(&w.base.to_le_bytes()); // Base HPA
    s.extend_from_slice(&w.size.to_le_bytes()); // Window Size
    s.push(w.eniw()?); // Encoded Number of Interleave Ways (ENIW)
    s.push(ARITHMETIC_MODULO); // Interleave Arithmetic
    s.extend_from_slice(&0u16.to_le_bytes()); // Reserved
    s.extend_from_slice(&w.hbig()?.to_le_bytes()); // Host Bridge Interleave Granularity
    s.extend_from_slice(&w.restrictions.to_le_bytes()); // Window Restrictions
    s.extend_from_slice(&w.qtg_id.to_le_bytes()); // QTG ID
    for uid in &w.targets {
        s.extend_from_slice(&uid.to_le_bytes()); // Interleave Target List
    }
    Ok(s)
}

/// The CEDT: one CHBS per CXL host bridge, then one CFMWS per window.
pub(crate) fn build(cfg: &AcpiConfig) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    for hb in &cfg.host_bridges {
        if let Some(base) = hb.chbs_base() {
            body.extend(chbs(hb.uid, base));
        }
    }
    for (index, w) in cfg.cxl_windows.iter().enumerate() {
        body.extend(cfmws(w).map_err(|reason| Error::CxlWindow { index, reason })?);
    }
    Ok(sdt::table(*b"CEDT", REVISION, &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostBridge, HostBridgeKind};
    use crate::sdt::tests::{checksum_ok, u16_at, u32_at, u64_at};

    fn cxl_bridge(uid: u32, chbs_base: u64) -> HostBridge {
        HostBridge {
            uid,
            bus_start: 0x10 * uid as u8,
            bus_end: 0x10 * uid as u8 + 0xf,
            io: None,
            mmio32: (0, 0),
            mmio64: (0, 0),
            kind: HostBridgeKind::Cxl { chbs_base },
        }
    }

    fn window(ways: u32, granularity: u32, targets: Vec<u32>) -> CxlWindow {
        CxlWindow {
            base: layout::CXL_FMW_START,
            size: u64::from(ways) << 28,
            interleave_ways: ways,
            granularity_bytes: granularity,
            restrictions: CxlWindow::HOST_ONLY_COHERENT | CxlWindow::VOLATILE,
            qtg_id: 7,
            targets,
        }
    }

    #[test]
    fn chbs_layout() {
        let s = chbs(0x1234_5678, 0xf001_0000);
        assert_eq!(s.len(), 32);
        assert_eq!(s[0], 0, "Type");
        assert_eq!(s[1], 0, "Reserved");
        assert_eq!(u16_at(&s, 2), 32, "Record Length");
        assert_eq!(u32_at(&s, 4), 0x1234_5678, "UID");
        assert_eq!(u32_at(&s, 8), 1, "CXL Version");
        assert_eq!(u32_at(&s, 12), 0, "Reserved");
        assert_eq!(u64_at(&s, 16), 0xf001_0000, "Base");
        assert_eq!(u64_at(&s, 24), 0x1_0000, "Length");
    }

    #[test]
    fn cfmws_layout() {
        let mut w = window(2, 4096, vec![1, 2]);
        w.base = 0x81_0000_0000;
        let s = cfmws(&w).unwrap();
        assert_eq!(s.len(), 36 + 8);
        assert_eq!(s[0], 1, "Type");
        assert_eq!(s[1], 0, "Reserved");
        assert_eq!(u16_at(&s, 2), 44, "Record Length");
        assert_eq!(u32_at(&s, 4), 0, "Reserved");
        assert_eq!(u64_at(&s, 8), 0x81_0000_0000, "Base HPA");
        assert_eq!(u64_at(&s, 16), 0x2000_0000, "Window Size");
        assert_eq!(s[24], 1, "ENIW");
        assert_eq!(s[25], 0, "Interleave Arithmetic");
        assert_eq!(u16_at(&s, 26), 0, "Reserved");
        assert_eq!(u32_at(&s, 28), 4, "HBIG");
        assert_eq!(u16_at(&s, 32), 0b110, "Window Restrictions");
        assert_eq!(u16_at(&s, 34), 7, "QTG ID");
        assert_eq!(u32_at(&s, 36), 1, "target 0");
        assert_eq!(u32_at(&s, 40), 2, "target 1");
    }

    #[test]
    fn eniw_and_hbig_encodings() {
        for (ways, eniw) in [
            (1, 0),
            (2, 1),
            (4, 2),
            (8, 3),
            (16, 4),
            (3, 8),
            (6, 9),
            (12, 10),
        ] {
            assert_eq!(window(ways, 256, vec![]).eniw(), Ok(eniw), "{ways} ways");
        }
        for ways in [0, 5, 7, 9, 10, 24, 32] {
            assert!(window(ways, 256, vec![]).eniw().is_err(), "{ways} ways");
        }
        for (bytes, hbig) in [
            (256, 0),
            (512, 1),
            (1024, 2),
            (2048, 3),
            (4096, 4),
            (8192, 5),
            (16384, 6),
        ] {
            assert_eq!(window(1, bytes, vec![]).hbig(), Ok(hbig), "{bytes} bytes");
        }
        for bytes in [0, 1, 128, 300, 32768] {
            assert!(window(1, bytes, vec![]).hbig().is_err(), "{bytes} bytes");
        }
    }

    #[test]
    fn table_order_and_checksum() {
        let mut cfg = AcpiConfig::new(1);
        cfg.host_bridges.push(cxl_bridge(1, 0xf000_0000));
        cfg.host_bridges.push(cxl_bridge(2, 0xf001_0000));
        cfg.cxl_windows.push(window(2, 256, vec![1, 2]));
        let b = build(&cfg).unwrap();
        assert_eq!(&b[..4], b"CEDT");
        assert_eq!(b[8], 1, "revision");
        assert_eq!(b.len(), 36 + 2 * 32 + 44);
        assert_eq!(u32_at(&b, 4) as usize, b.len());
        assert!(checksum_ok(&b));
        assert_eq!((b[36], u32_at(&b, 40)), (0, 1), "CHBS of _UID 1");
        assert_eq!((b[68], u32_at(&b, 72)), (0, 2), "CHBS of _UID 2");
        assert_eq!(b[100], 1, "CFMWS");
    }
}
