//! CXL DVSECs (CXL 3.1 8.1), vendor ID 1E98h.
//!
//! # Contract with the PCI config space
//!
//! Each builder returns a [`DvsecBody`]: the DVSEC's bytes starting at
//! *DVSEC Header 1*, i.e. capability offset 4, right after the PCIe
//! extended capability header (ID 0023h, version 1, Next) that the generic
//! constructor writes. `bytes[i]` lives at capability offset `i + 4`; the
//! DVSEC Length in Header 1 counts from capability offset 0, so it is
//! `bytes.len() + 4` ([`DvsecBody::length`]). Alongside:
//! - `write_mask[i]`: bits of `bytes[i]` the guest may write (RW);
//! - `w1c_mask[i]`: bits a guest write of 1 clears (RW1C);
//! - every other bit is read-only;
//! - `lock`: for the PCIe DVSEC for CXL Devices, CONFIG_LOCK semantics: once
//!   the lock bit is 1, the bits of [`DvsecLock::locked_mask`] (the RWL
//!   fields, and the RWO lock bit itself) become read-only until reset.
//!
//! With `devices::pci` that is: `let mut b = caps::dvsec(CXL_VENDOR_ID,
//! body.revision, body.dvsec_id, body.length())?;` then, for each `i`,
//! `b.set_u8(4 + i, bytes[i]); b.set_wmask(4 + i, write_mask[i], 1);
//! b.set_w1c(4 + i, w1c_mask[i], 1);` and `caps::add_dvsec`.
//!
//! # What Linux reads
//! - `cxl_pci_probe` finds DVSEC 0; `cxl_dvsec_rr_decode` reads CXL
//!   Capability (Mem_Capable, HDM_Count must be 1 or 2) and CXL Control
//!   (Mem_Enable), and for each of the HDM_Count ranges waits for
//!   Memory_Info_Valid then reads Size/Base; `cxl_await_media_ready` waits
//!   for Memory_Active on every range; `cxl_hdm_decode_init` sets Mem_Enable
//!   with a word write to CXL Control.
//! - `cxl_find_regblock_instance` walks the Register Locator entries
//!   (count = (Length - 0Ch) / 8): BIR 2:0, Block Identifier 15:8, offset
//!   low 31:16 + high dword.
//! - `cxl_gpf_port_setup` writes GPF Phase 1/2 Control timeout base (3:0)
//!   and scale (11:8) of the Port GPF DVSEC on each dport; the device GPF
//!   DVSEC is looked up by `cxl_gpf_get_dvsec`.
//! - `cxl_reset_bus_function` / `cxl_sbr_masked` use Unmask SBR in the Port
//!   Extensions DVSEC Port Control register.

/// CXL DVSEC vendor ID.
pub const CXL_VENDOR_ID: u16 = 0x1e98;

/// PCIe DVSEC for CXL Devices (8.1.3).
pub const DVSEC_CXL_DEVICE: u16 = 0;
/// CXL Extensions DVSEC for Ports (8.1.5).
pub const DVSEC_PORT_EXTENSIONS: u16 = 3;
/// GPF DVSEC for CXL Ports (8.1.6).
pub const DVSEC_PORT_GPF: u16 = 4;
/// GPF DVSEC for CXL Devices (8.1.7).
pub const DVSEC_DEVICE_GPF: u16 = 5;
/// PCIe DVSEC for Flex Bus Port (8.1.8).
pub const DVSEC_FLEX_BUS_PORT: u16 = 7;
/// Register Locator DVSEC (8.1.9).
pub const DVSEC_REGISTER_LOCATOR: u16 = 8;

// PCIe DVSEC for CXL Devices (8.1.3), capability offsets.
/// DVSEC CXL Capability (8.1.3.1).
pub const DEV_CAPABILITY: usize = 0x0a;
/// DVSEC CXL Control (8.1.3.2).
pub const DEV_CONTROL: usize = 0x0c;
/// DVSEC CXL Status (8.1.3.3).
pub const DEV_STATUS: usize = 0x0e;
// 0x10 Control2, 0x12 Status2 (PM Init Complete), 0x16 Capability2 and
// 0x38 Capability3: no cache, no CXL reset, no HDM state configurability.
/// DVSEC CXL Status2 (8.1.3.5).
pub const DEV_STATUS2: usize = 0x12;
/// DVSEC CXL Lock (8.1.3.6).
pub const DEV_LOCK: usize = 0x14;
/// DVSEC CXL Range n Size High (8.1.3.8.1): `0x18 + 0x10 * n`.
pub const DEV_RANGE_SIZE_HIGH: usize = 0x18;
/// DVSEC CXL Range n Size Low (8.1.3.8.2).
pub const DEV_RANGE_SIZE_LOW: usize = 0x1c;
/// DVSEC CXL Range n Base High (8.1.3.8.3).
pub const DEV_RANGE_BASE_HIGH: usize = 0x20;
/// DVSEC CXL Range n Base Low (8.1.3.8.4).
pub const DEV_RANGE_BASE_LOW: usize = 0x24;
/// Stride between Range 1 and Range 2 registers.
pub const DEV_RANGE_STRIDE: usize = 0x10;
/// Length of the PCIe DVSEC for CXL Devices.
pub const DEV_LENGTH: u16 = 0x3c;
/// Revision of the PCIe DVSEC for CXL Devices in CXL 3.1.
pub const DEV_REVISION: u8 = 3;

/// CXL Capability: Cache_Capable.
pub const DEV_CAP_CACHE_CAPABLE: u16 = 1 << 0;
/// CXL Capability: IO_Capable.
pub const DEV_CAP_IO_CAPABLE: u16 = 1 << 1;
/// CXL Capability: Mem_Capable.
pub const DEV_CAP_MEM_CAPABLE: u16 = 1 << 2;
/// CXL Capability: Mem_HwInit_Mode.
pub const DEV_CAP_MEM_HWINIT_MODE: u16 = 1 << 3;
/// CXL Capability: HDM_Count, bits 5:4.
pub const DEV_CAP_HDM_COUNT_SHIFT: u16 = 4;
/// CXL Capability: Viral_Capable.
pub const DEV_CAP_VIRAL_CAPABLE: u16 = 1 << 14;
/// CXL Capability: PM Init Completion Reporting Capable.
pub const DEV_CAP_PM_INIT_COMPLETION_REPORTING: u16 = 1 << 15;
/// CXL Control: IO_Enable (RO 1).
pub const DEV_CTRL_IO_ENABLE: u16 = 1 << 1;
/// CXL Control: Mem_Enable.
pub const DEV_CTRL_MEM_ENABLE: u16 = 1 << 2;
/// CXL Control: Viral_Enable.
pub const DEV_CTRL_VIRAL_ENABLE: u16 = 1 << 14;
/// CXL Status: Viral_Status (RW1CS).
pub const DEV_STATUS_VIRAL: u16 = 1 << 14;
/// CXL Status2: Power Management Initialization Complete.
pub const DEV_STATUS2_PM_INIT_COMPLETE: u16 = 1 << 15;
/// CXL Lock: CONFIG_LOCK.
pub const DEV_LOCK_CONFIG_LOCK: u16 = 1 << 0;
/// Range Size Low: Memory_Info_Valid.
pub const RANGE_MEMORY_INFO_VALID: u32 = 1 << 0;
/// Range Size Low: Memory_Active.
pub const RANGE_MEMORY_ACTIVE: u32 = 1 << 1;
/// Range Size Low: Media_Type, bits 4:2.
pub const RANGE_MEDIA_TYPE_SHIFT: u32 = 2;
/// Range Size Low: Memory_Class, bits 7:5.
pub const RANGE_MEMORY_CLASS_SHIFT: u32 = 5;
/// Range Size Low: Desired_Interleave, bits 12:8.
pub const RANGE_DESIRED_INTERLEAVE_SHIFT: u32 = 8;
/// Range Size Low: Memory_Active_Timeout, bits 15:13.
pub const RANGE_MEMORY_ACTIVE_TIMEOUT_SHIFT: u32 = 13;
/// Range Size Low / Base Low: Memory_Size_Low / Memory_Base_Low, bits 31:28.
pub const RANGE_LOW_MASK: u32 = 0xf000_0000;
/// Media_Type / Memory_Class 010b: characteristics are described by CDAT.
pub const RANGE_DESCRIBED_BY_CDAT: u8 = 0b010;

// CXL Extensions DVSEC for Ports (8.1.5), capability offsets.
/// CXL Port Extension Status.
pub const PORT_EXT_STATUS: usize = 0x0a;
/// Port Control Extensions.
pub const PORT_EXT_CONTROL: usize = 0x0c;
/// Alternate Bus Base (byte; Alternate Bus Limit follows).
pub const PORT_EXT_ALT_BUS_BASE: usize = 0x0e;
/// Alternate Memory Base (Limit at +2).
pub const PORT_EXT_ALT_MEM_BASE: usize = 0x10;
/// Alternate Prefetchable Memory Base (Limit at +2).
pub const PORT_EXT_ALT_PREF_BASE: usize = 0x14;
/// Alternate Prefetchable Memory Base High (Limit High at +4).
pub const PORT_EXT_ALT_PREF_BASE_HIGH: usize = 0x18;
/// CXL RCRB Base (Base High at +4; RCH ports only, read-only 0 here).
pub const PORT_EXT_RCRB_BASE: usize = 0x20;
/// Length of the Extensions DVSEC for Ports.
pub const PORT_EXT_LENGTH: u16 = 0x28;
/// Port Extension Status: Port Power Management Initialization Complete.
pub const PORT_EXT_STATUS_PM_INIT_COMPLETE: u16 = 1 << 0;
/// Port Extension Status: Viral Status (RW1CS).
pub const PORT_EXT_STATUS_VIRAL: u16 = 1 << 14;
/// Port Control: Unmask SBR.
pub const PORT_EXT_CTRL_UNMASK_SBR: u16 = 1 << 0;
/// Port Control RW bits: Unmask SBR (0), Unmask Link Disable (1), Alt
/// Memory and ID Space Enable (2), Alt BME (3), Viral Enable (14).
pub const PORT_EXT_CTRL_WRITABLE: u16 = 0x400f;

// GPF DVSECs (8.1.6, 8.1.7).
/// GPF Phase 1 Control (Port GPF DVSEC).
pub const GPF_PORT_PHASE1_CONTROL: usize = 0x0c;
/// GPF Phase 2 Control (Port GPF DVSEC).
pub const GPF_PORT_PHASE2_CONTROL: usize = 0x0e;
/// GPF Phase 2 Duration (Device GPF DVSEC).
pub const GPF_DEVICE_PHASE2_DURATION: usize = 0x0a;
/// GPF Phase 2 Power in mW (Device GPF DVSEC).
pub const GPF_DEVICE_PHASE2_POWER: usize = 0x0c;
/// Length of both GPF DVSECs.
pub const GPF_LENGTH: u16 = 0x10;
/// Timeout/time base (3:0) and scale (11:8) fields.
pub const GPF_TIME_FIELDS: u16 = 0x0f0f;

// PCIe DVSEC for Flex Bus Port (8.1.8).
/// Flex Bus Port Capability.
pub const FLEX_BUS_CAPABILITY: usize = 0x0a;
/// Flex Bus Port Control.
pub const FLEX_BUS_CONTROL: usize = 0x0c;
/// Flex Bus Port Status.
pub const FLEX_BUS_STATUS: usize = 0x0e;
// 0x10 Received Modified TS Data Phase1, 0x14 Capability2, 0x18 Control2,
// 0x1C Status2: read-only zero (no NOP hints).
/// Length of the Flex Bus Port DVSEC.
pub const FLEX_BUS_LENGTH: u16 = 0x20;
/// Revision of the Flex Bus Port DVSEC (CXL 3.x).
pub const FLEX_BUS_REVISION: u8 = 2;
/// Flex Bus capability/control/status bit: CXL.cache.
pub const FLEX_BUS_CACHE: u16 = 1 << 0;
/// Flex Bus bit: CXL.io.
pub const FLEX_BUS_IO: u16 = 1 << 1;
/// Flex Bus bit: CXL.mem.
pub const FLEX_BUS_MEM: u16 = 1 << 2;
/// Flex Bus bit: CXL 68B Flit and VH.
pub const FLEX_BUS_68B_FLIT_AND_VH: u16 = 1 << 5;
/// Flex Bus control bits a downstream port's software may set besides the
/// protocols: Sync Header Bypass (3), Drift Buffer (4), Disable RCD
/// Training (7), Retimer1/Retimer2 Present (9:8).
pub const FLEX_BUS_CTRL_LINK_OPTIONS: u16 = 0b11_1001_1000;
/// Flex Bus status RW1CS error bits 12:8.
pub const FLEX_BUS_STATUS_ERRORS: u16 = 0x1f << 8;

// Register Locator DVSEC (8.1.9).
/// Register Block 1 Register Offset Low.
pub const REGLOC_BLOCK1: usize = 0x0c;
/// Register Offset Low: Register BIR, bits 2:0.
pub const REGLOC_BIR_MASK: u32 = 0x7;
/// Register Offset Low: Register Block Identifier, bits 15:8.
pub const REGLOC_BLOCK_ID_SHIFT: u32 = 8;
/// Register Offset Low: Register Block Offset Low, bits 31:16.
pub const REGLOC_OFFSET_LOW_MASK: u32 = 0xffff_0000;

/// CONFIG_LOCK semantics of a DVSEC (see the module contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DvsecLock {
    /// Capability offset of the byte holding the lock bit.
    pub offset: usize,
    /// The lock bit within that byte.
    pub bit: u8,
    /// Per byte (same indexing as [`DvsecBody::bytes`]): bits that become
    /// read-only once the lock bit is set (the lock bit included).
    pub locked_mask: Vec<u8>,
}

/// A DVSEC from DVSEC Header 1 on, with its guest write semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DvsecBody {
    /// DVSEC ID (Header 2).
    pub dvsec_id: u16,
    /// DVSEC Revision (Header 1 bits 19:16).
    pub revision: u8,
    /// Bytes from capability offset 4 (Header 1) to the end.
    pub bytes: Vec<u8>,
    /// Guest-writable bits, per byte.
    pub write_mask: Vec<u8>,
    /// Write-1-to-clear bits, per byte.
    pub w1c_mask: Vec<u8>,
    /// CONFIG_LOCK semantics, if the DVSEC has them.
    pub lock: Option<DvsecLock>,
}

impl DvsecBody {
    fn new(dvsec_id: u16, revision: u8, length: u16) -> Self {
        let n = usize::from(length).saturating_sub(4);
        let mut b = Self {
            dvsec_id,
            revision,
            bytes: vec![0; n],
            write_mask: vec![0; n],
            w1c_mask: vec![0; n],
            lock: None,
        };
        let h1 = u32::from(CXL_VENDOR_ID)
            | (u32::from(revision & 0xf) << 16)
            | (u32::from(length & 0xfff) << 20);
        b.set(4, u64::from(h1), 4);
        b.set(8, u64::from(dvsec_id), 2);
        b
    }

    /// DVSEC Length: bytes from the extended capability header to the end.
    pub fn length(&self) -> u16 {
        (self.bytes.len() + 4) as u16
    }

    fn put(buf: &mut [u8], cap_offset: usize, value: u64, width: usize) {
        for (i, byte) in value.to_le_bytes().iter().take(width).enumerate() {
            if let Some(slot) = (cap_offset + i).checked_sub(4).and_then(|o| buf.get_mut(o)) {
                *slot = *byte;
            }
        }
    }

    fn fetch(buf: &[u8], cap_offset: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        for (i, slot) in b.iter_mut().take(width.min(8)).enumerate() {
            *slot = (cap_offset + i)
                .checked_sub(4)
                .and_then(|o| buf.get(o))
                .copied()
                .unwrap_or(0);
        }
        u64::from_le_bytes(b)
    }

    fn set(&mut self, cap_offset: usize, value: u64, width: usize) {
        Self::put(&mut self.bytes, cap_offset, value, width);
    }

    fn set_wmask(&mut self, cap_offset: usize, mask: u64, width: usize) {
        Self::put(&mut self.write_mask, cap_offset, mask, width);
    }

    fn set_w1c(&mut self, cap_offset: usize, mask: u64, width: usize) {
        Self::put(&mut self.w1c_mask, cap_offset, mask, width);
    }

    /// Value of `width` bytes at capability offset `cap_offset` (0 outside).
    pub fn get(&self, cap_offset: usize, width: usize) -> u64 {
        Self::fetch(&self.bytes, cap_offset, width)
    }

    /// Write mask of `width` bytes at capability offset `cap_offset`.
    pub fn wmask(&self, cap_offset: usize, width: usize) -> u64 {
        Self::fetch(&self.write_mask, cap_offset, width)
    }

    /// RW1C mask of `width` bytes at capability offset `cap_offset`.
    pub fn w1c(&self, cap_offset: usize, width: usize) -> u64 {
        Self::fetch(&self.w1c_mask, cap_offset, width)
    }
}

/// A refused DVSEC description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DvsecError {
    /// HDM_Count must be 1 or 2 (Linux refuses anything else).
    RangeCount(usize),
    /// A range size not a multiple of 256 MiB.
    RangeSize(u64),
    /// A field value too wide for its register field.
    FieldValue,
    /// BAR index above 5.
    Bar(u8),
    /// Register block offset not 64 KiB aligned.
    BlockOffset(u64),
    /// More register blocks than fit the 12-bit DVSEC length.
    TooManyBlocks,
}

/// One DVSEC CXL Range (Size Low's descriptive fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DvsecRange {
    /// Size in bytes, multiple of 256 MiB.
    pub size: u64,
    /// Media_Type (3 bits).
    pub media_type: u8,
    /// Memory_Class (3 bits).
    pub memory_class: u8,
    /// Desired_Interleave (5 bits).
    pub desired_interleave: u8,
    /// Memory_Active_Timeout (3 bits; 0 = 1 s).
    pub memory_active_timeout: u8,
}

impl DvsecRange {
    /// A range of `size` bytes whose characteristics the CDAT describes.
    pub fn cdat_described(size: u64) -> Self {
        Self {
            size,
            media_type: RANGE_DESCRIBED_BY_CDAT,
            memory_class: RANGE_DESCRIBED_BY_CDAT,
            desired_interleave: 0,
            memory_active_timeout: 0,
        }
    }
}

/// Inputs of the PCIe DVSEC for CXL Devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CxlDeviceDvsec {
    /// One or two ranges (HDM_Count).
    pub ranges: Vec<DvsecRange>,
    /// Mem_HwInit_Mode.
    pub mem_hwinit_mode: bool,
    /// Viral_Capable (makes Viral_Enable RW and Viral_Status RW1C).
    pub viral_capable: bool,
}

/// PCIe DVSEC for CXL Devices (ID 0, 8.1.3) for a Type 3 device: CXL.io and
/// CXL.mem capable, IO_Enable fixed to 1, Mem_Enable RWL; each range reports
/// Memory_Info_Valid and Memory_Active; Range Base registers RWL.
pub fn cxl_device_dvsec(cfg: &CxlDeviceDvsec) -> Result<DvsecBody, DvsecError> {
    let count = cfg.ranges.len();
    if !(1..=2).contains(&count) {
        return Err(DvsecError::RangeCount(count));
    }
    let mut b = DvsecBody::new(DVSEC_CXL_DEVICE, DEV_REVISION, DEV_LENGTH);
    let mut cap = DEV_CAP_IO_CAPABLE
        | DEV_CAP_MEM_CAPABLE
        | ((count as u16) << DEV_CAP_HDM_COUNT_SHIFT)
        | DEV_CAP_PM_INIT_COMPLETION_REPORTING;
    if cfg.mem_hwinit_mode {
        cap |= DEV_CAP_MEM_HWINIT_MODE;
    }
    let mut ctrl_mask = DEV_CTRL_MEM_ENABLE;
    if cfg.viral_capable {
        cap |= DEV_CAP_VIRAL_CAPABLE;
        ctrl_mask |= DEV_CTRL_VIRAL_ENABLE;
        b.set_w1c(DEV_STATUS, DEV_STATUS_VIRAL.into(), 2);
    }
    b.set(DEV_CAPABILITY, cap.into(), 2);
    b.set(DEV_CONTROL, DEV_CTRL_IO_ENABLE.into(), 2);
    b.set_wmask(DEV_CONTROL, ctrl_mask.into(), 2);
    b.set(DEV_STATUS2, DEV_STATUS2_PM_INIT_COMPLETE.into(), 2);
    b.set_wmask(DEV_LOCK, DEV_LOCK_CONFIG_LOCK.into(), 2);
    for (i, r) in cfg.ranges.iter().enumerate() {
        if !r.size.is_multiple_of(1 << 28) {
            return Err(DvsecError::RangeSize(r.size));
        }
        if r.media_type > 7
            || r.memory_class > 7
            || r.desired_interleave > 0x1f
            || r.memory_active_timeout > 7
        {
            return Err(DvsecError::FieldValue);
        }
        let o = DEV_RANGE_STRIDE * i;
        let low = (r.size as u32 & RANGE_LOW_MASK)
            | RANGE_MEMORY_INFO_VALID
            | RANGE_MEMORY_ACTIVE
            | (u32::from(r.media_type) << RANGE_MEDIA_TYPE_SHIFT)
            | (u32::from(r.memory_class) << RANGE_MEMORY_CLASS_SHIFT)
            | (u32::from(r.desired_interleave) << RANGE_DESIRED_INTERLEAVE_SHIFT)
            | (u32::from(r.memory_active_timeout) << RANGE_MEMORY_ACTIVE_TIMEOUT_SHIFT);
        b.set(DEV_RANGE_SIZE_HIGH + o, r.size >> 32, 4);
        b.set(DEV_RANGE_SIZE_LOW + o, low.into(), 4);
        b.set_wmask(DEV_RANGE_BASE_HIGH + o, u32::MAX.into(), 4);
        b.set_wmask(DEV_RANGE_BASE_LOW + o, RANGE_LOW_MASK.into(), 4);
    }
    // RWL: Control's writable bits, the Range Base registers, and the RWO
    // lock bit itself freeze once CONFIG_LOCK is set.
    let mut locked_mask = b.write_mask.clone();
    for (m, w1c) in locked_mask.iter_mut().zip(&b.w1c_mask) {
        *m &= !w1c;
    }
    b.lock = Some(DvsecLock {
        offset: DEV_LOCK,
        bit: DEV_LOCK_CONFIG_LOCK as u8,
        locked_mask,
    });
    Ok(b)
}

/// CXL Extensions DVSEC for Ports (ID 3, 8.1.5) for a root port or switch
/// port: PM initialization complete, Port Control and the Alternate
/// Bus/Memory ranges RW, RCRB Base read-only 0 (not an RCH port).
pub fn port_extensions_dvsec() -> DvsecBody {
    let mut b = DvsecBody::new(DVSEC_PORT_EXTENSIONS, 0, PORT_EXT_LENGTH);
    b.set(PORT_EXT_STATUS, PORT_EXT_STATUS_PM_INIT_COMPLETE.into(), 2);
    b.set_w1c(PORT_EXT_STATUS, PORT_EXT_STATUS_VIRAL.into(), 2);
    b.set_wmask(PORT_EXT_CONTROL, PORT_EXT_CTRL_WRITABLE.into(), 2);
    b.set_wmask(PORT_EXT_ALT_BUS_BASE, 0xffff, 2);
    // Base/limit bits 15:4 (address bits 31:20).
    for o in [0, 2] {
        b.set_wmask(PORT_EXT_ALT_MEM_BASE + o, 0xfff0, 2);
        b.set_wmask(PORT_EXT_ALT_PREF_BASE + o, 0xfff0, 2);
    }
    b.set_wmask(PORT_EXT_ALT_PREF_BASE_HIGH, u64::MAX, 8);
    b
}

/// A GPF time or timeout: `base` units of `scale` (0h = 1 us, 1h = 10 us,
/// 2h = 100 us, 3h = 1 ms, 4h = 10 ms, 5h = 100 ms, 6h = 1 s, 7h = 10 s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpfTime {
    /// Base, 0..=15.
    pub base: u8,
    /// Scale, 0..=7.
    pub scale: u8,
}

impl GpfTime {
    fn encode(self) -> Result<u16, DvsecError> {
        if self.base > 0xf || self.scale > 7 {
            return Err(DvsecError::FieldValue);
        }
        Ok(u16::from(self.base) | (u16::from(self.scale) << 8))
    }
}

/// GPF DVSEC for CXL Ports (ID 4, 8.1.6): Phase 1 / Phase 2 timeout base and
/// scale RW (Linux's `update_gpf_port_dvsec` writes them).
pub fn port_gpf_dvsec(phase1: GpfTime, phase2: GpfTime) -> Result<DvsecBody, DvsecError> {
    let mut b = DvsecBody::new(DVSEC_PORT_GPF, 0, GPF_LENGTH);
    b.set(GPF_PORT_PHASE1_CONTROL, phase1.encode()?.into(), 2);
    b.set(GPF_PORT_PHASE2_CONTROL, phase2.encode()?.into(), 2);
    b.set_wmask(GPF_PORT_PHASE1_CONTROL, GPF_TIME_FIELDS.into(), 2);
    b.set_wmask(GPF_PORT_PHASE2_CONTROL, GPF_TIME_FIELDS.into(), 2);
    Ok(b)
}

/// GPF DVSEC for CXL Devices (ID 5, 8.1.7): how long and how much power the
/// device needs for GPF Phase 2 (read-only).
pub fn device_gpf_dvsec(
    phase2_duration: GpfTime,
    phase2_power_mw: u32,
) -> Result<DvsecBody, DvsecError> {
    let mut b = DvsecBody::new(DVSEC_DEVICE_GPF, 0, GPF_LENGTH);
    b.set(
        GPF_DEVICE_PHASE2_DURATION,
        phase2_duration.encode()?.into(),
        2,
    );
    b.set(GPF_DEVICE_PHASE2_POWER, phase2_power_mw.into(), 4);
    Ok(b)
}

/// Which end of the link a Flex Bus Port DVSEC describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlexBusRole {
    /// Root port or switch downstream port: Control is RW.
    DownstreamPort,
    /// Switch upstream port or device: Control is read-only (HwInit).
    UpstreamPortOrDevice,
}

/// PCIe DVSEC for Flex Bus Port (ID 7, 8.1.8) of a link trained in CXL
/// 68B-flit VH mode with CXL.io and CXL.mem (and CXL.cache if `cache`).
pub fn flex_bus_port_dvsec(role: FlexBusRole, cache: bool) -> DvsecBody {
    let mut b = DvsecBody::new(DVSEC_FLEX_BUS_PORT, FLEX_BUS_REVISION, FLEX_BUS_LENGTH);
    let mut protocols = FLEX_BUS_IO | FLEX_BUS_MEM | FLEX_BUS_68B_FLIT_AND_VH;
    if cache {
        protocols |= FLEX_BUS_CACHE;
    }
    b.set(FLEX_BUS_CAPABILITY, protocols.into(), 2);
    b.set(FLEX_BUS_CONTROL, protocols.into(), 2);
    b.set(FLEX_BUS_STATUS, protocols.into(), 2);
    b.set_w1c(FLEX_BUS_STATUS, FLEX_BUS_STATUS_ERRORS.into(), 2);
    if role == FlexBusRole::DownstreamPort {
        let mut ctrl = FLEX_BUS_MEM | FLEX_BUS_68B_FLIT_AND_VH | FLEX_BUS_CTRL_LINK_OPTIONS;
        if cache {
            ctrl |= FLEX_BUS_CACHE;
        }
        b.set_wmask(FLEX_BUS_CONTROL, ctrl.into(), 2);
    }
    b
}

/// Register Block Identifier (8.1.9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RegisterBlockId {
    /// Empty.
    Empty = 0,
    /// Component registers (block of 64 KiB).
    Component = 1,
    /// BAR Virtualization ACL registers.
    BarVirtualizationAcl = 2,
    /// CXL Memory Device registers.
    MemoryDevice = 3,
    /// CPMU registers.
    Cpmu = 4,
}

/// One Register Locator entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterBlockEntry {
    /// BAR Indicator: BAR index 0..=5 (10h..24h).
    pub bar: u8,
    /// What the block is.
    pub id: RegisterBlockId,
    /// Offset of the block within the BAR (64 KiB aligned).
    pub offset: u64,
}

/// Register Locator DVSEC (ID 8, 8.1.9): entries of (BIR, block identifier,
/// 64 KiB aligned offset), all read-only.
pub fn register_locator_dvsec(blocks: &[RegisterBlockEntry]) -> Result<DvsecBody, DvsecError> {
    let length = REGLOC_BLOCK1 + 8 * blocks.len();
    if length > 0xfff {
        return Err(DvsecError::TooManyBlocks);
    }
    let mut b = DvsecBody::new(DVSEC_REGISTER_LOCATOR, 0, length as u16);
    for (i, blk) in blocks.iter().enumerate() {
        if blk.bar > 5 {
            return Err(DvsecError::Bar(blk.bar));
        }
        if !blk.offset.is_multiple_of(0x1_0000) {
            return Err(DvsecError::BlockOffset(blk.offset));
        }
        let low = u32::from(blk.bar)
            | (u32::from(blk.id as u8) << REGLOC_BLOCK_ID_SHIFT)
            | (blk.offset as u32 & REGLOC_OFFSET_LOW_MASK);
        let o = REGLOC_BLOCK1 + 8 * i;
        b.set(o, low.into(), 4);
        b.set(o + 4, blk.offset >> 32, 4);
    }
    Ok(b)
}

#[cfg(test)]
#[path = "dvsec_tests.rs"]
mod tests;
