//! Where an HPA goes: window, host bridge and endpoint decoders, and the
//! host memory behind the endpoint's DPA (CXL 3.1 8.2.4.20 HDM decoders;
//! the interleave arithmetic is in [`crate::cxl::decode`]).

use std::ops::Range;

use super::state::State;
use super::types::{EndpointId, HostBridgeId, MemoryRange, Route, WindowDesc};
use crate::cxl::component::hdm::{HdmDecoderInfo, HdmDecoderTarget};
use crate::cxl::decode::Interleave;

pub(super) fn interleave(d: &HdmDecoderInfo) -> Option<Interleave> {
    Interleave::new(d.interleave_ways, d.interleave_granularity).ok()
}

pub(super) fn contains(d: &HdmDecoderInfo, hpa: u64) -> bool {
    d.committed && d.base <= hpa && hpa - d.base < d.size
}

impl State {
    pub(super) fn window(&self, hpa: u64) -> Option<&WindowDesc> {
        self.topology
            .windows
            .iter()
            .find(|w| w.base <= hpa && hpa - w.base < w.size)
    }

    /// The root port a host bridge sends `hpa` to, and the bridge's
    /// interleave there.
    pub(super) fn port_of(&self, hb: HostBridgeId, hpa: u64) -> Option<(u8, Interleave)> {
        let desc = self.topology.host_bridges.get(hb)?;
        if !desc.has_hdm {
            return desc.root_ports.first().map(|p| (p.0, Interleave::NONE));
        }
        let d = self
            .host_bridges
            .get(hb)?
            .iter()
            .find(|d| contains(d, hpa))?;
        let il = interleave(d)?;
        let HdmDecoderTarget::Ports(ports) = &d.target else {
            return None;
        };
        Some((il.target(ports, hpa - d.base)?, il))
    }

    /// The endpoint and DPA `hpa` decodes to, whether every level of the
    /// path is 1-way, and the finest granularity of the levels that
    /// interleave (`u64::MAX` if none does): up to the next multiple of it,
    /// every HPA goes to the same endpoint at linearly rising DPA.
    pub(super) fn route(&self, hpa: u64) -> Option<(Route, bool, u64)> {
        let w = self.window(hpa)?;
        let hb = w.interleave.target(&w.targets, hpa - w.base)?;
        let (port, hb_il) = self.port_of(hb, hpa)?;
        let endpoint = self
            .topology
            .host_bridges
            .get(hb)?
            .root_ports
            .iter()
            .find(|p| p.0 == port)?
            .1?;
        let ep = self.endpoints.get(endpoint)?;
        if !ep.enabled {
            return None;
        }
        let d = ep.decoders.iter().find(|d| contains(d, hpa))?;
        let il = interleave(d)?;
        let HdmDecoderTarget::Dpa { dpa: Some(dpa), .. } = &d.target else {
            return None;
        };
        let dpa = dpa.start.checked_add(il.hpa_to_dpa(hpa - d.base))?;
        let levels = [w.interleave, hb_il, il];
        let direct = levels.iter().all(|l| l.ways() == 1);
        let granule = levels
            .iter()
            .filter(|l| l.ways() > 1)
            .map(|l| l.granularity())
            .min()
            .unwrap_or(u64::MAX);
        Some((Route { endpoint, dpa }, direct, granule))
    }

    pub(super) fn backing(&self, endpoint: EndpointId, dpa: u64) -> Option<(&MemoryRange, u64)> {
        let (_, r) = self
            .endpoints
            .get(endpoint)?
            .memory
            .range(..=dpa)
            .next_back()?;
        (dpa - r.dpa < r.len).then(|| (r, r.offset + (dpa - r.dpa)))
    }

    /// The parts of `hpa` (an endpoint decoder's range) that every level
    /// above sends 1-way to `endpoint`: cut at window and host bridge
    /// decoder boundaries, so a memslot never covers HPA that decodes to
    /// another device or to nothing.
    pub(super) fn direct_spans(&self, endpoint: EndpointId, hpa: &Range<u64>) -> Vec<Range<u64>> {
        let mut spans = Vec::new();
        for w in &self.topology.windows {
            let start = hpa.start.max(w.base);
            let end = hpa.end.min(w.base.saturating_add(w.size));
            if start >= end || w.interleave.ways() != 1 {
                continue;
            }
            let Some(&hb) = w.targets.first() else {
                continue;
            };
            let Some(desc) = self.topology.host_bridges.get(hb) else {
                continue;
            };
            if !desc.has_hdm {
                // Passthrough: everything goes to the one root port.
                if desc
                    .root_ports
                    .first()
                    .is_some_and(|p| p.1 == Some(endpoint))
                {
                    spans.push(start..end);
                }
                continue;
            }
            let leads_here = |port: &u8| {
                desc.root_ports
                    .iter()
                    .any(|p| p.0 == *port && p.1 == Some(endpoint))
            };
            for d in self.host_bridges.get(hb).into_iter().flatten() {
                let s = start.max(d.base);
                let e = end.min(d.base.saturating_add(d.size));
                if !d.committed || s >= e || d.interleave_ways != 1 {
                    continue;
                }
                if let HdmDecoderTarget::Ports(ports) = &d.target {
                    if ports.first().is_some_and(leads_here) {
                        spans.push(s..e);
                    }
                }
            }
        }
        spans.sort_by_key(|r| r.start);
        spans
    }
}
