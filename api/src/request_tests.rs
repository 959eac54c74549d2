use super::*;

const TAG: &str = "5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f";

fn tag() -> Uuid {
    Uuid::parse_str(TAG).unwrap()
}

fn samples() -> Vec<ApiRequest> {
    let extents = vec![RequestedExtent {
        offset: 0x1000_0000,
        len: 0x1000_0000,
    }];
    vec![
        ApiRequest::VmInfo,
        ApiRequest::VmShutdown,
        ApiRequest::BackendList,
        ApiRequest::BackendAdd(BackendConfig {
            id: "mem0".into(),
            kind: BackendKind::File,
            path: Some("/tmp/x".into()),
            size: 1 << 28,
            share: false,
            prealloc: true,
            tag: Some(tag()),
        }),
        ApiRequest::BackendRemove { id: "mem0".into() },
        ApiRequest::DeviceList,
        ApiRequest::DcAdd {
            device: "cxl mem/0".into(),
            request: AddRequest {
                host_id: 3,
                selection_policy: SelectionPolicy::Prescriptive,
                region: 1,
                tag: Some(tag()),
                extents: extents.clone(),
                backend: None,
            },
        },
        ApiRequest::DcRelease {
            device: "cxl-mem0".into(),
            request: ReleaseRequest {
                host_id: 0,
                removal_policy: RemovalPolicy::Prescriptive,
                forced: true,
                sanitize_on_release: true,
                tag: None,
                region: 1,
                extents,
            },
        },
        ApiRequest::DcReleaseStatus {
            device: "cxl-mem0".into(),
            query: DcReleaseStatusQuery {
                region: 2,
                selector: ReleaseSelector::Tag(tag()),
            },
        },
        ApiRequest::DcReleaseStatus {
            device: "cxl-mem0".into(),
            query: DcReleaseStatusQuery {
                region: 0,
                selector: ReleaseSelector::Extent(RequestedExtent {
                    offset: 0,
                    len: 4096,
                }),
            },
        },
        ApiRequest::DcExtents {
            device: "cxl-mem0".into(),
        },
    ]
}

#[test]
fn http_round_trip() {
    for req in samples() {
        let http = req.to_http().unwrap();
        let body = http.body.clone().unwrap_or_default();
        let back = ApiRequest::parse(http.method, &http.target, &body);
        assert_eq!(back.as_ref(), Ok(&req), "{http:?}");
    }
}

fn err(method: &str, target: &str, body: &str) -> (u16, String) {
    let e = ApiRequest::parse(method, target, body.as_bytes()).unwrap_err();
    (e.status(), e.to_string())
}

#[test]
fn body_errors_are_one_clear_message() {
    let add = "/api/v1/devices/d/dc/add";
    let (s, m) = err("POST", add, r#"{"host-id":0}"#);
    assert_eq!(s, 400);
    assert!(m.contains("missing field `selection-policy`"), "{m}");
    let (_, m) = err("POST", add, r#"{"hostid":0}"#);
    assert!(m.contains("unknown field `hostid`"), "{m}");
    let (_, m) = err(
        "POST",
        add,
        r#"{"host-id":0,"selection-policy":"free","region":0,"tag":"xyz","extents":[]}"#,
    );
    assert!(m.contains("UUID"), "{m}");
    let (_, m) = err(
        "POST",
        add,
        r#"{"host-id":"0","selection-policy":"free","region":0,"extents":[]}"#,
    );
    assert!(m.contains("invalid type"), "{m}");
    let (_, m) = err(
        "POST",
        add,
        r#"{"host-id":0,"selection-policy":"free","region":256,"extents":[]}"#,
    );
    assert!(m.contains("256"), "{m}");
    let (_, m) = err(
        "POST",
        add,
        r#"{"host-id":0,"selection-policy":"free","region":0,"extents":[]}"#,
    );
    assert_eq!(m, "at least one extent is required");
    assert_eq!(err("POST", add, "").1, "a JSON request body is required");
    assert!(err("POST", add, "{")
        .1
        .starts_with("invalid request body: EOF"));
}

#[test]
fn bodies_and_queries_where_none_belong() {
    assert_eq!(err("GET", "/api/v1/vm", "{}").0, 400);
    assert_eq!(err("GET", "/api/v1/vm?x=1", "").0, 400);
    assert_eq!(err("PUT", "/api/v1/vm/shutdown", r#"{"now":1}"#).0, 400);
    assert_eq!(
        ApiRequest::parse("PUT", "/api/v1/vm/shutdown", b" {} \n"),
        Ok(ApiRequest::VmShutdown)
    );
    assert_eq!(
        ApiRequest::parse("GET", "/api/v1/vm?", b""),
        Ok(ApiRequest::VmInfo)
    );
}

#[test]
fn status_queries() {
    let base = "/api/v1/devices/d/dc/release-status";
    let ok = ApiRequest::parse(
        "GET",
        &format!("{base}?offset=0x1000&len=4096&region=7"),
        b"",
    );
    let Ok(ApiRequest::DcReleaseStatus { query, .. }) = ok else {
        panic!("{ok:?}");
    };
    assert_eq!(
        query.selector,
        ReleaseSelector::Extent(RequestedExtent {
            offset: 0x1000,
            len: 4096
        })
    );
    for q in [
        "",
        "?tag=x&region=0",
        &format!("?tag={TAG}"),
        &format!("?region=0&tag={TAG}&offset=0&len=1"),
        "?region=0&offset=0",
        "?region=0&offset=0&len=0",
        "?region=300&offset=0&len=1",
        "?region=0&region=1&offset=0&len=1",
        "?region=0&offset=0&len=1&colour=red",
    ] {
        assert_eq!(err("GET", &format!("{base}{q}"), "").0, 400, "{q}");
    }
}

#[test]
fn responses() {
    let list = ApiResponse::Extents(vec![]);
    assert!(list.answers(Endpoint::DcExtents));
    assert!(!list.answers(Endpoint::BackendList));
    assert!(ApiResponse::Done.answers(Endpoint::BackendRemove));
    assert_eq!(ApiResponse::Done.status(), 204);
    assert_eq!(ApiResponse::Done.to_json().unwrap(), None);
    let st = ApiResponse::ReleaseStatus(DcReleaseStatus {
        status: ExtentStatus::ReleasePending,
    });
    let body = st.to_json().unwrap().unwrap();
    assert_eq!(body, br#"{"status":"release-pending"}"#);
    assert_eq!(
        ApiResponse::from_json(Endpoint::DcReleaseStatus, &body).unwrap(),
        st
    );
}

#[test]
fn injections_parse_round_trip_and_answer_204() {
    let dev = "/api/v1/devices/cxl-mem0/inject";
    let cases = [
        ("poison", r#"{"start":4096,"length":128}"#),
        (
            "general-media-event",
            r#"{"log":"warning","flags":1,"dpa":64,"descriptor":1,"type":2,"transaction-type":3,"channel":1,"component-id":"x"}"#,
        ),
        (
            "dram-event",
            r#"{"log":"fatal","flags":3,"dpa":0,"descriptor":1,"type":2,"transaction-type":3,"row":5,"correction-mask":[1,2]}"#,
        ),
        (
            "memory-module-event",
            r#"{"log":"informational","flags":0,"type":0,"health-status":0,"media-status":0,"additional-status":0,"life-used":1,"temperature":-1,"dirty-shutdown-count":0,"corrected-volatile-error-count":0,"corrected-persistent-error-count":0}"#,
        ),
        (
            "uncorrectable-errors",
            r#"{"errors":[{"type":"mem-data-ecc","header":[1,2]},{"type":"internal","header":[]}]}"#,
        ),
        ("correctable-error", r#"{"type":"crc-threshold"}"#),
        ("health", r#"{"temperature":90,"life-used":255}"#),
    ];
    for (kind, body) in cases {
        let target = format!("{dev}/{kind}");
        let req = ApiRequest::parse("POST", &target, body.as_bytes())
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let ApiRequest::Inject { device, injection } = &req else {
            panic!("{req:?}");
        };
        assert_eq!(device, "cxl-mem0");
        assert_eq!(injection.name(), kind);
        let http = req.to_http().unwrap();
        assert_eq!(http.target, target);
        let back = ApiRequest::parse(http.method, &http.target, &http.body.unwrap()).unwrap();
        assert_eq!(back, req);
        assert!(ApiResponse::Done.answers(req.endpoint()));
        assert_eq!(
            ApiResponse::from_json(req.endpoint(), b"").unwrap(),
            ApiResponse::Done
        );
    }
}

#[test]
fn injection_refusals_are_400() {
    let dev = "/api/v1/devices/d/inject";
    for (kind, body, says) in [
        ("poison", r#"{"start":1,"length":64}"#, "aligned"),
        ("poison", r#"{"start":0,"length":0}"#, "multiple of 64"),
        (
            "poison",
            r#"{"start":0,"length":64,"x":1}"#,
            "unknown field `x`",
        ),
        (
            "general-media-event",
            r#"{"log":"loud","flags":1,"dpa":0,"descriptor":1,"type":2,"transaction-type":3}"#,
            "unknown variant `loud`",
        ),
        (
            "general-media-event",
            r#"{"log":"warning","flags":1,"dpa":0,"descriptor":1,"type":2,"transaction-type":3,"device":16777216}"#,
            "24 bits",
        ),
        (
            "dram-event",
            r#"{"log":"warning","flags":1,"dpa":0,"descriptor":1,"type":2,"transaction-type":3,"correction-mask":[1,2,3,4,5]}"#,
            "at most 4",
        ),
        (
            "memory-module-event",
            r#"{"log":"warning","flags":0,"type":0}"#,
            "missing field",
        ),
        ("uncorrectable-errors", r#"{"errors":[]}"#, "at least one"),
        (
            "uncorrectable-errors",
            r#"{"errors":[{"type":"bogus","header":[]}]}"#,
            "unknown variant",
        ),
        (
            "correctable-error",
            r#"{"type":"internal"}"#,
            "unknown variant",
        ),
        ("health", "{}", "at least one"),
        ("health", r#"{"life-used":101}"#, "percentage"),
        ("health", r#"{"temperature":40000}"#, "invalid value"),
    ] {
        let (s, m) = err("POST", &format!("{dev}/{kind}"), body);
        assert_eq!(s, 400, "{kind} {body}");
        assert!(m.contains(says), "{kind} {body}: {m}");
    }
    assert_eq!(err("GET", &format!("{dev}/poison"), "").0, 405);
    assert_eq!(err("POST", &format!("{dev}/nothing"), "{}").0, 404);
}

#[test]
fn faults_parse_round_trip_and_answer() {
    let faults = "/api/v1/devices/cxl-mem0/faults";
    let dc = "/api/v1/devices/cxl-mem0/dc-faults";
    let cases = [
        (
            "POST",
            faults.to_string(),
            r#"{"kind":"return-code","opcode":16384,"return-code":4,"count":3}"#,
        ),
        ("POST", faults.into(), r#"{"kind":"doorbell-stuck"}"#),
        (
            "POST",
            faults.into(),
            r#"{"kind":"doorbell-stuck","opcode":1,"hold-ms":60000}"#,
        ),
        ("GET", faults.into(), ""),
        ("DELETE", faults.into(), ""),
        ("DELETE", format!("{faults}?fault=7"), ""),
        ("POST", dc.into(), r#"{"kind":"misaligned","region":1}"#),
        ("POST", dc.into(), r#"{"kind":"overlapping"}"#),
        ("POST", dc.into(), r#"{"kind":"endless-more","records":16}"#),
    ];
    for (method, target, body) in cases {
        let req = ApiRequest::parse(method, &target, body.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {target} {body}: {e}"));
        let http = req.to_http().unwrap();
        assert_eq!(http.target, target);
        let back = ApiRequest::parse(
            http.method,
            &http.target,
            &http.body.clone().unwrap_or_default(),
        )
        .unwrap();
        assert_eq!(back, req);
    }
    assert_eq!(
        ApiRequest::parse("DELETE", &format!("{faults}?fault=0x10"), b"").unwrap(),
        ApiRequest::FaultClear {
            device: "cxl-mem0".into(),
            fault: Some(16)
        }
    );
    let created = ApiResponse::FaultCreated(FaultId { id: 5 });
    assert_eq!(created.status(), 201);
    assert!(created.answers(Endpoint::FaultAdd));
    assert!(created.answers(Endpoint::DcFaultAdd));
    assert!(!created.answers(Endpoint::FaultList));
    let body = created.to_json().unwrap().unwrap();
    assert_eq!(body, br#"{"id":5}"#);
    assert_eq!(
        ApiResponse::from_json(Endpoint::DcFaultAdd, &body).unwrap(),
        created
    );
    let cleared = ApiResponse::FaultsCleared(FaultsCleared {
        cleared: vec![1, 2],
    });
    assert_eq!(cleared.status(), 200);
    assert!(cleared.answers(Endpoint::FaultClear));
}

#[test]
fn fault_refusals_are_400() {
    let faults = "/api/v1/devices/d/faults";
    let dc = "/api/v1/devices/d/dc-faults";
    for (target, body, says) in [
        (
            faults,
            r#"{"kind":"return-code","opcode":1,"return-code":33}"#,
            "not a CXL 3.1 return code",
        ),
        (
            faults,
            r#"{"kind":"return-code","opcode":1,"return-code":4,"count":0}"#,
            "count 0",
        ),
        (
            faults,
            r#"{"kind":"return-code","opcode":1,"return-code":4,"count":1001}"#,
            "count 1001",
        ),
        (
            faults,
            r#"{"kind":"return-code","opcode":65536,"return-code":4}"#,
            "invalid value",
        ),
        (
            faults,
            r#"{"kind":"return-code","return-code":4}"#,
            "missing field `opcode`",
        ),
        (
            faults,
            r#"{"kind":"doorbell-stuck","hold-ms":60001}"#,
            "hold-ms 60001",
        ),
        (
            faults,
            r#"{"kind":"background-hold","opcode":1,"ms":70000}"#,
            "ms 70000",
        ),
        (faults, r#"{"kind":"nap"}"#, "unknown variant `nap`"),
        (
            faults,
            r#"{"kind":"doorbell-stuck","colour":1}"#,
            "unknown field `colour`",
        ),
        (faults, "", "a JSON request body is required"),
        (dc, r#"{"kind":"endless-more","records":0}"#, "records 0"),
        (
            dc,
            r#"{"kind":"outside-region","region":1}"#,
            "unknown field `region`",
        ),
        (dc, r#"{"kind":"misaligned","region":256}"#, "invalid value"),
    ] {
        let (s, m) = err("POST", target, body);
        assert_eq!(s, 400, "{target} {body}");
        assert!(m.contains(says), "{target} {body}: {m}");
    }
    for query in [
        "fault=x",
        "fault=",
        "fault=1&fault=2",
        "id=1",
        "fault=4294967296",
    ] {
        let (s, _) = err("DELETE", &format!("{faults}?{query}"), "");
        assert_eq!(s, 400, "{query}");
    }
    assert_eq!(err("GET", &format!("{faults}?fault=1"), "").0, 400);
    assert_eq!(err("GET", faults, "{}").0, 400);
    assert_eq!(err("PUT", faults, "").0, 405);
}
