//! Committing Decoder Programming (CXL 3.1 8.2.4.20.12) and Decoder
//! Protection (8.2.4.20.13): the checks a Commit 0->1 runs, and firmware
//! programming of committed decoders.
//!
//! A commit is accepted when: IW/IG encodings are valid and this component
//! supports them (3/6/12 and 16 ways per capability, upstream ways no more
//! than Target Count, interleave selector bits 11:8 / 14:12 only with the
//! A11to8 / A14to12 capability); UIO fields valid if UIO is set; base and
//! size are 256 MiB multiples and do not wrap; decoder n-1 is committed and
//! no higher decoder is; the HPA range starts at or above the end of every
//! lower committed decoder; and for endpoints the size divides by the ways
//! and the DPA range (end of decoder n-1's DPA + DPA Skip, size / ways) lies
//! within the device capacity and within one partition.

use std::ops::Range;

use super::capability::HdmDecoderCapability;
use super::config::HdmKind;
use super::decoder::Decoder;
use super::event::{CommitError, HdmEvent};
use super::regs::*;
use crate::cxl::decode::{eig_to_granularity, eiw_to_ways, Interleave, HDM_GRANULE};

/// HPA bits 11:8: selector bits that need A11to8 Interleave Capable.
const SELECTOR_BITS_11_8: u64 = 0xf << 8;
/// HPA bits 14:12: selector bits that need A14to12 Interleave Capable.
const SELECTOR_BITS_14_12: u64 = 0x7 << 12;

/// A decoder configuration that firmware (the VMM, acting as BIOS) commits
/// before the guest boots; Linux's `init_hdm_decoder` adopts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderProgram {
    /// HPA base (256 MiB aligned).
    pub base: u64,
    /// HPA size (multiple of 256 MiB).
    pub size: u64,
    /// Interleave.
    pub interleave: Interleave,
    /// Target List (upstream) or DPA Skip (endpoint) as a 64-bit value:
    /// byte k of the little-endian value is the port ID at position k.
    pub targets_or_skip: u64,
    /// Set Lock On Commit.
    pub lock: bool,
    /// Target Range Type: host-only coherent.
    pub host_only: bool,
}

impl HdmDecoderCapability {
    /// Validates `cand` as decoder `index` and stores it committed, or with
    /// Error Not Committed.
    pub(super) fn try_commit(&mut self, index: usize, mut cand: Decoder) -> HdmEvent {
        let result = self.validate(index, &cand);
        let event = match result {
            Ok(dpa) => {
                cand.ctrl = (cand.ctrl | CTRL_COMMITTED) & !CTRL_ERROR_NOT_COMMITTED;
                cand.dpa = dpa;
                HdmEvent::Committed(index)
            }
            Err(e) => {
                cand.ctrl = (cand.ctrl | CTRL_ERROR_NOT_COMMITTED) & !CTRL_COMMITTED;
                cand.dpa = 0..0;
                HdmEvent::CommitFailed(index, e)
            }
        };
        if let Some(slot) = self.decoders.get_mut(index) {
            *slot = cand;
        }
        event
    }

    /// The commit rules: returns the DPA range an endpoint decoder maps.
    fn validate(&self, index: usize, d: &Decoder) -> Result<Range<u64>, CommitError> {
        let il = d.encoded_interleave().map_err(CommitError::Encoding)?;
        self.check_interleave(il)?;
        if d.ctrl & CTRL_UIO != 0 {
            self.check_uio(d.ctrl)?;
        }
        if !d.base.is_multiple_of(HDM_GRANULE) {
            return Err(CommitError::MisalignedBase);
        }
        if !d.size.is_multiple_of(HDM_GRANULE) {
            return Err(CommitError::MisalignedSize);
        }
        d.base
            .checked_add(d.size)
            .ok_or(CommitError::AddressOverflow)?;
        let (before, rest) = self.decoders.split_at(index.min(self.decoders.len()));
        if let Some(prev) = before.last() {
            if !prev.committed() {
                return Err(CommitError::PreviousNotCommitted);
            }
        }
        if rest.iter().skip(1).any(Decoder::committed) {
            return Err(CommitError::LaterDecoderCommitted);
        }
        if before.iter().any(|m| m.committed() && d.base < m.end()) {
            return Err(CommitError::HpaOrder);
        }
        let HdmKind::Endpoint { dpa } = &self.config.kind else {
            return Ok(0..0);
        };
        if !d.targets_or_skip.is_multiple_of(HDM_GRANULE) {
            return Err(CommitError::MisalignedSkip);
        }
        let ways = u64::from(il.ways());
        if !d.size.is_multiple_of(ways) {
            return Err(CommitError::SizeNotDivisible);
        }
        let dpa_size = d.size / ways;
        let prev_end = before.last().map_or(0, |p| p.dpa.end);
        let start = prev_end
            .checked_add(d.targets_or_skip)
            .ok_or(CommitError::DpaBeyondCapacity)?;
        let end = start
            .checked_add(dpa_size)
            .ok_or(CommitError::DpaBeyondCapacity)?;
        if end > dpa.capacity {
            return Err(CommitError::DpaBeyondCapacity);
        }
        if dpa_size > 0
            && !dpa.partitions.is_empty()
            && !dpa
                .partitions
                .iter()
                .any(|p| p.start <= start && end <= p.end)
        {
            return Err(CommitError::DpaCrossesPartition);
        }
        Ok(start..end)
    }

    fn check_interleave(&self, il: Interleave) -> Result<(), CommitError> {
        let c = &self.config;
        let ways = il.ways();
        let capable = match ways {
            3 | 6 | 12 => c.interleave_3_6_12,
            16 => c.interleave_16,
            _ => true,
        };
        let fits = match c.kind {
            HdmKind::Upstream { target_count } => ways <= u32::from(target_count),
            HdmKind::Endpoint { .. } => true,
        };
        if !capable || !fits {
            return Err(CommitError::UnsupportedWays(ways));
        }
        let mut refused = SELECTOR_BITS_11_8 | SELECTOR_BITS_14_12;
        if c.a11to8_interleave {
            refused &= !SELECTOR_BITS_11_8;
        }
        if c.a14to12_interleave {
            refused &= !SELECTOR_BITS_14_12;
        }
        if il.selector_bits() & refused != 0 {
            return Err(CommitError::UnsupportedInterleaveBits);
        }
        Ok(())
    }

    fn check_uio(&self, ctrl: u32) -> Result<(), CommitError> {
        let uiw = ((ctrl >> CTRL_UIW_SHIFT) & 0xf) as u8;
        let uig = ((ctrl >> CTRL_UIG_SHIFT) & 0xf) as u8;
        let isp = (ctrl >> CTRL_ISP_SHIFT) & 0xf;
        let ways = eiw_to_ways(uiw).ok_or(CommitError::Uio)?;
        eig_to_granularity(uig).ok_or(CommitError::Uio)?;
        if isp >= ways {
            return Err(CommitError::Uio);
        }
        Ok(())
    }

    /// Programs and commits decoder `index` as platform firmware would before
    /// the guest runs. On error nothing changes.
    pub fn program_committed(
        &mut self,
        index: usize,
        program: &DecoderProgram,
    ) -> Result<HdmEvent, CommitError> {
        let Some(current) = self.decoders.get(index) else {
            return Err(CommitError::NoSuchDecoder);
        };
        if current.committed() {
            return Err(CommitError::AlreadyCommitted);
        }
        let mut ctrl = u32::from(program.interleave.eig())
            | (u32::from(program.interleave.eiw()) << CTRL_IW_SHIFT)
            | CTRL_COMMIT;
        if program.lock {
            ctrl |= CTRL_LOCK_ON_COMMIT;
        }
        if program.host_only {
            ctrl |= CTRL_TARGET_RANGE_TYPE;
        }
        let cand = Decoder {
            base: program.base,
            size: program.size,
            ctrl,
            targets_or_skip: program.targets_or_skip,
            dpa: 0..0,
        };
        self.validate(index, &cand)?;
        Ok(self.try_commit(index, cand))
    }
}
