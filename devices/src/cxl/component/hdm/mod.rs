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
//! Files: `regs` (register offsets and fields), `config` (what the
//! capability advertises), `decoder` (one decoder's registers), `capability`
//! (register reads and writes, reset), `event` (decode-state changes and
//! commit errors), `commit` (the commit rules and firmware programming),
//! `view` (read-only decoder views and HPA translation for the VMM),
//! `trace` (commits and uncommits in the decoded trace); this file only
//! declares and re-exports them.

mod capability;
mod commit;
mod config;
mod decoder;
mod event;
mod regs;
#[cfg(test)]
mod tests;
mod trace;
mod view;

pub use capability::HdmDecoderCapability;
pub use commit::DecoderProgram;
pub use config::*;
pub use event::{CommitError, HdmEvent};
pub use regs::*;
pub use trace::trace_events;
pub use view::{HdmDecoderInfo, HdmDecoderTarget, HdmTranslation};
