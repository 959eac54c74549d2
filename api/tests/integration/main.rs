//! Integration tests: the server over a real unix socket, backed by a mock
//! VMM that answers from an event loop woken by the API's eventfd; the
//! OpenAPI document checked against the server; the `cxlvmm-remote` binary.

mod cli;
mod events;
mod limits;
mod mock;
mod openapi;
mod schema;
mod server;
mod trace;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use api::{ApiServer, ApiServerConfig, ApiServerHandle};

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn create() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("cxlvmm-api-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server on a fresh socket with the mock VMM behind it.
pub struct Fixture {
    pub server: Option<ApiServerHandle>,
    pub vmm: mock::MockVmm,
    pub socket: PathBuf,
    _dir: TempDir,
}

impl Fixture {
    pub fn start() -> Fixture {
        Self::with_config(ApiServerConfig::default())
    }

    pub fn with_config(config: ApiServerConfig) -> Fixture {
        let dir = TempDir::create();
        let socket = dir.join("api.sock");
        let (server, receiver) = ApiServer::start(&socket, config).unwrap();
        Fixture {
            server: Some(server),
            vmm: mock::MockVmm::start(receiver),
            socket,
            _dir: dir,
        }
    }

    pub fn client(&self) -> api::ApiClient {
        api::ApiClient::new(&self.socket)
    }

    pub fn path(&self) -> &Path {
        &self.socket
    }
}

pub const TAG: &str = "5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f";

pub fn tag() -> uuid::Uuid {
    uuid::Uuid::parse_str(TAG).unwrap()
}
