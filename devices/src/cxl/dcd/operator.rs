//! Operator requests: offer capacity (Add Capacity records) and take it
//! back (Release Capacity or Forced Capacity Release records), mirroring
//! the FM API's Initiate Dynamic Capacity Add / Release (CXL 3.1 7.6.7.6.5,
//! 7.6.7.6.6).
//!
//! A request is planned against the current state (every check, nothing
//! changed), then committed; the caller writes the plan's records to the
//! Dynamic Capacity Event Log, whose free space the plan was checked
//! against, so the commit cannot fail half way.

use std::sync::Arc;

use uuid::Uuid;

use super::error::DcdError;
use super::extent::{DcExtent, DcdEffect, ExtentRange, ExtentStatus};
use super::policy::{
    free_ranges, place_contiguous, place_free, AddRequest, ReleaseRequest, RemovalPolicy,
    RequestedExtent, SelectionPolicy,
};
use super::record::{DcEvent, DcEventType};
use super::region::DcRegion;
use super::state::{DcdState, Live, LiveState, Piece};
use super::HOST_ID;
use crate::memory::HostMemory;

/// A checked add, ready to commit.
#[derive(Clone, Debug)]
pub(crate) struct AddPlan {
    host_id: u16,
    region: u8,
    tag: Uuid,
    backend: Option<Arc<HostMemory>>,
    ranges: Vec<ExtentRange>,
}

/// A checked release, ready to commit.
#[derive(Clone, Debug)]
pub(crate) struct ReleasePlan {
    host_id: u16,
    forced: bool,
    sanitize: bool,
    /// Sorted, disjoint; each inside one held extent.
    cuts: Vec<ExtentRange>,
    /// Forced: offered extents to withdraw (whole, DPA keys).
    withdraw: Vec<u64>,
    /// Some live extent gets cut.
    reshapes: bool,
}

impl ReleasePlan {
    /// Whether the release is forced.
    pub(crate) fn forced(&self) -> bool {
        self.forced
    }
}

/// `e` (relative to `region`) as an absolute DPA range, checked.
fn absolute(region: &DcRegion, e: &RequestedExtent) -> Result<ExtentRange, DcdError> {
    if e.len == 0 {
        return Err(DcdError::ZeroLength { offset: e.offset });
    }
    let fits = e
        .offset
        .checked_add(e.len)
        .is_some_and(|end| end <= region.length);
    if !fits {
        return Err(DcdError::OutOfRegion {
            region: region.index,
            offset: e.offset,
            len: e.len,
            region_len: region.length,
        });
    }
    if !region.block_aligned(e.offset) || !region.block_aligned(e.len) {
        return Err(DcdError::Misaligned {
            offset: e.offset,
            len: e.len,
            block_size: region.block_size,
        });
    }
    Ok(ExtentRange::new(region.base + e.offset, e.len))
}

/// Refuses overlapping ranges (sorted by the caller's order of checking).
fn check_disjoint(region: &DcRegion, ranges: &[ExtentRange]) -> Result<(), DcdError> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        if let [a, b] = w {
            if a.overlaps(b) {
                return Err(DcdError::OverlappingRequest {
                    offset: b.dpa.saturating_sub(region.base),
                });
            }
        }
    }
    Ok(())
}

/// Refuses a chain the Dynamic Capacity Event Log has no room for: a More
/// chain is posted whole, one record per extent (CXL 3.1 8.2.9.2.1.6), so
/// its length is bounded by the log's free entries and nothing else.
fn check_chain(count: usize, log_free: usize) -> Result<(), DcdError> {
    if count > log_free {
        return Err(DcdError::LogFull {
            needed: count,
            free: log_free,
        });
    }
    Ok(())
}

impl DcdState {
    fn request_region(&self, host_id: u16, region: u8) -> Result<DcRegion, DcdError> {
        if self.regions.is_empty() {
            return Err(DcdError::NoDynamicCapacity);
        }
        if host_id != HOST_ID {
            return Err(DcdError::UnknownHost(host_id));
        }
        self.region(region).copied().ok_or(DcdError::UnknownRegion {
            region,
            count: self.regions.len(),
        })
    }

    fn extent_limit(&self, needed: usize) -> Result<(), DcdError> {
        if self.can_track(needed) {
            return Ok(());
        }
        Err(DcdError::ExtentLimit {
            needed,
            available: self.available_extents() as usize,
            max: self.max_extents,
        })
    }

    /// The tag of an add: the backend's, the request's, or nil.
    fn add_tag(req: &AddRequest) -> Result<Uuid, DcdError> {
        let backend_tag = req.backend.as_ref().and_then(|b| b.tag());
        match (req.tag, backend_tag, req.backend.as_ref()) {
            (Some(r), Some(b), Some(backend)) if r != b => Err(DcdError::TagMismatch {
                request: r,
                backend: backend.id().to_string(),
                backend_tag: b,
            }),
            (_, Some(b), _) => Ok(b),
            (Some(r), None, _) => Ok(r),
            (None, None, _) => Ok(Uuid::nil()),
        }
    }

    /// Checks an add request and picks its DPA ranges.
    pub(crate) fn plan_add(&self, req: &AddRequest, log_free: usize) -> Result<AddPlan, DcdError> {
        let region = self.request_region(req.host_id, req.region)?;
        if req.selection_policy == SelectionPolicy::EnableSharedAccess {
            return Err(DcdError::SharedNotSupported);
        }
        let tag = Self::add_tag(req)?;
        match &req.backend {
            Some(b) if self.backend_in_use(b) => {
                return Err(DcdError::BackendInUse(b.id().to_string()))
            }
            None if !self.static_backing => return Err(DcdError::NoBackingMemory),
            _ => {}
        }
        if !tag.is_nil() && self.tag_in_use(tag) {
            return Err(DcdError::TagInUse(tag));
        }
        let ranges = match req.selection_policy {
            SelectionPolicy::Prescriptive => {
                self.prescriptive_add(&region, &req.extents, log_free)?
            }
            policy => {
                let total = self.total_len(&region, req)?;
                if let Some(b) = req.backend.as_ref().filter(|b| b.size() != total) {
                    return Err(DcdError::SizeMismatch {
                        backend: b.id().to_string(),
                        backend_size: b.size(),
                        len: total,
                    });
                }
                let free = free_ranges(
                    region.base,
                    region.end(),
                    self.extents
                        .range(region.base..region.end())
                        .map(|(k, l)| l.range(*k)),
                );
                // A backend is one mapping: always one contiguous extent.
                let contiguous = policy == SelectionPolicy::Contiguous || req.backend.is_some();
                let placed = if contiguous {
                    place_contiguous(&free, total).map(|r| vec![r])
                } else {
                    place_free(&free, total)
                };
                placed.ok_or(DcdError::NoSpace {
                    region: region.index,
                    len: total,
                    contiguous,
                })?
            }
        };
        if let Some(b) = &req.backend {
            let [only] = ranges.as_slice() else {
                return Err(DcdError::BackendExtentCount(ranges.len()));
            };
            if only.len != b.size() {
                return Err(DcdError::SizeMismatch {
                    backend: b.id().to_string(),
                    backend_size: b.size(),
                    len: only.len,
                });
            }
        }
        check_chain(ranges.len(), log_free)?;
        self.extent_limit(ranges.len())?;
        Ok(AddPlan {
            host_id: req.host_id,
            region: region.index,
            tag,
            backend: req.backend.clone(),
            ranges,
        })
    }

    fn prescriptive_add(
        &self,
        region: &DcRegion,
        extents: &[RequestedExtent],
        log_free: usize,
    ) -> Result<Vec<ExtentRange>, DcdError> {
        if extents.is_empty() {
            return Err(DcdError::NoExtents);
        }
        // Bounded before any per-extent work: one record per extent.
        check_chain(extents.len(), log_free)?;
        let ranges = extents
            .iter()
            .map(|e| absolute(region, e))
            .collect::<Result<Vec<_>, _>>()?;
        check_disjoint(region, &ranges)?;
        for r in &ranges {
            if let Some((_, l)) = self.first_overlap(*r) {
                return Err(DcdError::InUse {
                    offset: r.dpa.saturating_sub(region.base),
                    len: r.len,
                    state: l.state.public().into(),
                });
            }
        }
        Ok(ranges)
    }

    /// Free and Contiguous: the capacity to place.
    fn total_len(&self, region: &DcRegion, req: &AddRequest) -> Result<u64, DcdError> {
        let total = if req.extents.is_empty() {
            req.backend.as_ref().map_or(0, |b| b.size())
        } else {
            req.extents
                .iter()
                .try_fold(0u64, |acc, e| acc.checked_add(e.len))
                .ok_or(DcdError::OutOfRegion {
                    region: region.index,
                    offset: 0,
                    len: u64::MAX,
                    region_len: region.length,
                })?
        };
        if total == 0 {
            return Err(DcdError::NoExtents);
        }
        if !region.block_aligned(total) {
            return Err(DcdError::Misaligned {
                offset: 0,
                len: total,
                block_size: region.block_size,
            });
        }
        Ok(total)
    }

    /// Applies a checked add: the extents become pending in a new chain.
    pub(crate) fn commit_add(&mut self, plan: &AddPlan) -> (Vec<DcExtent>, Vec<DcEvent>) {
        let chain = self.open_chain();
        let mut extents = Vec::with_capacity(plan.ranges.len());
        for r in &plan.ranges {
            self.insert(
                r.dpa,
                Live {
                    len: r.len,
                    region: plan.region,
                    tag: plan.tag,
                    shared_seq: 0,
                    backend: plan.backend.clone(),
                    state: LiveState::Offered { chain },
                },
            );
            if let Some(c) = self.chains.back_mut() {
                c.remaining.insert(r.dpa);
            }
            if let Some(l) = self.extents.get(&r.dpa) {
                extents.push(self.to_extent(r.dpa, l));
            }
        }
        let events = self.chain_events(DcEventType::AddCapacity, plan.host_id, &extents);
        (extents, events)
    }

    /// One record per extent, More set on all but the last.
    fn chain_events(
        &self,
        event_type: DcEventType,
        host_id: u16,
        extents: &[DcExtent],
    ) -> Vec<DcEvent> {
        let n = extents.len();
        extents
            .iter()
            .enumerate()
            .map(|(i, e)| DcEvent {
                event_type,
                host_id,
                region: e.region,
                more: i + 1 < n,
                extent: e.range(),
                tag: e.tag,
                shared_seq: e.shared_seq,
                available_extents: self.available_extents(),
                available_tags: self.available_tags(),
            })
            .collect()
    }

    /// Checks a release request and picks the ranges to release.
    pub(crate) fn plan_release(
        &self,
        req: &ReleaseRequest,
        log_free: usize,
    ) -> Result<ReleasePlan, DcdError> {
        let region = self.request_region(req.host_id, req.region)?;
        let all = match req.removal_policy {
            RemovalPolicy::TagBased => self.tag_pieces(&region, req)?,
            RemovalPolicy::Prescriptive => {
                // Bounded before any per-extent work: each range is a record,
                // or (forced, still offered) a held extent withdrawn.
                check_chain(req.extents.len(), log_free.max(self.max_extents as usize))?;
                self.prescriptive_pieces(&region, req)?
            }
        };
        // Offered pieces (only a forced release names them) are withdrawn:
        // the host never had them, so no record goes out for them.
        let (offered, pieces): (Vec<Piece>, Vec<Piece>) = all
            .into_iter()
            .partition(|p| matches!(p.state, LiveState::Offered { .. }));
        let mut withdraw: Vec<u64> = offered.iter().map(|p| p.key).collect();
        withdraw.sort_unstable();
        withdraw.dedup();
        let mut cuts: Vec<ExtentRange> = pieces.iter().map(|p| p.cut).collect();
        cuts.sort_unstable();
        check_chain(cuts.len(), log_free)?;
        let splits = Self::split_count(&pieces);
        // A forced release removes the cut pieces at once.
        let growth = if req.forced {
            splits.saturating_sub(cuts.len())
        } else {
            splits
        };
        self.extent_limit(growth)?;
        Ok(ReleasePlan {
            host_id: req.host_id,
            forced: req.forced,
            sanitize: req.sanitize_on_release,
            cuts,
            withdraw,
            reshapes: splits > 0,
        })
    }

    /// Whether an operator may ask for (or force) the release of an
    /// extent in `state`. Asking again for one already asked for posts its
    /// record again: a host may leave a Release Capacity unanswered while
    /// the capacity is in use (Linux does) and count on the device asking
    /// again.
    /// A forced release also takes offered extents: it withdraws them.
    fn releasable(state: LiveState, forced: bool) -> bool {
        match state {
            LiveState::Accepted | LiveState::ReleasePending { .. } => true,
            LiveState::Offered { .. } => forced,
        }
    }

    fn tag_pieces(&self, region: &DcRegion, req: &ReleaseRequest) -> Result<Vec<Piece>, DcdError> {
        let tag = req
            .tag
            .filter(|t| !t.is_nil())
            .ok_or(DcdError::TagRequired)?;
        let live: Vec<(u64, &Live)> = self
            .tag_keys(tag)
            .into_iter()
            .filter_map(|k| self.extents.get(&k).map(|l| (k, l)))
            .filter(|(_, l)| l.region == region.index)
            .collect();
        if live.is_empty() {
            return Err(DcdError::TagNotFound {
                tag,
                region: region.index,
                what: "live",
            });
        }
        if !req.forced
            && live
                .iter()
                .any(|(_, l)| matches!(l.state, LiveState::Offered { .. }))
        {
            return Err(DcdError::TagPending(tag));
        }
        let pieces: Vec<Piece> = live
            .iter()
            .filter(|(_, l)| Self::releasable(l.state, req.forced))
            .map(|(k, l)| Piece {
                key: *k,
                extent: l.range(*k),
                cut: l.range(*k),
                state: l.state,
                backed: l.backend.is_some(),
            })
            .collect();
        if pieces.is_empty() {
            return Err(DcdError::TagNotFound {
                tag,
                region: region.index,
                what: "accepted",
            });
        }
        Ok(pieces)
    }

    fn prescriptive_pieces(
        &self,
        region: &DcRegion,
        req: &ReleaseRequest,
    ) -> Result<Vec<Piece>, DcdError> {
        if req.extents.is_empty() {
            return Err(DcdError::NoExtents);
        }
        let ranges = req
            .extents
            .iter()
            .map(|e| absolute(region, e))
            .collect::<Result<Vec<_>, _>>()?;
        check_disjoint(region, &ranges)?;
        let mut all = Vec::new();
        for r in &ranges {
            let offset = r.dpa.saturating_sub(region.base);
            let Some(pieces) = self.cover(*r) else {
                let status = self
                    .first_overlap(*r)
                    .map_or(ExtentStatus::NotFound, |(_, l)| l.state.public().into());
                let status = if status == ExtentStatus::Pending {
                    status
                } else {
                    ExtentStatus::NotFound
                };
                return Err(DcdError::NotAccepted {
                    offset,
                    len: r.len,
                    status,
                });
            };
            for p in &pieces {
                if !Self::releasable(p.state, req.forced) {
                    return Err(DcdError::NotAccepted {
                        offset,
                        len: r.len,
                        status: p.state.public().into(),
                    });
                }
                if matches!(p.state, LiveState::Offered { .. }) && p.partial() {
                    return Err(DcdError::PartialWithdrawal {
                        offset,
                        len: r.len,
                        extent_offset: p.extent.dpa.saturating_sub(region.base),
                        extent_len: p.extent.len,
                    });
                }
                if p.backed && p.partial() {
                    return Err(DcdError::PartialBackedRelease {
                        offset,
                        len: r.len,
                        extent_offset: p.extent.dpa.saturating_sub(region.base),
                        extent_len: p.extent.len,
                    });
                }
                if let Some(expected) = req.tag {
                    let actual = self.extents.get(&p.key).map_or(Uuid::nil(), |l| l.tag);
                    if actual != expected {
                        return Err(DcdError::WrongTag {
                            offset: p.extent.dpa.saturating_sub(region.base),
                            expected,
                            actual,
                        });
                    }
                }
            }
            all.extend(pieces);
        }
        Ok(all)
    }

    /// Applies a checked release: forced, the extents leave now (offered
    /// ones are withdrawn, returned separately); otherwise they wait for
    /// the host's Release Dynamic Capacity. What that means for memory
    /// goes to `fx`.
    pub(crate) fn commit_release(
        &mut self,
        plan: &ReleasePlan,
        fx: &mut Vec<DcdEffect>,
    ) -> (Vec<DcExtent>, Vec<DcEvent>, Vec<DcExtent>) {
        let withdrawn: Vec<DcExtent> = plan
            .withdraw
            .iter()
            .filter_map(|k| self.withdraw(*k, fx))
            .collect();
        let mut extents = Vec::with_capacity(plan.cuts.len());
        for cut in &plan.cuts {
            let key = self.isolate(*cut);
            let Some(state) = self.extents.get(&key).map(|l| l.state) else {
                continue;
            };
            let earlier = matches!(state, LiveState::ReleasePending { sanitize: true });
            self.set_state(
                key,
                LiveState::ReleasePending {
                    sanitize: plan.sanitize || earlier,
                },
            );
            if plan.forced {
                extents.extend(self.release(key, true, fx));
            } else if let Some(l) = self.extents.get(&key) {
                extents.push(self.to_extent(key, l));
            }
        }
        if (plan.forced && !plan.cuts.is_empty()) || plan.reshapes {
            self.bump_generation();
        }
        let event_type = if plan.forced {
            DcEventType::ForcedCapacityRelease
        } else {
            DcEventType::ReleaseCapacity
        };
        let events = self.chain_events(event_type, plan.host_id, &extents);
        (extents, events, withdrawn)
    }
}
