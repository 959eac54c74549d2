//! CXL HDM Decoder Capability Structure (CXL 3.1 8.2.4.20).
//!
//! Two flavours, chosen at construction ([`HdmKind`]):
//! - *upstream* decoders (host bridge CHBCR, switch upstream port): decoder n
//!   routes `[base, base + size)` to the downstream port IDs in its Target
//!   List, selected by modulo interleave;
//! - *endpoint* decoders (Type 3 device): decoder n maps its HPA range onto
//!   device DPA starting at the end of decoder n-1's DPA plus DPA Skip.
//!
//! Register layout relative to the capability pointer (Linux `cxl.h`):
//! `0x00` HDM Decoder Capability, `0x04` HDM Decoder Global Control, then per
//! decoder n at `0x20 * n + 0x10`: Base Low/High, Size Low/High, Control,
//! Target List Low/High (or DPA Skip Low/High), reserved.
//!
//! Commit (8.2.4.20.12 Committing Decoder Programming) happens synchronously
//! on the write that sets Commit, so Linux's `cxld_await_commit` sees
//! Committed (or Error Not Committed) on its first read. Each register write
//! reports an [`HdmEvent`] when a decoder's decode state changes so the
//! device model can (un)map memory.
//!
//! Files: `config` (what the capability advertises), `commit` (the commit
//! rules and firmware programming), `view` (read-only decoder views and HPA
//! translation for the VMM), this file (registers).

use std::ops::Range;

use super::access::merge;
use crate::cxl::decode::{DecodeError, Interleave};

mod commit;
mod config;
#[cfg(test)]
mod tests;
mod view;

pub use commit::{CommitError, DecoderProgram};
pub use config::*;
pub use view::{HdmDecoderInfo, HdmDecoderTarget, HdmTranslation};

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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Decoder {
    base: u64,
    size: u64,
    ctrl: u32,
    targets_or_skip: u64,
    /// DPA range decoded, fixed at commit (endpoints).
    dpa: Range<u64>,
}

impl Decoder {
    fn committed(&self) -> bool {
        self.ctrl & CTRL_COMMITTED != 0
    }

    fn locked(&self) -> bool {
        self.committed() && self.ctrl & CTRL_LOCK_ON_COMMIT != 0
    }

    fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    fn encoded_interleave(&self) -> Result<Interleave, DecodeError> {
        Interleave::from_encoded(
            ((self.ctrl >> CTRL_IW_SHIFT) & 0xf) as u8,
            (self.ctrl & CTRL_IG_MASK) as u8,
        )
    }
}

/// The HDM Decoder capability registers and decoder state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdmDecoderCapability {
    config: HdmConfig,
    global_control: u32,
    decoders: Vec<Decoder>,
}

fn lo(v: u64) -> u32 {
    v as u32
}

fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

fn set_lo(v: u64, x: u32) -> u64 {
    (v & !0xffff_ffff) | u64::from(x)
}

fn set_hi(v: u64, x: u32) -> u64 {
    (v & 0xffff_ffff) | (u64::from(x) << 32)
}

/// Writable bits of Base Low, Size Low and DPA Skip Low (256 MiB granule).
const LOW_GRANULE_MASK: u32 = 0xf000_0000;

impl HdmDecoderCapability {
    /// A capability with every decoder cleared and decoding disabled.
    pub fn new(config: HdmConfig) -> Result<Self, HdmConfigError> {
        config.validate()?;
        let decoders = vec![Decoder::default(); config.decoder_count];
        Ok(Self {
            config,
            global_control: 0,
            decoders,
        })
    }

    /// Bytes of register space: `0x10 + 0x20 * decoder_count`.
    pub fn length(&self) -> u64 {
        DECODER_REGS_START + DECODER_STRIDE * self.decoders.len() as u64
    }

    /// Number of decoders.
    pub fn decoder_count(&self) -> usize {
        self.decoders.len()
    }

    /// The configuration this capability was built with (DPA layout current).
    pub fn config(&self) -> &HdmConfig {
        &self.config
    }

    /// True for endpoint decoders.
    pub fn is_endpoint(&self) -> bool {
        matches!(self.config.kind, HdmKind::Endpoint { .. })
    }

    /// HDM Decoder Enable.
    pub fn decoding_enabled(&self) -> bool {
        self.global_control & HDM_DECODER_ENABLE != 0
    }

    /// Replaces the device's DPA layout (capacity or partitions changed).
    /// Already committed decoders keep their mapping; new commits use it.
    /// Ignored for upstream components.
    pub fn set_dpa_layout(&mut self, layout: DpaLayout) {
        if let HdmKind::Endpoint { dpa } = &mut self.config.kind {
            *dpa = layout;
        }
    }

    fn global_writable(&self) -> u32 {
        let mut w = HDM_DECODER_ENABLE;
        if self.config.poison_on_decode_error {
            w |= POISON_ON_DECODE_ERROR_ENABLE;
        }
        w
    }

    fn ctrl_writable(&self, index: usize) -> u32 {
        let mut w = CTRL_IG_MASK
            | (0xf << CTRL_IW_SHIFT)
            | CTRL_LOCK_ON_COMMIT
            | CTRL_COMMIT
            | CTRL_TARGET_RANGE_TYPE;
        // UIO capable decoders are the first `uio_decoders`.
        if index < usize::from(self.config.uio_decoders) {
            w |= CTRL_UIO_FIELDS;
        }
        w
    }

    /// Reads the dword at `offset` (relative to the capability).
    pub fn read32(&self, offset: u64) -> u32 {
        match offset {
            HDM_DECODER_CAPABILITY => self.config.capability_register(),
            HDM_DECODER_GLOBAL_CONTROL => self.global_control,
            o if o >= DECODER_REGS_START => {
                let rel = o - DECODER_REGS_START;
                let Some(d) = usize::try_from(rel / DECODER_STRIDE)
                    .ok()
                    .and_then(|n| self.decoders.get(n))
                else {
                    return 0;
                };
                match rel % DECODER_STRIDE {
                    DECODER_BASE_LOW => lo(d.base),
                    DECODER_BASE_HIGH => hi(d.base),
                    DECODER_SIZE_LOW => lo(d.size),
                    DECODER_SIZE_HIGH => hi(d.size),
                    DECODER_CONTROL => d.ctrl,
                    DECODER_TARGET_LIST_LOW => lo(d.targets_or_skip),
                    DECODER_TARGET_LIST_HIGH => hi(d.targets_or_skip),
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    /// Writes the dword at `offset`; `mask` selects the bits the guest wrote.
    pub fn write32(&mut self, offset: u64, value: u32, mask: u32) -> Option<HdmEvent> {
        if offset == HDM_DECODER_GLOBAL_CONTROL {
            let was = self.decoding_enabled();
            self.global_control = merge(self.global_control, value, mask, self.global_writable());
            let now = self.decoding_enabled();
            return (was != now).then_some(HdmEvent::DecodingEnabled(now));
        }
        if offset < DECODER_REGS_START {
            return None;
        }
        let rel = offset - DECODER_REGS_START;
        let index = usize::try_from(rel / DECODER_STRIDE).ok()?;
        let reg = rel % DECODER_STRIDE;
        if reg == DECODER_CONTROL {
            return self.write_control(index, value, mask);
        }
        let endpoint = self.is_endpoint();
        let d = self.decoders.get_mut(index)?;
        // Base, size and targets are frozen while committed (and locked).
        if d.committed() {
            return None;
        }
        let target_low_mask = if endpoint { LOW_GRANULE_MASK } else { u32::MAX };
        match reg {
            DECODER_BASE_LOW => {
                d.base = set_lo(d.base, merge(lo(d.base), value, mask, LOW_GRANULE_MASK))
            }
            DECODER_BASE_HIGH => d.base = set_hi(d.base, merge(hi(d.base), value, mask, u32::MAX)),
            DECODER_SIZE_LOW => {
                d.size = set_lo(d.size, merge(lo(d.size), value, mask, LOW_GRANULE_MASK))
            }
            DECODER_SIZE_HIGH => d.size = set_hi(d.size, merge(hi(d.size), value, mask, u32::MAX)),
            DECODER_TARGET_LIST_LOW => {
                let v = merge(lo(d.targets_or_skip), value, mask, target_low_mask);
                d.targets_or_skip = set_lo(d.targets_or_skip, v);
            }
            DECODER_TARGET_LIST_HIGH => {
                let v = merge(hi(d.targets_or_skip), value, mask, u32::MAX);
                d.targets_or_skip = set_hi(d.targets_or_skip, v);
            }
            _ => {}
        }
        None
    }

    fn write_control(&mut self, index: usize, value: u32, mask: u32) -> Option<HdmEvent> {
        let writable = self.ctrl_writable(index);
        let d = self.decoders.get(index)?;
        if d.locked() {
            return None;
        }
        let old = d.ctrl;
        let mut new = merge(old, value, mask, writable);
        if d.committed() {
            // Only Commit may change on a committed decoder.
            new = (old & !CTRL_COMMIT) | (new & CTRL_COMMIT);
        }
        let was = old & CTRL_COMMIT != 0;
        let now = new & CTRL_COMMIT != 0;
        if !was && now {
            let mut cand = d.clone();
            cand.ctrl = new;
            return Some(self.try_commit(index, cand));
        }
        let d = self.decoders.get_mut(index)?;
        if was && !now {
            let was_committed = d.committed();
            d.ctrl = new & !(CTRL_COMMITTED | CTRL_ERROR_NOT_COMMITTED);
            d.dpa = 0..0;
            return was_committed.then_some(HdmEvent::Uncommitted(index));
        }
        d.ctrl = new;
        None
    }

    /// Sets HDM Decoder Enable as firmware would.
    pub fn set_decoding_enabled(&mut self, enabled: bool) {
        if enabled {
            self.global_control |= HDM_DECODER_ENABLE;
        } else {
            self.global_control &= !HDM_DECODER_ENABLE;
        }
    }

    /// Conventional reset: every decoder cleared (locks included) and
    /// decoding disabled. Returns the decode-state changes.
    pub fn reset(&mut self) -> Vec<HdmEvent> {
        let mut events: Vec<HdmEvent> = self
            .decoders
            .iter()
            .enumerate()
            .filter(|(_, d)| d.committed())
            .map(|(i, _)| HdmEvent::Uncommitted(i))
            .collect();
        if self.decoding_enabled() {
            events.push(HdmEvent::DecodingEnabled(false));
        }
        self.global_control = 0;
        for d in &mut self.decoders {
            *d = Decoder::default();
        }
        events
    }
}
