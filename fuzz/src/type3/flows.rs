//! Whole Dynamic Capacity exchanges as one step, so that the fuzzer reaches
//! held and mapped capacity often and spends its time on what happens
//! around it. Each flow is made of the same operator requests and guest
//! responses as the single steps, in the order an operator and a driver
//! make them, and the caller checks the invariants after it as after any
//! step.

use arbitrary::Arbitrary;

use super::operator::{tag, Operator, OperatorOp, Span};
use super::rig::Rig;
use super::{guest_op, GuestOp, Pick};

/// A composite step.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Flow {
    /// The operator creates a backend for the capacity (if `tagged` and the
    /// device needs one) and offers it prescriptively; the driver reads and
    /// clears the DC event log and answers with every pending extent
    /// (accept) or with none (decline).
    OfferAndAnswer {
        /// Region.
        region: u8,
        /// First block.
        start: u8,
        /// Blocks, less one.
        count: u8,
        /// Tag number, if tagged.
        tagged: Option<u8>,
        /// Accept, else decline.
        accept: bool,
    },
    /// The operator asks for the n-th held extent back (by tag when it has
    /// one, else by its range; maybe forced, maybe sanitized); the driver
    /// gives back whatever the device asked for.
    ReleaseAndReturn {
        /// Which held extent.
        n: u8,
        /// Forced removal.
        forced: bool,
        /// Sanitize on release.
        sanitize: bool,
    },
}

fn drain_and_answer(rig: &mut Rig, add: bool, picks: Vec<Pick>) {
    guest_op(
        rig,
        &GuestOp::DrainEvents {
            log: 4,
            clear: true,
        },
    );
    guest_op(
        rig,
        &GuestOp::DcResponse {
            add,
            picks,
            flags: 0,
            count: None,
        },
    );
}

/// Runs a flow. Refusals along the way are fine (the single steps check
/// that they change nothing).
pub fn run(rig: &mut Rig, operator: &mut Operator, flow: Flow) {
    match flow {
        Flow::OfferAndAnswer {
            region,
            start,
            count,
            tagged,
            accept,
        } => {
            let span = Span::Blocks {
                region,
                start,
                count,
            };
            let needs_backend = !rig.dev.memdev().dcd().has_static_backing();
            if let (Some(t), true) = (tagged, needs_backend) {
                let _ = operator.apply(
                    &mut rig.dev,
                    &OperatorOp::BackendAdd {
                        tag: Some(t),
                        size: span,
                    },
                );
            }
            let regions = rig.dev.memdev().dcd().regions().len().max(1);
            let offered = operator.apply(
                &mut rig.dev,
                &OperatorOp::DcAdd {
                    host_id: 0,
                    policy: 2, // prescriptive
                    region: (usize::from(region) % regions) as u8,
                    tag: tagged,
                    extents: vec![span],
                },
            );
            if offered.is_ok() {
                let picks = if accept {
                    vec![Pick::AllPending]
                } else {
                    vec![]
                };
                drain_and_answer(rig, true, picks);
            }
        }
        Flow::ReleaseAndReturn {
            n,
            forced,
            sanitize,
        } => {
            let held = rig.dev.memdev().dcd_accepted_extents();
            let Some(e) = held.get(usize::from(n) % held.len().max(1)) else {
                return;
            };
            let by_tag = !e.tag.is_nil();
            let tag_n = (0..u8::MAX).find(|&t| tag(t) == e.tag);
            let request = OperatorOp::DcRelease {
                host_id: 0,
                tag_based: by_tag && tag_n.is_some(),
                forced,
                sanitize,
                region: e.region,
                tag: if by_tag { tag_n } else { None },
                extents: if by_tag {
                    vec![]
                } else {
                    vec![Span::Raw {
                        offset: e.region_offset,
                        len: e.len,
                    }]
                },
            };
            if operator.apply(&mut rig.dev, &request).is_ok() && !forced {
                drain_and_answer(rig, false, vec![Pick::AllReleasePending]);
            }
        }
    }
}
