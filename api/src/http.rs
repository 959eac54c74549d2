//! The HTTP layer under the routes. Every request head is parsed here
//! first, with `httparse`, from a bounded buffer: whatever is wrong with it
//! (request line, target, headers, framing, size, route, a declared body
//! over the limit) is answered with a JSON error before a byte of the body
//! is read. Only a head that passed goes to hyper, replayed from the
//! buffer ([`Rewind`]), and hyper does the rest: body framing (length or
//! chunked, read through a size limit) and the response. hyper parses with
//! the same httparse, and the target with the same `Uri`, so it never
//! refuses a head we accepted (where it would answer an empty 400).
//!
//! [`parse_raw_request`] runs a whole raw request through exactly this
//! path, for the fuzzer and the tests.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::channel::ApiResult;
use crate::{routes, ApiError, ApiRequest};

/// Most header lines in one request (431 beyond).
pub const MAX_HEADERS: usize = 64;

/// Polls [`parse_raw_request`] gives hyper: each reads at least 8 KiB or
/// ends a step, so this is far more than any request needs.
const MAX_POLLS: usize = 100_000;

/// The default bound of a request head, and the one
/// [`parse_raw_request`] applies.
pub const DEFAULT_MAX_HEAD: usize = 16 << 10;

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A request head that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// Its length in bytes, up to and including the empty line.
    pub len: usize,
    pub framing: Framing,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::BadRequest(msg.into())
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is
/// incomplete and still under `max_head` bytes. Routes it (404, 405) and
/// checks a declared body against `max_body` (413), so that a request we
/// refuse is refused before its body is read.
pub(crate) fn parse_head(
    buf: &[u8],
    max_head: usize,
    max_body: usize,
) -> Result<Option<Head>, ApiError> {
    let too_large = ApiError::HeaderTooLarge { limit: max_head };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= max_head => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(e) => return Err(bad(format!("malformed request head: {e}"))),
    };
    if len > max_head {
        return Err(too_large);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request head"));
    };
    // The same parse hyper applies to the target.
    let uri: Uri = target
        .parse()
        .map_err(|e| bad(format!("invalid request target: {e}")))?;
    let framing = framing(req.headers, version)?;
    routes::route(method, uri.path())?;
    if let Framing::Length(n) = framing {
        if n > max_body as u64 {
            return Err(ApiError::PayloadTooLarge { limit: max_body });
        }
    }
    Ok(Some(Head { len, framing }))
}

/// The body's framing, by the rules hyper applies, only stricter: every
/// request hyper would refuse, we refuse first.
fn framing(headers: &[httparse::Header<'_>], version: u8) -> Result<Framing, ApiError> {
    let mut length = None;
    let mut te = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| bad("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding of the last header counts.
            let last = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim);
            te = Some(last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")));
        }
    }
    match (te, length) {
        (Some(_), Some(_)) => Err(bad("both Transfer-Encoding and Content-Length")),
        (Some(_), None) if version == 0 => Err(bad("Transfer-Encoding in an HTTP/1.0 request")),
        (Some(true), None) => Ok(Framing::Chunked),
        (Some(false), None) => Err(bad("the last transfer coding must be chunked")),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::None),
    }
}

/// Turns a request hyper parsed (after [`parse_head`] accepted its head)
/// into the typed request: routes it and reads at most `max_body` bytes of
/// its body.
pub(crate) async fn read_request(
    req: Request<Incoming>,
    max_body: usize,
) -> Result<ApiRequest, ApiError> {
    let matched = routes::route(req.method().as_str(), req.uri().path())?;
    let query = req.uri().query().map(str::to_string);
    let body = Limited::new(req.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::PayloadTooLarge { limit: max_body }
            } else {
                bad(format!("cannot read the request body: {e}"))
            }
        })?
        .to_bytes();
    ApiRequest::from_parts(matched, query.as_deref(), &body)
}

/// hyper's connection settings: one request per connection (every head
/// must pass [`parse_head`], and only the first is ours to check), a
/// buffer that holds any head we accept.
pub(crate) fn connection_builder(max_head: usize) -> http1::Builder {
    let mut b = http1::Builder::new();
    b.keep_alive(false)
        // A client may shut down its write side and wait for the answer.
        .half_close(true)
        // The head is complete before hyper sees it; our own timeouts
        // bound the rest.
        .header_read_timeout(None)
        // hyper refuses less than 8 KiB.
        .max_buf_size(max_head.saturating_add(8 << 10).max(8 << 10));
    b
}

/// Parses one whole raw HTTP/1.1 request, `bytes`, into the typed request
/// through the server's own head checks, hyper and routes, with bodies up
/// to `max_body` bytes and heads up to [`DEFAULT_MAX_HEAD`]. For fuzzing
/// and tests: nothing is sent anywhere. Never a 500, unless the server's
/// head checks and hyper disagree (a bug).
pub fn parse_raw_request(bytes: &[u8], max_body: usize) -> Result<ApiRequest, ApiError> {
    if parse_head(bytes, DEFAULT_MAX_HEAD, max_body)?.is_none() {
        return Err(bad("incomplete request head"));
    }
    let slot = Arc::new(Mutex::new(None));
    let service = {
        let slot = slot.clone();
        service_fn(move |req| {
            let slot = slot.clone();
            async move {
                let parsed = read_request(req, max_body).await;
                if let Ok(mut s) = slot.lock() {
                    *s = Some(parsed);
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            }
        })
    };
    let io = TokioIo::new(Rewind::new(bytes.to_vec(), Eof));
    let mut conn =
        std::pin::pin!(connection_builder(DEFAULT_MAX_HEAD).serve_connection(io, service));
    // The stream is all in memory and nothing else is awaited, so every
    // poll makes progress: no runtime is needed (a fuzzer runs this
    // millions of times), only a bound in case hyper ever stalls.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let finished = (0..MAX_POLLS).any(|_| conn.as_mut().poll(&mut cx).is_ready());
    if !finished {
        return Err(ApiError::Internal(
            "hyper did not finish an in-memory request".into(),
        ));
    }
    let parsed = slot.lock().ok().and_then(|mut s| s.take());
    // hyper refusing a head that passed `parse_head` would mean the server
    // answers it with hyper's empty 400: a bug, reported as a 500 so that
    // a fuzzer notices.
    parsed.unwrap_or_else(|| {
        Err(ApiError::Internal(
            "hyper refused a request head the server accepted".into(),
        ))
    })
}

/// A stream that first yields `prefix` (bytes we already read off `inner`),
/// then `inner`'s own. Writes go to `inner`.
pub(crate) struct Rewind<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(prefix: Vec<u8>, inner: T) -> Self {
        Rewind {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.prefix.get(this.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The end of an in-memory request: reads find end of file, writes vanish.
struct Eof;

impl AsyncRead for Eof {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Eof {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An answer ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    /// JSON; `None` for 204.
    pub body: Option<Vec<u8>>,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
}

impl Answer {
    /// The response's JSON, or `{"error": ...}`.
    pub(crate) fn new(result: ApiResult) -> Answer {
        let encoded = result.and_then(|r| match r.to_json() {
            Ok(body) => Ok((r.status(), body)),
            Err(e) => Err(ApiError::Internal(format!("cannot encode the answer: {e}"))),
        });
        match encoded {
            Ok((status, body)) => Answer {
                status,
                body,
                allow: None,
            },
            Err(e) => Answer::error(&e),
        }
    }

    pub(crate) fn error(e: &ApiError) -> Answer {
        let allow = match e {
            ApiError::MethodNotAllowed { allowed, .. } => Some(allowed.join(", ")),
            _ => None,
        };
        // An error body is a single string: it always serializes.
        let body = serde_json::to_vec(&e.body()).unwrap_or_default();
        Answer {
            status: e.status(),
            body: Some(body),
            allow,
        }
    }

    fn reason(&self) -> &'static str {
        StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
    }

    /// The whole HTTP/1.1 response, for answers written without hyper
    /// (refused heads, the connection cap). The connection closes after.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let body = self.body.as_deref().unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.status,
            self.reason(),
            body.len()
        );
        if self.body.is_some() {
            out.push_str("Content-Type: application/json\r\n");
        }
        if let Some(allow) = &self.allow {
            out.push_str(&format!("Allow: {allow}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// The same answer for hyper to send.
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut builder = Response::builder().status(self.status);
        if self.body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        if let Some(allow) = &self.allow {
            builder = builder.header("Allow", allow.as_str());
        }
        let body = Full::new(Bytes::from(self.body.unwrap_or_default()));
        builder.body(body).unwrap_or_else(|_| {
            // Only a bad status or header value fails, and ours are fixed.
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
