//! A small blocking client: one connection per request, HTTP/1.1 written
//! here and the response head parsed with `httparse`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::types::*;
use crate::{ApiRequest, ApiResponse, ErrorBody, HttpRequest};

/// Largest response the client reads.
const MAX_RESPONSE: u64 = 16 << 20;

/// A failed call: `status` is the HTTP status, or `None` when there was no
/// usable HTTP answer (cannot connect, broken response).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiClientError {
    pub status: Option<u16>,
    pub message: String,
}

impl ApiClientError {
    pub(crate) fn transport(message: String) -> Self {
        ApiClientError {
            status: None,
            message,
        }
    }
}

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Talks to one cxlvmm's API socket.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub(crate) path: PathBuf,
    pub(crate) timeout: Duration,
}

impl ApiClient {
    /// A client of the socket at `path`, waiting up to 60 s per request.
    pub fn new(path: impl AsRef<Path>) -> Self {
        ApiClient {
            path: path.as_ref().to_path_buf(),
            timeout: Duration::from_secs(60),
        }
    }

    /// Sets how long to wait for the socket and the answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A transport error: "`what` SOCKET: `e`".
    pub(crate) fn transport_error(&self, what: &str, e: std::io::Error) -> ApiClientError {
        ApiClientError::transport(format!("{what} {}: {e}", self.path.display()))
    }

    /// A connection to the socket, with this client's read and write
    /// timeouts.
    pub(crate) fn connect(&self) -> Result<UnixStream, ApiClientError> {
        let stream = UnixStream::connect(&self.path)
            .map_err(|e| self.transport_error("cannot connect to", e))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.transport_error("cannot set timeouts on", e))?;
        Ok(stream)
    }

    /// Sends `request`; any HTTP answer is `Ok`, whatever its status.
    pub fn send(&self, request: &HttpRequest) -> Result<RawResponse, ApiClientError> {
        let fail = |what: &str, e| self.transport_error(what, e);
        let mut stream = self.connect()?;
        let body = request.body.as_deref().unwrap_or_default();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\
             Connection: close\r\nContent-Length: {}\r\n",
            request.method,
            request.target,
            body.len()
        );
        if request.body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        // The server may answer (413, 404) and close before taking the whole
        // body: an answer read afterwards wins over a write error.
        let written = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body));
        let mut buf = Vec::new();
        let read = (&mut stream).take(MAX_RESPONSE + 1).read_to_end(&mut buf);
        match (parse_response(&buf), written, read) {
            (Ok(r), _, _) => Ok(r),
            (Err(_), Err(e), _) => Err(fail("cannot send to", e)),
            (Err(_), _, Err(e)) => Err(fail("cannot read from", e)),
            (Err(e), Ok(()), Ok(_)) if buf.len() as u64 > MAX_RESPONSE => {
                Err(ApiClientError::transport(format!(
                    "response larger than {MAX_RESPONSE} bytes ({e})"
                )))
            }
            (Err(e), Ok(()), Ok(_)) => Err(ApiClientError::transport(e)),
        }
    }

    /// Sends `request`; a non-2xx answer becomes an error carrying the
    /// server's message.
    pub fn call_raw(&self, request: &ApiRequest) -> Result<RawResponse, ApiClientError> {
        let http = request
            .to_http()
            .map_err(|e| ApiClientError::transport(e.to_string()))?;
        let response = self.send(&http)?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        let message = match serde_json::from_slice::<ErrorBody>(&response.body) {
            Ok(b) => b.error,
            Err(_) => format!(
                "HTTP {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body).trim()
            ),
        };
        Err(ApiClientError {
            status: Some(response.status),
            message,
        })
    }

    /// Sends `request` and decodes the answer.
    pub fn call(&self, request: &ApiRequest) -> Result<ApiResponse, ApiClientError> {
        let raw = self.call_raw(request)?;
        ApiResponse::from_json(request.endpoint(), &raw.body).map_err(|e| bad_answer(&e))
    }

    fn get<T: DeserializeOwned>(&self, request: &ApiRequest) -> Result<T, ApiClientError> {
        let raw = self.call_raw(request)?;
        serde_json::from_slice(&raw.body).map_err(|e| bad_answer(&e))
    }

    pub fn vm_info(&self) -> Result<VmInfo, ApiClientError> {
        self.get(&ApiRequest::VmInfo)
    }

    pub fn shutdown(&self) -> Result<(), ApiClientError> {
        self.call_raw(&ApiRequest::VmShutdown).map(drop)
    }

    pub fn backends(&self) -> Result<Vec<MemoryBackendInfo>, ApiClientError> {
        self.get(&ApiRequest::BackendList)
    }

    pub fn backend_add(&self, config: BackendConfig) -> Result<MemoryBackendInfo, ApiClientError> {
        self.get(&ApiRequest::BackendAdd(config))
    }

    pub fn backend_remove(&self, id: &str) -> Result<(), ApiClientError> {
        let id = id.to_string();
        self.call_raw(&ApiRequest::BackendRemove { id }).map(drop)
    }

    pub fn devices(&self) -> Result<Vec<CxlDeviceInfo>, ApiClientError> {
        self.get(&ApiRequest::DeviceList)
    }

    pub fn dc_add(
        &self,
        device: &str,
        request: AddRequest,
    ) -> Result<DcExtentList, ApiClientError> {
        let device = device.to_string();
        self.get(&ApiRequest::DcAdd { device, request })
    }

    pub fn dc_release(
        &self,
        device: &str,
        request: ReleaseRequest,
    ) -> Result<DcExtentList, ApiClientError> {
        let device = device.to_string();
        self.get(&ApiRequest::DcRelease { device, request })
    }

    /// Release status of the capacity tagged `tag` in `region`.
    pub fn dc_release_status_by_tag(
        &self,
        device: &str,
        region: u8,
        tag: Uuid,
    ) -> Result<ExtentStatus, ApiClientError> {
        let selector = ReleaseSelector::Tag(tag);
        self.dc_release_status(device, DcReleaseStatusQuery { region, selector })
    }

    pub fn dc_release_status(
        &self,
        device: &str,
        query: DcReleaseStatusQuery,
    ) -> Result<ExtentStatus, ApiClientError> {
        let device = device.to_string();
        let r: DcReleaseStatus = self.get(&ApiRequest::DcReleaseStatus { device, query })?;
        Ok(r.status)
    }

    pub fn dc_extents(&self, device: &str) -> Result<Vec<ExtentEntry>, ApiClientError> {
        let device = device.to_string();
        self.get(&ApiRequest::DcExtents { device })
    }
}

fn bad_answer(e: &serde_json::Error) -> ApiClientError {
    ApiClientError::transport(format!("unexpected answer from the server: {e}"))
}

/// Parses a whole response: head, then a `Content-Length`, chunked or
/// until-close body.
pub(crate) fn parse_response(buf: &[u8]) -> Result<RawResponse, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.is_empty() => {
            return Err("the server closed the connection without answering".into())
        }
        Ok(httparse::Status::Partial) => return Err("truncated response head".into()),
        Err(e) => return Err(format!("malformed response: {e}")),
    };
    let status = response.code.ok_or("response without a status")?;
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let rest = buf.get(head_len..).unwrap_or_default();
    let body = if header("transfer-encoding").is_some_and(|te| te.ends_with("chunked")) {
        let mut body = Vec::new();
        chunked_transfer::Decoder::new(rest)
            .read_to_end(&mut body)
            .map_err(|e| format!("malformed chunked body: {e}"))?;
        body
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length '{len}'"))?;
        rest.get(..len).ok_or("truncated response body")?.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abc"[..]));
        let r = parse_response(b"HTTP/1.0 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        for bad in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200",
            b"garbage\r\n\r\n",
        ] {
            assert!(
                parse_response(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
