//! Dynamic Capacity regions: configuration, validation and layout (CXL 3.1
//! 8.2.9.9.9.1, 9.13.3).
//!
//! A device has 1 to 8 DC regions above its static (volatile, persistent)
//! capacity, in increasing DPA order. The layout here is the one Linux's DCD
//! driver accepts (`cxl_dc_check`, `cxl_configure_dcd`): region 0 starts
//! exactly at the end of the static capacity (Linux refuses a skip between
//! pmem and the DC partition), every base is 256 MiB aligned and block-size
//! aligned, each region's decode length (a multiple of 256 MiB) covers its
//! length, lengths are multiples of the block size, block sizes are powers
//! of two, and DSMAD handles fit in 8 bits.

use thiserror::Error;

/// Most DC regions a device can have (CXL 3.1 9.13.3).
pub const MAX_DC_REGIONS: usize = 8;
/// Region bases and decode lengths are multiples of 256 MiB (CXL 3.1
/// 8.2.9.9.9.1: Region Decode Length is in 256 MiB units).
pub const DC_DECODE_UNIT: u64 = 256 << 20;
/// Default region block size: 2 MiB, the extent alignment Linux's DCD
/// driver requires (it drops a tag group whose extents are not `PMD_SIZE`
/// aligned in DPA, `cxl_extent_dcd_aligned()`). Smaller blocks are for
/// testing exactly that.
pub const DEFAULT_DC_BLOCK_SIZE: u64 = 2 << 20;
/// Smallest block size accepted: extents are mapped into KVM memory slots,
/// which are page granular. (Linux itself needs a power of two and a
/// multiple of 40h.)
pub const MIN_DC_BLOCK_SIZE: u64 = 4 << 10;
/// Default number of extents the device can track at once.
pub const DEFAULT_MAX_EXTENTS: u32 = 4096;
/// Default number of released/declined extents remembered for status
/// queries.
pub const DEFAULT_HISTORY_DEPTH: u32 = 1024;

// CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (region config)
/// One DC region as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcRegionConfig {
    /// Region Length in bytes (a non-zero multiple of the block size).
    pub length: u64,
    /// Region Decode Length in bytes (a multiple of 256 MiB, at least the
    /// length); `None` rounds the length up to 256 MiB.
    pub decode_length: Option<u64>,
    /// Region Block Size in bytes (a power of two, at least 4 KiB).
    pub block_size: u64,
    /// DSMAD Handle: the CDAT DSMAS handle describing the region; `None`
    /// numbers DC regions after the static partitions (see
    /// [`DcConfig::resolve`]).
    pub dsmad_handle: Option<u8>,
    /// Flags bit 0, Sanitize on Release: released capacity is zeroed.
    pub sanitize_on_release: bool,
}

impl DcRegionConfig {
    /// A region of `length` bytes with the default block size.
    pub fn new(length: u64) -> Self {
        Self {
            length,
            decode_length: None,
            block_size: DEFAULT_DC_BLOCK_SIZE,
            dsmad_handle: None,
            sanitize_on_release: false,
        }
    }
}

/// How the DC regions are given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DcRegions {
    /// No Dynamic Capacity.
    #[default]
    None,
    /// Each region spelled out.
    Explicit(Vec<DcRegionConfig>),
    /// `total_bytes` split into `count` equal regions (like QEMU's
    /// `num-dc-regions` and `dc-regions-total-size`).
    Equal {
        /// Number of regions (1 to 8).
        count: u8,
        /// Total DC capacity in bytes.
        total_bytes: u64,
        /// Block size of every region.
        block_size: u64,
        /// Sanitize on Release for every region.
        sanitize_on_release: bool,
    },
}

/// Dynamic Capacity configuration of a memory device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcConfig {
    /// The regions.
    pub regions: DcRegions,
    /// The device model backs the whole DC DPA range with one host memory
    /// backend, so extents offered without a tagged backend have memory.
    /// A DC-only device usually has none: every add then needs a backend.
    pub static_backing: bool,
    /// Total Number of Supported Extents: live extents (offered, accepted,
    /// release pending) the device tracks at once.
    pub max_extents: u32,
    /// How many released or declined extents status queries remember.
    pub history_depth: u32,
}

impl Default for DcConfig {
    fn default() -> Self {
        Self {
            regions: DcRegions::None,
            static_backing: false,
            max_extents: DEFAULT_MAX_EXTENTS,
            history_depth: DEFAULT_HISTORY_DEPTH,
        }
    }
}

/// A resolved DC region: where it sits in DPA space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DcRegion {
    /// Region index (0-7).
    pub index: u8,
    /// Region Base (DPA).
    pub base: u64,
    /// Region Decode Length in bytes.
    pub decode_length: u64,
    /// Region Length in bytes.
    pub length: u64,
    /// Region Block Size in bytes.
    pub block_size: u64,
    /// DSMAD Handle.
    pub dsmad_handle: u8,
    /// Sanitize on Release.
    pub sanitize_on_release: bool,
}

impl DcRegion {
    /// End of the usable capacity (base + length).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }

    /// End of the decoded DPA range (base + decode length).
    pub fn decode_end(&self) -> u64 {
        self.base.saturating_add(self.decode_length)
    }

    /// True if `[dpa, dpa + len)` lies inside the region's capacity.
    pub fn contains(&self, dpa: u64, len: u64) -> bool {
        match dpa.checked_add(len) {
            Some(end) => dpa >= self.base && end <= self.end(),
            None => false,
        }
    }

    /// True if `value` is a multiple of the block size.
    pub fn block_aligned(&self, value: u64) -> bool {
        self.block_size != 0 && value.is_multiple_of(self.block_size)
    }

    // CXL 3.1 8.2.9.9.9.1 Get Dynamic Capacity Configuration (Flags)
    /// The region configuration Flags byte.
    pub fn flags(&self) -> u8 {
        u8::from(self.sanitize_on_release)
    }
}

/// An invalid Dynamic Capacity configuration.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DcConfigError {
    /// More than 8 regions, or an equal split into 0 or more than 8.
    #[error("{0} DC regions given; a device has 1 to {MAX_DC_REGIONS}")]
    RegionCount(usize),
    /// A region of length 0.
    #[error("DC region {0}: length is 0")]
    ZeroLength(usize),
    /// A block size that is not a power of two of at least 4 KiB.
    #[error(
        "DC region {region}: block size {block_size:#x} is not a power of two of at least \
         {MIN_DC_BLOCK_SIZE:#x}"
    )]
    BlockSize {
        /// Region index.
        region: usize,
        /// The block size.
        block_size: u64,
    },
    /// A length that is not a multiple of the block size.
    #[error(
        "DC region {region}: length {length:#x} is not a multiple of block size {block_size:#x}"
    )]
    LengthNotBlockMultiple {
        /// Region index.
        region: usize,
        /// The length.
        length: u64,
        /// The block size.
        block_size: u64,
    },
    /// A decode length that is not a multiple of 256 MiB or is below the
    /// length.
    #[error(
        "DC region {region}: decode length {decode_length:#x} must be a multiple of 256 MiB and \
         at least the length {length:#x}"
    )]
    DecodeLength {
        /// Region index.
        region: usize,
        /// The decode length.
        decode_length: u64,
        /// The length.
        length: u64,
    },
    /// A base that is not a multiple of the region's block size (block
    /// sizes over 256 MiB).
    #[error("DC region {region}: base {base:#x} is not aligned to block size {block_size:#x}")]
    BaseAlignment {
        /// Region index.
        region: usize,
        /// The base.
        base: u64,
        /// The block size.
        block_size: u64,
    },
    /// An equal split that does not divide evenly into whole blocks.
    #[error(
        "DC total size {total:#x} does not split into {count} regions of whole {block_size:#x} \
         blocks"
    )]
    EqualSplit {
        /// Total DC size.
        total: u64,
        /// Number of regions.
        count: u8,
        /// Block size.
        block_size: u64,
    },
    /// Two regions with the same DSMAD handle.
    #[error("DC regions {0} and {1} have the same DSMAD handle {2}")]
    DuplicateDsmadHandle(usize, usize, u8),
    /// The DPA space would exceed 2^64 bytes.
    #[error("DC regions overflow the DPA space")]
    Overflow,
    /// A maximum extent count of 0.
    #[error("the maximum number of DC extents must be at least 1")]
    MaxExtents,
}

impl DcConfig {
    /// True if any DC region is configured.
    pub fn has_regions(&self) -> bool {
        match &self.regions {
            DcRegions::None => false,
            DcRegions::Explicit(v) => !v.is_empty(),
            DcRegions::Equal { .. } => true,
        }
    }

    fn region_configs(&self) -> Result<Vec<DcRegionConfig>, DcConfigError> {
        match &self.regions {
            DcRegions::None => Ok(Vec::new()),
            DcRegions::Explicit(v) => Ok(v.clone()),
            DcRegions::Equal {
                count,
                total_bytes,
                block_size,
                sanitize_on_release,
            } => {
                let n = usize::from(*count);
                if n == 0 || n > MAX_DC_REGIONS {
                    return Err(DcConfigError::RegionCount(n));
                }
                let split_err = DcConfigError::EqualSplit {
                    total: *total_bytes,
                    count: *count,
                    block_size: *block_size,
                };
                let each = total_bytes / u64::from(*count);
                if !total_bytes.is_multiple_of(u64::from(*count)) || each == 0 {
                    return Err(split_err);
                }
                if *block_size != 0 && !each.is_multiple_of(*block_size) {
                    return Err(split_err);
                }
                Ok((0..n)
                    .map(|_| DcRegionConfig {
                        length: each,
                        decode_length: None,
                        block_size: *block_size,
                        dsmad_handle: None,
                        sanitize_on_release: *sanitize_on_release,
                    })
                    .collect())
            }
        }
    }

    /// Checks the configuration and lays the regions out in DPA space:
    /// region 0 at `static_bytes` (a multiple of 256 MiB), each next region
    /// at the previous base plus its decode length. Regions without a DSMAD
    /// handle get `first_dsmad_handle + index`.
    pub fn resolve(
        &self,
        static_bytes: u64,
        first_dsmad_handle: u8,
    ) -> Result<Vec<DcRegion>, DcConfigError> {
        if self.max_extents == 0 {
            return Err(DcConfigError::MaxExtents);
        }
        let configs = self.region_configs()?;
        if configs.len() > MAX_DC_REGIONS {
            return Err(DcConfigError::RegionCount(configs.len()));
        }
        let mut base = static_bytes;
        let mut out: Vec<DcRegion> = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            if c.length == 0 {
                return Err(DcConfigError::ZeroLength(i));
            }
            if !c.block_size.is_power_of_two() || c.block_size < MIN_DC_BLOCK_SIZE {
                return Err(DcConfigError::BlockSize {
                    region: i,
                    block_size: c.block_size,
                });
            }
            if !c.length.is_multiple_of(c.block_size) {
                return Err(DcConfigError::LengthNotBlockMultiple {
                    region: i,
                    length: c.length,
                    block_size: c.block_size,
                });
            }
            let decode_length = match c.decode_length {
                Some(d) => d,
                None => c
                    .length
                    .checked_next_multiple_of(DC_DECODE_UNIT)
                    .ok_or(DcConfigError::Overflow)?,
            };
            if !decode_length.is_multiple_of(DC_DECODE_UNIT) || decode_length < c.length {
                return Err(DcConfigError::DecodeLength {
                    region: i,
                    decode_length,
                    length: c.length,
                });
            }
            if !base.is_multiple_of(c.block_size) {
                return Err(DcConfigError::BaseAlignment {
                    region: i,
                    base,
                    block_size: c.block_size,
                });
            }
            let handle = match c.dsmad_handle {
                Some(h) => h,
                None => u8::try_from(usize::from(first_dsmad_handle) + i)
                    .map_err(|_| DcConfigError::Overflow)?,
            };
            if let Some(prev) = out.iter().find(|r| r.dsmad_handle == handle) {
                return Err(DcConfigError::DuplicateDsmadHandle(
                    usize::from(prev.index),
                    i,
                    handle,
                ));
            }
            out.push(DcRegion {
                index: i as u8,
                base,
                decode_length,
                length: c.length,
                block_size: c.block_size,
                dsmad_handle: handle,
                sanitize_on_release: c.sanitize_on_release,
            });
            base = base
                .checked_add(decode_length)
                .ok_or(DcConfigError::Overflow)?;
        }
        Ok(out)
    }
}
