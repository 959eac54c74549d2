//! Tagged backends through the operator API: what the host cannot give is
//! refused at creation with a JSON error (never a SIGBUS at a guest store),
//! one file backs one backend, and deleting a backend removes the file it
//! created but not one that existed.

use std::path::{Path, PathBuf};

use api::{ApiError, ApiRequest, ApiResponse, BackendConfig};
use vmm::api_handler::ApiContext;
use vmm::cxl_config::{parse_host_bridge, parse_root_port, parse_type3, parse_window, CxlConfig};

use crate::harness::{vm_config, Asm, TestVm, RAM_SIZE};

const MIB: u64 = 1 << 20;

/// A DC-only device, as an operator adding tagged capacity has.
fn machine() -> TestVm {
    let mut cxl = CxlConfig::default();
    cxl.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    cxl.root_ports
        .push(parse_root_port("id=rp0,bus=hb0").unwrap());
    cxl.devices
        .push(parse_type3("id=dcd0,port=rp0,dc-regions=1,dc-regions-total-size=256M").unwrap());
    cxl.windows
        .push(parse_window("targets=hb0,size=256M").unwrap());
    TestVm::with_config(&Asm::default().finish(), &vm_config(cxl))
}

fn context(t: &TestVm) -> ApiContext {
    ApiContext {
        devices: t.devices.clone().unwrap(),
        exit: t.exit.clone(),
        cpus: 1,
        memory: RAM_SIZE,
    }
}

fn file_backend(id: &str, path: &Path, size: u64) -> ApiRequest {
    ApiRequest::BackendAdd(BackendConfig {
        id: id.into(),
        kind: api::BackendKind::File,
        path: Some(path.to_path_buf()),
        size,
        share: true,
        prealloc: false,
        tag: None,
    })
}

/// The error's status and its JSON body.
fn refused(ctx: &ApiContext, req: ApiRequest) -> (u16, String) {
    match ctx.handle(req) {
        Ok(r) => panic!("accepted: {r:?}"),
        Err(e) => (e.status(), serde_json::to_string(&e.body()).unwrap()),
    }
}

/// A tmpfs of `size` on a fresh directory, unmounted when dropped (the
/// tests run as root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(name: &str, size: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cxlvmm-api-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let (fs, target, opts) = (
            c("tmpfs"),
            c(dir.to_str().unwrap()),
            c(&format!("size={size}")),
        );
        // SAFETY: valid C strings; mounts a tmpfs on our own directory.
        let r = unsafe {
            libc::mount(
                fs.as_ptr(),
                target.as_ptr(),
                fs.as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: unmounting the tmpfs this test mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn backend_ids(ctx: &ApiContext) -> Vec<String> {
    match ctx.handle(ApiRequest::BackendList).unwrap() {
        ApiResponse::Backends(v) => v.into_iter().map(|b| b.config.id).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_backend_the_file_system_cannot_hold_is_refused_at_creation() {
    let t = machine();
    let ctx = context(&t);
    let fs = Tmpfs::new("small", "4M");
    let path = fs.0.join("tm0.mem");
    for prealloc in [false, true] {
        let mut req = file_backend("tm0", &path, 64 * MIB);
        if let ApiRequest::BackendAdd(c) = &mut req {
            c.prealloc = prealloc;
        }
        let (status, body) = refused(&ctx, req);
        assert_eq!(status, 400, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains("cannot reserve 67108864 bytes") && msg.contains("bytes free"),
            "{msg}"
        );
        assert!(msg.contains("tm0.mem"), "{msg}");
        // Nothing left behind: no backend, no file, the space free again.
        assert!(backend_ids(&ctx).is_empty());
        assert!(!path.exists());
    }
    assert!(matches!(
        ctx.handle(file_backend("tm0", &path, 2 * MIB)),
        Ok(ApiResponse::BackendCreated(_))
    ));
}

#[test]
fn an_existing_file_shorter_than_the_size_is_refused_and_left_alone() {
    let t = machine();
    let ctx = context(&t);
    let dir = std::env::temp_dir().join(format!("cxlvmm-api-short-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("eight-k");
    std::fs::write(&path, [0x3cu8; 8192]).unwrap();
    let (status, body) = refused(&ctx, file_backend("tm0", &path, 2 * MIB));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("is 8192 bytes, smaller than the backend's 2097152"),
        "{body}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), [0x3cu8; 8192]);
    assert!(backend_ids(&ctx).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_file_backs_one_backend_and_delete_removes_only_what_it_created() {
    let t = machine();
    let ctx = context(&t);
    let dir = std::env::temp_dir().join(format!("cxlvmm-api-alias-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tm0.mem");
    let link = dir.join("alias.mem");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(matches!(
        ctx.handle(file_backend("tm0", &path, 2 * MIB)),
        Ok(ApiResponse::BackendCreated(_))
    ));
    // The same file under a second id, by its name or through a symlink.
    for other in [&path, &link] {
        let (status, body) = refused(&ctx, file_backend("tm1", other, 2 * MIB));
        assert_eq!(status, 409, "{body}");
        assert!(
            body.contains("is already the file of memory backend 'tm0'"),
            "{body}"
        );
    }
    assert_eq!(backend_ids(&ctx), ["tm0"]);
    // The VMM created it: DELETE removes it.
    ctx.handle(ApiRequest::BackendRemove { id: "tm0".into() })
        .unwrap();
    assert!(!path.exists());
    // An existing file stays, with what it holds.
    let old = dir.join("old.mem");
    std::fs::write(&old, vec![0x11u8; 2 * MIB as usize]).unwrap();
    assert!(matches!(
        ctx.handle(file_backend("tm2", &old, 2 * MIB)),
        Ok(ApiResponse::BackendCreated(_))
    ));
    ctx.handle(ApiRequest::BackendRemove { id: "tm2".into() })
        .unwrap();
    assert_eq!(std::fs::read(&old).unwrap(), vec![0x11u8; 2 * MIB as usize]);
    let err: ApiError = ctx
        .handle(ApiRequest::BackendRemove { id: "tm2".into() })
        .unwrap_err();
    assert_eq!(err.status(), 404);
    std::fs::remove_dir_all(&dir).unwrap();
}
