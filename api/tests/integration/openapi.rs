//! `openapi.yaml` against the server: same routes, every answer's status
//! documented and its body valid against the documented schema.

use std::collections::BTreeSet;

use api::*;
use serde_json::{json, Value};

use crate::mock::DEVICE;
use crate::schema::{check, resolve};
use crate::{tag, Fixture, TAG};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn doc() -> Value {
    serde_norway::from_str(include_str!("../../openapi.yaml")).unwrap()
}

/// The operation serving `method` on the path `template`, if documented.
fn operation<'a>(doc: &'a Value, method: &str, template: &str) -> Option<&'a Value> {
    doc["paths"].get(template)?.get(method.to_ascii_lowercase())
}

/// The documented response for `status`, `$ref` resolved.
fn documented_response<'a>(
    op: &'a Value,
    doc: &'a Value,
    status: u16,
) -> Result<&'a Value, String> {
    let r = op["responses"]
        .get(status.to_string())
        .ok_or_else(|| format!("status {status} not documented"))?;
    match r.get("$ref") {
        Some(reference) => resolve(doc, reference),
        None => Ok(r),
    }
}

/// Checks an answer against the operation's documentation.
fn check_answer(doc: &Value, op: &Value, status: u16, body: &[u8]) -> Result<(), String> {
    let response = documented_response(op, doc, status)?;
    match response.get("content") {
        None if body.is_empty() => Ok(()),
        None => Err(format!("{status} is documented without a body, got one")),
        Some(content) => {
            let schema = &content["application/json"]["schema"];
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| format!("{status} body is not JSON: {e}"))?;
            check(doc, schema, &value, "body")
        }
    }
}

fn check_request_body(doc: &Value, op: &Value, body: Option<&[u8]>) -> Result<(), String> {
    match (op.get("requestBody"), body) {
        (None, None) => Ok(()),
        (Some(rb), Some(body)) => {
            let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            check(
                doc,
                &rb["content"]["application/json"]["schema"],
                &value,
                "request",
            )
        }
        (rb, body) => Err(format!(
            "request body documented: {}, sent: {}",
            rb.is_some(),
            body.is_some()
        )),
    }
}

#[test]
fn documented_routes_are_the_served_routes() {
    let doc = doc();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(documented, served);
}

/// One valid request per endpoint, in an order the mock VMM can serve.
fn valid_requests() -> Vec<ApiRequest> {
    let extent = RequestedExtent {
        offset: 0,
        len: 256 << 20,
    };
    let device = DEVICE.to_string();
    vec![
        ApiRequest::VmInfo,
        ApiRequest::BackendAdd(BackendConfig {
            id: "mem0".into(),
            kind: BackendKind::Memfd,
            path: None,
            size: 256 << 20,
            share: true,
            prealloc: false,
            tag: Some(tag()),
        }),
        ApiRequest::DeviceList,
        ApiRequest::DcAdd {
            device: device.clone(),
            request: AddRequest {
                host_id: 0,
                selection_policy: SelectionPolicy::Prescriptive,
                region: 0,
                tag: Some(tag()),
                extents: vec![extent],
                backend: None,
            },
        },
        ApiRequest::BackendList,
        ApiRequest::DcExtents {
            device: device.clone(),
        },
        ApiRequest::DcReleaseStatus {
            device: device.clone(),
            query: DcReleaseStatusQuery {
                region: 0,
                selector: ReleaseSelector::Tag(tag()),
            },
        },
        ApiRequest::DcRelease {
            device: device.clone(),
            request: ReleaseRequest {
                host_id: 0,
                removal_policy: RemovalPolicy::Prescriptive,
                forced: false,
                sanitize_on_release: true,
                tag: None,
                region: 0,
                extents: vec![extent],
            },
        },
        ApiRequest::DcReleaseStatus {
            device,
            query: DcReleaseStatusQuery {
                region: 0,
                selector: ReleaseSelector::Extent(extent),
            },
        },
        ApiRequest::BackendRemove { id: "mem0".into() },
    ]
    .into_iter()
    .chain(
        inject_requests()
            .into_iter()
            .map(|injection| ApiRequest::Inject {
                device: DEVICE.to_string(),
                injection,
            }),
    )
    .chain(fault_requests())
    .chain([ApiRequest::VmShutdown])
    .collect()
}

/// One fault request of each endpoint, listed with faults of each kind.
fn fault_requests() -> Vec<ApiRequest> {
    let device = DEVICE.to_string();
    vec![
        ApiRequest::FaultAdd {
            device: device.clone(),
            fault: FaultRequest::ReturnCode {
                opcode: 0x4000,
                return_code: 4,
                count: 2,
            },
        },
        ApiRequest::FaultAdd {
            device: device.clone(),
            fault: FaultRequest::DoorbellStuck {
                opcode: None,
                hold_ms: Some(3000),
                count: 1,
            },
        },
        ApiRequest::DcFaultAdd {
            device: device.clone(),
            fault: DcFaultRequest::EndlessMore {
                region: 0,
                records: 2,
            },
        },
        ApiRequest::FaultList {
            device: device.clone(),
        },
        ApiRequest::FaultClear {
            device: device.clone(),
            fault: Some(1),
        },
        ApiRequest::FaultClear {
            device,
            fault: None,
        },
    ]
}

/// One injection of each kind, every optional field given.
fn inject_requests() -> Vec<Injection> {
    vec![
        Injection::Poison(PoisonInjection {
            start: 0x1000,
            length: 128,
        }),
        Injection::GeneralMedia(GeneralMediaInjection {
            log: EventLogName::Warning,
            flags: 1,
            dpa: 0x1000,
            descriptor: 1,
            event_type: 2,
            transaction_type: 3,
            channel: Some(1),
            rank: Some(2),
            device: Some(3),
            component_id: Some("dimm0".into()),
        }),
        Injection::Dram(DramInjection {
            log: EventLogName::Failure,
            flags: 2,
            dpa: 0x2000,
            descriptor: 1,
            event_type: 2,
            transaction_type: 3,
            channel: Some(1),
            rank: Some(2),
            nibble_mask: Some(3),
            bank_group: Some(4),
            bank: Some(5),
            row: Some(6),
            column: Some(7),
            correction_mask: Some(vec![1, 2, 3, 4]),
        }),
        Injection::MemoryModule(MemoryModuleInjection {
            log: EventLogName::Informational,
            flags: 0,
            event_type: 3,
            health_status: 0,
            media_status: 0,
            additional_status: 0,
            life_used: 5,
            temperature: -3,
            dirty_shutdown_count: 1,
            corrected_volatile_error_count: 2,
            corrected_persistent_error_count: 3,
        }),
        Injection::Uncorrectable(UncorrectableErrorsInjection {
            errors: vec![UncorrectableError {
                error_type: UncorrectableErrorType::MemDataEcc,
                header: vec![1, 2, 3],
            }],
        }),
        Injection::Correctable(CorrectableErrorInjection {
            error_type: CorrectableErrorType::Physical,
        }),
        Injection::Health(HealthUpdate {
            life_used: Some(10),
            temperature: Some(40),
            dirty_shutdown_count: Some(1),
            corrected_volatile_error_count: Some(2),
            corrected_persistent_error_count: Some(3),
        }),
    ]
}

#[test]
fn valid_requests_get_documented_answers() {
    let doc = doc();
    let ring = std::sync::Arc::new(EventRing::new(16));
    let f = Fixture::with_config(ApiServerConfig {
        events: Some(ring.clone()),
        ..Default::default()
    });
    let client = f.client();
    let mut seen = BTreeSet::new();
    // The event stream: a 200 whose lines are documented records.
    ring.push(
        1,
        r#"{"seq":1,"t_us":5,"kind":"dc","device":"mem0","step":"offered"}"#,
    );
    let mut lines = client.events(Some(0)).unwrap();
    let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let op = operation(&doc, "GET", "/api/v1/events").unwrap();
    let schema = &op["responses"]["200"]["content"]["application/x-ndjson"]["schema"];
    check(&doc, schema, &line, "event").unwrap();
    assert_eq!(line["step"], "offered");
    drop(lines);
    seen.insert(("GET", "/api/v1/events"));
    for request in valid_requests() {
        let route = request.endpoint().route();
        let op = operation(&doc, route.method, route.path).unwrap();
        let http = request.to_http().unwrap();
        check_request_body(&doc, op, http.body.as_deref()).unwrap();
        let answer = client.send(&http).unwrap();
        assert!((200..300).contains(&answer.status), "{http:?}: {answer:?}");
        check_answer(&doc, op, answer.status, &answer.body)
            .unwrap_or_else(|e| panic!("{} {}: {e}", route.method, route.path));
        seen.insert((route.method, route.path));
    }
    assert_eq!(seen.len(), ROUTES.len(), "every route exercised");

    // After shutdown: 503, documented.
    let answer = client
        .send(&ApiRequest::DeviceList.to_http().unwrap())
        .unwrap();
    let op = operation(&doc, "GET", "/api/v1/devices").unwrap();
    assert_eq!(answer.status, 503);
    check_answer(&doc, op, 503, &answer.body).unwrap();
}

fn post(target: &str, body: Value) -> HttpRequest {
    HttpRequest {
        method: "POST",
        target: target.into(),
        body: Some(body.to_string().into_bytes()),
    }
}

fn bare(method: &'static str, target: &str) -> HttpRequest {
    HttpRequest {
        method,
        target: target.into(),
        body: None,
    }
}

#[test]
fn invalid_requests_get_documented_errors() {
    let doc = doc();
    let f = Fixture::start();
    let client = f.client();
    let backend = json!({"id": "m0", "kind": "memfd", "size": 4096});
    let with = |extra: Value| {
        let mut b = backend.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let add = json!({"host-id": 0, "selection-policy": "prescriptive", "region": 0,
                     "extents": [{"offset": 0, "len": 2097152}]});
    let backends = "/api/v1/memory-backends";
    let status_path = "/api/v1/devices/{id}/dc/release-status";
    let cases: Vec<(HttpRequest, u16, &str)> = vec![
        (
            post(backends, with(json!({"colour": "red"}))),
            400,
            backends,
        ),
        (post(backends, with(json!({"size": "4K"}))), 400, backends),
        (
            post(backends, with(json!({"tag": "not-a-uuid"}))),
            400,
            backends,
        ),
        (
            post(backends, json!({"id": "m0", "size": 1})),
            400,
            backends,
        ),
        (post(backends, backend.clone()), 201, backends),
        (post(backends, backend.clone()), 409, backends),
        (
            HttpRequest {
                method: "POST",
                target: backends.into(),
                body: Some(vec![b' '; 100 << 10]),
            },
            413,
            backends,
        ),
        (
            post("/api/v1/devices/nope/dc/add", add),
            404,
            "/api/v1/devices/{id}/dc/add",
        ),
        (
            bare("GET", "/api/v1/devices/nope/dc/extents"),
            404,
            "/api/v1/devices/{id}/dc/extents",
        ),
        (
            bare("DELETE", "/api/v1/memory-backends/ghost"),
            404,
            "/api/v1/memory-backends/{id}",
        ),
        (
            bare("GET", "/api/v1/devices/cxl-mem0/dc/release-status?tag=x"),
            400,
            status_path,
        ),
        (
            bare(
                "GET",
                &format!("/api/v1/devices/cxl-mem0/dc/release-status?tag={TAG}"),
            ),
            400,
            status_path,
        ),
        (bare("DELETE", "/api/v1/vm"), 405, "/api/v1/vm"),
        (
            bare("GET", "/api/v1/vm/shutdown"),
            405,
            "/api/v1/vm/shutdown",
        ),
        (bare("GET", "/api/v1/nowhere"), 404, ""),
        (
            post(
                "/api/v1/devices/cxl-mem0/faults",
                json!({"kind": "return-code", "opcode": 1, "return-code": 0x21}),
            ),
            400,
            "/api/v1/devices/{id}/faults",
        ),
        (
            post(
                "/api/v1/devices/nope/faults",
                json!({"kind": "doorbell-stuck"}),
            ),
            404,
            "/api/v1/devices/{id}/faults",
        ),
        (
            bare("DELETE", "/api/v1/devices/cxl-mem0/faults?fault=x"),
            400,
            "/api/v1/devices/{id}/faults",
        ),
        (
            bare("DELETE", "/api/v1/devices/cxl-mem0/faults?fault=77"),
            404,
            "/api/v1/devices/{id}/faults",
        ),
        (
            post(
                "/api/v1/devices/cxl-mem0/dc-faults",
                json!({"kind": "endless-more", "records": 17}),
            ),
            400,
            "/api/v1/devices/{id}/dc-faults",
        ),
    ];
    let error_schema = json!({"$ref": "#/components/schemas/Error"});
    for (request, expected, template) in cases {
        let answer = client.send(&request).unwrap();
        let what = format!("{} {}", request.method, request.target);
        assert_eq!(answer.status, expected, "{what}: {answer:?}");
        if expected >= 400 {
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            check(&doc, &error_schema, &body, "error").unwrap();
        }
        if template.is_empty() {
            continue;
        }
        // The operation this request reached, or for 405 any operation of
        // the path, must document the status.
        let ops: Vec<&Value> = match operation(&doc, request.method, template) {
            Some(op) => vec![op],
            None => doc["paths"][template]
                .as_object()
                .unwrap()
                .values()
                .collect(),
        };
        assert!(
            ops.iter()
                .any(|op| check_answer(&doc, op, answer.status, &answer.body).is_ok()),
            "{what}: {} not documented for {template}",
            answer.status
        );
    }
}

/// The documented state and status enums are the ones the API sends.
#[test]
fn documented_states_are_the_sent_states() {
    let doc = doc();
    let listed = |schema: &Value| -> Vec<String> {
        schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let schemas = &doc["components"]["schemas"];
    let sent = |all: &[ExtentStatus]| -> Vec<String> {
        all.iter()
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().into())
            .collect()
    };
    assert_eq!(listed(&schemas["ExtentState"]), sent(&EXTENT_STATES));
    let statuses = sent(&RELEASE_STATUSES);
    assert_eq!(
        listed(&schemas["DcReleaseStatus"]["properties"]["status"]),
        statuses
    );
}
