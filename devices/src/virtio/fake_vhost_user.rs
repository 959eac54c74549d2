//! A small vhost-user backend for tests, written from the protocol (QEMU's
//! vhost-user document) rather than with the `vhost` crate's backend side,
//! so the frontend is checked against an independent reading: it records
//! every message (code, flags, body, descriptors), answers the GET
//! requests, acknowledges when asked (REPLY_ACK), maps the memory table
//! it is given and, once its queues are kicked, serves them: each chain's
//! readable bytes are copied into its writable buffers, and the call
//! eventfd is signalled. A kick that arrives before its ring is enabled is
//! lost, as with vhost-user-backend. It can be told to close the connection
//! or to stop answering at a given request, or to refuse one.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, FileOffset, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

/// Request codes (vhost-user "Front-end message types").
pub mod req {
    pub const GET_FEATURES: u32 = 1;
    pub const SET_FEATURES: u32 = 2;
    pub const SET_OWNER: u32 = 3;
    pub const SET_MEM_TABLE: u32 = 5;
    pub const SET_VRING_NUM: u32 = 8;
    pub const SET_VRING_ADDR: u32 = 9;
    pub const SET_VRING_BASE: u32 = 10;
    pub const GET_VRING_BASE: u32 = 11;
    pub const SET_VRING_KICK: u32 = 12;
    pub const SET_VRING_CALL: u32 = 13;
    pub const GET_PROTOCOL_FEATURES: u32 = 15;
    pub const SET_PROTOCOL_FEATURES: u32 = 16;
    pub const GET_QUEUE_NUM: u32 = 17;
    pub const SET_VRING_ENABLE: u32 = 18;
}

/// Header flags: version 1, reply, need reply.
const VERSION: u32 = 0x1;
const REPLY: u32 = 0x4;
const NEED_REPLY: u32 = 0x8;
/// VHOST_USER_F_PROTOCOL_FEATURES.
pub const PROTOCOL_FEATURES: u64 = 1 << 30;
/// Protocol features MQ and REPLY_ACK.
pub const PROTO_MQ: u64 = 1 << 0;
/// REPLY_ACK.
pub const PROTO_REPLY_ACK: u64 = 1 << 3;

/// One message the backend received.
#[derive(Clone, Debug)]
pub struct Msg {
    /// Request code.
    pub code: u32,
    /// Header flags.
    pub flags: u32,
    /// The body.
    pub body: Vec<u8>,
    /// Descriptors that came with it.
    pub fds: usize,
}

impl Msg {
    /// The body's `n`th little-endian u64.
    pub fn u64_at(&self, n: usize) -> u64 {
        let b = &self.body[8 * n..8 * n + 8];
        u64::from_le_bytes(b.try_into().unwrap())
    }
    /// The body's `n`th little-endian u32.
    pub fn u32_at(&self, n: usize) -> u32 {
        let b = &self.body[4 * n..4 * n + 4];
        u32::from_le_bytes(b.try_into().unwrap())
    }
}

/// What the backend does.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// GET_FEATURES.
    pub features: u64,
    /// GET_PROTOCOL_FEATURES.
    pub protocol: u64,
    /// GET_QUEUE_NUM.
    pub queue_num: u64,
    /// Close the connection when this request arrives.
    pub die_at: Option<u32>,
    /// Stop reading and answering when this request arrives.
    pub hang_at: Option<u32>,
    /// Acknowledge this request with an error.
    pub refuse: Option<u32>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            features: 1 << 32 | 1 << 28 | PROTOCOL_FEATURES,
            protocol: PROTO_MQ | PROTO_REPLY_ACK,
            queue_num: 2,
            die_at: None,
            hang_at: None,
            refuse: None,
        }
    }
}

#[derive(Default)]
struct Ring {
    size: u16,
    addrs: Option<(u64, u64, u64)>,
    kick: Option<File>,
    call: Option<File>,
    enabled: bool,
    queue: Option<Queue>,
}

/// The backend: listens on a socket in a private directory, serves one
/// connection on its thread.
pub struct FakeBackend {
    /// The socket path.
    pub path: PathBuf,
    dir: PathBuf,
    log: Arc<Mutex<Vec<Msg>>>,
    conn: Arc<Mutex<Option<UnixStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeBackend {
    /// Starts listening.
    pub fn start(behaviour: Behaviour) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cxlvmm-vu-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let conn = Arc::new(Mutex::new(None));
        let (log2, conn2) = (log.clone(), conn.clone());
        let thread = std::thread::spawn(move || {
            let Ok((s, _)) = listener.accept() else {
                return;
            };
            *conn2.lock().unwrap() = Some(s.try_clone().unwrap());
            let end = s.try_clone().unwrap();
            serve(s, behaviour, &log2);
            // Gone means gone, whoever else holds the socket.
            let _ = end.shutdown(std::net::Shutdown::Both);
        });
        Self {
            path,
            dir,
            log,
            conn,
            thread: Some(thread),
        }
    }

    /// Every message so far.
    pub fn log(&self) -> Vec<Msg> {
        self.log.lock().unwrap().clone()
    }

    /// The codes of every message so far.
    pub fn codes(&self) -> Vec<u32> {
        self.log().iter().map(|m| m.code).collect()
    }

    /// Waits until `f` holds for the log (10 s at most).
    pub fn wait_for(&self, what: &str, f: impl Fn(&[Msg]) -> bool) {
        let t = std::time::Instant::now();
        while !f(&self.log()) {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(10),
                "timed out waiting for {what}; log: {:?}",
                self.codes()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The backend dies: its end of the connection closes.
    pub fn kill(&self) {
        if let Some(s) = self.conn.lock().unwrap().as_ref() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.kill();
        // Unblocks an accept that never got a connection.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads one message; None when the connection is gone.
fn recv(s: &mut UnixStream) -> Option<(Msg, Vec<File>)> {
    let mut hdr = [0u8; 12];
    let mut fds = [-1 as RawFd; 8];
    let mut iov = [libc::iovec {
        iov_base: hdr.as_mut_ptr().cast(),
        iov_len: hdr.len(),
    }];
    // SAFETY: the iovec points at `hdr`, which lives through the call.
    let (n, nfds) = unsafe { s.recv_with_fds(&mut iov, &mut fds) }.ok()?;
    // SAFETY: the first `nfds` descriptors are fresh ones we now own.
    let files: Vec<File> = fds[..nfds]
        .iter()
        .map(|&fd| unsafe { File::from_raw_fd(fd) })
        .collect();
    if n == 0 {
        return None;
    }
    if n < hdr.len() {
        s.read_exact(&mut hdr[n..]).ok()?;
    }
    let word = |i: usize| u32::from_le_bytes(hdr[4 * i..4 * i + 4].try_into().unwrap());
    let mut body = vec![0u8; word(2) as usize];
    s.read_exact(&mut body).ok()?;
    Some((
        Msg {
            code: word(0),
            flags: word(1),
            body,
            fds: files.len(),
        },
        files,
    ))
}

fn reply(s: &mut UnixStream, code: u32, body: &[u8]) {
    let mut m = Vec::with_capacity(12 + body.len());
    m.extend_from_slice(&code.to_le_bytes());
    m.extend_from_slice(&(VERSION | REPLY).to_le_bytes());
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.extend_from_slice(body);
    let _ = s.write_all(&m);
}

struct State {
    mem: Option<GuestMemoryMmap>,
    /// (gpa, size, user address) of each region.
    table: Vec<(u64, u64, u64)>,
    rings: Vec<Ring>,
}

impl State {
    fn gpa(&self, uaddr: u64) -> Option<u64> {
        self.table
            .iter()
            .find(|(_, size, ua)| (*ua..ua + size).contains(&uaddr))
            .map(|(gpa, _, ua)| gpa + (uaddr - ua))
    }

    /// Builds the ring's queue once it has everything.
    fn arm(&mut self, i: usize) {
        let Some(mem) = self.mem.clone() else { return };
        let (size, addrs) = match self.rings.get(i) {
            Some(r) if r.enabled && r.kick.is_some() => (r.size, r.addrs),
            _ => return,
        };
        let Some((desc, used, avail)) = addrs else {
            return;
        };
        let (Some(d), Some(u), Some(a)) = (self.gpa(desc), self.gpa(used), self.gpa(avail)) else {
            return;
        };
        let mut q = Queue::new(size).unwrap();
        q.try_set_desc_table_address(GuestAddress(d)).unwrap();
        q.try_set_used_ring_address(GuestAddress(u)).unwrap();
        q.try_set_avail_ring_address(GuestAddress(a)).unwrap();
        q.set_ready(true);
        assert!(q.is_valid(&mem), "the frontend gave a ring outside RAM");
        self.rings[i].queue = Some(q);
    }

    /// Serves ring `i`: echo readable bytes into the writable buffers.
    fn serve(&mut self, i: usize) {
        let Some(mem) = self.mem.clone() else { return };
        let Some(ring) = self.rings.get_mut(i) else {
            return;
        };
        let Some(q) = ring.queue.as_mut() else { return };
        let mut any = false;
        while let Some(chain) = q.pop_descriptor_chain(&mem) {
            let head = chain.head_index();
            let mut data = Vec::new();
            let mut written = 0u32;
            for d in chain {
                if d.is_write_only() {
                    let n = (d.len() as usize).min(data.len());
                    mem.write_slice(&data[..n], d.addr()).unwrap();
                    data.drain(..n);
                    written += n as u32;
                } else {
                    let mut b = vec![0u8; d.len() as usize];
                    mem.read_slice(&mut b, d.addr()).unwrap();
                    data.extend_from_slice(&b);
                }
            }
            q.add_used(&mem, head, written).unwrap();
            any = true;
        }
        if any {
            if let Some(call) = ring.call.as_mut() {
                call.write_all(&1u64.to_le_bytes()).unwrap();
            }
        }
    }
}

fn serve(mut s: UnixStream, b: Behaviour, log: &Mutex<Vec<Msg>>) {
    let mut st = State {
        mem: None,
        table: Vec::new(),
        rings: (0..b.queue_num).map(|_| Ring::default()).collect(),
    };
    loop {
        // Wait for a message or a kick.
        let mut polls = vec![libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let kicked: Vec<usize> = st
            .rings
            .iter()
            .enumerate()
            .filter(|(_, r)| r.queue.is_some() && r.kick.is_some())
            .map(|(i, _)| i)
            .collect();
        for &i in &kicked {
            polls.push(libc::pollfd {
                fd: st.rings[i].kick.as_ref().unwrap().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `polls` is a valid array of pollfd for the call.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 100) };
        if n < 0 {
            return;
        }
        for (k, &i) in kicked.iter().enumerate() {
            if polls[k + 1].revents & libc::POLLIN != 0 {
                let mut v = [0u8; 8];
                let _ = st.rings[i].kick.as_mut().unwrap().read(&mut v);
                st.serve(i);
            }
        }
        if polls[0].revents == 0 {
            continue;
        }
        let Some((msg, mut files)) = recv(&mut s) else {
            return;
        };
        log.lock().unwrap().push(msg.clone());
        if b.die_at == Some(msg.code) {
            return;
        }
        if b.hang_at == Some(msg.code) {
            // Keep the connection open, answer nothing, until it closes.
            loop {
                let mut sink = [0u8; 4096];
                match s.read(&mut sink) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
        let ring = |m: &Msg| m.u32_at(0) as usize;
        match msg.code {
            req::GET_FEATURES => reply(&mut s, msg.code, &b.features.to_le_bytes()),
            req::GET_PROTOCOL_FEATURES => reply(&mut s, msg.code, &b.protocol.to_le_bytes()),
            req::GET_QUEUE_NUM => reply(&mut s, msg.code, &b.queue_num.to_le_bytes()),
            req::GET_VRING_BASE => {
                let i = ring(&msg);
                if let Some(r) = st.rings.get_mut(i) {
                    r.queue = None;
                    r.enabled = false;
                }
                let mut body = (i as u32).to_le_bytes().to_vec();
                body.extend_from_slice(&0u32.to_le_bytes());
                reply(&mut s, msg.code, &body);
            }
            code => {
                match code {
                    req::SET_MEM_TABLE => {
                        let n = msg.u32_at(0) as usize;
                        let mut ranges = Vec::new();
                        st.table.clear();
                        for (k, f) in files.drain(..).enumerate().take(n) {
                            let at = 8 + 32 * k;
                            let w = |j: usize| {
                                u64::from_le_bytes(
                                    msg.body[at + 8 * j..at + 8 * j + 8].try_into().unwrap(),
                                )
                            };
                            let (gpa, size, ua, off) = (w(0), w(1), w(2), w(3));
                            st.table.push((gpa, size, ua));
                            ranges.push((
                                GuestAddress(gpa),
                                size as usize,
                                Some(FileOffset::new(f, off)),
                            ));
                        }
                        st.mem = GuestMemoryMmap::from_ranges_with_files(&ranges).ok();
                    }
                    req::SET_VRING_NUM => {
                        if let Some(r) = st.rings.get_mut(ring(&msg)) {
                            r.size = msg.u32_at(1) as u16;
                        }
                    }
                    req::SET_VRING_ADDR => {
                        let i = ring(&msg);
                        if let Some(r) = st.rings.get_mut(i) {
                            r.addrs = Some((msg.u64_at(1), msg.u64_at(2), msg.u64_at(3)));
                        }
                    }
                    req::SET_VRING_KICK | req::SET_VRING_CALL => {
                        let i = (msg.u64_at(0) & 0xff) as usize;
                        let f = files.pop();
                        if let Some(r) = st.rings.get_mut(i) {
                            if code == req::SET_VRING_KICK {
                                r.kick = f;
                            } else {
                                r.call = f;
                            }
                        }
                        st.arm(i);
                    }
                    req::SET_VRING_ENABLE => {
                        let i = ring(&msg);
                        if let Some(r) = st.rings.get_mut(i) {
                            r.enabled = msg.u32_at(1) != 0;
                            // As vhost-user-backend does: a kick that came
                            // while the ring was disabled was read and
                            // dropped (here: at the latest possible time).
                            if let Some(k) = r.kick.as_mut() {
                                let mut v = [0u8; 8];
                                let _ = k.read(&mut v);
                            }
                        }
                        st.arm(i);
                    }
                    _ => {}
                }
                if msg.flags & NEED_REPLY != 0 {
                    let status: u64 = if b.refuse == Some(code) { 1 } else { 0 };
                    reply(&mut s, code, &status.to_le_bytes());
                }
            }
        }
    }
}
