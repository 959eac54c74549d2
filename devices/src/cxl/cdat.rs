//! Coherent Device Attribute Table (CDAT specification 1.04).
//!
//! A CDAT is a 16-byte header followed by structures, each starting with
//! type (u8), reserved (u8), length (u16). This module builds the
//! structures a Type 3 device (DSMAS, DSLBIS, DSEMTS) or a switch (SSLBIS)
//! reports, and serves them by *entry handle* the way the CXL Table Access
//! DOE protocol (CXL 3.1 8.1.11.1) reads them: handle 0 is the header,
//! handle k (k >= 1) is structure k-1, and each read returns the next handle,
//! `0xFFFF` after the last.
//!
//! What Linux needs (`read_cdat_data`, `cxl_cdat_read_table`, `core/cdat.c`):
//! - the header's Length equals the sum of all entries, and all bytes sum
//!   to 0 mod 256 (checksum), or the table is discarded;
//! - each entry is returned whole: response size = 4 + entry length;
//! - DSMAS and DSLBIS are exactly 24 bytes; a DSLBIS is used only if a
//!   DSMAS with the same handle exists and its flags say "memory"
//!   (`cdat_dslbis_handler`); latency values are picoseconds, bandwidth MB/s
//!   (HMAT units), value = Entry Base Unit * `Entry[0]`;
//! - qos_class is assigned per DSMAS range that lies inside the device's ram
//!   or pmem partition (`cxl_memdev_set_qos_class`);
//! - an SSLBIS is a 16-byte header plus 8-byte entries (at least one).

/// Bytes of the CDAT header.
pub const CDAT_HEADER_LENGTH: usize = 16;
/// CDAT header Revision (CDAT spec: revision of the table format).
pub const CDAT_REVISION: u8 = 1;
/// Entry handle value that ends the walk (CXL 3.1 8.1.11.1).
pub const CDAT_LAST_ENTRY: u16 = 0xffff;

/// Device Scoped Memory Affinity Structure type.
pub const CDAT_TYPE_DSMAS: u8 = 0;
/// Device Scoped Latency and Bandwidth Information Structure type.
pub const CDAT_TYPE_DSLBIS: u8 = 1;
/// Device Scoped EFI Memory Type Structure type.
pub const CDAT_TYPE_DSEMTS: u8 = 4;
/// Switch Scoped Latency and Bandwidth Information Structure type.
pub const CDAT_TYPE_SSLBIS: u8 = 5;

/// Length of a DSMAS (CDAT 1.04 Table 3).
pub const DSMAS_LENGTH: u16 = 24;
/// Length of a DSLBIS (CDAT 1.04 Table 5).
pub const DSLBIS_LENGTH: u16 = 24;
/// Length of a DSEMTS (CDAT 1.04 Table 8).
pub const DSEMTS_LENGTH: u16 = 24;
/// Length of an SSLBIS without entries (CDAT 1.04 Table 9).
pub const SSLBIS_HEADER_LENGTH: u16 = 16;
/// Length of one SSLBE (CDAT 1.04 Table 10).
pub const SSLBE_LENGTH: u16 = 8;

/// DSMAS Flags: Non-Volatile.
pub const DSMAS_FLAG_NON_VOLATILE: u8 = 1 << 2;
/// DSMAS Flags: Shareable.
pub const DSMAS_FLAG_SHAREABLE: u8 = 1 << 3;
/// DSMAS Flags: Hardware Managed Cache Coherency.
pub const DSMAS_FLAG_HW_MANAGED_COHERENCY: u8 = 1 << 4;
/// DSMAS Flags: Interconnect specific Dynamic Capacity Management.
pub const DSMAS_FLAG_DYNAMIC_CAPACITY: u8 = 1 << 5;
/// DSMAS Flags: Read-Only.
pub const DSMAS_FLAG_READ_ONLY: u8 = 1 << 6;

/// DSLBIS Flags value for a memory target (HMAT memory hierarchy 0).
pub const DSLBIS_FLAGS_MEMORY: u8 = 0;

/// DSEMTS: EfiConventionalMemory.
pub const EFI_CONVENTIONAL_MEMORY: u8 = 0;
/// DSEMTS: EfiConventionalMemory with the EFI_MEMORY_SP attribute.
pub const EFI_CONVENTIONAL_MEMORY_SP: u8 = 1;
/// DSEMTS: EfiReservedMemoryType.
pub const EFI_RESERVED_MEMORY: u8 = 2;

/// SSLBIS port ID of the switch upstream port.
pub const SSLBIS_PORT_UPSTREAM: u16 = 0x0100;
/// SSLBIS port ID meaning "any port".
pub const SSLBIS_PORT_ANY: u16 = 0xffff;

/// HMAT data types used by DSLBIS and SSLBIS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum HmatDataType {
    /// Access latency (ps).
    AccessLatency = 0,
    /// Read latency (ps).
    ReadLatency = 1,
    /// Write latency (ps).
    WriteLatency = 2,
    /// Access bandwidth (MB/s).
    AccessBandwidth = 3,
    /// Read bandwidth (MB/s).
    ReadBandwidth = 4,
    /// Write bandwidth (MB/s).
    WriteBandwidth = 5,
}

/// One SSLBIS entry: latency or bandwidth between two ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sslbe {
    /// Port X ID (a downstream port number, or [`SSLBIS_PORT_UPSTREAM`]).
    pub port_x: u16,
    /// Port Y ID.
    pub port_y: u16,
    /// Value in units of the structure's Entry Base Unit.
    pub value: u16,
}

/// A CDAT structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CdatStructure {
    /// Device Scoped Memory Affinity Structure.
    Dsmas {
        /// DSMAD Handle, referenced by DSLBIS and DSEMTS.
        handle: u8,
        /// `DSMAS_FLAG_*`.
        flags: u8,
        /// DPA base.
        dpa_base: u64,
        /// DPA length.
        dpa_length: u64,
    },
    /// Device Scoped Latency and Bandwidth Information Structure.
    Dslbis {
        /// DSMAS handle this applies to.
        handle: u8,
        /// HMAT flags; [`DSLBIS_FLAGS_MEMORY`].
        flags: u8,
        /// What the entries measure.
        data_type: HmatDataType,
        /// Multiplier for the entries.
        entry_base_unit: u64,
        /// Entries (Linux uses entry 0).
        entries: [u16; 3],
    },
    /// Device Scoped EFI Memory Type Structure.
    Dsemts {
        /// DSMAS handle this applies to.
        dsmas_handle: u8,
        /// EFI memory type and attribute (`EFI_*`).
        memory_type: u8,
        /// Offset of the range within the DSMAS range.
        dpa_offset: u64,
        /// Length of the range.
        dpa_length: u64,
    },
    /// Switch Scoped Latency and Bandwidth Information Structure.
    Sslbis {
        /// What the entries measure.
        data_type: HmatDataType,
        /// Multiplier for the entries.
        entry_base_unit: u64,
        /// Port pairs.
        entries: Vec<Sslbe>,
    },
}

fn push_header(out: &mut Vec<u8>, kind: u8, length: u16) {
    out.push(kind);
    out.push(0);
    out.extend_from_slice(&length.to_le_bytes());
}

impl CdatStructure {
    /// Encoded length in bytes.
    pub fn length(&self) -> usize {
        match self {
            Self::Dsmas { .. } => DSMAS_LENGTH.into(),
            Self::Dslbis { .. } => DSLBIS_LENGTH.into(),
            Self::Dsemts { .. } => DSEMTS_LENGTH.into(),
            Self::Sslbis { entries, .. } => {
                usize::from(SSLBIS_HEADER_LENGTH) + usize::from(SSLBE_LENGTH) * entries.len()
            }
        }
    }

    /// The structure's bytes (little endian, as the CDAT lays them out).
    /// An SSLBIS too long for the 16-bit length field is refused by
    /// [`Cdat::new`] before this is called.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = u16::try_from(self.length()).unwrap_or(u16::MAX);
        let mut b = Vec::with_capacity(self.length());
        match self {
            Self::Dsmas {
                handle,
                flags,
                dpa_base,
                dpa_length,
            } => {
                push_header(&mut b, CDAT_TYPE_DSMAS, len);
                b.extend_from_slice(&[*handle, *flags, 0, 0]);
                b.extend_from_slice(&dpa_base.to_le_bytes());
                b.extend_from_slice(&dpa_length.to_le_bytes());
            }
            Self::Dslbis {
                handle,
                flags,
                data_type,
                entry_base_unit,
                entries,
            } => {
                push_header(&mut b, CDAT_TYPE_DSLBIS, len);
                b.extend_from_slice(&[*handle, *flags, *data_type as u8, 0]);
                b.extend_from_slice(&entry_base_unit.to_le_bytes());
                for e in entries {
                    b.extend_from_slice(&e.to_le_bytes());
                }
                b.extend_from_slice(&[0, 0]);
            }
            Self::Dsemts {
                dsmas_handle,
                memory_type,
                dpa_offset,
                dpa_length,
            } => {
                push_header(&mut b, CDAT_TYPE_DSEMTS, len);
                b.extend_from_slice(&[*dsmas_handle, *memory_type, 0, 0]);
                b.extend_from_slice(&dpa_offset.to_le_bytes());
                b.extend_from_slice(&dpa_length.to_le_bytes());
            }
            Self::Sslbis {
                data_type,
                entry_base_unit,
                entries,
            } => {
                push_header(&mut b, CDAT_TYPE_SSLBIS, len);
                b.extend_from_slice(&[*data_type as u8, 0, 0, 0]);
                b.extend_from_slice(&entry_base_unit.to_le_bytes());
                for e in entries {
                    b.extend_from_slice(&e.port_x.to_le_bytes());
                    b.extend_from_slice(&e.port_y.to_le_bytes());
                    b.extend_from_slice(&e.value.to_le_bytes());
                    b.extend_from_slice(&[0, 0]);
                }
            }
        }
        b
    }
}

/// What a device's DPA range holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpaRangeKind {
    /// Volatile (ram partition).
    Volatile,
    /// Persistent (pmem partition).
    Persistent,
    /// A dynamic capacity region.
    DynamicCapacity,
}

/// Device-side performance of a DPA range (HMAT units).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Performance {
    /// Read latency in picoseconds.
    pub read_latency_ps: u64,
    /// Write latency in picoseconds.
    pub write_latency_ps: u64,
    /// Read bandwidth in MB/s.
    pub read_bandwidth_mbps: u64,
    /// Write bandwidth in MB/s.
    pub write_bandwidth_mbps: u64,
}

/// A DPA range to describe in the CDAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpaRange {
    /// Contents.
    pub kind: DpaRangeKind,
    /// DPA base.
    pub dpa_base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Latency and bandwidth.
    pub performance: Performance,
}

/// A refused table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdatError {
    /// A structure longer than 65535 bytes (an SSLBIS with too many entries).
    StructureTooLong,
    /// More structures than entry handles (0xFFFE).
    TooManyStructures,
    /// More DPA ranges than DSMAS handles (256).
    TooManyRanges,
}

/// Splits `value` into (Entry Base Unit, entry) with entry <= 0xFFFE,
/// choosing the smallest power-of-ten unit (precision lost only in the
/// discarded low digits).
pub fn encode_entry(value: u64) -> (u64, u16) {
    let mut base = 1u64;
    let mut v = value;
    while v > 0xfffe {
        v = v.div_ceil(10);
        base = base.saturating_mul(10);
    }
    (base, v as u16)
}

/// A complete CDAT, with its encoded entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cdat {
    sequence: u32,
    structures: Vec<CdatStructure>,
    /// Entry 0 is the header, entry k is structure k-1.
    entries: Vec<Vec<u8>>,
}

impl Cdat {
    /// A table of `structures` with sequence number 0.
    pub fn new(structures: Vec<CdatStructure>) -> Result<Self, CdatError> {
        let mut t = Self {
            sequence: 0,
            structures: Vec::new(),
            entries: Vec::new(),
        };
        t.replace(structures)?;
        t.sequence = 0;
        t.encode_header();
        Ok(t)
    }

    /// The table a Type 3 device reports for `ranges`: per range, a DSMAS
    /// (handle = range index; Non-Volatile for persistent, Dynamic Capacity
    /// for DC regions), four DSLBIS (read/write latency, read/write
    /// bandwidth) and a DSEMTS (volatile and DC: conventional memory with
    /// EFI_MEMORY_SP; persistent: reserved).
    pub fn for_memory_device(ranges: &[DpaRange]) -> Result<Self, CdatError> {
        if ranges.len() > 256 {
            return Err(CdatError::TooManyRanges);
        }
        let mut s = Vec::with_capacity(ranges.len() * 6);
        for (i, r) in ranges.iter().enumerate() {
            let handle = i as u8;
            let (flags, memory_type) = match r.kind {
                DpaRangeKind::Volatile => (0, EFI_CONVENTIONAL_MEMORY_SP),
                DpaRangeKind::Persistent => (DSMAS_FLAG_NON_VOLATILE, EFI_RESERVED_MEMORY),
                DpaRangeKind::DynamicCapacity => {
                    (DSMAS_FLAG_DYNAMIC_CAPACITY, EFI_CONVENTIONAL_MEMORY_SP)
                }
            };
            s.push(CdatStructure::Dsmas {
                handle,
                flags,
                dpa_base: r.dpa_base,
                dpa_length: r.length,
            });
            let p = r.performance;
            for (data_type, value) in [
                (HmatDataType::ReadLatency, p.read_latency_ps),
                (HmatDataType::WriteLatency, p.write_latency_ps),
                (HmatDataType::ReadBandwidth, p.read_bandwidth_mbps),
                (HmatDataType::WriteBandwidth, p.write_bandwidth_mbps),
            ] {
                let (entry_base_unit, entry) = encode_entry(value);
                s.push(CdatStructure::Dslbis {
                    handle,
                    flags: DSLBIS_FLAGS_MEMORY,
                    data_type,
                    entry_base_unit,
                    entries: [entry, 0, 0],
                });
            }
            s.push(CdatStructure::Dsemts {
                dsmas_handle: handle,
                memory_type,
                dpa_offset: 0,
                dpa_length: r.length,
            });
        }
        Self::new(s)
    }

    /// The table a switch upstream port reports: one SSLBIS per data type
    /// with an entry (upstream port, downstream port `id`) for each port.
    pub fn for_switch(
        downstream_ports: &[u16],
        performance: Performance,
    ) -> Result<Self, CdatError> {
        let p = performance;
        let mut s = Vec::new();
        for (data_type, value) in [
            (HmatDataType::ReadLatency, p.read_latency_ps),
            (HmatDataType::WriteLatency, p.write_latency_ps),
            (HmatDataType::ReadBandwidth, p.read_bandwidth_mbps),
            (HmatDataType::WriteBandwidth, p.write_bandwidth_mbps),
        ] {
            let (entry_base_unit, value) = encode_entry(value);
            s.push(CdatStructure::Sslbis {
                data_type,
                entry_base_unit,
                entries: downstream_ports
                    .iter()
                    .map(|&port| Sslbe {
                        port_x: SSLBIS_PORT_UPSTREAM,
                        port_y: port,
                        value,
                    })
                    .collect(),
            });
        }
        Self::new(s)
    }

    /// Replaces the structures (e.g. dynamic capacity changed) and
    /// increments the sequence number, as the CDAT spec requires on change.
    pub fn replace(&mut self, structures: Vec<CdatStructure>) -> Result<(), CdatError> {
        if structures.len() >= usize::from(CDAT_LAST_ENTRY) {
            return Err(CdatError::TooManyStructures);
        }
        if structures
            .iter()
            .any(|s| s.length() > usize::from(u16::MAX))
        {
            return Err(CdatError::StructureTooLong);
        }
        let mut entries = Vec::with_capacity(structures.len() + 1);
        entries.push(vec![0; CDAT_HEADER_LENGTH]);
        entries.extend(structures.iter().map(CdatStructure::to_bytes));
        self.entries = entries;
        self.structures = structures;
        self.sequence = self.sequence.wrapping_add(1);
        self.encode_header();
        Ok(())
    }

    fn encode_header(&mut self) {
        let length: usize = self.entries.iter().map(Vec::len).sum();
        let body_sum = self
            .entries
            .iter()
            .skip(1)
            .flatten()
            .fold(0u8, |a, &b| a.wrapping_add(b));
        let mut h = Vec::with_capacity(CDAT_HEADER_LENGTH);
        h.extend_from_slice(&(length as u32).to_le_bytes());
        h.push(CDAT_REVISION);
        h.push(0); // checksum, below
        h.extend_from_slice(&[0; 6]);
        h.extend_from_slice(&self.sequence.to_le_bytes());
        let header_sum = h.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        if let Some(checksum) = h.get_mut(5) {
            *checksum = 0u8.wrapping_sub(header_sum.wrapping_add(body_sum));
        }
        if let Some(slot) = self.entries.first_mut() {
            *slot = h;
        }
    }

    /// The structures, in table order.
    pub fn structures(&self) -> &[CdatStructure] {
        &self.structures
    }

    /// The header's sequence number.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// Number of entries (header included).
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Entry `handle` and the handle of the next entry ([`CDAT_LAST_ENTRY`]
    /// after the last); `None` for a handle past the end.
    pub fn entry(&self, handle: u16) -> Option<(&[u8], u16)> {
        let i = usize::from(handle);
        let bytes = self.entries.get(i)?;
        let next = if i + 1 >= self.entries.len() {
            CDAT_LAST_ENTRY
        } else {
            // Fewer than 0xFFFF entries, so this fits.
            u16::try_from(i + 1).unwrap_or(CDAT_LAST_ENTRY)
        };
        Some((bytes, next))
    }

    /// The whole table: header then structures.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.entries.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn perf() -> Performance {
        Performance {
            read_latency_ps: 150_000,
            write_latency_ps: 250_000,
            read_bandwidth_mbps: 16_000,
            write_bandwidth_mbps: 128_000,
        }
    }

    fn device() -> Cdat {
        Cdat::for_memory_device(&[
            DpaRange {
                kind: DpaRangeKind::Volatile,
                dpa_base: 0,
                length: 2 * GIB,
                performance: perf(),
            },
            DpaRange {
                kind: DpaRangeKind::Persistent,
                dpa_base: 2 * GIB,
                length: 2 * GIB,
                performance: perf(),
            },
        ])
        .unwrap()
    }

    fn le16(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }

    fn le32(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }

    fn le64(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    #[test]
    fn header_length_and_checksum() {
        let t = device();
        let bytes = t.to_bytes();
        assert_eq!(le32(&bytes, 0) as usize, bytes.len());
        assert_eq!(bytes.len(), 16 + 2 * (24 + 4 * 24 + 24));
        assert_eq!(bytes[4], CDAT_REVISION);
        assert_eq!(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        assert_eq!(&bytes[6..12], &[0; 6]);
        assert_eq!(le32(&bytes, 12), 0);
    }

    #[test]
    fn entry_handle_walk_reassembles_the_table() {
        let t = device();
        let mut handle = 0u16;
        let mut out = Vec::new();
        let mut n = 0;
        loop {
            let (e, next) = t.entry(handle).unwrap();
            if handle == 0 {
                assert_eq!(e.len(), CDAT_HEADER_LENGTH);
            } else {
                // Each structure's own length field matches what is served.
                assert_eq!(usize::from(le16(e, 2)), e.len());
                assert_eq!(e.len() % 4, 0);
            }
            out.extend_from_slice(e);
            n += 1;
            if next == CDAT_LAST_ENTRY {
                break;
            }
            handle = next;
        }
        assert_eq!(n, t.entry_count());
        assert_eq!(out, t.to_bytes());
        assert!(t.entry(n as u16).is_none());
        assert!(t.entry(CDAT_LAST_ENTRY).is_none());
    }

    #[test]
    fn structures_at_spec_offsets() {
        let t = device();
        let (dsmas, _) = t.entry(7).unwrap(); // second range's DSMAS
        assert_eq!(dsmas[0], CDAT_TYPE_DSMAS);
        assert_eq!(le16(dsmas, 2), 24);
        assert_eq!(dsmas[4], 1, "handle");
        assert_eq!(dsmas[5], DSMAS_FLAG_NON_VOLATILE);
        assert_eq!(le64(dsmas, 8), 2 * GIB);
        assert_eq!(le64(dsmas, 16), 2 * GIB);
        let (dslbis, _) = t.entry(8).unwrap();
        assert_eq!(dslbis[0], CDAT_TYPE_DSLBIS);
        assert_eq!(le16(dslbis, 2), 24);
        assert_eq!(dslbis[4], 1, "DSMAS handle");
        assert_eq!(dslbis[5], 0, "memory");
        assert_eq!(dslbis[6], HmatDataType::ReadLatency as u8);
        // Linux: value = base * entry[0] (ps).
        assert_eq!(le64(dslbis, 8) * u64::from(le16(dslbis, 16)), 150_000);
        let (wbw, _) = t.entry(11).unwrap();
        assert_eq!(wbw[6], HmatDataType::WriteBandwidth as u8);
        assert_eq!(le64(wbw, 8) * u64::from(le16(wbw, 16)), 128_000);
        let (dsemts, _) = t.entry(12).unwrap();
        assert_eq!(dsemts[0], CDAT_TYPE_DSEMTS);
        assert_eq!(le16(dsemts, 2), 24);
        assert_eq!((dsemts[4], dsemts[5]), (1, EFI_RESERVED_MEMORY));
        assert_eq!(le64(dsemts, 8), 0);
        assert_eq!(le64(dsemts, 16), 2 * GIB);
        let (first, _) = t.entry(6).unwrap();
        assert_eq!((first[4], first[5]), (0, EFI_CONVENTIONAL_MEMORY_SP));
    }

    #[test]
    fn every_dslbis_has_a_matching_dsmas() {
        let t = device();
        let dsmas: Vec<u8> = t
            .structures()
            .iter()
            .filter_map(|s| match s {
                CdatStructure::Dsmas { handle, .. } => Some(*handle),
                _ => None,
            })
            .collect();
        let mut count = 0;
        for s in t.structures() {
            if let CdatStructure::Dslbis { handle, .. } = s {
                assert!(dsmas.contains(handle));
                count += 1;
            }
        }
        assert_eq!(count, 8);
    }

    #[test]
    fn dynamic_capacity_flag_and_sequence_bump() {
        let mut t = device();
        let r = DpaRange {
            kind: DpaRangeKind::DynamicCapacity,
            dpa_base: 4 * GIB,
            length: GIB,
            performance: Performance::default(),
        };
        let dc = Cdat::for_memory_device(&[r]).unwrap();
        assert!(matches!(
            dc.structures()[0],
            CdatStructure::Dsmas {
                flags: DSMAS_FLAG_DYNAMIC_CAPACITY,
                ..
            }
        ));
        t.replace(dc.structures().to_vec()).unwrap();
        assert_eq!(t.sequence(), 1);
        let b = t.to_bytes();
        assert_eq!(le32(&b, 12), 1);
        assert_eq!(b.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        assert_eq!(le32(&b, 0) as usize, b.len());
    }

    #[test]
    fn switch_sslbis_layout() {
        let t = Cdat::for_switch(&[0, 1, 2], perf()).unwrap();
        let (s, next) = t.entry(1).unwrap();
        assert_eq!(next, 2);
        assert_eq!(s[0], CDAT_TYPE_SSLBIS);
        assert_eq!(usize::from(le16(s, 2)), 16 + 3 * 8);
        assert_eq!(s[4], HmatDataType::ReadLatency as u8);
        assert_eq!(le16(s, 16), SSLBIS_PORT_UPSTREAM);
        assert_eq!(le16(s, 18), 0);
        assert_eq!(le16(s, 26), 1);
        assert_eq!(le64(s, 8) * u64::from(le16(s, 20)), 150_000);
        assert_eq!(t.entry(4).unwrap().1, CDAT_LAST_ENTRY);
        let b = t.to_bytes();
        assert_eq!(b.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
    }

    #[test]
    fn entry_encoding_and_limits() {
        assert_eq!(encode_entry(0), (1, 0));
        assert_eq!(encode_entry(0xfffe), (1, 0xfffe));
        assert_eq!(encode_entry(150_000), (10, 15_000));
        let (b, e) = encode_entry(u64::MAX);
        assert!(e <= 0xfffe && b > 1);
        let huge = CdatStructure::Sslbis {
            data_type: HmatDataType::AccessLatency,
            entry_base_unit: 1,
            entries: vec![
                Sslbe {
                    port_x: 0,
                    port_y: 1,
                    value: 1
                };
                9000
            ],
        };
        assert_eq!(Cdat::new(vec![huge]), Err(CdatError::StructureTooLong));
        let ranges = vec![
            DpaRange {
                kind: DpaRangeKind::Volatile,
                dpa_base: 0,
                length: 0,
                performance: Performance::default(),
            };
            257
        ];
        assert_eq!(
            Cdat::for_memory_device(&ranges),
            Err(CdatError::TooManyRanges)
        );
    }
}
