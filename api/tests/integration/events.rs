//! `GET /api/v1/events` over a real socket: following, replaying, the
//! stream cap, a reader that stops reading, shutdown.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use api::*;

use crate::Fixture;

fn with_ring(capacity: usize, max_streams: usize) -> (Fixture, Arc<EventRing>) {
    let ring = Arc::new(EventRing::new(capacity));
    let f = Fixture::with_config(ApiServerConfig {
        events: Some(ring.clone()),
        max_streams,
        ..Default::default()
    });
    (f, ring)
}

fn rec(seq: u64) -> String {
    format!(r#"{{"seq":{seq},"kind":"dc","step":"accepted"}}"#)
}

#[test]
fn a_reader_sees_records_pushed_after_it_connected() {
    let (f, ring) = with_ring(16, 16);
    ring.push(1, &rec(1));
    let mut lines = f.client().events(None).unwrap();
    ring.push(2, &rec(2));
    ring.push(3, &rec(3));
    assert_eq!(lines.next().unwrap().unwrap(), rec(2));
    assert_eq!(lines.next().unwrap().unwrap(), rec(3));
}

#[test]
fn a_since_in_the_past_replays_and_a_lost_one_says_so() {
    let (f, ring) = with_ring(3, 16);
    for s in 1..=5 {
        ring.push(s, &rec(s));
    }
    let mut lines = f.client().events(Some(3)).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), rec(4));
    assert_eq!(lines.next().unwrap().unwrap(), rec(5));
    let mut lines = f.client().events(Some(0)).unwrap();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["kind"], "missed");
    assert_eq!(first["through"], 2);
    assert_eq!(lines.next().unwrap().unwrap(), rec(3));
}

#[test]
fn bad_queries_and_a_missing_ring_are_json_errors() {
    let (f, _ring) = with_ring(3, 16);
    for target in [
        "/api/v1/events?since=x",
        "/api/v1/events?from=1",
        "/api/v1/events?since=1&since=2",
    ] {
        let r = f
            .client()
            .send(&HttpRequest {
                method: "GET",
                target: target.into(),
                body: None,
            })
            .unwrap();
        assert_eq!(r.status, 400, "{target}");
    }
    let plain = Fixture::start();
    let e = plain.client().events(None).err().unwrap();
    assert_eq!(e.status, Some(503));
}

#[test]
fn streams_beyond_the_cap_get_503_and_a_closed_one_frees_its_place() {
    let (f, ring) = with_ring(16, 1);
    let held = f.client().events(None).unwrap();
    let e = f.client().events(None).err().unwrap();
    assert_eq!(e.status, Some(503));
    assert!(e.message.contains("event streams"), "{}", e.message);
    // Other requests are still served.
    assert!(f.client().vm_info().is_ok());
    drop(held);
    // The server notices the closed reader at its next write.
    ring.push(1, &rec(1));
    let mut lines = loop {
        match f.client().events(Some(0)) {
            Ok(l) => break l,
            Err(e) => assert_eq!(e.status, Some(503)),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(lines.next().unwrap().unwrap(), rec(1));
}

#[test]
fn a_reader_that_stops_reading_is_cut_off_not_buffered() {
    let (f, ring) = with_ring(16, 16);
    let mut s = UnixStream::connect(f.path()).unwrap();
    s.write_all(b"GET /api/v1/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Far more than the socket buffers hold, while nobody reads.
    let line = format!(r#"{{"kind":"dc","pad":"{}"}}"#, "x".repeat(200));
    let total: u64 = 50_000;
    for seq in 1..=total {
        ring.push(seq, &line);
    }
    // Reading now: the stream ends (the server dropped the reader that
    // fell behind) long before all records came.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    let records = text.matches(r#""kind":"dc""#).count() as u64;
    assert!(records < total, "{records} records");
    assert!(
        text.ends_with("0\r\n\r\n"),
        "the chunked body is closed properly"
    );
}

#[test]
fn shutdown_ends_open_streams() {
    let (mut f, _ring) = with_ring(16, 16);
    let mut lines = f.client().events(None).unwrap();
    f.server.take().unwrap().shutdown();
    assert!(lines.next().is_none());
}
