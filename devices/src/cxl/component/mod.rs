//! CXL Component Register block (CXL 3.1 8.2.3, 8.2.4).
//!
//! A 64 KiB block a device model places in a BAR (located by the Register
//! Locator DVSEC, block identifier 1) or, for a host bridge, at the CHBCR
//! address the CEDT CHBS gives:
//!
//! | offset          | contents                                           |
//! |-----------------|----------------------------------------------------|
//! | 0x0000..0x1000  | CXL.io registers: not implemented, read 0          |
//! | 0x1000..0x2000  | CXL.cache and CXL.mem registers (below)            |
//! | 0x2000..0x10000 | implementation specific / ARB/MUX: read 0          |
//!
//! CXL.cache/CXL.mem space, as Linux's `cxl_probe_component_regs` walks it:
//! - `+0x000` CXL Capability Header (8.2.4.1): ID 1, version 1,
//!   CXL.cache/mem version 1, Array Size = number of capability headers;
//! - `+0x004 * i` (i = 1..=Array Size): capability header i (8.2.4.2..):
//!   ID bits 15:0, version 19:16, pointer 31:20 (offset from `+0x000`);
//! - RAS Capability (8.2.4.17) at `+0x080` when present;
//! - HDM Decoder Capability (8.2.4.20) at `+0x100` when present.
//!
//! Which capabilities a component has is chosen at construction (CXL 3.1
//! Table 8-22): host bridge: HDM; root port and switch downstream port: RAS;
//! switch upstream port and Type 3 device: RAS and HDM. The Link capability
//! is omitted: Linux reads it only through an RCH's RCRB.
//!
//! Wiring: the device model forwards BAR reads/writes at `offset` within the
//! block to [`ComponentRegisters::read`] / [`ComponentRegisters::write`] and
//! acts on the returned [`HdmEvent`]s (map memory on `Committed`, unmap on
//! `Uncommitted`), using [`HdmDecoderCapability::decoders`] /
//! [`HdmDecoderCapability::translate`] for the addresses.

pub(crate) mod access;
pub mod hdm;
pub mod ras;
#[cfg(test)]
mod tests;

pub use hdm::{
    CommitError, DecoderProgram, DpaLayout, HdmConfig, HdmConfigError, HdmDecoderCapability,
    HdmDecoderInfo, HdmDecoderTarget, HdmEvent, HdmKind, HdmTranslation,
};
pub use ras::{RasCapability, RasSignal};

/// Size of the component register block (Linux `CXL_COMPONENT_REG_BLOCK_SIZE`).
pub const COMPONENT_BLOCK_SIZE: u64 = 0x1_0000;
/// Offset of the CXL.cache and CXL.mem registers (Linux `CXL_CM_OFFSET`).
pub const CACHEMEM_OFFSET: u64 = 0x1000;
/// Size of the CXL.cache and CXL.mem register range.
pub const CACHEMEM_SIZE: u64 = 0x1000;

/// CXL_Capability_ID of the CXL Capability Header (8.2.4.1).
pub const CXL_CAPABILITY_ID: u16 = 0x0001;
/// CXL_Capability_Version of the CXL Capability Header.
pub const CXL_CAPABILITY_VERSION: u8 = 1;
/// CXL.cache/CXL.mem version field of the CXL Capability Header.
pub const CXL_CACHEMEM_VERSION: u8 = 1;

/// Where the RAS capability sits, relative to the CXL.cache/mem space.
pub const RAS_POINTER: u64 = 0x080;
/// Where the HDM Decoder capability sits, relative to the CXL.cache/mem space.
pub const HDM_POINTER: u64 = 0x100;

/// Which capabilities a component register block has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentConfig {
    /// Include the RAS capability.
    pub ras: bool,
    /// Include an HDM Decoder capability built from this configuration.
    pub hdm: Option<HdmConfig>,
}

/// One entry of the capability header array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapabilityHeader {
    /// CXL_Capability_ID.
    pub id: u16,
    /// CXL_Capability_Version.
    pub version: u8,
    /// Offset of the capability from the start of CXL.cache/mem space.
    pub pointer: u16,
}

impl CapabilityHeader {
    /// The register encoding: ID 15:0, version 19:16, pointer 31:20.
    pub fn encode(&self) -> u32 {
        u32::from(self.id) | (u32::from(self.version & 0xf) << 16) | (u32::from(self.pointer) << 20)
    }
}

/// A CXL component register block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRegisters {
    ras: Option<RasCapability>,
    hdm: Option<HdmDecoderCapability>,
}

impl ComponentRegisters {
    /// A block with the capabilities in `config`.
    pub fn new(config: ComponentConfig) -> Result<Self, HdmConfigError> {
        let hdm = config.hdm.map(HdmDecoderCapability::new).transpose()?;
        Ok(Self {
            ras: config.ras.then(RasCapability::new),
            hdm,
        })
    }

    /// A host bridge's CHBCR: HDM decoders only.
    pub fn host_bridge(hdm: HdmConfig) -> Result<Self, HdmConfigError> {
        Self::new(ComponentConfig {
            ras: false,
            hdm: Some(hdm),
        })
    }

    /// A root port or switch downstream port: RAS only.
    pub fn downstream_port() -> Self {
        Self {
            ras: Some(RasCapability::new()),
            hdm: None,
        }
    }

    /// A switch upstream port or Type 3 device: RAS and HDM decoders.
    pub fn with_decoders(hdm: HdmConfig) -> Result<Self, HdmConfigError> {
        Self::new(ComponentConfig {
            ras: true,
            hdm: Some(hdm),
        })
    }

    /// The capability header array (after the CXL Capability Header).
    pub fn capability_headers(&self) -> Vec<CapabilityHeader> {
        let mut v = Vec::new();
        if self.ras.is_some() {
            v.push(CapabilityHeader {
                id: ras::RAS_CAPABILITY_ID,
                version: ras::RAS_CAPABILITY_VERSION,
                pointer: RAS_POINTER as u16,
            });
        }
        if self.hdm.is_some() {
            v.push(CapabilityHeader {
                id: hdm::HDM_CAPABILITY_ID,
                version: hdm::HDM_CAPABILITY_VERSION,
                pointer: HDM_POINTER as u16,
            });
        }
        v
    }

    /// The RAS capability, if present.
    pub fn ras(&self) -> Option<&RasCapability> {
        self.ras.as_ref()
    }

    /// The RAS capability, for error injection.
    pub fn ras_mut(&mut self) -> Option<&mut RasCapability> {
        self.ras.as_mut()
    }

    /// The HDM Decoder capability, if present.
    pub fn hdm(&self) -> Option<&HdmDecoderCapability> {
        self.hdm.as_ref()
    }

    /// The HDM Decoder capability, for firmware programming and DPA layout.
    pub fn hdm_mut(&mut self) -> Option<&mut HdmDecoderCapability> {
        self.hdm.as_mut()
    }

    /// Reads the dword at block offset `offset` (dword aligned).
    pub fn read32(&self, offset: u64) -> u32 {
        let Some(cm) = offset.checked_sub(CACHEMEM_OFFSET) else {
            return 0;
        };
        if cm >= CACHEMEM_SIZE {
            return 0;
        }
        let headers = self.capability_headers();
        let header_bytes = 4 * (headers.len() as u64 + 1);
        if cm == 0 {
            return u32::from(CXL_CAPABILITY_ID)
                | (u32::from(CXL_CAPABILITY_VERSION) << 16)
                | (u32::from(CXL_CACHEMEM_VERSION) << 20)
                | ((headers.len() as u32) << 24);
        }
        if cm < header_bytes {
            return (cm / 4)
                .checked_sub(1)
                .and_then(|i| headers.get(i as usize))
                .map_or(0, CapabilityHeader::encode);
        }
        if let (Some(ras), Some(rel)) = (&self.ras, cm.checked_sub(RAS_POINTER)) {
            if rel < ras::RAS_CAPABILITY_LENGTH {
                return ras.read32(rel);
            }
        }
        if let (Some(hdm), Some(rel)) = (&self.hdm, cm.checked_sub(HDM_POINTER)) {
            if rel < hdm.length() {
                return hdm.read32(rel);
            }
        }
        0
    }

    fn write32(&mut self, offset: u64, value: u32, mask: u32) -> Option<HdmEvent> {
        let cm = offset.checked_sub(CACHEMEM_OFFSET)?;
        if cm >= CACHEMEM_SIZE {
            return None;
        }
        if let (Some(ras), Some(rel)) = (&mut self.ras, cm.checked_sub(RAS_POINTER)) {
            if rel < ras::RAS_CAPABILITY_LENGTH {
                ras.write32(rel, value, mask);
                return None;
            }
        }
        if let (Some(hdm), Some(rel)) = (&mut self.hdm, cm.checked_sub(HDM_POINTER)) {
            if rel < hdm.length() {
                return hdm.write32(rel, value, mask);
            }
        }
        None
    }

    /// Guest read of `data.len()` bytes at block offset `offset`. Any width
    /// and alignment is accepted; undefined space reads as zero.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        access::read_bytes(offset, data, |o| self.read32(o));
    }

    /// Guest write of `data` at block offset `offset`. Returns the decode
    /// state changes it caused, in order.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Vec<HdmEvent> {
        let mut events = Vec::new();
        access::write_bytes(offset, data, |o, v, m| {
            if let Some(e) = self.write32(o, v, m) {
                events.push(e);
            }
        });
        events
    }

    /// Conventional reset: RAS back to defaults, decoders cleared and
    /// unlocked. Returns the decode-state changes.
    pub fn reset(&mut self) -> Vec<HdmEvent> {
        if let Some(ras) = &mut self.ras {
            *ras = RasCapability::new();
        }
        self.hdm
            .as_mut()
            .map(HdmDecoderCapability::reset)
            .unwrap_or_default()
    }
}
