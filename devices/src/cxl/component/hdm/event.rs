//! What a register write or firmware programming did to the decode state
//! of an HDM Decoder capability, and why a commit failed (CXL 3.1
//! 8.2.4.20.12).

use crate::cxl::decode::DecodeError;

/// A decode-state change caused by a register write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HdmEvent {
    /// Decoder n committed: its range now decodes (once HDM Decoder Enable
    /// is set, for endpoints).
    Committed(usize),
    /// Decoder n stopped decoding (Commit cleared, or reset).
    Uncommitted(usize),
    /// Commit of decoder n was refused; Error Not Committed is set.
    CommitFailed(usize, CommitError),
    /// HDM Decoder Enable changed to this value. Linux sets it only on
    /// endpoints (`cxl_hdm_decode_init`); host bridge and switch decoders
    /// route once committed, so do not gate upstream routing on it.
    DecodingEnabled(bool),
}

/// Why a commit failed (the decoder reports Error Not Committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// IW/IG encoding reserved.
    Encoding(DecodeError),
    /// Valid ways this component is not capable of.
    UnsupportedWays(u32),
    /// Interleave selects on HPA bits 11:8 or 14:12 without the capability.
    UnsupportedInterleaveBits,
    /// Base not 256 MiB aligned.
    MisalignedBase,
    /// Size not a multiple of 256 MiB.
    MisalignedSize,
    /// Base + size above 2^64.
    AddressOverflow,
    /// Decoder n-1 is not committed.
    PreviousNotCommitted,
    /// A higher-numbered decoder is still committed.
    LaterDecoderCommitted,
    /// HPA range below or overlapping a lower decoder's range.
    HpaOrder,
    /// Endpoint: DPA Skip not a multiple of 256 MiB (firmware programming).
    MisalignedSkip,
    /// Endpoint: size not divisible by the interleave ways.
    SizeNotDivisible,
    /// Endpoint: the DPA range ends beyond the device capacity.
    DpaBeyondCapacity,
    /// Endpoint: the DPA range is not inside a single partition.
    DpaCrossesPartition,
    /// UIO fields set but UIO not supported by this decoder, or invalid.
    Uio,
    /// Firmware programming: no decoder with that index.
    NoSuchDecoder,
    /// Firmware programming: the decoder is already committed.
    AlreadyCommitted,
}
