//! How the guest reaches a range of HPA (direct, composed or trapped, and
//! why), and the interleaved ranges and composed memslots the path keeps.

use std::collections::BTreeSet;
use std::fmt;

use super::types::EndpointId;
use crate::memory::ComposedPiece;

/// The host page: the smallest piece a mapping can have.
pub const PAGE_SIZE: u64 = 4096;

/// Why an interleaved range is served by the trapped path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapReason {
    /// An interleave level's granularity is below the host page.
    Granularity(u64),
    /// The HPA decodes to no device (a decoder on the way is not committed).
    Undecoded(u64),
    /// The HPA decodes to DPA no host memory backs.
    Unbacked(u64),
    /// The backend is a private mapping (`share=off`) or has no file: a
    /// second mapping of it would not see the same memory.
    NotShareable(String),
    /// The backend's pages (huge pages) are larger than its pieces.
    PageSize {
        /// Backend id.
        backend: String,
        /// Its page size.
        page: u64,
    },
    /// Part of the range is decoded 1-way (and mapped as such): the
    /// decoders disagree about the range.
    Mixed(u64),
    /// Another interleaved range overlaps this one.
    Overlap(u64),
    /// More mappings than the host allows (`vm.max_map_count` less what the
    /// process uses and a margin).
    TooManyMappings {
        /// Mappings the composition needs.
        needed: u64,
        /// Mappings the host has room for.
        budget: u64,
    },
    /// Composing or installing the memslot failed.
    Failed(String),
}

impl fmt::Display for TrapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Granularity(g) => write!(
                f,
                "interleave granularity {g} is below the {PAGE_SIZE}-byte host page"
            ),
            Self::Undecoded(h) => write!(f, "HPA {h:#x} decodes to no device"),
            Self::Unbacked(h) => write!(f, "HPA {h:#x} decodes to DPA without host memory"),
            Self::NotShareable(id) => write!(
                f,
                "backend '{id}' is not a shared file mapping (share=off cannot be mapped twice)"
            ),
            Self::PageSize { backend, page } => {
                write!(
                    f,
                    "backend '{backend}' has {page}-byte pages, larger than its granules"
                )
            }
            Self::Mixed(h) => write!(f, "HPA {h:#x} is decoded 1-way"),
            Self::Overlap(h) => write!(f, "overlaps the interleaved range at {h:#x}"),
            Self::TooManyMappings { needed, budget } => write!(
                f,
                "needs {needed} host mappings, vm.max_map_count leaves room for {budget}"
            ),
            Self::Failed(e) => write!(f, "mapping failed: {e}"),
        }
    }
}

/// How the guest reaches a range of HPA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemPath {
    /// Every level 1-way: memslots straight onto the backends.
    Direct,
    /// Interleaved, composed from the backends into one memslot.
    Composed {
        /// Host mappings the composition uses.
        mappings: u64,
    },
    /// Interleaved, every access decoded by the window's MMIO device.
    Trapped(TrapReason),
}

impl MemPath {
    /// `direct`, `composed` or `trapped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Composed { .. } => "composed",
            Self::Trapped(_) => "trapped",
        }
    }
}

/// An HPA range a device's memory is decoded at, and how it is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangePath {
    /// First HPA.
    pub hpa: u64,
    /// Length.
    pub len: u64,
    /// The path.
    pub path: MemPath,
}

/// An interleaved range: where a committed endpoint decoder that is not
/// 1-way all the way up meets a window and a host bridge decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) len: u64,
    /// Endpoints whose decoders cover it (every endpoint it can route to).
    pub(super) endpoints: BTreeSet<EndpointId>,
    /// What the last sync made of it.
    pub(super) path: MemPath,
}

/// A wanted composed memslot.
#[derive(Clone, Debug)]
pub(super) struct Composed {
    pub(super) len: u64,
    pub(super) pieces: Vec<ComposedPiece>,
}

impl Composed {
    pub(super) fn same_as(&self, other: &Composed) -> bool {
        self.len == other.len
            && self.pieces.len() == other.pieces.len()
            && self
                .pieces
                .iter()
                .zip(&other.pieces)
                .all(|(a, b)| a.same_as(b))
    }
}
