//! The server over a real unix socket, with the mock VMM behind it.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use api::*;

use crate::mock::{MockVmm, DEVICE};
use crate::{tag, Fixture, TempDir};

/// Sends raw bytes, returns the raw answer.
pub fn raw(path: &std::path::Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn add_request(offset: u64, len: u64) -> AddRequest {
    AddRequest {
        host_id: 0,
        selection_policy: SelectionPolicy::Prescriptive,
        region: 0,
        tag: Some(tag()),
        extents: vec![RequestedExtent { offset, len }],
        backend: None,
    }
}

#[test]
fn round_trip_every_endpoint() {
    let f = Fixture::start();
    let c = f.client();
    let info = c.vm_info().unwrap();
    assert_eq!(
        (info.state, info.cpus, info.devices),
        (VmState::Running, 2, 1)
    );

    let created = c
        .backend_add(BackendConfig {
            id: "mem0".into(),
            kind: BackendKind::Memfd,
            path: None,
            size: 256 << 20,
            share: true,
            prealloc: false,
            tag: Some(tag()),
        })
        .unwrap();
    assert_eq!(created.config.id, "mem0");
    assert_eq!(c.backends().unwrap(), vec![created.clone()]);

    let devices = c.devices().unwrap();
    assert_eq!(devices[0].id, DEVICE);
    assert_eq!(devices[0].dc_regions.len(), 2);

    let added = c.dc_add(DEVICE, add_request(0, 256 << 20)).unwrap();
    assert_eq!(added.extents[0].state, ExtentStatus::Pending);
    assert_eq!(added.extents[0].extent.dpa, 0x1000_0000);
    let list = c.dc_extents(DEVICE).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].mapped && list[0].hpa.is_some());
    assert_eq!(list[0].backend.as_deref(), Some("mem0"));
    let bound = c.backends().unwrap().remove(0).bound_to.unwrap();
    assert_eq!(
        (bound.device.as_str(), bound.extent.len),
        (DEVICE, 256 << 20)
    );

    let e = c.backend_remove("mem0").unwrap_err();
    assert_eq!(e.status, Some(409), "{e}");
    let e = c.dc_add(DEVICE, add_request(0, 2 << 20)).unwrap_err();
    assert_eq!(e.status, Some(409), "{e}");

    let released = c
        .dc_release(
            DEVICE,
            ReleaseRequest {
                host_id: 0,
                removal_policy: RemovalPolicy::TagBased,
                forced: false,
                sanitize_on_release: false,
                tag: Some(tag()),
                region: 0,
                extents: vec![],
            },
        )
        .unwrap();
    assert_eq!(released.extents[0].state, ExtentStatus::ReleasePending);
    let status = c.dc_release_status_by_tag(DEVICE, 0, tag()).unwrap();
    assert_eq!(status, ExtentStatus::ReleasePending);
    let by_extent = DcReleaseStatusQuery {
        region: 0,
        selector: ReleaseSelector::Extent(RequestedExtent {
            offset: 0,
            len: 256 << 20,
        }),
    };
    assert_eq!(
        c.dc_release_status(DEVICE, by_extent).unwrap(),
        ExtentStatus::Released
    );
    assert!(c.dc_extents(DEVICE).unwrap().is_empty());
    c.backend_remove("mem0").unwrap();
    assert!(c.backends().unwrap().is_empty());

    let e = c.dc_extents("nope").unwrap_err();
    assert_eq!(
        (e.status, e.message.as_str()),
        (Some(404), "unknown device 'nope'")
    );

    c.shutdown().unwrap();
    assert_eq!(c.vm_info().unwrap().state, VmState::ShuttingDown);
    assert_eq!(c.devices().unwrap_err().status, Some(503));
}

#[test]
fn socket_is_owner_only_and_removed_on_shutdown() {
    let mut f = Fixture::start();
    let meta = std::fs::symlink_metadata(f.path()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, SOCKET_MODE);
    let server = f.server.take().unwrap();
    assert_eq!(server.path(), f.path());
    server.shutdown();
    assert!(!f.path().exists(), "socket file left behind");
    assert!(UnixStream::connect(f.path()).is_err());
}

#[test]
fn stale_socket_is_replaced_live_one_refused() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    // A socket file whose listener is gone.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let (server, rx) = ApiServer::start(&path, ApiServerConfig::default()).unwrap();
    let _vmm = MockVmm::start(rx);

    let e = ApiServer::start(&path, ApiServerConfig::default())
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    // The first server is untouched.
    assert!(ApiClient::new(&path).vm_info().is_ok());
    drop(server);

    let file = dir.join("plain");
    std::fs::write(&file, b"keep me").unwrap();
    let e = ApiServer::start(&file, ApiServerConfig::default())
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    let long = dir.join(&"x".repeat(120));
    let e = ApiServer::start(&long, ApiServerConfig::default())
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn concurrent_clients() {
    let f = Fixture::start();
    std::thread::scope(|s| {
        for t in 0..8 {
            let c = f.client();
            s.spawn(move || {
                for i in 0..20 {
                    if (t + i) % 2 == 0 {
                        assert_eq!(c.vm_info().unwrap().cpus, 2);
                    } else {
                        assert_eq!(c.devices().unwrap().len(), 1);
                    }
                }
            });
        }
    });
    assert_eq!(
        f.vmm.answered.load(std::sync::atomic::Ordering::SeqCst),
        160
    );
}

#[test]
fn stalled_client_blocks_no_one() {
    let f = Fixture::start();
    // Promises a body and sends only part of it.
    let mut stalled = UnixStream::connect(f.path()).unwrap();
    stalled
        .write_all(b"POST /api/v1/memory-backends HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"id\"")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    assert!(f.client().vm_info().is_ok());
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(stalled);
}

#[test]
fn vmm_that_does_not_answer_gives_503() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let config = ApiServerConfig {
        reply_timeout: Duration::from_millis(100),
        ..ApiServerConfig::default()
    };
    let (_server, rx) = ApiServer::start(&path, config.clone()).unwrap();
    let e = ApiClient::new(&path).vm_info().unwrap_err();
    assert_eq!(e.status, Some(503), "{e}");
    assert!(e.message.contains("did not take the request"), "{e}");
    assert!(e.message.contains("not applied"), "{e}");
    drop(rx);
    let e = ApiClient::new(&path).vm_info().unwrap_err();
    assert_eq!(
        (e.status, e.message.as_str()),
        (Some(503), "the VMM is not taking requests")
    );
}

#[test]
fn too_many_requests_at_once_gives_503() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let config = ApiServerConfig {
        max_in_flight: 1,
        ..ApiServerConfig::default()
    };
    let (_server, rx) = ApiServer::start(&path, config).unwrap();
    let _vmm = MockVmm::start_slow(rx, Duration::from_millis(300));
    let statuses: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ApiClient::new(&path).vm_info().map_err(|e| e.status)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().any(|r| r.is_ok()));
    assert!(statuses.contains(&Err(Some(503))), "{statuses:?}");
}

#[test]
fn http_level_errors() {
    let f = Fixture::start();
    let answer = raw(
        f.path(),
        b"DELETE /api/v1/vm HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.contains("\r\nAllow: GET\r\n"), "{answer}");
    assert!(answer.ends_with(r#"{"error":"method DELETE not allowed here; allowed: GET"}"#));

    // Declared too large: refused without reading it.
    let answer = raw(
        f.path(),
        b"POST /api/v1/memory-backends HTTP/1.1\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Chunked, growing past the limit.
    let mut req = b"POST /api/v1/memory-backends HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..20 {
        req.extend_from_slice(b"1000\r\n");
        req.extend_from_slice(&[b' '; 0x1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(f.path(), &req);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // Not HTTP at all: the connection is answered with JSON and closed,
    // the server lives on.
    let answer = raw(f.path(), b"\x00\x01garbage\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.ends_with("\"}"), "{answer}");
    assert!(f.client().vm_info().is_ok());

    // One request per connection: a second one on the same connection is
    // not read (every head goes through the server's own checks first),
    // the connection closes after the first answer.
    let answer = raw(
        f.path(),
        b"GET /api/v1/vm HTTP/1.1\r\n\r\nGET /api/v1/devices HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 1, "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
}

#[test]
fn client_reports_a_missing_socket() {
    let dir = TempDir::create();
    let e = ApiClient::new(dir.join("none.sock")).vm_info().unwrap_err();
    assert_eq!(e.status, None);
    assert!(e.message.starts_with("cannot connect to"), "{e}");
}

#[test]
fn thread_init_runs_first_on_the_api_thread() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let config = ApiServerConfig {
        thread_init: Some({
            let seen = seen.clone();
            std::sync::Arc::new(move || {
                let name = std::thread::current().name().map(String::from);
                seen.lock().unwrap().push(name);
                Ok(())
            })
        }),
        ..ApiServerConfig::default()
    };
    let (_server, rx) = ApiServer::start(&path, config).unwrap();
    // Run once, on the API thread, before start returned.
    assert_eq!(*seen.lock().unwrap(), vec![Some("api".to_string())]);
    let _vmm = MockVmm::start(rx);
    assert!(ApiClient::new(&path).vm_info().is_ok());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_failing_thread_init_fails_the_start() {
    let dir = TempDir::create();
    let path = dir.join("api.sock");
    let config = ApiServerConfig {
        thread_init: Some(std::sync::Arc::new(|| {
            Err(std::io::Error::other("no filter for you"))
        })),
        ..ApiServerConfig::default()
    };
    let e = ApiServer::start(&path, config).err().unwrap();
    assert_eq!(e.to_string(), "no filter for you");
    // Nothing left listening, nor a socket file.
    assert!(!path.exists());
    let (_server, rx) = ApiServer::start(&path, ApiServerConfig::default()).unwrap();
    let _vmm = MockVmm::start(rx);
    assert!(ApiClient::new(&path).vm_info().is_ok());
}
