//! The HDM Decoder capability's registers: reads, writes, Commit and
//! reset (CXL 3.1 8.2.4.20).

use super::config::{DpaLayout, HdmConfig, HdmConfigError, HdmKind};
use super::decoder::Decoder;
use super::event::HdmEvent;
use super::regs::*;
use crate::cxl::component::access::merge;

/// The HDM Decoder capability registers and decoder state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HdmDecoderCapability {
    pub(super) config: HdmConfig,
    pub(super) global_control: u32,
    pub(super) decoders: Vec<Decoder>,
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
