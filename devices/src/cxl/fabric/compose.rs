//! Interleaved HPA at native speed: where every granule of an interleaved
//! range is at least a page, the range's host view is composed from the
//! devices' backends, granule by granule (each a shared mapping of its
//! device's backend at the offset its DPA has there), and installed as one
//! memslot. Which granule goes where is exactly what [`State::route`] says
//! (the modulo arithmetic of CXL 3.1 8.2.4.20.13, in
//! [`crate::cxl::decode::Interleave`]), so the composed view and the trapped
//! path see the same bytes.
//!
//! Everything else in an interleaved range stays on the trapped path, with
//! the reason kept for the log and the API ([`TrapReason`]).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use super::mem_path::{MemPath, Span, TrapReason, PAGE_SIZE};
use super::route::{contains, interleave};
use super::state::State;
use super::types::Route;
use crate::cxl::component::hdm::HdmDecoderTarget;
use crate::memory::ComposedPiece;

/// Cuts `r` at every point of `cuts` inside it.
fn cut(r: Range<u64>, cuts: &BTreeSet<u64>) -> Vec<Range<u64>> {
    let mut out = Vec::new();
    let mut start = r.start;
    for &c in cuts.range(r.start + 1..r.end) {
        out.push(start..c);
        start = c;
    }
    out.push(start..r.end);
    out
}

impl State {
    /// The interleaved ranges the committed decoders make, by first HPA
    /// (each endpoint decoder's range cut at window and host bridge decoder
    /// boundaries, like a 1-way memslot), with the endpoints they may reach.
    /// A range overlapping an earlier different one is reported apart.
    pub(super) fn interleaved_spans(&self) -> (BTreeMap<u64, Span>, Vec<Range<u64>>) {
        let mut spans: BTreeMap<u64, Span> = BTreeMap::new();
        let mut overlapping = Vec::new();
        for (endpoint, ep) in self.endpoints.iter().enumerate() {
            if !ep.enabled {
                continue;
            }
            for d in ep.decoders.iter().filter(|d| d.committed && d.size > 0) {
                if !matches!(d.target, HdmDecoderTarget::Dpa { dpa: Some(_), .. }) {
                    continue;
                }
                let range = d.base..d.base.saturating_add(d.size);
                for w in &self.topology.windows {
                    let clip =
                        range.start.max(w.base)..range.end.min(w.base.saturating_add(w.size));
                    if clip.start >= clip.end {
                        continue;
                    }
                    // Host bridge decoder boundaries of every target bridge.
                    let mut cuts = BTreeSet::new();
                    for &hb in &w.targets {
                        if !self
                            .topology
                            .host_bridges
                            .get(hb)
                            .is_some_and(|h| h.has_hdm)
                        {
                            continue;
                        }
                        for hd in self.host_bridges.get(hb).into_iter().flatten() {
                            if hd.committed {
                                cuts.insert(hd.base);
                                cuts.insert(hd.base.saturating_add(hd.size));
                            }
                        }
                    }
                    for piece in cut(clip, &cuts) {
                        // Interleaved at some level; 1-way all the way is
                        // the direct path's, and 1-way with a host bridge
                        // decoder missing decodes nowhere either way.
                        let hb_interleaves = w.targets.iter().any(|&hb| {
                            self.host_bridges.get(hb).into_iter().flatten().any(|hd| {
                                contains(hd, piece.start)
                                    && interleave(hd).is_none_or(|il| il.ways() > 1)
                            })
                        });
                        if w.interleave.ways() == 1 && d.interleave_ways == 1 && !hb_interleaves {
                            continue;
                        }
                        let len = piece.end - piece.start;
                        if let Some(s) = spans.get_mut(&piece.start).filter(|s| s.len == len) {
                            s.endpoints.insert(endpoint);
                            continue;
                        }
                        let overlaps = spans
                            .range(..piece.end)
                            .next_back()
                            .is_some_and(|(&h, s)| h + s.len > piece.start);
                        if overlaps {
                            overlapping.push(piece);
                            continue;
                        }
                        spans.insert(
                            piece.start,
                            Span {
                                len,
                                endpoints: BTreeSet::from([endpoint]),
                                path: MemPath::Trapped(TrapReason::Undecoded(piece.start)),
                            },
                        );
                    }
                }
            }
        }
        (spans, overlapping)
    }

    /// The pieces that compose `span`'s host view: each granule routed to
    /// its endpoint and DPA and from there to its backend, adjacent ones of
    /// the same backend that stay contiguous merged.
    pub(super) fn compose(&self, span: &Range<u64>) -> Result<Vec<ComposedPiece>, TrapReason> {
        let mut pieces: Vec<ComposedPiece> = Vec::new();
        let mut hpa = span.start;
        while hpa < span.end {
            let (r, direct, granule) = self.route(hpa).ok_or(TrapReason::Undecoded(hpa))?;
            if direct {
                return Err(TrapReason::Mixed(hpa));
            }
            if granule < PAGE_SIZE {
                return Err(TrapReason::Granularity(granule));
            }
            // Every level keeps this endpoint and a linear DPA up to the
            // next boundary of the finest interleaved granule (decoder and
            // window bases are 256 MiB aligned).
            let granule_end = (hpa / granule).saturating_add(1).saturating_mul(granule);
            let (m, offset) = self
                .backing(r.endpoint, r.dpa)
                .ok_or(TrapReason::Unbacked(hpa))?;
            let left = m.len - (offset - m.offset);
            let len = (granule_end.min(span.end) - hpa).min(left);
            if !len.is_multiple_of(PAGE_SIZE) || !offset.is_multiple_of(PAGE_SIZE) {
                return Err(TrapReason::Unbacked(hpa + len));
            }
            // The piece's last byte must decode where linearity says (it
            // does for granule-aligned bases, which the decoders' commit
            // rules guarantee): never compose what the decode disagrees with.
            let last = self.route(hpa + len - 1);
            if last.map(|(l, ..)| l)
                != Some(Route {
                    endpoint: r.endpoint,
                    dpa: r.dpa + len - 1,
                })
            {
                return Err(TrapReason::Failed(format!(
                    "HPA {hpa:#x}+{len:#x} does not decode linearly"
                )));
            }
            if m.backend.shared_fd().is_none() {
                return Err(TrapReason::NotShareable(m.backend.id().to_string()));
            }
            let at = hpa - span.start;
            match pieces.last_mut() {
                Some(p)
                    if Arc::ptr_eq(&p.backend, &m.backend)
                        && p.at + p.len == at
                        && p.offset + p.len == offset =>
                {
                    p.len += len;
                }
                _ => pieces.push(ComposedPiece {
                    at,
                    len,
                    backend: m.backend.clone(),
                    offset,
                }),
            }
            hpa += len;
        }
        for p in &pieces {
            let page = p.backend.page_size();
            if !p.at.is_multiple_of(page)
                || !p.len.is_multiple_of(page)
                || !p.offset.is_multiple_of(page)
            {
                return Err(TrapReason::PageSize {
                    backend: p.backend.id().to_string(),
                    page,
                });
            }
        }
        Ok(pieces)
    }
}
