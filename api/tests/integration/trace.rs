//! API requests in the decoded trace: the routed ones and those the head
//! checks refuse before routing. The test binary installs its own sink
//! (the process's one), which keeps the API records.

use std::sync::{Mutex, OnceLock};

use devices::trace::{Kind, Record, Sink};

use super::server::raw;
use super::Fixture;

struct Keep;

static KEPT: Mutex<Vec<Record>> = Mutex::new(Vec::new());

impl Sink for Keep {
    fn record(&self, record: Record) {
        if record.kind == Kind::Api {
            KEPT.lock().unwrap_or_else(|e| e.into_inner()).push(record);
        }
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| devices::trace::install(Box::new(Keep)).unwrap());
}

fn kept(f: impl Fn(&Record) -> bool) -> usize {
    KEPT.lock().unwrap().iter().filter(|r| f(r)).count()
}

#[test]
fn routed_and_refused_requests_are_api_records() {
    install();
    let f = Fixture::start();
    f.client().vm_info().unwrap();
    assert!(
        kept(|r| r.fields["path"] == "/api/v1/vm" && r.fields["status"] == 200) >= 1,
        "{:?}",
        KEPT.lock().unwrap()
    );
    // Refused by the head checks: no such route (404), a header over the
    // limit (431).
    let before = kept(|r| r.fields["status"] == 404 && r.fields["error"].is_string());
    let answer = raw(f.path(), b"GET /api/v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert_eq!(
        kept(|r| r.fields["status"] == 404 && r.fields["error"].is_string()),
        before + 1
    );
    let mut big = b"GET /api/v1/vm HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 << 10));
    big.extend(b"\r\n\r\n");
    let answer = raw(f.path(), &big);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(kept(|r| r.fields["status"] == 431) >= 1);
}
