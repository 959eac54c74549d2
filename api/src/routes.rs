//! The route table: which (method, path) pairs the API serves. The server
//! routes with it, the client builds paths from it and the OpenAPI test
//! compares it with `openapi.yaml`.

use crate::ApiError;

/// Every path starts with this.
pub const API_PREFIX: &str = "/api/v1";

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    VmInfo,
    VmShutdown,
    BackendList,
    BackendAdd,
    BackendRemove,
    DeviceList,
    DcAdd,
    DcRelease,
    DcReleaseStatus,
    DcExtents,
    InjectPoison,
    InjectGeneralMedia,
    InjectDram,
    InjectMemoryModule,
    InjectUncorrectable,
    InjectCorrectable,
    InjectHealth,
    FaultAdd,
    FaultList,
    FaultClear,
    DcFaultAdd,
    Events,
}

/// One (method, path template) pair; `{id}` matches one path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

const fn r(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route {
        method,
        path,
        endpoint,
    }
}

/// All routes.
pub const ROUTES: &[Route] = &[
    r("GET", "/api/v1/vm", Endpoint::VmInfo),
    r("PUT", "/api/v1/vm/shutdown", Endpoint::VmShutdown),
    r("GET", "/api/v1/memory-backends", Endpoint::BackendList),
    r("POST", "/api/v1/memory-backends", Endpoint::BackendAdd),
    r(
        "DELETE",
        "/api/v1/memory-backends/{id}",
        Endpoint::BackendRemove,
    ),
    r("GET", "/api/v1/devices", Endpoint::DeviceList),
    r("POST", "/api/v1/devices/{id}/dc/add", Endpoint::DcAdd),
    r(
        "POST",
        "/api/v1/devices/{id}/dc/release",
        Endpoint::DcRelease,
    ),
    r(
        "GET",
        "/api/v1/devices/{id}/dc/release-status",
        Endpoint::DcReleaseStatus,
    ),
    r(
        "GET",
        "/api/v1/devices/{id}/dc/extents",
        Endpoint::DcExtents,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/poison",
        Endpoint::InjectPoison,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/general-media-event",
        Endpoint::InjectGeneralMedia,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/dram-event",
        Endpoint::InjectDram,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/memory-module-event",
        Endpoint::InjectMemoryModule,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/uncorrectable-errors",
        Endpoint::InjectUncorrectable,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/correctable-error",
        Endpoint::InjectCorrectable,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/inject/health",
        Endpoint::InjectHealth,
    ),
    r("POST", "/api/v1/devices/{id}/faults", Endpoint::FaultAdd),
    r("GET", "/api/v1/devices/{id}/faults", Endpoint::FaultList),
    r(
        "DELETE",
        "/api/v1/devices/{id}/faults",
        Endpoint::FaultClear,
    ),
    r(
        "POST",
        "/api/v1/devices/{id}/dc-faults",
        Endpoint::DcFaultAdd,
    ),
    r("GET", "/api/v1/events", Endpoint::Events),
];

impl Endpoint {
    /// This endpoint's route.
    pub fn route(self) -> &'static Route {
        // Every endpoint has exactly one route (checked by a test); the
        // fallback only keeps this total.
        ROUTES
            .iter()
            .find(|r| r.endpoint == self)
            .unwrap_or(&ROUTES[0])
    }

    /// The request path, with `id` percent-encoded into `{id}`.
    pub fn path(self, id: Option<&str>) -> String {
        let template = self.route().path;
        match id {
            Some(id) => template.replace("{id}", &encode_segment(id)),
            None => template.to_string(),
        }
    }
}

/// A routed request: its endpoint and the decoded `{id}`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub endpoint: Endpoint,
    pub id: Option<String>,
}

/// Finds the route for `method` and `path` (no query): 404 when no template
/// matches the path, 405 when one does but not with this method.
pub fn route(method: &str, path: &str) -> Result<Matched, ApiError> {
    let mut allowed = Vec::new();
    for r in ROUTES {
        let Some(id) = match_template(r.path, path)? else {
            continue;
        };
        if r.method == method {
            return Ok(Matched {
                endpoint: r.endpoint,
                id,
            });
        }
        allowed.push(r.method);
    }
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!("no such endpoint: {path}")));
    }
    Err(ApiError::MethodNotAllowed {
        method: method.to_string(),
        allowed,
    })
}

/// `Some(id)` when `path` fits `template`; `id` is the decoded `{id}`
/// segment, if the template has one.
fn match_template(template: &str, path: &str) -> Result<Option<Option<String>>, ApiError> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut id = None;
    loop {
        match (t.next(), p.next()) {
            (None, None) => break,
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = Some(seg),
            (Some(a), Some(b)) if a == b => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(id.map(decode_segment).transpose()?))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub(crate) fn decode_segment(s: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid percent-encoding in '{s}'"));
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = [bytes.next().ok_or_else(bad)?, bytes.next().ok_or_else(bad)?];
        let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
        out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_route_per_endpoint() {
        for r in ROUTES {
            assert_eq!(r.endpoint.route(), r);
            assert!(r.path.starts_with(API_PREFIX));
        }
    }

    #[test]
    fn routing() {
        let m = route("POST", "/api/v1/devices/cxl-mem0/dc/add").unwrap();
        assert_eq!(m.endpoint, Endpoint::DcAdd);
        assert_eq!(m.id.as_deref(), Some("cxl-mem0"));
        let m = route("DELETE", "/api/v1/memory-backends/a%2Fb").unwrap();
        assert_eq!(m.id.as_deref(), Some("a/b"));
        assert_eq!(
            route("GET", "/api/v1/vm").unwrap().endpoint,
            Endpoint::VmInfo
        );
        assert_eq!(route("GET", "/api/v1/vm/").unwrap_err().status(), 404);
        assert_eq!(route("GET", "/api/v2/vm").unwrap_err().status(), 404);
        assert_eq!(
            route("GET", "/api/v1/devices//dc/add")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            route("PATCH", "/api/v1/memory-backends").unwrap_err(),
            ApiError::MethodNotAllowed {
                method: "PATCH".into(),
                allowed: vec!["GET", "POST"]
            }
        );
        assert_eq!(
            route("GET", "/api/v1/memory-backends/%zz")
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn segments_round_trip() {
        for s in ["cxl-mem0", "a/b c?d#%", "ü"] {
            assert_eq!(decode_segment(&encode_segment(s)).unwrap(), s);
        }
        assert!(decode_segment("%").is_err());
        assert!(decode_segment("%ff").is_err());
        assert_eq!(
            Endpoint::DcAdd.path(Some("x y")),
            "/api/v1/devices/x%20y/dc/add"
        );
    }
}
