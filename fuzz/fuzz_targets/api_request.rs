//! The API request path from raw bytes to a typed request: the server's
//! own head checks, hyper's body framing and the routes, exactly as the
//! server runs them (`api::parse_raw_request`). Any input must give a
//! request or an error with one of the statuses the server answers a
//! client's mistake with; a panic, a hang or a 500 (hyper refusing a head
//! the server's own checks let through, which hyper would answer with an
//! empty, non-JSON 400) is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Small enough that the fuzzer reaches the 413 path, large enough for
/// every real request body.
const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = api::parse_raw_request(data, MAX_BODY) {
        assert!(
            matches!(e.status(), 400 | 404 | 405 | 413 | 431),
            "unexpected status {} for a parse error: {e}",
            e.status()
        );
    }
});
