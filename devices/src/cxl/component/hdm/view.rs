//! Read-only views of the decoders for the VMM: what each decoder maps,
//! and where a committed decoder sends an HPA.

use std::ops::Range;

use super::capability::HdmDecoderCapability;
use super::regs::{CTRL_TARGET_RANGE_TYPE, TARGET_LIST_ENTRIES};

/// Where a decoder sends its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HdmDecoderTarget {
    /// Upstream: the port IDs by interleave position (first `ways` entries of
    /// the Target List; all 8 if the IW encoding is invalid).
    Ports(Vec<u8>),
    /// Endpoint: DPA Skip, and the DPA range mapped while committed.
    Dpa {
        /// DPA Skip register value.
        skip: u64,
        /// DPA range decoded (`dpa_base .. dpa_base + size / ways`), if committed.
        dpa: Option<Range<u64>>,
    },
}

/// Read-only view of one decoder for the VMM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdmDecoderInfo {
    /// Decoder index.
    pub index: usize,
    /// Committed bit.
    pub committed: bool,
    /// Committed with Lock On Commit: registers frozen until reset.
    pub locked: bool,
    /// HPA base.
    pub base: u64,
    /// HPA size.
    pub size: u64,
    /// Ways decoded from IW; 0 if the encoding is reserved.
    pub interleave_ways: u32,
    /// Granularity decoded from IG; 0 if the encoding is reserved.
    pub interleave_granularity: u64,
    /// Target Range Type: host-only coherent (HDM-H).
    pub host_only: bool,
    /// Targets or DPA mapping.
    pub target: HdmDecoderTarget,
}

/// Result of decoding an HPA through the committed decoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HdmTranslation {
    /// Endpoint: the DPA the HPA maps to, through `decoder`.
    Dpa {
        /// Decoder index.
        decoder: usize,
        /// Device physical address.
        dpa: u64,
    },
    /// Upstream: the downstream port ID the HPA routes to, through `decoder`.
    Port {
        /// Decoder index.
        decoder: usize,
        /// Target port ID.
        port_id: u8,
    },
}

impl HdmDecoderCapability {
    /// The VMM's view of decoder `index`.
    pub fn decoder(&self, index: usize) -> Option<HdmDecoderInfo> {
        let d = self.decoders.get(index)?;
        let il = d.encoded_interleave().ok();
        let ways = il.map_or(0, |i| i.ways());
        let target = if self.is_endpoint() {
            HdmDecoderTarget::Dpa {
                skip: d.targets_or_skip,
                dpa: d.committed().then(|| d.dpa.clone()),
            }
        } else {
            let n = if ways == 0 {
                TARGET_LIST_ENTRIES
            } else {
                (ways as usize).min(TARGET_LIST_ENTRIES)
            };
            HdmDecoderTarget::Ports(
                d.targets_or_skip
                    .to_le_bytes()
                    .into_iter()
                    .take(n)
                    .collect(),
            )
        };
        Some(HdmDecoderInfo {
            index,
            committed: d.committed(),
            locked: d.locked(),
            base: d.base,
            size: d.size,
            interleave_ways: ways,
            interleave_granularity: il.map_or(0, |i| i.granularity()),
            host_only: d.ctrl & CTRL_TARGET_RANGE_TYPE != 0,
            target,
        })
    }

    /// The view of every decoder, by index.
    pub fn decoders(&self) -> Vec<HdmDecoderInfo> {
        (0..self.decoders.len())
            .filter_map(|i| self.decoder(i))
            .collect()
    }

    /// Decodes `hpa` through the committed decoders (regardless of HDM
    /// Decoder Enable, which the caller checks if it cares).
    pub fn translate(&self, hpa: u64) -> Option<HdmTranslation> {
        let (index, d) = self
            .decoders
            .iter()
            .enumerate()
            .find(|(_, d)| d.committed() && d.base <= hpa && hpa < d.end())?;
        let il = d.encoded_interleave().ok()?;
        let offset = hpa - d.base;
        if self.is_endpoint() {
            let dpa = d.dpa.start.checked_add(il.hpa_to_dpa(offset))?;
            Some(HdmTranslation::Dpa {
                decoder: index,
                dpa,
            })
        } else {
            let port_id = il.target(&d.targets_or_skip.to_le_bytes(), offset)?;
            Some(HdmTranslation::Port {
                decoder: index,
                port_id,
            })
        }
    }
}
