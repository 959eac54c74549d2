//! A memory device for command tests: [`TestMemdev`] runs commands through
//! [`super::table::execute`] and keeps what they caused (the effects each
//! operation returns) for the test to look at afterwards.

use std::ops::{Deref, DerefMut, Range};

use super::trace::execute;
use super::RetCode;
use crate::cxl::dcd::{DcdEffect, DcdError, ReleaseOutcome, ReleaseRequest};
use crate::cxl::memdev::tests::{test_config, FakeClock};
use crate::cxl::memdev::{MediaWrite, Memdev, MemdevConfig, MemdevError};

/// A [`Memdev`] with the effects of the operations run through it so far.
pub(crate) struct TestMemdev {
    m: Memdev,
    dcd: Vec<DcdEffect>,
    media: Vec<MediaWrite>,
    erases: Vec<Range<u64>>,
}

impl Deref for TestMemdev {
    type Target = Memdev;
    fn deref(&self) -> &Memdev {
        &self.m
    }
}

impl DerefMut for TestMemdev {
    fn deref_mut(&mut self) -> &mut Memdev {
        &mut self.m
    }
}

impl From<Memdev> for TestMemdev {
    fn from(m: Memdev) -> Self {
        Self {
            m,
            dcd: Vec::new(),
            media: Vec::new(),
            erases: Vec::new(),
        }
    }
}

impl TestMemdev {
    /// A device for `config`.
    pub(crate) fn new(config: MemdevConfig) -> Result<Self, MemdevError> {
        Memdev::new(config).map(Self::from)
    }

    /// Runs mailbox command `opcode` with `input`: the return code and the
    /// output payload; the effects are kept.
    pub(crate) fn execute(&mut self, opcode: u16, input: &[u8]) -> (RetCode, Vec<u8>) {
        let c = execute(&mut self.m, opcode, input);
        self.dcd.extend(c.effects.dcd);
        self.media.extend(c.effects.media_writes);
        self.erases.extend(c.effects.media_erases);
        (c.rc, c.output)
    }

    /// An operator release; its effects are kept.
    pub(crate) fn dcd_release_capacity(
        &mut self,
        req: ReleaseRequest,
    ) -> Result<ReleaseOutcome, DcdError> {
        let out = self.m.dcd_release_capacity(req)?;
        self.dcd.extend(out.effects.iter().cloned());
        Ok(out)
    }

    /// Completes the background operation if it is due; its effects are
    /// kept. The opcode and return code of the one that completed.
    pub(crate) fn complete_background(&mut self) -> Option<(u16, RetCode)> {
        let done = self.m.complete_background()?;
        self.dcd.extend(done.effects.dcd);
        self.media.extend(done.effects.media_writes);
        self.erases.extend(done.effects.media_erases);
        Some((done.opcode, done.rc))
    }

    /// A cold reset; the declined offers are kept.
    pub(crate) fn cold_reset(&mut self) {
        let fx = self.m.cold_reset();
        self.dcd.extend(fx);
    }

    /// The DC effects since the last call, oldest first.
    pub(crate) fn take_dcd_effects(&mut self) -> Vec<DcdEffect> {
        std::mem::take(&mut self.dcd)
    }

    /// The media erases since the last call, oldest first.
    pub(crate) fn take_media_erases(&mut self) -> Vec<Range<u64>> {
        std::mem::take(&mut self.erases)
    }

    /// The media writes since the last call, oldest first.
    pub(crate) fn take_media_writes(&mut self) -> Vec<MediaWrite> {
        std::mem::take(&mut self.media)
    }
}

/// The test device of [`test_config`] and the clock its timestamp runs on.
pub(crate) fn test_memdev_with_clock() -> (TestMemdev, FakeClock) {
    let clock = FakeClock::default();
    let m = Memdev::with_clock(test_config(), Box::new(clock.clone()))
        .map(TestMemdev::from)
        .expect("the test configuration is valid");
    (m, clock)
}

/// The test device of [`test_config`].
pub(crate) fn test_memdev() -> TestMemdev {
    test_memdev_with_clock().0
}
