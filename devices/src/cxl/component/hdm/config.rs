//! What an HDM Decoder capability advertises (CXL 3.1 8.2.4.20.1), chosen
//! at construction: upstream or endpoint decoders, how many, and which
//! interleaves they support.

use std::ops::Range;

/// HDM Decoder Capability: Decoder Count, bits 3:0.
pub const CAP_DECODER_COUNT_MASK: u32 = 0xf;

/// HDM Decoder Capability: Target Count, bits 7:4 (reserved for endpoints).
pub const CAP_TARGET_COUNT_SHIFT: u32 = 4;

/// HDM Decoder Capability: A11to8 Interleave Capable.
pub const CAP_A11TO8_INTERLEAVE_CAPABLE: u32 = 1 << 8;

/// HDM Decoder Capability: A14to12 Interleave Capable.
pub const CAP_A14TO12_INTERLEAVE_CAPABLE: u32 = 1 << 9;

/// HDM Decoder Capability: Poison On Decode Error Capability.
pub const CAP_POISON_ON_DECODE_ERROR_CAPABILITY: u32 = 1 << 10;

/// HDM Decoder Capability: 3, 6, 12 Way Interleave Capable.
pub const CAP_3_6_12_WAY_INTERLEAVE_CAPABLE: u32 = 1 << 11;

/// HDM Decoder Capability: 16 Way Interleave Capable.
pub const CAP_16_WAY_INTERLEAVE_CAPABLE: u32 = 1 << 12;

/// HDM Decoder Capability: UIO Capable.
pub const CAP_UIO_CAPABLE: u32 = 1 << 13;

/// HDM Decoder Capability: UIO Capable Decoder Count, bits 19:16.
pub const CAP_UIO_CAPABLE_DECODER_COUNT_SHIFT: u32 = 16;

/// Most decoders an endpoint may report (CXL 3.1 8.2.4.20.1: 12 and more are
/// for switches and host bridges only; QEMU's `HDM_DECODE_MAX`).
pub const MAX_ENDPOINT_DECODERS: usize = 10;

/// Most decoders an upstream component may report here: Linux's
/// `cxl_hdm_decoder_count` decodes the field as `2 * n`, which matches the
/// spec only up to encoding 8h (16 decoders).
pub const MAX_UPSTREAM_DECODERS: usize = 16;

/// Encoded Decoder Count (8.2.4.20.1) for `count` decoders.
pub fn decoder_count_encoding(count: usize) -> Option<u32> {
    match count {
        1 => Some(0),
        2 | 4 | 6 | 8 | 10 | 12 | 14 | 16 => Some((count / 2) as u32),
        20 => Some(9),
        24 => Some(0xa),
        28 => Some(0xb),
        32 => Some(0xc),
        _ => None,
    }
}

/// Which side of the decode a component's decoders sit on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HdmKind {
    /// Host bridge or switch upstream port: route to downstream port IDs.
    /// `target_count` (1, 2, 4 or 8) is how many targets each decoder has.
    Upstream {
        /// Target Count field: 1, 2, 4 or 8.
        target_count: u8,
    },
    /// Type 3 endpoint: map HPA to the device's DPA.
    Endpoint {
        /// The device's DPA space the decoders may map.
        dpa: DpaLayout,
    },
}

/// The DPA space of a memory device as its decoders see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpaLayout {
    /// Total DPA capacity in bytes; decoded DPA must lie below it.
    pub capacity: u64,
    /// Partitions (volatile, persistent, dynamic capacity regions), in DPA
    /// order. When non-empty, one decoder's DPA range must lie within one
    /// partition (Linux never allocates across them), so the memory path maps
    /// each decoder onto a single backend.
    pub partitions: Vec<Range<u64>>,
}

/// Construction-time properties of an HDM Decoder capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdmConfig {
    /// Upstream or endpoint.
    pub kind: HdmKind,
    /// Number of decoders: 1, 2, 4, 6, 8, 10 (and 12, 14, 16 upstream).
    pub decoder_count: usize,
    /// A11to8 Interleave Capable.
    pub a11to8_interleave: bool,
    /// A14to12 Interleave Capable.
    pub a14to12_interleave: bool,
    /// 3, 6, 12 Way Interleave Capable.
    pub interleave_3_6_12: bool,
    /// 16 Way Interleave Capable (endpoints only: the Target List has 8).
    pub interleave_16: bool,
    /// Poison On Decode Error Capability.
    pub poison_on_decode_error: bool,
    /// UIO Capable Decoder Count; 0 means not UIO capable.
    pub uio_decoders: u8,
}

/// A refused [`HdmConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HdmConfigError {
    /// Decoder count not encodable, or too many for this kind of component.
    DecoderCount(usize),
    /// Target count not 1, 2, 4 or 8.
    TargetCount(u8),
    /// 16-way interleave needs 16 targets; upstream decoders have 8.
    SixteenWayUpstream,
    /// UIO capable decoder count above the decoder count or above 15.
    UioDecoders(u8),
}

impl HdmConfig {
    /// A Type 3 endpoint with `decoder_count` decoders over `dpa`, capable of
    /// every interleave Linux can program.
    pub fn endpoint(decoder_count: usize, dpa: DpaLayout) -> Self {
        Self {
            kind: HdmKind::Endpoint { dpa },
            decoder_count,
            a11to8_interleave: true,
            a14to12_interleave: true,
            interleave_3_6_12: true,
            interleave_16: true,
            poison_on_decode_error: false,
            uio_decoders: 0,
        }
    }

    /// A host bridge or switch upstream port with `target_count` targets per
    /// decoder.
    pub fn upstream(decoder_count: usize, target_count: u8) -> Self {
        Self {
            kind: HdmKind::Upstream { target_count },
            decoder_count,
            a11to8_interleave: true,
            a14to12_interleave: true,
            interleave_3_6_12: true,
            interleave_16: false,
            poison_on_decode_error: false,
            uio_decoders: 0,
        }
    }

    /// Checks the configuration can be advertised (and Linux decodes it).
    pub fn validate(&self) -> Result<(), HdmConfigError> {
        let max = match &self.kind {
            HdmKind::Endpoint { .. } => MAX_ENDPOINT_DECODERS,
            HdmKind::Upstream { target_count } => {
                if !matches!(target_count, 1 | 2 | 4 | 8) {
                    return Err(HdmConfigError::TargetCount(*target_count));
                }
                if self.interleave_16 {
                    return Err(HdmConfigError::SixteenWayUpstream);
                }
                MAX_UPSTREAM_DECODERS
            }
        };
        if self.decoder_count > max || decoder_count_encoding(self.decoder_count).is_none() {
            return Err(HdmConfigError::DecoderCount(self.decoder_count));
        }
        if usize::from(self.uio_decoders) > self.decoder_count || self.uio_decoders > 15 {
            return Err(HdmConfigError::UioDecoders(self.uio_decoders));
        }
        Ok(())
    }

    /// The HDM Decoder Capability register value.
    pub fn capability_register(&self) -> u32 {
        let c = self;
        let mut v = decoder_count_encoding(c.decoder_count).unwrap_or(0);
        if let HdmKind::Upstream { target_count } = c.kind {
            v |= u32::from(target_count & 0xf) << CAP_TARGET_COUNT_SHIFT;
        }
        let flags = [
            (c.a11to8_interleave, CAP_A11TO8_INTERLEAVE_CAPABLE),
            (c.a14to12_interleave, CAP_A14TO12_INTERLEAVE_CAPABLE),
            (
                c.poison_on_decode_error,
                CAP_POISON_ON_DECODE_ERROR_CAPABILITY,
            ),
            (c.interleave_3_6_12, CAP_3_6_12_WAY_INTERLEAVE_CAPABLE),
            (c.interleave_16, CAP_16_WAY_INTERLEAVE_CAPABLE),
            (c.uio_decoders > 0, CAP_UIO_CAPABLE),
        ];
        for (on, bit) in flags {
            if on {
                v |= bit;
            }
        }
        v | (u32::from(c.uio_decoders & 0xf) << CAP_UIO_CAPABLE_DECODER_COUNT_SHIFT)
    }
}
