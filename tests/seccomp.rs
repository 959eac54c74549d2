//! The seccomp filters at work: a system call outside a thread's list is
//! refused in `on` mode (the SIGSYS report names the thread and the call,
//! and the process ends with status 1) and allowed, for the kernel to log,
//! in `log` mode. Calls on the list, argument conditions included, pass.
//!
//! A refused call ends the process, so each `on` case runs in a child: this
//! test binary again, with only that test selected and [`CHILD_ENV`] set.

use std::process::{Command, Output};

use vmm::seccomp::{SeccompFilters, SeccompMode, ThreadKind};

/// Set in the child: the test runs its case instead of checking one.
const CHILD_ENV: &str = "CXLVMM_SECCOMP_TEST_CHILD";
/// Printed by the child once the allowed calls went through.
const ALLOWED: &str = "SECCOMP-TEST allowed calls passed";
/// Printed by the child if the refused call came back.
const NOT_REFUSED: &str = "SECCOMP-TEST not refused";

fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs test `name` of this binary in a child process.
fn run_child(name: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap()
}

/// Child side: on a thread of its own labelled `label`, installs `kind`'s
/// filter in `on` mode, makes the `allowed` calls, then the `refused` one.
fn child(kind: ThreadKind, label: &'static str, allowed: fn() -> bool, refused: fn() -> i64) {
    let filters = SeccompFilters::new(SeccompMode::On).unwrap();
    let t = std::thread::spawn(move || {
        filters.install(kind, label).unwrap();
        if allowed() {
            println!("{ALLOWED}");
        }
        let r = refused();
        println!("{NOT_REFUSED} ({r})");
    });
    let _ = t.join();
}

/// Parent side: the child made the allowed calls, then was stopped at call
/// `nr` with the report naming `label`, and status 1.
fn assert_refused(out: &Output, label: &str, nr: i64) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(ALLOWED),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stdout.contains(NOT_REFUSED), "stdout: {stdout}");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let want = format!("cxlvmm: seccomp: thread '{label}' (tid ");
    assert!(stderr.contains(&want), "stderr: {stderr}");
    let want = format!(") made system call {nr}, which its filter does not allow");
    assert!(stderr.contains(&want), "stderr: {stderr}");
}

#[test]
fn vcpu_filter_refuses_a_call_off_its_list() {
    if in_child() {
        child(
            ThreadKind::Vcpu,
            "vcpu-test",
            // SAFETY (both): plain system calls without pointers.
            || unsafe { libc::getpid() > 0 && libc::gettid() > 0 },
            || unsafe { i64::from(libc::getppid()) },
        );
        return;
    }
    assert_refused(
        &run_child("vcpu_filter_refuses_a_call_off_its_list"),
        "vcpu-test",
        libc::SYS_getppid,
    );
}

#[test]
fn vcpu_filter_refuses_kvm_ioctls_off_its_list() {
    // KVM_RUN is on the list, KVM_CREATE_VM (0xae01) is not: the filter
    // looks at the request number (the descriptor is not a KVM one here, so
    // the allowed call fails with EBADF in the kernel instead).
    if in_child() {
        child(
            ThreadKind::Vcpu,
            "vcpu-ioctl",
            // SAFETY (both): ioctl on an invalid descriptor touches nothing.
            || unsafe { libc::ioctl(-1, 0xae80) == -1 },
            || unsafe { i64::from(libc::ioctl(-1, 0xae01)) },
        );
        return;
    }
    assert_refused(
        &run_child("vcpu_filter_refuses_kvm_ioctls_off_its_list"),
        "vcpu-ioctl",
        libc::SYS_ioctl,
    );
}

#[test]
fn api_filter_refuses_network_sockets() {
    // Unix sockets are on the API thread's list, other families are not.
    if in_child() {
        child(
            ThreadKind::Api,
            "api-test",
            // SAFETY: a socket created and closed.
            || unsafe {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                fd >= 0 && libc::close(fd) == 0
            },
            // SAFETY: plain system call.
            || unsafe { i64::from(libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0)) },
        );
        return;
    }
    assert_refused(
        &run_child("api_filter_refuses_network_sockets"),
        "api-test",
        libc::SYS_socket,
    );
}

#[test]
fn vmm_filter_refuses_exec() {
    if in_child() {
        child(
            ThreadKind::Vmm,
            "main-test",
            // The VMM thread opens files (backends): allowed.
            || std::fs::read("/proc/self/status").is_ok(),
            || {
                let path = c"/bin/true";
                let argv = [path.as_ptr(), std::ptr::null()];
                let envp = [std::ptr::null()];
                // SAFETY: NUL-terminated path and argument/environment lists.
                i64::from(unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) })
            },
        );
        return;
    }
    assert_refused(
        &run_child("vmm_filter_refuses_exec"),
        "main-test",
        libc::SYS_execve,
    );
}

#[test]
fn vhost_user_filter_talks_but_opens_no_socket() {
    // A vhost-user device thread sends and receives on the socket it was
    // given (sendmsg/recvmsg: allowed, here failing with EBADF in the
    // kernel), but never creates one.
    if in_child() {
        child(
            ThreadKind::VhostUser,
            "vhost-test",
            // SAFETY: sendmsg/recvmsg on an invalid descriptor touch nothing.
            || unsafe {
                libc::sendmsg(-1, std::ptr::null(), 0) == -1
                    && libc::recvmsg(-1, std::ptr::null_mut(), 0) == -1
            },
            // SAFETY: plain system call.
            || unsafe { i64::from(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)) },
        );
        return;
    }
    assert_refused(
        &run_child("vhost_user_filter_talks_but_opens_no_socket"),
        "vhost-test",
        libc::SYS_socket,
    );
}

/// `Seccomp:` of the calling thread.
fn own_seccomp_mode() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .map(|v| v.trim().to_string())
        .unwrap()
}

#[test]
fn log_mode_allows_what_on_mode_refuses() {
    // getppid is not on the vCPU list (see above); in log mode it works,
    // and so does reading a file (openat is not on the list either). The
    // filter stays with this test's thread, which ends here.
    // SAFETY: plain system call.
    let parent = unsafe { libc::getppid() };
    let filters = SeccompFilters::new(SeccompMode::Log).unwrap();
    let (ppid, mode) = std::thread::spawn(move || {
        filters.install(ThreadKind::Vcpu, "vcpu-log").unwrap();
        // SAFETY: plain system call.
        (unsafe { libc::getppid() }, own_seccomp_mode())
    })
    .join()
    .unwrap();
    assert_eq!(ppid, parent);
    // 2 = SECCOMP_MODE_FILTER: the filter was installed, and let it pass.
    assert_eq!(mode, "2");
}

#[test]
fn off_mode_installs_nothing() {
    let filters = SeccompFilters::new(SeccompMode::Off).unwrap();
    let mode = std::thread::spawn(move || {
        filters.install(ThreadKind::Vcpu, "vcpu-off").unwrap();
        own_seccomp_mode()
    })
    .join()
    .unwrap();
    assert_eq!(mode, "0");
}

/// Answers `GET /vm` from `rx` until `stop`.
fn answer_vm_info(rx: api::ApiReceiver, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::SeqCst) {
        while let Some((request, responder)) = rx.try_recv() {
            responder.respond(match request {
                api::ApiRequest::VmInfo => Ok(api::ApiResponse::VmInfo(api::VmInfo {
                    state: api::VmState::Running,
                    cpus: 1,
                    memory: 1 << 30,
                    version: "test".into(),
                    devices: 0,
                })),
                _ => Err(api::ApiError::Internal("not in this test".into())),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn the_api_server_serves_under_its_filter() {
    // The API thread and every thread it starts run under the API filter in
    // `on` mode: good requests, bad ones, many at once, and the stop.
    if !in_child() {
        let out = run_child("the_api_server_serves_under_its_filter");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.contains(ALLOWED),
            "stdout: {stdout}\nstderr: {stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
        return;
    }
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("cxlvmm-seccomp-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("api.sock");
    let filters = SeccompFilters::new(SeccompMode::On).unwrap();
    let config = api::ApiServerConfig {
        thread_init: Some(filters.thread_init(ThreadKind::Api, "api")),
        ..api::ApiServerConfig::default()
    };
    let (server, rx) = api::ApiServer::start(&path, config).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let vmm = {
        let stop = stop.clone();
        std::thread::spawn(move || answer_vm_info(rx, stop))
    };
    let client = api::ApiClient::new(&path);
    assert_eq!(client.vm_info().unwrap().cpus, 1);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| assert!(api::ApiClient::new(&path).vm_info().is_ok()));
        }
    });
    assert_eq!(client.devices().unwrap_err().status, Some(500));
    for bytes in [
        &b"GET /api/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"POST /api/v1/memory-backends HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
        b"garbage\r\n\r\n",
    ] {
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        c.write_all(bytes).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
    }
    server.shutdown();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    vmm.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{ALLOWED}");
}
