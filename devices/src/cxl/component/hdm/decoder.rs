//! One HDM decoder's registers and the DPA range it decodes (CXL 3.1
//! 8.2.4.20.3 - 8.2.4.20.11).

use std::ops::Range;

use super::regs::*;
use crate::cxl::decode::{DecodeError, Interleave};

/// One decoder's registers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Decoder {
    pub(super) base: u64,
    pub(super) size: u64,
    pub(super) ctrl: u32,
    pub(super) targets_or_skip: u64,
    /// DPA range decoded, fixed at commit (endpoints).
    pub(super) dpa: Range<u64>,
}

impl Decoder {
    pub(super) fn committed(&self) -> bool {
        self.ctrl & CTRL_COMMITTED != 0
    }

    pub(super) fn locked(&self) -> bool {
        self.committed() && self.ctrl & CTRL_LOCK_ON_COMMIT != 0
    }

    pub(super) fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    pub(super) fn encoded_interleave(&self) -> Result<Interleave, DecodeError> {
        Interleave::from_encoded(
            ((self.ctrl >> CTRL_IW_SHIFT) & 0xf) as u8,
            (self.ctrl & CTRL_IG_MASK) as u8,
        )
    }
}
