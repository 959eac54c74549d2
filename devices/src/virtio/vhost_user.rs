//! The vhost-user frontend: a device's queues served by a backend process
//! over a unix socket (the vhost-user protocol, as QEMU documents it), on the
//! rust-vmm `vhost` crate's frontend.
//!
//! At start-up ([`VhostUserConnection::connect`]): SET_OWNER, GET_FEATURES,
//! and with VHOST_USER_F_PROTOCOL_FEATURES: GET/SET_PROTOCOL_FEATURES
//! (REPLY_ACK, MQ) and GET_QUEUE_NUM. A backend that is not there, refuses,
//! or does not answer within [`HANDSHAKE_TIMEOUT`] is an error then.
//!
//! At DRIVER_OK ([`VhostUserConnection::start`], on the device thread):
//! SET_FEATURES (the driver's features, plus PROTOCOL_FEATURES), then every
//! message asks for an acknowledgement (REPLY_ACK) so a refusal is seen;
//! SET_MEM_TABLE (guest RAM as memfd descriptors), and per queue
//! SET_VRING_NUM, SET_VRING_ADDR (host addresses), SET_VRING_BASE 0,
//! SET_VRING_CALL, SET_VRING_KICK (the transport's notification eventfd, so a
//! driver's notify goes from KVM straight to the backend) and
//! SET_VRING_ENABLE, then one kick (a driver's notify that came before the
//! ring was enabled may have been dropped). At reset
//! ([`VhostUserConnection::stop`]):
//! SET_VRING_ENABLE 0 and GET_VRING_BASE, which stops the ring.
//!
//! Memory: only guest RAM is in the table. CXL memory (memslots added when
//! decoders commit or extents are accepted) is not: a buffer placed there is
//! outside the backend's view and the backend refuses the request.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use thiserror::Error;
use vhost::vhost_user::message::VhostUserHeaderFlag;
use vhost::vhost_user::{
    Frontend, VhostUserFrontend, VhostUserProtocolFeatures, VhostUserVirtioFeatures,
};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::device::QueueLayout;

/// How long the start-up handshake may take before the backend is taken
/// for dead.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The protocol features cxlvmm uses when the backend has them.
fn wanted_protocol_features() -> VhostUserProtocolFeatures {
    VhostUserProtocolFeatures::REPLY_ACK | VhostUserProtocolFeatures::MQ
}

/// Why a backend cannot be used.
#[derive(Debug, Error)]
pub enum VhostUserError {
    /// Connecting to the socket failed.
    #[error("cannot connect to '{0}': {1}")]
    Connect(PathBuf, vhost::Error),
    /// A start-up message failed.
    #[error("vhost-user backend at '{path}': {what}: {err}")]
    Protocol {
        /// The socket.
        path: PathBuf,
        /// The message.
        what: &'static str,
        /// What went wrong.
        err: vhost::Error,
    },
    /// The backend did not answer in time.
    #[error("vhost-user backend at '{0}' did not answer within {1:?}")]
    Timeout(PathBuf, Duration),
    /// The backend cannot serve this device.
    #[error("vhost-user backend at '{0}': {1}")]
    Unsuitable(PathBuf, String),
    /// A host call failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

/// A connection to a vhost-user backend serving `queues` queues.
pub struct VhostUserConnection {
    frontend: Frontend,
    path: PathBuf,
    /// A duplicate of the socket, to cut the connection from another thread.
    socket: OwnedFd,
    features: u64,
    protocol: VhostUserProtocolFeatures,
    calls: Vec<EventFd>,
    /// Queues handed to the backend since the last start.
    started: Vec<usize>,
    gone: bool,
}

impl VhostUserConnection {
    /// Connects to the backend at `path` and does the start-up handshake
    /// for a device with `queues` queues, within [`HANDSHAKE_TIMEOUT`].
    pub fn connect(path: &Path, queues: usize) -> Result<Self, VhostUserError> {
        Self::connect_within(path, queues, HANDSHAKE_TIMEOUT)
    }

    /// [`Self::connect`] with another time limit for the handshake.
    pub fn connect_within(
        path: &Path,
        queues: usize,
        limit: Duration,
    ) -> Result<Self, VhostUserError> {
        let frontend = Frontend::connect(path, queues as u64)
            .map_err(|e| VhostUserError::Connect(path.to_path_buf(), e))?;
        let socket = dup(frontend.as_raw_fd())?;
        let mut calls = Vec::with_capacity(queues);
        for _ in 0..queues {
            calls.push(EventFd::new(EFD_NONBLOCK).map_err(|e| VhostUserError::Io("eventfd", e))?);
        }
        let mut c = Self {
            frontend,
            path: path.to_path_buf(),
            socket,
            features: 0,
            protocol: VhostUserProtocolFeatures::empty(),
            calls,
            started: Vec::new(),
            gone: false,
        };
        let fd = c.socket.as_raw_fd();
        with_deadline(fd, limit, || c.handshake(queues)).map_err(|e| match e {
            None => VhostUserError::Timeout(path.to_path_buf(), limit),
            Some(e) => e,
        })?;
        Ok(c)
    }

    fn handshake(&mut self, queues: usize) -> Result<(), VhostUserError> {
        let path = self.path.clone();
        let proto = |what, err| VhostUserError::Protocol {
            path: path.clone(),
            what,
            err,
        };
        self.frontend
            .set_owner()
            .map_err(|e| proto("SET_OWNER", e))?;
        self.features = self
            .frontend
            .get_features()
            .map_err(|e| proto("GET_FEATURES", e))?;
        if self.features & (1 << VIRTIO_F_VERSION_1) == 0 {
            return Err(VhostUserError::Unsuitable(
                self.path.clone(),
                format!(
                    "it does not offer VIRTIO_F_VERSION_1 (features {:#x})",
                    self.features
                ),
            ));
        }
        if self.features & VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits() == 0 {
            return Ok(());
        }
        let offered = self
            .frontend
            .get_protocol_features()
            .map_err(|e| proto("GET_PROTOCOL_FEATURES", e))?;
        self.protocol = offered & wanted_protocol_features();
        self.frontend
            .set_protocol_features(self.protocol)
            .map_err(|e| proto("SET_PROTOCOL_FEATURES", e))?;
        if self.protocol.contains(VhostUserProtocolFeatures::MQ) {
            let n = self
                .frontend
                .get_queue_num()
                .map_err(|e| proto("GET_QUEUE_NUM", e))?;
            if n < queues as u64 {
                return Err(VhostUserError::Unsuitable(
                    self.path.clone(),
                    format!("it serves {n} queues, the device has {queues}"),
                ));
            }
        }
        Ok(())
    }

    /// The virtio feature bits the backend offers (GET_FEATURES).
    pub fn features(&self) -> u64 {
        self.features
    }

    /// The protocol features in use.
    pub fn protocol_features(&self) -> VhostUserProtocolFeatures {
        self.protocol
    }

    /// The socket (readable or hung up only when the backend is gone).
    pub fn socket_fd(&self) -> RawFd {
        self.frontend.as_raw_fd()
    }

    /// The eventfd the backend signals for each queue.
    pub fn call_events(&self) -> &[EventFd] {
        &self.calls
    }

    /// A function that cuts the connection, so an exchange waiting on a
    /// backend that does not answer fails at once (for the VMM's exit).
    pub fn unblocker(&self) -> Result<Box<dyn Fn() + Send + Sync>, VhostUserError> {
        let fd = dup(self.socket.as_raw_fd())?;
        Ok(Box::new(move || {
            // SAFETY: shutdown on a descriptor this closure owns.
            unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) };
        }))
    }

    /// The backend went away: every later exchange fails without trying.
    pub fn mark_gone(&mut self) {
        self.gone = true;
    }

    /// Hands `queues` to the backend with the driver's `features`.
    pub fn start(
        &mut self,
        features: u64,
        queues: &[QueueLayout],
        kicks: &[EventFd],
        mem: &GuestMemoryMmap,
    ) -> Result<(), String> {
        if self.gone {
            return Err("the vhost-user backend is gone".into());
        }
        let fail = |what: &str, e: vhost::Error| format!("vhost-user {what}: {e}");
        let with_protocol = self.features & VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits();
        self.frontend
            .set_features(features | with_protocol)
            .map_err(|e| fail("SET_FEATURES", e))?;
        if self.protocol.contains(VhostUserProtocolFeatures::REPLY_ACK) {
            // From now on the backend acknowledges every message, so a
            // refusal is an error here instead of a silent dead queue.
            self.frontend.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
        }
        let regions = memory_table(mem)?;
        self.frontend
            .set_mem_table(&regions)
            .map_err(|e| fail("SET_MEM_TABLE", e))?;
        for q in queues {
            let i = q.index;
            let (Some(kick), Some(call)) = (kicks.get(i), self.calls.get(i)) else {
                return Err(format!("queue {i}: no eventfd"));
            };
            let host = |gpa: u64, what: &str| {
                mem.get_host_address(GuestAddress(gpa))
                    .map(|p| p as u64)
                    .map_err(|e| format!("queue {i}: {what} at {gpa:#x}: {e}"))
            };
            let config = VringConfigData {
                queue_max_size: q.max_size,
                queue_size: q.size,
                flags: 0,
                desc_table_addr: host(q.desc, "descriptor table")?,
                used_ring_addr: host(q.used, "used ring")?,
                avail_ring_addr: host(q.avail, "available ring")?,
                log_addr: None,
            };
            let f = &self.frontend;
            f.set_vring_num(i, q.size)
                .map_err(|e| fail("SET_VRING_NUM", e))?;
            f.set_vring_addr(i, &config)
                .map_err(|e| fail("SET_VRING_ADDR", e))?;
            f.set_vring_base(i, 0)
                .map_err(|e| fail("SET_VRING_BASE", e))?;
            f.set_vring_call(i, call)
                .map_err(|e| fail("SET_VRING_CALL", e))?;
            f.set_vring_kick(i, kick)
                .map_err(|e| fail("SET_VRING_KICK", e))?;
            self.started.push(i);
            if with_protocol != 0 {
                self.frontend
                    .set_vring_enable(i, true)
                    .map_err(|e| fail("SET_VRING_ENABLE", e))?;
            }
            // The driver may have notified before the ring was enabled (it
            // goes on as soon as DRIVER_OK is written, while this thread is
            // still talking to the backend), and a backend drops a kick for
            // a disabled ring: kick once more so nothing waits for a
            // notification that was swallowed.
            kick.write(1)
                .map_err(|e| format!("queue {i}: kick after enabling: {e}"))?;
        }
        Ok(())
    }

    /// Takes the started queues back (device reset).
    pub fn stop(&mut self) {
        let started = std::mem::take(&mut self.started);
        if self.gone {
            return;
        }
        let with_protocol = self.features & VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits() != 0;
        for i in started {
            if with_protocol {
                if let Err(e) = self.frontend.set_vring_enable(i, false) {
                    log::warn!("vhost-user: disabling queue {i}: {e}");
                }
            }
            if let Err(e) = self.frontend.get_vring_base(i) {
                log::warn!("vhost-user: stopping queue {i}: {e}");
            }
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Guest RAM as the backend maps it: every region must be a file mapping
/// (memfd), whose descriptor goes with the message.
pub fn memory_table(mem: &GuestMemoryMmap) -> Result<Vec<VhostUserMemoryRegionInfo>, String> {
    mem.iter()
        .map(|r| {
            VhostUserMemoryRegionInfo::from_guest_region(r).map_err(|_| {
                format!(
                    "guest RAM at {:#x} is not shared memory (no file descriptor to give the backend)",
                    r.start_addr().0
                )
            })
        })
        .collect()
}

fn dup(fd: RawFd) -> Result<OwnedFd, VhostUserError> {
    // SAFETY: `fd` is open for the duration of this call (its owner holds
    // it); try_clone_to_owned dups it (F_DUPFD_CLOEXEC).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .map_err(|e| VhostUserError::Io("dup", e))
}

/// Runs `f`, cutting the connection on `fd` if it takes longer than
/// `limit` (its blocked receive then fails). `Err(None)` when it timed out.
fn with_deadline<T, E>(
    fd: RawFd,
    limit: Duration,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, Option<E>> {
    let (tx, rx) = channel::<()>();
    let timer = std::thread::Builder::new()
        .name("vhost-user-timer".into())
        .spawn(move || match rx.recv_timeout(limit) {
            Err(RecvTimeoutError::Timeout) => {
                // SAFETY: the caller keeps `fd` open until this thread is
                // joined below; shutdown does not close it.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                true
            }
            _ => false,
        });
    let result = f();
    let fired = match timer {
        Ok(t) => {
            let _ = tx.send(());
            t.join().unwrap_or(false)
        }
        // Without a timer the handshake simply has no deadline.
        Err(_) => false,
    };
    match result {
        Ok(_) if fired => Err(None),
        Ok(v) => Ok(v),
        Err(_) if fired => Err(None),
        Err(e) => Err(Some(e)),
    }
}
