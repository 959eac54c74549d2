//! The client's side of `GET /api/v1/events`: [`ApiClient::events`] opens
//! the stream and yields its JSON lines as they come.

use std::io::{BufRead, BufReader, Chain, Cursor, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::client::{parse_response, ApiClient, ApiClientError};
use crate::{ApiRequest, ErrorBody};

/// Largest response head read.
const MAX_HEAD: usize = 16 << 10;
/// Longest line accepted from the stream.
const MAX_LINE: u64 = 1 << 20;
/// How long the stream may stay silent before the client gives up: well
/// over the server's heartbeat (an empty line every 15 s).
const SILENCE: Duration = Duration::from_secs(60);

/// The open event stream: an iterator over its records' JSON lines (empty
/// heartbeat lines skipped), ending when the server closes it.
pub struct EventLines {
    reader: BufReader<chunked_transfer::Decoder<Chain<Cursor<Vec<u8>>, UnixStream>>>,
}

impl Iterator for EventLines {
    type Item = Result<String, ApiClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut line = Vec::new();
            let read = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line);
            match read {
                Ok(0) => return None,
                Ok(_) if line.last() != Some(&b'\n') => {
                    return Some(Err(ApiClientError::transport(
                        "the event stream ended in the middle of a line (or a line is too long)"
                            .into(),
                    )))
                }
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).trim().to_string();
                    if !text.is_empty() {
                        return Some(Ok(text));
                    }
                }
                Err(e) => {
                    return Some(Err(ApiClientError::transport(format!(
                        "cannot read the event stream: {e}"
                    ))))
                }
            }
        }
    }
}

impl ApiClient {
    /// Opens the operator event stream: records after sequence number
    /// `since` still in the server's ring (a first `{"kind":"missed"}`
    /// line when some are gone), or with `None` only records from now on.
    pub fn events(&self, since: Option<u64>) -> Result<EventLines, ApiClientError> {
        let fail = |what: &str, e| self.transport_error(what, e);
        let http = ApiRequest::Events { since }
            .to_http()
            .map_err(|e| ApiClientError::transport(e.to_string()))?;
        let mut stream = self.connect()?;
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: localhost\r\nAccept: application/x-ndjson\r\n\
             Connection: close\r\n\r\n",
            http.target
        );
        stream
            .write_all(head.as_bytes())
            .map_err(|e| fail("cannot send to", e))?;
        // The head, then whatever of the body came with it.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_len = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return Err(ApiClientError::transport("response head too large".into()));
            }
            let n = stream
                .read(&mut chunk)
                .map_err(|e| fail("cannot read from", e))?;
            if n == 0 {
                break buf.len();
            }
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let status = head_status(buf.get(..head_len).unwrap_or_default())?;
        if status != 200 {
            // An error answer is one JSON error with a length: read it all.
            let _ = (&mut stream).take(1 << 20).read_to_end(&mut buf);
            let response = parse_response(&buf).map_err(ApiClientError::transport)?;
            let message = serde_json::from_slice::<ErrorBody>(&response.body)
                .map(|b| b.error)
                .unwrap_or_else(|_| format!("HTTP {status}"));
            return Err(ApiClientError {
                status: Some(status),
                message,
            });
        }
        stream
            .set_read_timeout(Some(SILENCE))
            .map_err(|e| fail("cannot set timeouts on", e))?;
        let body = buf.split_off(head_len);
        let decoder = chunked_transfer::Decoder::new(Cursor::new(body).chain(stream));
        Ok(EventLines {
            reader: BufReader::new(decoder),
        })
    }
}

/// The status of a response head; it must say the body is chunked when
/// it is a 200 (the stream has no length).
fn head_status(head: &[u8]) -> Result<u16, ApiClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ApiClientError::transport("malformed response head".into())),
    }
    let status = response
        .code
        .ok_or_else(|| ApiClientError::transport("response without a status".into()))?;
    let chunked = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    if status == 200 && !chunked {
        return Err(ApiClientError::transport(
            "the event stream's answer is not chunked".into(),
        ));
    }
    Ok(status)
}
