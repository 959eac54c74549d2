//! QEMU QMP commands, as operators' scripts already write them, turned into
//! API requests: `{"execute": "cxl-inject-poison", "arguments": {"path":
//! "/machine/peripheral/cxl-mem0", "start": 0, "length": 64}}` is
//! `POST /devices/cxl-mem0/inject/poison` with the other arguments as its
//! body. The device is the last component of `path` (a QOM path or a bare
//! id). The arguments are the API's documents (same names), so unknown
//! ones are refused the same way.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::request::ApiRequest;
use crate::types::{Injection, Validate};

/// The QMP commands translated, in `qapi/cxl.json` order.
pub const QMP_COMMANDS: [&str; 8] = [
    "cxl-inject-general-media-event",
    "cxl-inject-dram-event",
    "cxl-inject-memory-module-event",
    "cxl-inject-poison",
    "cxl-inject-uncorrectable-errors",
    "cxl-inject-correctable-error",
    "cxl-add-dynamic-capacity",
    "cxl-release-dynamic-capacity",
];

fn args<T: DeserializeOwned>(command: &str, arguments: Map<String, Value>) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|e| format!("{command}: invalid arguments: {e}"))
}

/// The device a QOM path names: its last component.
fn device_of(path: &str) -> Result<String, String> {
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(format!("path '{path}' names no device")),
    }
}

/// The API request for one QMP command (a JSON object with `execute` and
/// `arguments`, and optionally QMP's `id`).
pub fn translate(text: &str) -> Result<ApiRequest, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not a QMP command: {e}"))?;
    let Value::Object(mut cmd) = value else {
        return Err("a QMP command is a JSON object".into());
    };
    let command = match cmd.remove("execute") {
        Some(Value::String(s)) => s,
        _ => return Err("a QMP command needs \"execute\": \"NAME\"".into()),
    };
    let arguments = match cmd.remove("arguments") {
        Some(Value::Object(a)) => a,
        None => Map::new(),
        Some(_) => return Err("\"arguments\" must be an object".into()),
    };
    cmd.remove("id");
    if let Some(k) = cmd.keys().next() {
        return Err(format!("unknown QMP member '{k}'"));
    }
    let mut arguments = arguments;
    let device = match arguments.remove("path") {
        Some(Value::String(p)) => device_of(&p)?,
        _ => {
            return Err(format!(
                "{command}: argument \"path\" (a string) is required"
            ))
        }
    };
    let c = command.as_str();
    let injection = match c {
        "cxl-inject-general-media-event" => Injection::GeneralMedia(args(c, arguments)?),
        "cxl-inject-dram-event" => Injection::Dram(args(c, arguments)?),
        "cxl-inject-memory-module-event" => Injection::MemoryModule(args(c, arguments)?),
        "cxl-inject-poison" => Injection::Poison(args(c, arguments)?),
        "cxl-inject-uncorrectable-errors" => Injection::Uncorrectable(args(c, arguments)?),
        "cxl-inject-correctable-error" => Injection::Correctable(args(c, arguments)?),
        "cxl-add-dynamic-capacity" => {
            let request: crate::types::AddRequest = args(c, arguments)?;
            request.validate().map_err(|e| format!("{c}: {e}"))?;
            return Ok(ApiRequest::DcAdd { device, request });
        }
        "cxl-release-dynamic-capacity" => {
            let request: crate::types::ReleaseRequest = args(c, arguments)?;
            request.validate().map_err(|e| format!("{c}: {e}"))?;
            return Ok(ApiRequest::DcRelease { device, request });
        }
        other => {
            return Err(format!(
                "QMP command '{other}' is not supported (supported: {})",
                QMP_COMMANDS.join(", ")
            ))
        }
    };
    injection.validate().map_err(|e| format!("{c}: {e}"))?;
    Ok(ApiRequest::Inject { device, injection })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::*;

    #[test]
    fn poison_from_the_qemu_docs() {
        let r = translate(
            r#"{"execute":"cxl-inject-poison","arguments":{"path":"/machine/peripheral/cxl-mem0","start":0,"length":64}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            ApiRequest::Inject {
                device: "cxl-mem0".into(),
                injection: Injection::Poison(PoisonInjection {
                    start: 0,
                    length: 64
                }),
            }
        );
        assert_eq!(
            r.to_http().unwrap().target,
            "/api/v1/devices/cxl-mem0/inject/poison"
        );
    }

    #[test]
    fn every_injection_command() {
        let cases = [
            (
                r#"{"execute":"cxl-inject-general-media-event","arguments":{"path":"cxl-pmem0","log":"informational","flags":1,"dpa":1024,"descriptor":3,"type":3,"transaction-type":192,"channel":3,"device":5,"component-id":"iras mem"}}"#,
                "general-media-event",
            ),
            (
                r#"{"execute":"cxl-inject-dram-event","arguments":{"path":"cxl-pmem0","log":"informational","flags":1,"dpa":1024,"descriptor":3,"type":3,"transaction-type":192,"channel":3,"rank":17,"nibble-mask":37421234,"bank-group":7,"bank":11,"row":2,"column":77,"correction-mask":[33,44,55,66]}}"#,
                "dram-event",
            ),
            (
                r#"{"execute":"cxl-inject-memory-module-event","arguments":{"path":"cxl-pmem0","log":"informational","flags":1,"type":3,"health-status":3,"media-status":7,"additional-status":33,"life-used":30,"temperature":-15,"dirty-shutdown-count":4,"corrected-volatile-error-count":3233,"corrected-persistent-error-count":300}}"#,
                "memory-module-event",
            ),
            (
                r#"{"execute":"cxl-inject-uncorrectable-errors","arguments":{"path":"/machine/peripheral/cxl-pmem0","errors":[{"type":"cache-address-parity","header":[3,4]},{"type":"cache-data-parity","header":[251,252,253,254,255,256,257,258,259,260,261,262,263,264,265,266]},{"type":"internal","header":[1,2,4]}]}}"#,
                "uncorrectable-errors",
            ),
            (
                r#"{"execute":"cxl-inject-correctable-error","arguments":{"path":"/machine/peripheral/cxl-pmem0","type":"physical"},"id":7}"#,
                "correctable-error",
            ),
        ];
        for (text, kind) in cases {
            match translate(text) {
                Ok(ApiRequest::Inject { injection, .. }) if injection.name() == kind => {}
                // The DRAM example's nibble mask does not fit 24 bits.
                Err(e) if kind == "dram-event" => assert!(e.contains("24 bits"), "{e}"),
                other => panic!("{kind}: {other:?}"),
            }
        }
    }

    #[test]
    fn dynamic_capacity_commands() {
        let r = translate(
            r#"{"execute":"cxl-add-dynamic-capacity","arguments":{"path":"/machine/peripheral/cxl-dcd0","host-id":0,"selection-policy":"prescriptive","region":0,"extents":[{"offset":0,"len":134217728}]}}"#,
        )
        .unwrap();
        assert!(matches!(r, ApiRequest::DcAdd { ref device, .. } if device == "cxl-dcd0"));
        let r = translate(
            r#"{"execute":"cxl-release-dynamic-capacity","arguments":{"path":"cxl-dcd0","host-id":0,"removal-policy":"prescriptive","region":0,"extents":[{"offset":0,"len":134217728}]}}"#,
        )
        .unwrap();
        assert!(matches!(r, ApiRequest::DcRelease { .. }));
    }

    #[test]
    fn refusals() {
        for (text, says) in [
            ("nope", "not a QMP command"),
            ("[]", "JSON object"),
            (r#"{"arguments":{}}"#, "execute"),
            (r#"{"execute":"quit"}"#, "path"),
            (
                r#"{"execute":"quit","arguments":{"path":"m"}}"#,
                "not supported",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":[]}"#,
                "object",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":{"path":"/"}}"#,
                "names no device",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":{"path":"m","start":0}}"#,
                "missing field `length`",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":{"path":"m","start":3,"length":64}}"#,
                "aligned",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":{"path":"m","start":0,"length":64,"qos":1}}"#,
                "unknown field `qos`",
            ),
            (
                r#"{"execute":"cxl-inject-general-media-event","arguments":{"path":"m","log":"informational","flags":1,"dpa":1000,"descriptor":3,"type":3,"transaction-type":192}}"#,
                "not 64-byte aligned",
            ),
            (
                r#"{"execute":"cxl-inject-poison","arguments":{"path":"m","start":0,"length":64},"x":1}"#,
                "unknown QMP member",
            ),
        ] {
            let e = translate(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
