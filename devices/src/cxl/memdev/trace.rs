//! The memory device's records in the decoded trace: event records posted
//! and cleared, and the Dynamic Capacity steps (offered, release asked,
//! forced release, withdrawn, accepted, declined, released by the host).
//! Each [`super::Memdev`] operation that does one of these calls one
//! function here with what it did; nothing is built without a trace.

use crate::cxl::dcd::{AddOutcome, AddRequest, DcdEffect, DcdError, ReleaseOutcome};
use crate::cxl::dcd::{DcExtent, ExtentRange};
use crate::cxl::retcode::RetCode;
use crate::trace::{emit, json, Kind, Value};

use super::events::{AddedEvent, EventLogType, EventRecord};

fn extents(list: &[DcExtent]) -> Value {
    json!(list)
}

fn ranges(list: &[ExtentRange]) -> Value {
    list.iter()
        .map(|r| json!({ "dpa": r.dpa, "len": r.len }))
        .collect()
}

/// An event record went into `log` (or overflowed it: no handle).
pub(crate) fn event_posted(dev: &str, log: EventLogType, record: &EventRecord, added: &AddedEvent) {
    emit(Kind::Event, Some(dev), || {
        json!({
            "op": "posted",
            "log": format!("{log:?}"),
            "uuid": record.uuid().to_string(),
            "handle": added.handle,
            "overflow": added.handle.is_none(),
            "msi": added.msi,
        })
    });
}

/// The host cleared `handles` of `log` (`None`: Clear All Events).
pub(super) fn events_cleared(
    dev: &str,
    log: EventLogType,
    handles: Option<&[u16]>,
    result: &Result<(), RetCode>,
) {
    emit(Kind::Event, Some(dev), || {
        json!({
            "op": "cleared",
            "log": format!("{log:?}"),
            "handles": handles,
            "all": handles.is_none(),
            "rc": result.as_ref().err().map(|rc| format!("{rc:?}")),
        })
    });
}

/// The operator offered capacity (or was refused).
pub(super) fn dc_offered(dev: &str, req: &AddRequest, out: &Result<AddOutcome, DcdError>) {
    emit(Kind::Dc, Some(dev), || match out {
        Ok(o) => json!({
            "step": "offered",
            "region": req.region,
            "tag": req.tag,
            "extents": extents(&o.extents),
            "msi": o.msi,
        }),
        Err(e) => json!({ "step": "offer-refused", "region": req.region, "error": e.to_string() }),
    });
}

/// The operator asked for capacity back, or forced its release; offered
/// extents it covered were withdrawn.
pub(super) fn dc_release_asked(dev: &str, out: &Result<ReleaseOutcome, DcdError>) {
    let o = match out {
        Ok(o) => o,
        Err(e) => {
            emit(
                Kind::Dc,
                Some(dev),
                || json!({ "step": "release-refused", "error": e.to_string() }),
            );
            return;
        }
    };
    if !o.extents.is_empty() {
        emit(Kind::Dc, Some(dev), || {
            json!({
                "step": if o.forced { "forced-release" } else { "release-asked" },
                "extents": extents(&o.extents),
                "msi": o.msi,
            })
        });
    }
    if !o.withdrawn.is_empty() {
        emit(
            Kind::Dc,
            Some(dev),
            || json!({ "step": "withdrawn", "extents": extents(&o.withdrawn) }),
        );
    }
}

/// The host answered an offer (Add Dynamic Capacity Response) or gave
/// capacity back (Release Dynamic Capacity): `step` is `accepted` or
/// `released`, with the extents that changed hands.
pub(super) fn dc_host(
    dev: &str,
    step: &'static str,
    list: &[ExtentRange],
    result: &Result<Vec<DcdEffect>, RetCode>,
) {
    emit(Kind::Dc, Some(dev), || match result {
        Ok(effects) => {
            let mut accepted = Vec::new();
            let mut declined = Vec::new();
            let mut released = Vec::new();
            for e in effects {
                match e {
                    DcdEffect::Accepted { extent } => accepted.push(extent.clone()),
                    DcdEffect::Declined { extent } => declined.push(extent.clone()),
                    DcdEffect::Released { extent, .. } => released.push(extent.clone()),
                }
            }
            json!({
                "step": step,
                "by": "host",
                "accepted": extents(&accepted),
                "declined": extents(&declined),
                "released": extents(&released),
            })
        }
        Err(rc) => json!({
            "step": format!("{step}-refused"),
            "by": "host",
            "ranges": ranges(list),
            "rc": format!("{rc:?}"),
        }),
    });
}
