//! The host's side of Dynamic Capacity: Add Dynamic Capacity Response and
//! Release Dynamic Capacity (CXL 3.1 8.2.9.9.9.3, 8.2.9.9.9.4).
//!
//! Both take an Updated Extent List. Every check runs before anything
//! changes, so a rejected command leaves the device as it was:
//!
//! - an extent outside every DC region, or crossing a region boundary:
//!   Invalid Physical Address;
//! - a start or length that is not a multiple of the region's block size,
//!   a zero length, or extents of the list overlapping each other:
//!   Invalid Extent List;
//! - Add: a range that is not (part of) an extent offered in the oldest
//!   pending chain, including ranges already accepted and offers the
//!   operator withdrew: Invalid Physical Address (as QEMU does; CXL 3.1
//!   names that code for extents the device did not provide); an offer
//!   withdrawn whole is answered as [`super::withdraw`] says;
//! - Release: a range not wholly held by the host: Invalid Physical
//!   Address;
//! - part of an extent that carries a host memory backend: Invalid Extent
//!   List. Such an extent is one mapping of one backend, so for the device
//!   it is indivisible: a range cutting it is malformed at the device's
//!   granularity, which is what Invalid Extent List reports for ranges
//!   that break the block granularity;
//! - cutting unbacked extents into more extents than the device tracks:
//!   Resources Exhausted.

use super::extent::{DcdEffect, ExtentRange};
use super::state::{DcdState, LiveState, Piece};
use crate::cxl::retcode::RetCode;

impl DcdState {
    /// Checks an Updated Extent List on its own: each range inside one
    /// region and block aligned, no two overlapping.
    pub(crate) fn check_updated_list(&self, list: &[ExtentRange]) -> Result<(), RetCode> {
        for r in list {
            let region = self.region_for(*r).ok_or(RetCode::InvalidPhysicalAddress)?;
            if r.len == 0 || !region.block_aligned(r.dpa) || !region.block_aligned(r.len) {
                return Err(RetCode::InvalidExtentList);
            }
        }
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| match w {
            [a, b] => a.overlaps(b),
            _ => false,
        }) {
            return Err(RetCode::InvalidExtentList);
        }
        Ok(())
    }

    // CXL 3.1 8.2.9.9.9.3 Add Dynamic Capacity Response (Opcode 4802h)
    /// The host accepts `list` out of the oldest pending offer. With `more`
    /// clear the offer is closed: its extents not accepted (in this or an
    /// earlier part) are declined. An empty list with `more` clear
    /// declines whatever is left. Returns what the response means for
    /// memory (accepted extents to map, declined ones to free).
    pub fn add_response(
        &mut self,
        list: &[ExtentRange],
        more: bool,
    ) -> Result<Vec<DcdEffect>, RetCode> {
        if self.chains.is_empty() {
            return Err(RetCode::InvalidInput);
        }
        self.check_updated_list(list)?;
        if let Some(answer) = self.answer_withdrawn(list, more) {
            return answer.map(|()| Vec::new());
        }
        let Some(chain) = self.chains.front() else {
            return Err(RetCode::InvalidInput);
        };
        let chain_id = chain.id;
        let mut pieces: Vec<Piece> = Vec::with_capacity(list.len());
        for r in list {
            let piece = match self.cover(*r).as_deref() {
                Some([p]) => *p,
                _ => return Err(RetCode::InvalidPhysicalAddress),
            };
            if piece.state != (LiveState::Offered { chain: chain_id }) {
                return Err(RetCode::InvalidPhysicalAddress);
            }
            if piece.backed && piece.partial() {
                return Err(RetCode::InvalidExtentList);
            }
            pieces.push(piece);
        }
        if !self.can_track(Self::split_count(&pieces)) {
            return Err(RetCode::ResourcesExhausted);
        }
        // Checked: apply.
        let mut fx = Vec::new();
        for r in list {
            let key = self.isolate(*r);
            if let Some(c) = self.chains.front_mut() {
                c.remaining.remove(&key);
            }
            self.accept(key, &mut fx);
        }
        if !list.is_empty() {
            self.bump_generation();
        }
        // More: further parts follow and the offer stays open.
        if !more {
            if let Some(chain) = self.chains.pop_front() {
                self.decline_remaining(&chain, &mut fx);
            }
        }
        Ok(fx)
    }

    // CXL 3.1 8.2.9.9.9.4 Release Dynamic Capacity (Opcode 4803h)
    /// The host gives back `list`: each range must be wholly held (accepted
    /// or asked for), whether or not the device asked for it. Ranges may
    /// span adjacent extents and cut unbacked ones. More needs no state:
    /// each part is complete in itself. Returns the extents to unmap.
    pub fn host_release(&mut self, list: &[ExtentRange]) -> Result<Vec<DcdEffect>, RetCode> {
        if list.is_empty() {
            return Err(RetCode::InvalidInput);
        }
        self.check_updated_list(list)?;
        let mut all = Vec::new();
        for r in list {
            let pieces = self.cover(*r).ok_or(RetCode::InvalidPhysicalAddress)?;
            for p in &pieces {
                if !p.state.held() {
                    return Err(RetCode::InvalidPhysicalAddress);
                }
                if p.backed && p.partial() {
                    return Err(RetCode::InvalidExtentList);
                }
            }
            all.extend(pieces);
        }
        // Cuts add extents, releases remove them: only the net growth
        // needs room.
        let growth = Self::split_count(&all).saturating_sub(all.len());
        if !self.can_track(growth) {
            return Err(RetCode::ResourcesExhausted);
        }
        // Checked: apply.
        let mut fx = Vec::new();
        for p in &all {
            let key = self.isolate(p.cut);
            self.release(key, false, &mut fx);
        }
        self.bump_generation();
        Ok(fx)
    }
}
