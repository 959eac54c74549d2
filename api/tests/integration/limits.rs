//! Each of the server's limits, over a real socket: what a client over it
//! gets (always JSON), and that everyone else is still served.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::*;

use crate::server::raw;
use crate::{Fixture, TempDir};

/// Reads what the server sends until it closes, for at most `limit`.
fn answer_of(mut s: UnixStream, limit: Duration) -> String {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of a raw answer, after checking its body is one JSON error.
fn json_error(answer: &str) -> u16 {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let e: ErrorBody =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON error ({e}): {answer:?}"));
    assert!(!e.error.is_empty());
    head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn stalled_mid_body(path: &Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap();
    s.write_all(b"POST /api/v1/memory-backends HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"id\"")
        .unwrap();
    s
}

fn quick(config: ApiServerConfig) -> ApiServerConfig {
    ApiServerConfig {
        head_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..config
    }
}

#[test]
fn a_huge_declared_body_is_refused_unread() {
    let f = Fixture::start();
    // The body never comes: the answer cannot have waited for it.
    let answer = raw(
        f.path(),
        b"GET /api/v1/vm HTTP/1.1\r\nContent-Length: 100000000000\r\n\r\n",
    );
    assert_eq!(json_error(&answer), 413, "{answer}");
    assert!(answer.contains("larger than 65536 bytes"), "{answer}");
    assert!(f.client().vm_info().is_ok());
}

#[test]
fn a_head_over_the_limit_gets_431() {
    let f = Fixture::with_config(ApiServerConfig {
        max_head: 1024,
        ..Default::default()
    });
    let mut req = b"GET /api/v1/vm HTTP/1.1\r\nX-Long: ".to_vec();
    req.resize(4000, b'a');
    req.extend_from_slice(b"\r\n\r\n");
    let answer = raw(f.path(), &req);
    assert_eq!(json_error(&answer), 431, "{answer}");
    let mut req = b"GET /api/v1/vm HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        req.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert_eq!(json_error(&raw(f.path(), &req)), 431);
    assert!(f.client().vm_info().is_ok());
}

#[test]
fn bad_request_lines_urls_and_headers_get_json_400() {
    let f = Fixture::start();
    for req in [
        &b"GET /api/v1/\xff HTTP/1.1\r\n\r\n"[..],
        b"GET /api/v1/vm\xff HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"this is not http\r\n\r\n",
        b"GET /api/v1/vm HTTP/1.1\r\nNo Colon\r\n\r\n",
        b"GET /api/v1/vm HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /api/v1/vm HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        b"GET /api/v1/vm HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
    ] {
        let answer = raw(f.path(), req);
        assert_eq!(
            json_error(&answer),
            400,
            "{:?}: {answer}",
            String::from_utf8_lossy(req)
        );
    }
    assert!(f.client().vm_info().is_ok());
}

#[test]
fn a_client_stalled_in_its_head_gets_408_and_blocks_no_one() {
    let f = Fixture::with_config(quick(ApiServerConfig::default()));
    let mut stalled = UnixStream::connect(f.path()).unwrap();
    stalled
        .write_all(b"GET /api/v1/vm HTTP/1.1\r\nHost:")
        .unwrap();
    let silent = UnixStream::connect(f.path()).unwrap();
    assert!(f.client().vm_info().is_ok());
    let start = Instant::now();
    let answer = answer_of(stalled, Duration::from_secs(5));
    assert_eq!(json_error(&answer), 408, "{answer}");
    let answer = answer_of(silent, Duration::from_secs(5));
    assert_eq!(json_error(&answer), 408, "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_client_stalled_mid_body_gets_408_and_blocks_no_one() {
    let f = Fixture::with_config(quick(ApiServerConfig::default()));
    let stalled: Vec<_> = (0..64).map(|_| stalled_mid_body(f.path())).collect();
    let start = Instant::now();
    assert!(f.client().vm_info().is_ok());
    assert!(start.elapsed() < Duration::from_secs(1));
    for s in stalled {
        let answer = answer_of(s, Duration::from_secs(5));
        assert_eq!(json_error(&answer), 408, "{answer}");
    }
    assert!(f.client().vm_info().is_ok());
}

#[test]
fn idle_connections_never_lock_clients_out() {
    let f = Fixture::with_config(ApiServerConfig {
        max_connections: 4,
        ..Default::default()
    });
    let idle: Vec<_> = (0..8)
        .map(|_| UnixStream::connect(f.path()).unwrap())
        .collect();
    // Each new connection took the place of the oldest idle one.
    f.client().vm_info().unwrap();
    let mut idle = idle.into_iter();
    let oldest = idle.next().unwrap();
    let answer = answer_of(oldest, Duration::from_secs(5));
    assert_eq!(json_error(&answer), 503, "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
}

#[test]
fn busy_connections_over_the_cap_get_a_quick_503() {
    let f = Fixture::with_config(ApiServerConfig {
        max_connections: 4,
        ..Default::default()
    });
    let stalled: Vec<_> = (0..4).map(|_| stalled_mid_body(f.path())).collect();
    // Let the server see all four heads.
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let e = f.client().vm_info().unwrap_err();
    assert_eq!(e.status, Some(503), "{e}");
    assert!(
        e.message.contains("too many connections (at most 4)"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.client().vm_info().is_err() {
        assert!(Instant::now() < deadline, "the slots never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_hundred_clients_at_once_are_all_answered() {
    let f = Fixture::start();
    let conns: Vec<_> = (0..200)
        .map(|_| {
            let mut s = UnixStream::connect(f.path()).unwrap();
            s.write_all(b"GET /api/v1/vm HTTP/1.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    for s in conns {
        let answer = answer_of(s, Duration::from_secs(30));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The server is one thread: tokio started no worker or blocking-pool
    // threads of its own (they would be named "tokio-runtime-worker").
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = std::fs::read_to_string(task.unwrap().path().join("comm")).unwrap_or_default();
        assert!(!comm.starts_with("tokio"), "a tokio thread: {comm}");
    }
}

#[test]
fn thread_init_runs_first_on_the_api_thread_and_can_stop_the_start() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let seen = Arc::new(std::sync::Mutex::new(None));
    let hook: ThreadInit = {
        let seen = seen.clone();
        Arc::new(move || {
            *seen.lock().unwrap() = std::thread::current().name().map(str::to_string);
            Ok(())
        })
    };
    let config = ApiServerConfig {
        thread_init: Some(hook),
        ..Default::default()
    };
    let (server, rx) = ApiServer::start(&path, config).unwrap();
    assert_eq!(seen.lock().unwrap().as_deref(), Some("api"));
    let _vmm = crate::mock::MockVmm::start(rx);
    assert!(ApiClient::new(&path).vm_info().is_ok());
    drop(server);

    let config = ApiServerConfig {
        thread_init: Some(Arc::new(|| Err(std::io::Error::other("no filter for you")))),
        ..Default::default()
    };
    let e = ApiServer::start(&path, config).err().unwrap();
    assert_eq!(e.to_string(), "no filter for you");
    assert!(!path.exists(), "socket file left behind");
}

const CHILD_SOCKET: &str = "CXLVMM_API_TEST_EMFILE_SOCKET";

/// Lowers this process's open-file limit so that exactly `spare` more
/// descriptors can be opened (new descriptors take the lowest free
/// numbers, and only numbers under the limit).
pub fn leave_spare_fds(spare: u64) {
    let open: std::collections::BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .collect();
    let mut free = 0;
    let mut limit = 0;
    while free < spare {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = limit;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
}

/// Not a test on its own: the server side of the next test, in a child
/// process whose open-file limit it lowers (does nothing otherwise).
#[test]
fn emfile_server_in_a_child_process() {
    let Some(socket) = std::env::var_os(CHILD_SOCKET) else {
        return;
    };
    let (server, rx) = ApiServer::start(&socket, ApiServerConfig::default()).unwrap();
    let _vmm = crate::mock::MockVmm::start(rx);
    leave_spare_fds(6);
    let mut ready = socket.clone();
    ready.push(".ready");
    std::fs::write(&ready, b"").unwrap();
    // Serve until the parent closes our standard input.
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    server.shutdown();
}

#[test]
fn accept_failures_back_off_and_the_server_answers_again() {
    let dir = TempDir::create();
    let socket = dir.join("api.sock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "limits::emfile_server_in_a_child_process",
            "--test-threads=1",
        ])
        .env(CHILD_SOCKET, &socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("api.sock.ready").exists() {
        assert!(Instant::now() < deadline, "the child server never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // More connections than the server has descriptors left: accept()
    // fails with EMFILE until some close.
    let idle: Vec<_> = (0..32)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let client = ApiClient::new(&socket).with_timeout(Duration::from_secs(20));
    let waiting = {
        let client = client.clone();
        std::thread::spawn(move || client.vm_info())
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "answered although the server had no descriptor left: {:?}",
        waiting.join()
    );
    drop(idle);
    let start = Instant::now();
    assert!(waiting.join().unwrap().is_ok());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(client.vm_info().is_ok());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

/// Answers every request as a VMM would, `GET /memory-backends` with a list
/// of 20000 backends (about 2 MB of JSON, far more than a socket buffers).
fn big_answers_vmm(rx: ApiReceiver) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let backends: Vec<MemoryBackendInfo> = (0..20000)
            .map(|i| {
                MemoryBackendInfo::from(BackendConfig {
                    id: format!("backend-{i}"),
                    kind: BackendKind::Memfd,
                    path: None,
                    size: 2 << 20,
                    share: true,
                    prealloc: false,
                    tag: None,
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            while let Some((request, responder)) = rx.try_recv() {
                responder.respond(match request {
                    ApiRequest::BackendList => Ok(ApiResponse::Backends(backends.clone())),
                    ApiRequest::VmShutdown => return,
                    _ => Err(ApiError::NotFound("only backends here".into())),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

#[test]
fn a_client_that_does_not_read_its_answer_is_dropped() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let config = ApiServerConfig {
        write_timeout: Duration::from_millis(300),
        max_connections: 1,
        ..Default::default()
    };
    let (server, rx) = ApiServer::start(&path, config).unwrap();
    let vmm = big_answers_vmm(rx);
    let mut reader = UnixStream::connect(&path).unwrap();
    reader
        .write_all(b"GET /api/v1/memory-backends HTTP/1.1\r\n\r\n")
        .unwrap();
    // The one connection is taken while its answer is being written...
    std::thread::sleep(Duration::from_millis(100));
    let e = ApiClient::new(&path).backends().unwrap_err();
    assert_eq!(e.status, Some(503), "{e}");
    // ...until the write timeout drops it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ApiClient::new(&path).backends() {
            Ok(list) => {
                assert_eq!(list.len(), 20000);
                break;
            }
            Err(e) => assert_eq!(e.status, Some(503), "{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the stalled reader kept its slot"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // What the stalled reader gets is cut short.
    let mut got = Vec::new();
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = reader.read_to_end(&mut got);
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(got.len() < 1 << 20, "{} bytes", got.len());
    let _ = ApiClient::new(&path).shutdown();
    vmm.join().unwrap();
    drop(server);
}

#[test]
fn stopping_closes_idle_connections_at_once() {
    let mut f = Fixture::start();
    let idle: Vec<_> = (0..3)
        .map(|_| UnixStream::connect(f.path()).unwrap())
        .collect();
    assert!(f.client().vm_info().is_ok());
    let start = Instant::now();
    f.server.take().unwrap().shutdown();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    for s in idle {
        let answer = answer_of(s, Duration::from_secs(5));
        assert_eq!(json_error(&answer), 503, "{answer}");
        assert!(answer.contains("the API is stopping"), "{answer}");
    }
}
