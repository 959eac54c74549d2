//! `GET /api/v1/events`: the operator event stream, served by the API
//! thread from the [`EventRing`] without the VMM. One JSON line per record
//! (`application/x-ndjson`, chunked), replayed from `since` and then
//! followed as records are pushed; an empty line every
//! [`HEARTBEAT`] while nothing happens, so a reader that went away is
//! noticed (a client skips empty lines).
//!
//! A connection holds at most [`BATCH`] lines in its hand-over to hyper
//! plus what hyper and the socket buffer: a reader that stops reading
//! blocks only its own task, which gives up after the write timeout, and
//! a reader the ring has moved past is closed (it reconnects with `since`
//! and is told what it missed).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame};
use hyper::Response;
use serde_json::json;
use tokio::sync::mpsc;

use crate::events::EventRing;

/// Most lines handed to hyper at once.
pub(crate) const BATCH: usize = 64;

/// How long a stream stays silent before it sends an empty line.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);

/// A response body: one JSON answer, or the event stream's chunks.
pub(crate) enum ApiBody {
    Full(Full<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            ApiBody::Full(f) => Pin::new(f).poll_frame(cx),
            ApiBody::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    // A JSON answer keeps its Content-Length; only the stream is chunked.
    fn is_end_stream(&self) -> bool {
        match self {
            ApiBody::Full(f) => f.is_end_stream(),
            ApiBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ApiBody::Full(f) => f.size_hint(),
            ApiBody::Stream(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// The line that tells a reader records after `after` up to `through`
/// left the ring before it could read them.
pub(crate) fn missed_line(after: u64, through: u64) -> String {
    json!({ "kind": "missed", "after": after, "through": through }).to_string()
}

/// The stream's response: 200 with the body that [`produce`] feeds
/// through `rx`.
pub(crate) fn response(rx: mpsc::Receiver<Bytes>) -> Response<ApiBody> {
    let mut r = Response::new(ApiBody::Stream(rx));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The reader closed the connection.
    Closed,
    /// The reader did not take a chunk within the write timeout.
    Stuck,
    /// The ring moved past what the reader had read.
    FellBehind,
}

/// Feeds the stream of records after sequence number `since` into `tx`
/// until the reader goes away or falls behind. The caller bounds it by the
/// server's shutdown.
pub(crate) async fn produce(
    ring: &EventRing,
    since: u64,
    tx: mpsc::Sender<Bytes>,
    write_timeout: Duration,
    heartbeat: Duration,
) -> Ended {
    let mut cursor = since;
    let mut first = true;
    loop {
        let pushed = ring.pushed();
        tokio::pin!(pushed);
        // Registered before reading: a push from now on wakes it.
        pushed.as_mut().enable();
        let read = ring.read_after(cursor, BATCH);
        let mut chunk = String::new();
        if let Some(through) = read.missed_through {
            if !first {
                return Ended::FellBehind;
            }
            chunk.push_str(&missed_line(cursor, through));
            chunk.push('\n');
        }
        first = false;
        for (seq, line) in &read.lines {
            chunk.push_str(line);
            chunk.push('\n');
            cursor = *seq;
        }
        if chunk.is_empty() {
            tokio::select! {
                () = pushed => continue,
                () = tokio::time::sleep(heartbeat) => chunk.push('\n'),
                () = tx.closed() => return Ended::Closed,
            }
        }
        match tokio::time::timeout(write_timeout, tx.send(Bytes::from(chunk))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ended::Closed,
            Err(_) => return Ended::Stuck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    async fn next_chunk(rx: &mut mpsc::Receiver<Bytes>) -> String {
        let b = rx.recv().await.expect("a chunk");
        String::from_utf8(b.to_vec()).expect("utf-8")
    }

    #[test]
    fn replays_from_since_then_follows() {
        let ring = Arc::new(EventRing::new(8));
        ring.push(1, "{\"seq\":1}");
        ring.push(2, "{\"seq\":2}");
        rt().block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            let r = ring.clone();
            let task = tokio::spawn(async move {
                produce(&r, 1, tx, Duration::from_secs(60), HEARTBEAT).await
            });
            assert_eq!(next_chunk(&mut rx).await, "{\"seq\":2}\n");
            ring.push(3, "{\"seq\":3}");
            assert_eq!(next_chunk(&mut rx).await, "{\"seq\":3}\n");
            drop(rx);
            ring.push(4, "{}");
            assert_eq!(task.await.expect("task"), Ended::Closed);
        });
    }

    #[test]
    fn without_since_only_new_records_come() {
        let ring = Arc::new(EventRing::new(8));
        ring.push(7, "{\"old\":1}");
        rt().block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            let r = ring.clone();
            tokio::spawn(async move {
                produce(&r, r.last_seq(), tx, Duration::from_secs(60), HEARTBEAT).await
            });
            tokio::task::yield_now().await;
            ring.push(8, "{\"new\":1}");
            assert_eq!(next_chunk(&mut rx).await, "{\"new\":1}\n");
        });
    }

    #[test]
    fn a_since_before_the_ring_starts_with_a_missed_line() {
        let ring = EventRing::new(2);
        for s in 1..=4 {
            ring.push(s, &format!("{{\"seq\":{s}}}"));
        }
        rt().block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            tokio::spawn(
                async move { produce(&ring, 0, tx, Duration::from_secs(60), HEARTBEAT).await },
            );
            let got = next_chunk(&mut rx).await;
            let lines: Vec<&str> = got.lines().collect();
            assert_eq!(lines[0], missed_line(0, 2));
            assert_eq!(&lines[1..], ["{\"seq\":3}", "{\"seq\":4}"]);
        });
    }

    #[test]
    fn a_reader_that_falls_behind_the_ring_is_dropped() {
        let ring = Arc::new(EventRing::new(4));
        rt().block_on(async {
            // The channel holds one chunk; nobody reads it.
            let (tx, mut rx) = mpsc::channel(1);
            let r = ring.clone();
            let task = tokio::spawn(async move {
                produce(&r, 0, tx, Duration::from_secs(3600), HEARTBEAT).await
            });
            ring.push(1, "{}");
            tokio::task::yield_now().await;
            ring.push(2, "{}");
            tokio::task::yield_now().await;
            // The task now waits to hand over its second chunk; the ring
            // moves far past it meanwhile.
            for s in 3..100 {
                ring.push(s, "{}");
            }
            while rx.recv().await.is_some() {}
            assert_eq!(task.await.expect("task"), Ended::FellBehind);
        });
    }

    #[test]
    fn a_reader_that_never_reads_is_dropped_after_the_write_timeout() {
        let ring = Arc::new(EventRing::new(4));
        rt().block_on(async {
            let (tx, _rx) = mpsc::channel(1);
            let r = ring.clone();
            let task = tokio::spawn(async move {
                produce(&r, 0, tx, Duration::from_millis(1), HEARTBEAT).await
            });
            ring.push(1, "{}");
            tokio::task::yield_now().await;
            ring.push(2, "{}");
            assert_eq!(task.await.expect("task"), Ended::Stuck);
        });
    }

    #[test]
    fn a_silent_stream_sends_empty_lines() {
        let ring = EventRing::new(4);
        rt().block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            tokio::spawn(async move {
                produce(
                    &ring,
                    0,
                    tx,
                    Duration::from_secs(60),
                    Duration::from_millis(1),
                )
                .await
            });
            assert_eq!(next_chunk(&mut rx).await, "\n");
        });
    }
}
