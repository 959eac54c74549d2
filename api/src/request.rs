//! What the server hands the VMM (`ApiRequest`), what the VMM answers
//! (`ApiResponse`), and how both map to HTTP.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::routes::{self, Endpoint, Matched};
use crate::types::*;
use crate::ApiError;

/// One operator request, parsed and checked as far as possible without the
/// VMM's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// `GET /vm`
    VmInfo,
    /// `PUT /vm/shutdown`
    VmShutdown,
    /// `GET /memory-backends`
    BackendList,
    /// `POST /memory-backends`
    BackendAdd(BackendConfig),
    /// `DELETE /memory-backends/{id}`
    BackendRemove { id: String },
    /// `GET /devices`
    DeviceList,
    /// `POST /devices/{id}/dc/add`
    DcAdd { device: String, request: AddRequest },
    /// `POST /devices/{id}/dc/release`
    DcRelease {
        device: String,
        request: ReleaseRequest,
    },
    /// `GET /devices/{id}/dc/release-status`
    DcReleaseStatus {
        device: String,
        query: DcReleaseStatusQuery,
    },
    /// `GET /devices/{id}/dc/extents`
    DcExtents { device: String },
    /// `POST /devices/{id}/inject/...`: one endpoint per kind.
    Inject {
        device: String,
        injection: Injection,
    },
    /// `POST /devices/{id}/faults`
    FaultAdd { device: String, fault: FaultRequest },
    /// `GET /devices/{id}/faults`
    FaultList { device: String },
    /// `DELETE /devices/{id}/faults[?fault=N]`: all, or fault N.
    FaultClear { device: String, fault: Option<u32> },
    /// `POST /devices/{id}/dc-faults`
    DcFaultAdd {
        device: String,
        fault: DcFaultRequest,
    },
    /// `GET /events[?since=SEQ]`: the operator event stream, served by the
    /// API thread itself (never sent to the VMM).
    Events { since: Option<u64> },
}

/// The VMM's answer to a request. Each request takes one variant (see
/// [`ApiResponse::answers`]); the server turns any other into a 500. Its
/// JSON is the variant's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ApiResponse {
    /// To `VmInfo`.
    VmInfo(VmInfo),
    /// To `BackendList`.
    Backends(Vec<MemoryBackendInfo>),
    /// To `BackendAdd` (HTTP 201).
    BackendCreated(MemoryBackendInfo),
    /// To `DeviceList`.
    Devices(Vec<CxlDeviceInfo>),
    /// To `DcAdd` and `DcRelease`: the extents touched.
    DcExtents(DcExtentList),
    /// To `DcReleaseStatus`.
    ReleaseStatus(DcReleaseStatus),
    /// To `DcExtents`.
    Extents(Vec<ExtentEntry>),
    /// To `FaultAdd` and `DcFaultAdd` (HTTP 201).
    FaultCreated(FaultId),
    /// To `FaultList`.
    Faults(FaultList),
    /// To `FaultClear`.
    FaultsCleared(FaultsCleared),
    /// To `VmShutdown` and `BackendRemove` (HTTP 204, no body).
    Done,
}

/// A request as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    /// Path and query.
    pub target: String,
    /// JSON body, if the endpoint takes one.
    pub body: Option<Vec<u8>>,
}

impl ApiRequest {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            ApiRequest::VmInfo => Endpoint::VmInfo,
            ApiRequest::VmShutdown => Endpoint::VmShutdown,
            ApiRequest::BackendList => Endpoint::BackendList,
            ApiRequest::BackendAdd(_) => Endpoint::BackendAdd,
            ApiRequest::BackendRemove { .. } => Endpoint::BackendRemove,
            ApiRequest::DeviceList => Endpoint::DeviceList,
            ApiRequest::DcAdd { .. } => Endpoint::DcAdd,
            ApiRequest::DcRelease { .. } => Endpoint::DcRelease,
            ApiRequest::DcReleaseStatus { .. } => Endpoint::DcReleaseStatus,
            ApiRequest::DcExtents { .. } => Endpoint::DcExtents,
            ApiRequest::Inject { injection, .. } => inject_endpoint(injection),
            ApiRequest::FaultAdd { .. } => Endpoint::FaultAdd,
            ApiRequest::FaultList { .. } => Endpoint::FaultList,
            ApiRequest::FaultClear { .. } => Endpoint::FaultClear,
            ApiRequest::DcFaultAdd { .. } => Endpoint::DcFaultAdd,
            ApiRequest::Events { .. } => Endpoint::Events,
        }
    }

    /// Parses a whole HTTP request: `target` is the path with its query.
    pub fn parse(method: &str, target: &str, body: &[u8]) -> Result<Self, ApiError> {
        let (path, query) = split_target(target);
        Self::from_parts(routes::route(method, path)?, query, body)
    }

    /// Builds the request of a routed endpoint from its query and body.
    pub fn from_parts(m: Matched, query: Option<&str>, body: &[u8]) -> Result<Self, ApiError> {
        let id = m.id.unwrap_or_default();
        let takes_query = matches!(
            m.endpoint,
            Endpoint::DcReleaseStatus | Endpoint::FaultClear | Endpoint::Events
        );
        if !takes_query && query.is_some_and(|q| !q.is_empty()) {
            return Err(bad("this endpoint takes no query parameters".into()));
        }
        let req = match m.endpoint {
            Endpoint::VmInfo => no_body(body, ApiRequest::VmInfo)?,
            Endpoint::VmShutdown => {
                if !body.trim_ascii().is_empty() {
                    json::<Empty>(body)?;
                }
                ApiRequest::VmShutdown
            }
            Endpoint::BackendList => no_body(body, ApiRequest::BackendList)?,
            Endpoint::BackendAdd => {
                let config: BackendConfig = json(body)?;
                config.validate().map_err(bad)?;
                ApiRequest::BackendAdd(config)
            }
            Endpoint::BackendRemove => no_body(body, ApiRequest::BackendRemove { id })?,
            Endpoint::DeviceList => no_body(body, ApiRequest::DeviceList)?,
            Endpoint::DcAdd => {
                let request: AddRequest = json(body)?;
                request.validate().map_err(bad)?;
                ApiRequest::DcAdd {
                    device: id,
                    request,
                }
            }
            Endpoint::DcRelease => {
                let request: ReleaseRequest = json(body)?;
                request.validate().map_err(bad)?;
                ApiRequest::DcRelease {
                    device: id,
                    request,
                }
            }
            Endpoint::DcReleaseStatus => {
                let query = parse_status_query(query.unwrap_or(""))?;
                no_body(body, ApiRequest::DcReleaseStatus { device: id, query })?
            }
            Endpoint::DcExtents => no_body(body, ApiRequest::DcExtents { device: id })?,
            Endpoint::Events => {
                let since = parse_events_query(query.unwrap_or(""))?;
                no_body(body, ApiRequest::Events { since })?
            }
            Endpoint::InjectPoison
            | Endpoint::InjectGeneralMedia
            | Endpoint::InjectDram
            | Endpoint::InjectMemoryModule
            | Endpoint::InjectUncorrectable
            | Endpoint::InjectCorrectable
            | Endpoint::InjectHealth => {
                let injection = parse_injection(m.endpoint, body)?;
                injection.validate().map_err(bad)?;
                ApiRequest::Inject {
                    device: id,
                    injection,
                }
            }
            Endpoint::FaultAdd => {
                let fault: FaultRequest = json(body)?;
                fault.validate().map_err(bad)?;
                ApiRequest::FaultAdd { device: id, fault }
            }
            Endpoint::FaultList => no_body(body, ApiRequest::FaultList { device: id })?,
            Endpoint::FaultClear => {
                let fault = parse_fault_query(query.unwrap_or(""))?;
                no_body(body, ApiRequest::FaultClear { device: id, fault })?
            }
            Endpoint::DcFaultAdd => {
                let fault: DcFaultRequest = json(body)?;
                fault.validate().map_err(bad)?;
                ApiRequest::DcFaultAdd { device: id, fault }
            }
        };
        Ok(req)
    }

    /// The HTTP request that [`ApiRequest::parse`] turns back into `self`.
    pub fn to_http(&self) -> Result<HttpRequest, ApiError> {
        let endpoint = self.endpoint();
        let (target, body) = match self {
            ApiRequest::VmInfo
            | ApiRequest::VmShutdown
            | ApiRequest::BackendList
            | ApiRequest::DeviceList => (endpoint.path(None), None),
            ApiRequest::BackendAdd(c) => (endpoint.path(None), Some(to_json(c)?)),
            ApiRequest::BackendRemove { id: d }
            | ApiRequest::DcExtents { device: d }
            | ApiRequest::FaultList { device: d }
            | ApiRequest::FaultClear {
                device: d,
                fault: None,
            } => (endpoint.path(Some(d)), None),
            ApiRequest::DcAdd { device, request } => {
                (endpoint.path(Some(device)), Some(to_json(request)?))
            }
            ApiRequest::DcRelease { device, request } => {
                (endpoint.path(Some(device)), Some(to_json(request)?))
            }
            ApiRequest::DcReleaseStatus { device, query } => {
                let q = status_query_string(query);
                (format!("{}?{q}", endpoint.path(Some(device))), None)
            }
            ApiRequest::Inject { device, injection } => (
                endpoint.path(Some(device)),
                Some(injection_json(injection)?),
            ),
            ApiRequest::FaultClear {
                device,
                fault: Some(f),
            } => (format!("{}?fault={f}", endpoint.path(Some(device))), None),
            ApiRequest::FaultAdd { device, fault } => {
                (endpoint.path(Some(device)), Some(to_json(fault)?))
            }
            ApiRequest::DcFaultAdd { device, fault } => {
                (endpoint.path(Some(device)), Some(to_json(fault)?))
            }
            ApiRequest::Events { since } => match since {
                Some(s) => (format!("{}?since={s}", endpoint.path(None)), None),
                None => (endpoint.path(None), None),
            },
        };
        Ok(HttpRequest {
            method: endpoint.route().method,
            target,
            body,
        })
    }
}

impl ApiResponse {
    /// Whether this is the kind of answer `endpoint` takes.
    pub fn answers(&self, endpoint: Endpoint) -> bool {
        use Endpoint as E;
        matches!(
            (endpoint, self),
            (E::VmInfo, ApiResponse::VmInfo(_))
                | (E::VmShutdown | E::BackendRemove, ApiResponse::Done)
                | (
                    E::InjectPoison
                        | E::InjectGeneralMedia
                        | E::InjectDram
                        | E::InjectMemoryModule
                        | E::InjectUncorrectable
                        | E::InjectCorrectable
                        | E::InjectHealth,
                    ApiResponse::Done
                )
                | (E::BackendList, ApiResponse::Backends(_))
                | (E::BackendAdd, ApiResponse::BackendCreated(_))
                | (E::DeviceList, ApiResponse::Devices(_))
                | (E::DcAdd | E::DcRelease, ApiResponse::DcExtents(_))
                | (E::DcReleaseStatus, ApiResponse::ReleaseStatus(_))
                | (E::DcExtents, ApiResponse::Extents(_))
                | (E::FaultAdd | E::DcFaultAdd, ApiResponse::FaultCreated(_))
                | (E::FaultList, ApiResponse::Faults(_))
                | (E::FaultClear, ApiResponse::FaultsCleared(_))
        )
    }

    /// The HTTP status of a success.
    pub fn status(&self) -> u16 {
        match self {
            ApiResponse::BackendCreated(_) | ApiResponse::FaultCreated(_) => 201,
            ApiResponse::Done => 204,
            _ => 200,
        }
    }

    /// The JSON body (`None` for 204).
    pub fn to_json(&self) -> Result<Option<Vec<u8>>, serde_json::Error> {
        match self {
            ApiResponse::Done => Ok(None),
            body => serde_json::to_vec(body).map(Some),
        }
    }

    /// Decodes a success body sent in answer to `endpoint`.
    pub fn from_json(endpoint: Endpoint, body: &[u8]) -> Result<Self, serde_json::Error> {
        use serde_json::from_slice as de;
        Ok(match endpoint {
            Endpoint::VmInfo => ApiResponse::VmInfo(de(body)?),
            Endpoint::VmShutdown
            | Endpoint::BackendRemove
            | Endpoint::InjectPoison
            | Endpoint::InjectGeneralMedia
            | Endpoint::InjectDram
            | Endpoint::InjectMemoryModule
            | Endpoint::InjectUncorrectable
            | Endpoint::InjectCorrectable
            | Endpoint::InjectHealth => ApiResponse::Done,
            Endpoint::BackendList => ApiResponse::Backends(de(body)?),
            Endpoint::BackendAdd => ApiResponse::BackendCreated(de(body)?),
            Endpoint::DeviceList => ApiResponse::Devices(de(body)?),
            Endpoint::DcAdd | Endpoint::DcRelease => ApiResponse::DcExtents(de(body)?),
            Endpoint::DcReleaseStatus => ApiResponse::ReleaseStatus(de(body)?),
            Endpoint::DcExtents => ApiResponse::Extents(de(body)?),
            Endpoint::FaultAdd | Endpoint::DcFaultAdd => ApiResponse::FaultCreated(de(body)?),
            Endpoint::FaultList => ApiResponse::Faults(de(body)?),
            Endpoint::FaultClear => ApiResponse::FaultsCleared(de(body)?),
            Endpoint::Events => {
                return Err(serde::de::Error::custom(
                    "the event stream is JSON lines: read it with ApiClient::events",
                ))
            }
        })
    }
}

/// The endpoint of an injection's kind.
fn inject_endpoint(injection: &Injection) -> Endpoint {
    match injection {
        Injection::Poison(_) => Endpoint::InjectPoison,
        Injection::GeneralMedia(_) => Endpoint::InjectGeneralMedia,
        Injection::Dram(_) => Endpoint::InjectDram,
        Injection::MemoryModule(_) => Endpoint::InjectMemoryModule,
        Injection::Uncorrectable(_) => Endpoint::InjectUncorrectable,
        Injection::Correctable(_) => Endpoint::InjectCorrectable,
        Injection::Health(_) => Endpoint::InjectHealth,
    }
}

/// The body of an injection endpoint, as that kind's document.
fn parse_injection(endpoint: Endpoint, body: &[u8]) -> Result<Injection, ApiError> {
    Ok(match endpoint {
        Endpoint::InjectPoison => Injection::Poison(json(body)?),
        Endpoint::InjectGeneralMedia => Injection::GeneralMedia(json(body)?),
        Endpoint::InjectDram => Injection::Dram(json(body)?),
        Endpoint::InjectMemoryModule => Injection::MemoryModule(json(body)?),
        Endpoint::InjectUncorrectable => Injection::Uncorrectable(json(body)?),
        Endpoint::InjectCorrectable => Injection::Correctable(json(body)?),
        Endpoint::InjectHealth => Injection::Health(json(body)?),
        other => return Err(ApiError::Internal(format!("{other:?} is no injection"))),
    })
}

fn injection_json(injection: &Injection) -> Result<Vec<u8>, ApiError> {
    match injection {
        Injection::Poison(r) => to_json(r),
        Injection::GeneralMedia(r) => to_json(r),
        Injection::Dram(r) => to_json(r),
        Injection::MemoryModule(r) => to_json(r),
        Injection::Uncorrectable(r) => to_json(r),
        Injection::Correctable(r) => to_json(r),
        Injection::Health(r) => to_json(r),
    }
}

/// The shutdown body, if any, must be `{}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

fn no_body(body: &[u8], req: ApiRequest) -> Result<ApiRequest, ApiError> {
    if body.trim_ascii().is_empty() {
        Ok(req)
    } else {
        Err(bad("this endpoint takes no request body".into()))
    }
}

fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.trim_ascii().is_empty() {
        return Err(bad("a JSON request body is required".into()));
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid request body: {e}")))
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(v).map_err(|e| bad(format!("cannot encode the request: {e}")))
}

/// `region=R` and either `tag=T` or `offset=O&len=L`.
/// The event stream's query: nothing, or `since=SEQ` (a sequence number).
fn parse_events_query(query: &str) -> Result<Option<u64>, ApiError> {
    let mut since = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "since" {
            return Err(bad(format!("unknown query parameter '{key}'")));
        }
        if since.is_some() {
            return Err(bad("query parameter 'since' given twice".into()));
        }
        let n = value
            .parse::<u64>()
            .map_err(|_| bad(format!("'since' must be a sequence number, not '{value}'")))?;
        since = Some(n);
    }
    Ok(since)
}

fn parse_status_query(query: &str) -> Result<DcReleaseStatusQuery, ApiError> {
    let (mut region, mut tag, mut offset, mut len) = (None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = routes::decode_segment(value)?;
        let slot = match key {
            "region" => &mut region,
            "tag" => &mut tag,
            "offset" => &mut offset,
            "len" => &mut len,
            _ => return Err(bad(format!("unknown query parameter '{key}'"))),
        };
        if slot.replace(value).is_some() {
            return Err(bad(format!("query parameter '{key}' given twice")));
        }
    }
    let region = region.ok_or_else(|| bad("query parameter 'region' is required".into()))?;
    let region = parse_int(&region)
        .and_then(|r| u8::try_from(r).ok())
        .ok_or_else(|| bad(format!("invalid region '{region}'")))?;
    let selector = match (tag, offset, len) {
        (Some(t), None, None) => ReleaseSelector::Tag(
            Uuid::parse_str(&t).map_err(|e| bad(format!("invalid tag '{t}': {e}")))?,
        ),
        (None, Some(o), Some(l)) => {
            let num = |s: &str, what: &str| {
                parse_int(s).ok_or_else(|| bad(format!("invalid {what} '{s}'")))
            };
            let extent = RequestedExtent {
                offset: num(&o, "offset")?,
                len: num(&l, "len")?,
            };
            if extent_end(&extent).is_none() {
                return Err(bad("the extent is empty or wraps".into()));
            }
            ReleaseSelector::Extent(extent)
        }
        _ => return Err(bad("give either 'tag' or both 'offset' and 'len'".into())),
    };
    Ok(DcReleaseStatusQuery { region, selector })
}

/// Nothing (every fault) or `fault=N` (one).
fn parse_fault_query(query: &str) -> Result<Option<u32>, ApiError> {
    let mut fault = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "fault" {
            return Err(bad(format!("unknown query parameter '{key}'")));
        }
        let id = parse_int(value)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad(format!("invalid fault id '{value}'")))?;
        if fault.replace(id).is_some() {
            return Err(bad("query parameter 'fault' given twice".into()));
        }
    }
    Ok(fault)
}

/// A decimal or `0x` hexadecimal u64.
fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn status_query_string(q: &DcReleaseStatusQuery) -> String {
    match q.selector {
        ReleaseSelector::Tag(tag) => format!("region={}&tag={tag}", q.region),
        ReleaseSelector::Extent(e) => {
            format!("region={}&offset={}&len={}", q.region, e.offset, e.len)
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
