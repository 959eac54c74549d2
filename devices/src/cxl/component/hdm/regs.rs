//! Register offsets and fields of the HDM Decoder Capability Structure
//! (CXL 3.1 8.2.4.20), relative to the capability pointer.

/// CXL_Capability_ID of the HDM Decoder capability (CXL 3.1 Table 8-22).
pub const HDM_CAPABILITY_ID: u16 = 0x0005;
/// CXL_Capability_Version of the HDM Decoder capability in CXL 3.1.
pub const HDM_CAPABILITY_VERSION: u8 = 3;

/// HDM Decoder Capability register (8.2.4.20.1).
pub const HDM_DECODER_CAPABILITY: u64 = 0x00;
/// HDM Decoder Global Control register (8.2.4.20.2).
pub const HDM_DECODER_GLOBAL_CONTROL: u64 = 0x04;
/// Offset of decoder 0's first register; decoder n is at `+ 0x20 * n`.
pub const DECODER_REGS_START: u64 = 0x10;
/// Stride between decoders.
pub const DECODER_STRIDE: u64 = 0x20;
/// HDM Decoder n Base Low (8.2.4.20.3), within a decoder's registers.
pub const DECODER_BASE_LOW: u64 = 0x00;
/// HDM Decoder n Base High (8.2.4.20.4).
pub const DECODER_BASE_HIGH: u64 = 0x04;
/// HDM Decoder n Size Low (8.2.4.20.5).
pub const DECODER_SIZE_LOW: u64 = 0x08;
/// HDM Decoder n Size High (8.2.4.20.6).
pub const DECODER_SIZE_HIGH: u64 = 0x0c;
/// HDM Decoder n Control (8.2.4.20.7).
pub const DECODER_CONTROL: u64 = 0x10;
/// HDM Decoder n Target List Low (8.2.4.20.8) / DPA Skip Low (8.2.4.20.10).
pub const DECODER_TARGET_LIST_LOW: u64 = 0x14;
/// HDM Decoder n Target List High (8.2.4.20.9) / DPA Skip High (8.2.4.20.11).
pub const DECODER_TARGET_LIST_HIGH: u64 = 0x18;

/// Global Control: Poison On Decode Error Enable.
pub const POISON_ON_DECODE_ERROR_ENABLE: u32 = 1 << 0;
/// Global Control: HDM Decoder Enable.
pub const HDM_DECODER_ENABLE: u32 = 1 << 1;

/// Control: Interleave Granularity (IG), bits 3:0.
pub const CTRL_IG_MASK: u32 = 0xf;
/// Control: Interleave Ways (IW), bits 7:4.
pub const CTRL_IW_SHIFT: u32 = 4;
/// Control: Lock On Commit.
pub const CTRL_LOCK_ON_COMMIT: u32 = 1 << 8;
/// Control: Commit.
pub const CTRL_COMMIT: u32 = 1 << 9;
/// Control: Committed (RO).
pub const CTRL_COMMITTED: u32 = 1 << 10;
/// Control: Error Not Committed (RO).
pub const CTRL_ERROR_NOT_COMMITTED: u32 = 1 << 11;
/// Control: Target Range Type (1 = Host-only Coherent, HDM-H).
pub const CTRL_TARGET_RANGE_TYPE: u32 = 1 << 12;
/// Control: BI (not supported by this model: reads 0).
pub const CTRL_BI: u32 = 1 << 13;
/// Control: UIO.
pub const CTRL_UIO: u32 = 1 << 14;
/// Control: UIO Interleave Granularity (UIG), bits 19:16.
pub const CTRL_UIG_SHIFT: u32 = 16;
/// Control: UIO Interleave Ways (UIW), bits 23:20.
pub const CTRL_UIW_SHIFT: u32 = 20;
/// Control: Interleave Set Position (ISP), bits 27:24.
pub const CTRL_ISP_SHIFT: u32 = 24;
/// Control bits used by UIO (UIO, UIG, UIW, ISP).
pub const CTRL_UIO_FIELDS: u32 = CTRL_UIO | (0xfff << CTRL_UIG_SHIFT);

/// Target List entries (one byte each).
pub const TARGET_LIST_ENTRIES: usize = 8;
