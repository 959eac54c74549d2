//! A live VM (a guest that halts in a loop, a DC-only CXL device, an API
//! socket) whose API is abused the ways that used to kill or stall it: it
//! must answer `GET /api/v1/vm` during and after each, then shut down
//! through the API with a clean exit. The VM runs in this process with the
//! server's default limits (256 connections, 10 s head and body timeouts);
//! running out of descriptors is tried in a child process, whose
//! open-file limit can be lowered without touching other tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use api::{ApiClient, ErrorBody};
use vmm::launcher::{launch, Outcome};

use crate::harness::bzimage;

/// hlt; jmp back to it (interrupts stay off: the vCPU sleeps in KVM).
const HALT_LOOP: [u8; 3] = [0xf4, 0xeb, 0xfd];

/// Every wait in this file ends by then.
const PATIENCE: Duration = Duration::from_secs(30);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("cxlvmm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the VM on a thread; returns once its API answers.
fn start_vm(dir: &Path) -> (PathBuf, JoinHandle<Outcome>) {
    let kernel = dir.join("bzImage");
    std::fs::write(&kernel, bzimage(&HALT_LOOP)).unwrap();
    let socket = dir.join("api.sock");
    let argv: Vec<String> = [
        "cxlvmm",
        "--kernel",
        kernel.to_str().unwrap(),
        "--serial",
        "null",
        "--api-socket",
        socket.to_str().unwrap(),
        "--cxl-host-bridge",
        "id=hb0",
        "--cxl-root-port",
        "id=rp0,bus=hb0",
        "--cxl-type3",
        "id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M",
        "--cxl-fmw",
        "targets=hb0,size=256M",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let vm = std::thread::spawn(move || launch(argv));
    let deadline = Instant::now() + PATIENCE;
    let client = ApiClient::new(&socket).with_timeout(Duration::from_secs(5));
    while client.vm_info().is_err() {
        assert!(!vm.is_finished(), "the VM ended: {:?}", vm.join());
        assert!(Instant::now() < deadline, "the API never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    (socket, vm)
}

/// `GET /api/v1/vm` answers 200, quickly.
fn answers(socket: &Path, when: &str) {
    let start = Instant::now();
    let r = ApiClient::new(socket).with_timeout(PATIENCE).vm_info();
    assert!(r.is_ok(), "{when}: {r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{when}: {:?}",
        start.elapsed()
    );
}

/// What the server sends until it closes.
fn read_all(mut s: UnixStream) -> String {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn send(socket: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(bytes).unwrap();
    read_all(s)
}

/// The status of `answer` after checking it carries one JSON error.
fn json_error(answer: &str) -> u16 {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let e: Result<ErrorBody, _> = serde_json::from_str(body);
    assert!(e.is_ok(), "not a JSON error: {answer:?}");
    head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Raises the soft open-file limit for the 600 idle connections (and the
/// server's side of them) should it be low.
fn enough_fds() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit; raising the soft
    // limit up to the hard one is always allowed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < 4096 {
            lim.rlim_cur = lim.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn shut_down(socket: &Path, vm: JoinHandle<Outcome>) {
    ApiClient::new(socket).shutdown().unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !vm.is_finished() {
        assert!(Instant::now() < deadline, "the VM did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = vm.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!socket.exists(), "socket file left behind");
}

#[test]
fn a_live_vm_survives_api_abuse_and_shuts_down_through_the_api() {
    enough_fds();
    let dir = TempDir::new("api-survival");
    let (socket, vm) = start_vm(&dir.0);
    answers(&socket, "at start");

    // A body the old server tried to allocate: refused from the head.
    let answer = send(
        &socket,
        b"GET /api/v1/vm HTTP/1.1\r\nContent-Length: 100000000000\r\n\r\n",
    );
    assert_eq!(json_error(&answer), 413, "{answer}");
    answers(&socket, "after a 100 GB Content-Length");

    // Clients that send their head and stall mid-body.
    let stalled: Vec<_> = (0..64)
        .map(|_| {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.write_all(
                b"POST /api/v1/memory-backends HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"id\"",
            )
            .unwrap();
            s
        })
        .collect();
    answers(&socket, "with 64 clients stalled mid-body");
    drop(stalled);
    answers(&socket, "after 64 clients stalled mid-body");

    // More idle connections than the server serves at once.
    let idle: Vec<_> = (0..600)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    answers(&socket, "with 600 idle connections");
    drop(idle);
    answers(&socket, "after 600 idle connections");

    // 200 clients at once, under the 256-connection cap: all answered.
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let mut s = UnixStream::connect(&socket).unwrap();
            s.write_all(b"GET /api/v1/vm HTTP/1.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    answers(&socket, "during 200 clients at once");
    for (i, s) in burst.into_iter().enumerate() {
        let answer = read_all(s);
        assert!(answer.starts_with("HTTP/1.1 200"), "client {i}: {answer}");
    }
    answers(&socket, "after 200 clients at once");

    // What used to close the connection without an answer, or answer
    // with plain text.
    let answer = send(&socket, b"GET /api/v1/\xff HTTP/1.1\r\n\r\n");
    assert_eq!(json_error(&answer), 400, "{answer}");
    let answer = send(&socket, b"\x01\x02 garbage\r\n\r\n");
    assert_eq!(json_error(&answer), 400, "{answer}");
    answers(&socket, "after a raw 0xff and a garbage request line");

    shut_down(&socket, vm);
}

const CHILD_DIR: &str = "CXLVMM_TEST_EMFILE_VM_DIR";

/// Lowers this process's open-file limit so that exactly `spare` more
/// descriptors can be opened (new descriptors take the lowest free
/// numbers, and only numbers under the limit).
fn leave_spare_fds(spare: u64) {
    let open: std::collections::BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .collect();
    let (mut free, mut limit) = (0, 0);
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

/// Not a test on its own: the VM of the next test, in a child process
/// whose open-file limit it lowers once the VM runs (does nothing
/// otherwise). Succeeds when the VM, shut down through the API, exits 0.
#[test]
fn vm_short_of_descriptors_in_a_child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let (_socket, vm) = start_vm(&dir);
    leave_spare_fds(6);
    std::fs::write(dir.join("ready"), b"").unwrap();
    let out = vm.join().unwrap();
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_live_vm_answers_again_once_accept_stops_failing_with_emfile() {
    let dir = TempDir::new("api-emfile");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "api_survival::vm_short_of_descriptors_in_a_child_process",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, &dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !dir.0.join("ready").exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child VM ended early"
        );
        assert!(Instant::now() < deadline, "the child VM never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let socket = dir.0.join("api.sock");
    // More connections than the VMM has descriptors left: its accept()
    // fails with EMFILE until some close.
    let idle: Vec<_> = (0..32)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    let waiting = {
        let socket = socket.clone();
        std::thread::spawn(move || ApiClient::new(&socket).with_timeout(PATIENCE).vm_info())
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !waiting.is_finished(),
        "answered although the VMM had no descriptor left: {:?}",
        waiting.join()
    );
    drop(idle);
    let start = Instant::now();
    let r = waiting.join().unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    answers(&socket, "after EMFILE");
    ApiClient::new(&socket).shutdown().unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child VM did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
