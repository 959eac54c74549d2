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
