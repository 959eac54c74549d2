//! HDM decoder commits, uncommits and refused commits in the decoded
//! trace.

use super::capability::HdmDecoderCapability;
use super::event::HdmEvent;
use crate::trace::{emit, json, Kind};

/// Traces the commits, uncommits and refused commits among `events` of
/// the HDM Decoder capability `hdm` (decoder range and interleave as they
/// are now). `component` names the decoder's owner ("host-bridge 0",
/// "endpoint"); `device` is the device's id, when it has one.
pub fn trace_events(
    device: Option<&str>,
    component: &str,
    hdm: Option<&HdmDecoderCapability>,
    events: &[HdmEvent],
) {
    for e in events {
        let (op, index, error) = match e {
            HdmEvent::Committed(n) => ("commit", *n, None),
            HdmEvent::Uncommitted(n) => ("uncommit", *n, None),
            HdmEvent::CommitFailed(n, why) => ("commit-failed", *n, Some(format!("{why:?}"))),
            HdmEvent::DecodingEnabled(_) => continue,
        };
        emit(Kind::Decoder, device, || {
            let d = hdm.and_then(|h| h.decoder(index));
            json!({
                "op": op,
                "component": component,
                "decoder": index,
                "base": d.as_ref().map(|d| d.base),
                "size": d.as_ref().map(|d| d.size),
                "ways": d.as_ref().map(|d| d.interleave_ways),
                "granularity": d.as_ref().map(|d| d.interleave_granularity),
                "error": error,
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::component::hdm::CommitError;
    use crate::trace::capture;

    #[test]
    fn commits_uncommits_and_refusals_are_records_and_nothing_else() {
        let events = [
            HdmEvent::Committed(0),
            HdmEvent::DecodingEnabled(true),
            HdmEvent::Uncommitted(1),
            HdmEvent::CommitFailed(2, CommitError::MisalignedBase),
        ];
        let ((), records) = capture(|| trace_events(Some("mem0"), "endpoint", None, &events));
        let ops: Vec<_> = records.iter().map(|r| r.fields["op"].clone()).collect();
        assert_eq!(ops, ["commit", "uncommit", "commit-failed"]);
        assert!(records.iter().all(|r| r.kind == Kind::Decoder));
        assert_eq!(records[1].fields["decoder"], 1);
        assert_eq!(records[2].fields["error"], "MisalignedBase");
        assert_eq!(records[0].fields["component"], "endpoint");
        // Without the capability the range is unknown, not made up.
        assert!(records[0].fields["base"].is_null());
    }
}
