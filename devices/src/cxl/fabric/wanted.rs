//! The 1-way memslots the state calls for, and the DPA bookkeeping that
//! lets a Dynamic Capacity change recompute only its own.

use std::collections::BTreeMap;
use std::ops::Range;

use super::state::{EndpointState, Installed, State};
use super::types::{EndpointId, MemoryRange};
use crate::cxl::component::hdm::HdmDecoderTarget;

impl State {
    pub(super) fn insert_installed(&mut self, hpa: u64, i: Installed) {
        self.remove_installed(hpa);
        self.by_dpa.insert((i.endpoint, i.dpa), hpa);
        self.installed.insert(hpa, i);
    }

    pub(super) fn remove_installed(&mut self, hpa: u64) {
        if let Some(old) = self.installed.remove(&hpa) {
            self.by_dpa.remove(&(old.endpoint, old.dpa));
        }
    }

    /// The memslots the current state calls for, by HPA, added to `out`:
    /// all of them, or with `scope` only those of one endpoint whose first
    /// DPA lies in the given range. Returns true if two pieces asked for
    /// the same HPA (the later one wins).
    pub(super) fn collect_wanted(
        &self,
        scope: Option<(EndpointId, &Range<u64>)>,
        out: &mut BTreeMap<u64, Installed>,
    ) -> bool {
        let mut clash = false;
        for (endpoint, ep) in self.endpoints.iter().enumerate() {
            let starts = match scope {
                None => 0..u64::MAX,
                Some((e, r)) if e == endpoint => r.clone(),
                Some(_) => continue,
            };
            if !ep.enabled {
                continue;
            }
            for d in ep.decoders.iter().filter(|d| d.committed) {
                let HdmDecoderTarget::Dpa { dpa: Some(dpa), .. } = &d.target else {
                    continue;
                };
                if d.interleave_ways != 1 || d.size == 0 {
                    continue;
                }
                let range = d.base..d.base.saturating_add(d.size);
                for span in self.direct_spans(endpoint, &range) {
                    // A 1-way endpoint decoder is linear: HPA - base = DPA - start.
                    let first = dpa.start.saturating_add(span.start - d.base);
                    let sub = first..first.saturating_add(span.end - span.start).min(dpa.end);
                    if sub.start >= sub.end {
                        continue;
                    }
                    for piece in pieces(ep, &sub, &starts) {
                        let old = out.insert(
                            span.start + (piece.dpa - sub.start),
                            Installed {
                                len: piece.len,
                                backend: piece.backend,
                                offset: piece.offset,
                                endpoint,
                                dpa: piece.dpa,
                            },
                        );
                        clash |= old.is_some();
                    }
                }
            }
        }
        clash
    }
}

/// `w` grown to whole ranges of `memory` that overlap it (the ranges of an
/// endpoint never overlap each other).
pub(super) fn hull_with(memory: &BTreeMap<u64, MemoryRange>, w: &Range<u64>) -> Range<u64> {
    let mut out = w.clone();
    if let Some((_, r)) = memory.range(..w.start).next_back() {
        let end = r.dpa.saturating_add(r.len);
        if end > w.start {
            out.start = r.dpa;
            out.end = out.end.max(end);
        }
    }
    if let Some((_, r)) = memory.range(w.start..w.end).next_back() {
        out.end = out.end.max(r.dpa.saturating_add(r.len));
    }
    out
}

/// `ranges` sorted, with overlapping or touching ones merged and empty
/// ones dropped.
pub(super) fn coalesce(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Whether `x` lies in one of `ranges` (sorted, disjoint).
pub(super) fn in_ranges(ranges: &[Range<u64>], x: u64) -> bool {
    let i = ranges.partition_point(|r| r.end <= x);
    ranges.get(i).is_some_and(|r| r.contains(&x))
}

/// The page-aligned parts of `ep`'s backed memory inside `dpa` that start
/// in `starts` (everything: `0..u64::MAX`).
pub(super) fn pieces(
    ep: &EndpointState,
    dpa: &Range<u64>,
    starts: &Range<u64>,
) -> Vec<MemoryRange> {
    let mut v = Vec::new();
    let from = dpa.start.max(starts.start);
    let to = dpa.end.min(starts.end);
    if from >= to {
        return v;
    }
    let first = ep
        .memory
        .range(..=from)
        .next_back()
        .map_or(from, |(k, _)| *k);
    for r in ep.memory.range(first..to).map(|(_, r)| r) {
        let start = r.dpa.max(dpa.start);
        let end = (r.dpa + r.len).min(dpa.end);
        if start >= end
            || !starts.contains(&start)
            || !start.is_multiple_of(4096)
            || !end.is_multiple_of(4096)
        {
            continue;
        }
        v.push(MemoryRange {
            dpa: start,
            len: end - start,
            backend: r.backend.clone(),
            offset: r.offset + (start - r.dpa),
        });
    }
    v
}
