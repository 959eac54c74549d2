//! The API server: HTTP/1.1 on a unix socket, served by hyper on a
//! current-thread tokio runtime that runs on one thread, "api". Each valid
//! request goes to the VMM through an [`ApiSender`]; the answer comes back
//! as JSON. Everything a client can make the server hold is bounded: the
//! head and body sizes, the time to send them, the time an answer may take
//! to be taken by the VMM and written out, the connections at once and the
//! requests waiting on the VMM, and the event streams (`GET /events`,
//! served here from the trace's ring without the VMM: see `stream.rs`).
//! Nothing but [`ApiServerHandle::shutdown`] ends the server: a failing
//! `accept()` is logged and retried.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use log::{debug, error, warn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

use crate::channel::{channel, ApiReceiver, ApiSender};
use crate::events::EventRing;
use crate::http::{self, Answer, Rewind};
use crate::stream::{self, ApiBody};
use crate::{socket, ApiError, ApiRequest};

/// A hook run first thing on the API thread (e.g. to install a seccomp
/// filter); an error stops the server from starting.
pub type ThreadInit = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Server limits. Every field has a default; set a few with
/// `ApiServerConfig { max_body: 1 << 20, ..Default::default() }`.
#[derive(Clone)]
pub struct ApiServerConfig {
    /// Largest request body accepted (413 beyond, refused unread when its
    /// length is declared). Default 64 KiB.
    pub max_body: usize,
    /// Largest request head: request line and headers (431 beyond, as for
    /// more than [`http::MAX_HEADERS`] headers). Default 16 KiB.
    pub max_head: usize,
    /// How long a client may take to send its whole head from connecting;
    /// then it gets a 408 and is dropped. Default 10 s.
    pub head_timeout: Duration,
    /// How long a client may take to send its whole body after the head;
    /// then it gets a 408 and is dropped. Default 10 s.
    pub body_timeout: Duration,
    /// How long writing the answer may take. Default 10 s.
    pub write_timeout: Duration,
    /// Connections served at once. A connection beyond it takes the place
    /// of the oldest one that has not sent its whole head yet (that one
    /// gets a 503 and is closed), so idle connections never lock clients
    /// out; when every connection has sent its head, the new one is
    /// answered with a 503 at once and closed. Default 256.
    pub max_connections: usize,
    /// How long a request waits for the VMM to take it (503 after; it is
    /// then never applied). Default 30 s.
    pub reply_timeout: Duration,
    /// Requests handed to the VMM and not yet answered (503 beyond).
    /// Default 256, as many as connections: by default only the connection
    /// cap answers 503.
    pub max_in_flight: usize,
    /// Run on the API thread before anything else; default none.
    pub thread_init: Option<ThreadInit>,
    /// The operator records `GET /events` streams; without it that
    /// endpoint answers 503. Default none.
    pub events: Option<Arc<EventRing>>,
    /// Event streams open at once (503 beyond); each also holds one of
    /// `max_connections`. Default 16.
    pub max_streams: usize,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            max_body: 64 << 10,
            max_head: http::DEFAULT_MAX_HEAD,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 256,
            reply_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            thread_init: None,
            events: None,
            max_streams: 16,
        }
    }
}

impl fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("max_body", &self.max_body)
            .field("max_head", &self.max_head)
            .field("head_timeout", &self.head_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .field("reply_timeout", &self.reply_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("thread_init", &self.thread_init.as_ref().map(|_| "..."))
            .field("events", &self.events.as_ref().map(|_| "..."))
            .field("max_streams", &self.max_streams)
            .finish()
    }
}

/// How long the server waits after `accept()` failed before trying again:
/// long enough not to spin while descriptors are short, short enough that
/// clients waiting in the backlog barely notice.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long a stopping server lets connections finish (the answer to a
/// shutdown request, mostly).
const DRAIN: Duration = Duration::from_secs(1);

/// Starts API servers.
pub struct ApiServer;

impl ApiServer {
    /// Listens on the unix socket `path` (created with mode 0600; a stale
    /// socket file is replaced, a live one is an error) and serves it on a
    /// new thread, once `config.thread_init` succeeded there. Returns the
    /// handle that stops it and the VMM's end of the request channel.
    pub fn start(
        path: impl AsRef<Path>,
        config: ApiServerConfig,
    ) -> io::Result<(ApiServerHandle, ApiReceiver)> {
        let path = path.as_ref().to_path_buf();
        let (sender, receiver) = channel()?;
        let listener = socket::bind(&path)?;
        // From here on the socket file is ours to remove.
        let started = listener
            .set_nonblocking(true)
            .and_then(|()| spawn(listener, sender, config));
        match started {
            Ok((stop, thread)) => {
                let handle = ApiServerHandle {
                    stop,
                    thread: Some(thread),
                    path,
                };
                Ok((handle, receiver))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

/// Starts the API thread and waits until it runs its hook and runtime.
fn spawn(
    listener: StdListener,
    sender: ApiSender,
    config: ApiServerConfig,
) -> io::Result<(Arc<Notify>, JoinHandle<()>)> {
    let stop = Arc::new(Notify::new());
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("api".into())
            .spawn(move || {
                let rt = config
                    .thread_init
                    .as_ref()
                    .map_or(Ok(()), |init| init())
                    .and_then(|()| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                    });
                let rt = match rt {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    // Registering with the reactor needs the runtime.
                    let listener = match UnixListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    serve(listener, Arc::new(Shared::new(sender, config)), &stop).await;
                });
            })?
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((stop, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other("the API thread ended while starting"))
        }
    }
}

/// A running server. Stopping it (`shutdown` or drop) ends the API thread
/// and removes the socket file; connections get up to a second to finish.
pub struct ApiServerHandle {
    stop: Arc<Notify>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl ApiServerHandle {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the server; the socket file is gone when this returns.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A stored permit: the loop sees it even if it is not waiting.
            self.stop.notify_one();
            if thread.join().is_err() {
                error!("the API thread panicked");
            }
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What every connection shares.
struct Shared {
    sender: ApiSender,
    config: ApiServerConfig,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    /// The connections still sending their head, oldest first: the ones
    /// a new connection may displace when all slots are taken.
    waiting: Mutex<Waiting>,
    /// Set once the server stops: connections still sending their head
    /// are told so and closed.
    stopping: AtomicBool,
    /// Event streams open.
    streams: AtomicUsize,
    /// Woken when the server stops: event streams end.
    stop_streams: Notify,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    by_age: BTreeMap<u64, Arc<Notify>>,
}

impl Shared {
    fn new(sender: ApiSender, config: ApiServerConfig) -> Self {
        Shared {
            sender,
            config,
            connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            waiting: Mutex::new(Waiting::default()),
            stopping: AtomicBool::new(false),
            streams: AtomicUsize::new(0),
            stop_streams: Notify::new(),
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // Nothing panics while holding it; a poisoned lock is still sound.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the oldest connection still sending its head to go, and
    /// counts the caller in its place (the count is one over the cap until
    /// that connection's task ends, on the runtime's next turn). False
    /// when every connection has sent its head.
    fn displace_oldest_waiting(&self) -> bool {
        let Some((_, go)) = self.waiting().by_age.pop_first() else {
            return false;
        };
        go.notify_one();
        self.connections.fetch_add(1, Ordering::AcqRel);
        true
    }
}

/// A connection's place among those still sending their head; dropping it
/// leaves that list. Taken when the connection is accepted, before its
/// task first runs, so that a burst of connections can displace each other.
struct WaitingHead {
    shared: Arc<Shared>,
    id: u64,
    go: Arc<Notify>,
}

impl WaitingHead {
    fn new(shared: &Arc<Shared>) -> Self {
        let go = Arc::new(Notify::new());
        let mut w = shared.waiting();
        let id = w.next;
        w.next += 1;
        w.by_age.insert(id, go.clone());
        drop(w);
        WaitingHead {
            shared: shared.clone(),
            id,
            go,
        }
    }
}

impl Drop for WaitingHead {
    fn drop(&mut self) {
        self.shared.waiting().by_age.remove(&self.id);
    }
}

/// Counts one of `connections` or `in_flight` until dropped.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    /// Takes a slot if fewer than `max` are taken.
    fn take(counter: &'a AtomicUsize, max: usize) -> Option<Self> {
        count_one(counter, max).then_some(Slot(counter))
    }
}

/// Adds one to `counter` if it is below `max`; whoever gets true owns a
/// [`Slot`] to build.
fn count_one(counter: &AtomicUsize, max: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The accept loop: runs until `stop` is notified.
async fn serve(listener: UnixListener, shared: Arc<Shared>, stop: &Notify) {
    let mut failures = AcceptFailures::default();
    loop {
        let accepted = tokio::select! {
            () = stop.notified() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => accept(stream, &shared),
            Err(e) => {
                // EMFILE, ENFILE, ENOMEM, ENOBUFS, ECONNABORTED...: none of
                // them is the listener's fault. The client waits in the
                // backlog; try again shortly.
                failures.failed(&e);
                tokio::select! {
                    () = stop.notified() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    // Connections that have not sent a request yet will not get to; those
    // being answered (a shutdown request's, mostly) get a moment to finish.
    shared.stopping.store(true, Ordering::Release);
    shared.stop_streams.notify_waiters();
    let waiting = std::mem::take(&mut shared.waiting().by_age);
    for go in waiting.values() {
        go.notify_one();
    }
    let deadline = Instant::now() + DRAIN;
    while shared.connections.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How often failing `accept()` calls are reported while they go on.
const ACCEPT_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Reports `accept()` failures: the first one, then at most one line per
/// [`ACCEPT_REPORT_EVERY`] with the count since, however many there are
/// (descriptors freed one by one make accept() succeed and fail in turn).
#[derive(Default)]
struct AcceptFailures {
    unreported: u64,
    last_report: Option<Instant>,
}

impl AcceptFailures {
    fn failed(&mut self, e: &io::Error) {
        self.unreported += 1;
        if self
            .last_report
            .is_none_or(|t| t.elapsed() >= ACCEPT_REPORT_EVERY)
        {
            warn!(
                "API socket: accept() failed {} time(s) since the last report, last with: {e}; \
                 retrying every {ACCEPT_BACKOFF:?}",
                self.unreported
            );
            self.unreported = 0;
            self.last_report = Some(Instant::now());
        }
    }
}

/// Serves a new connection on a task of its own, or refuses it with a 503
/// when there are too many and none can make room.
fn accept(stream: UnixStream, shared: &Arc<Shared>) {
    let admitted = count_one(&shared.connections, shared.config.max_connections)
        || shared.displace_oldest_waiting();
    if !admitted {
        let e = ApiError::Unavailable(format!(
            "too many connections (at most {})",
            shared.config.max_connections
        ));
        // One non-blocking write, straight to the socket (tokio's own
        // try_write would wait for the reactor to report it writable): a
        // fresh socket's send buffer takes the whole answer at once; if it
        // does not, the client gets nothing, and never holds us up.
        if let Ok(stream) = stream.into_std() {
            let _ = (&stream).write(&Answer::error(&e).to_bytes());
        }
        return;
    }
    let waiting = WaitingHead::new(shared);
    let shared = shared.clone();
    tokio::spawn(async move {
        // The slot counted above, owned by this task.
        let _slot = Slot(&shared.connections);
        connection(stream, &shared, waiting).await;
    });
}

/// One connection, one request: the head (bounded, timed), then hyper.
async fn connection(mut stream: UnixStream, shared: &Arc<Shared>, waiting: WaitingHead) {
    let config = &shared.config;
    let mut buf = Vec::new();
    let head = tokio::select! {
        head = tokio::time::timeout(config.head_timeout, read_head(&mut stream, &mut buf, config)) => {
            head.unwrap_or_else(|_| {
                Err(ApiError::Timeout(format!(
                    "no complete request head within {} s",
                    config.head_timeout.as_secs_f64()
                )))
            })
        }
        () = waiting.go.notified() => Err(if shared.stopping.load(Ordering::Acquire) {
            ApiError::Unavailable("the API is stopping".into())
        } else {
            ApiError::Unavailable(format!(
                "too many connections (at most {}); this one had not sent its request yet",
                config.max_connections
            ))
        }),
    };
    drop(waiting);
    match head {
        Ok(true) => {}
        // Closed before sending anything: nothing to answer.
        Ok(false) => return,
        Err(e) => {
            debug!("API request refused: {} {e}", e.status());
            trace_refusal(&e);
            let bytes = Answer::error(&e).to_bytes();
            let _ = tokio::time::timeout(config.write_timeout, stream.write_all(&bytes)).await;
            return;
        }
    }
    let answered = Arc::new(Notify::new());
    let service = {
        let (shared, answered) = (shared.clone(), answered.clone());
        service_fn(move |req| {
            let (shared, answered) = (shared.clone(), answered.clone());
            async move {
                let response = match handle(req, &shared).await {
                    Reply::Answer(answer) => {
                        answered.notify_one();
                        answer.into_response().map(ApiBody::Full)
                    }
                    // A stream has no end to time: its own task bounds it.
                    Reply::Stream(response) => response,
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let io = TokioIo::new(Rewind::new(buf, stream));
    let conn = http::connection_builder(config.max_head).serve_connection(io, service);
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                debug!("API connection: {e}");
            }
        }
        () = async {
            answered.notified().await;
            tokio::time::sleep(config.write_timeout).await;
        } => debug!("API connection dropped: the client did not take its answer"),
    }
}

/// Reads until `buf` holds a whole head that passed [`http::parse_head`]:
/// true then, false if the client closed without sending a byte. Reads
/// at most `max_head` bytes and a little more (the body's first bytes).
async fn read_head(
    stream: &mut UnixStream,
    buf: &mut Vec<u8>,
    config: &ApiServerConfig,
) -> Result<bool, ApiError> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the request: {e}")))?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(false);
            }
            return Err(ApiError::BadRequest("incomplete request head".into()));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if http::parse_head(buf, config.max_head, config.max_body)?.is_some() {
            return Ok(true);
        }
    }
}

/// What the service answers: JSON, or the event stream.
enum Reply {
    Answer(Answer),
    Stream(Response<ApiBody>),
}

/// The service: the body (bounded, timed), then the VMM's answer, or the
/// event stream.
async fn handle(req: Request<Incoming>, shared: &Arc<Shared>) -> Reply {
    let config = &shared.config;
    let (method, target) = (req.method().clone(), req.uri().clone());
    let request = tokio::time::timeout(
        config.body_timeout,
        http::read_request(req, config.max_body),
    )
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::Timeout(format!(
            "no complete request body within {} s",
            config.body_timeout.as_secs_f64()
        )))
    });
    let result = match request {
        Ok(ApiRequest::Events { since }) => {
            return match open_stream(shared, since) {
                Ok(response) => {
                    trace_request(&method, &target, 200);
                    Reply::Stream(response)
                }
                Err(e) => {
                    debug!("API {method} {target}: {} {e}", e.status());
                    trace_request(&method, &target, e.status());
                    Reply::Answer(Answer::error(&e))
                }
            };
        }
        Ok(request) => match Slot::take(&shared.in_flight, config.max_in_flight) {
            Some(_slot) => {
                shared
                    .sender
                    .call_async(request, config.reply_timeout)
                    .await
            }
            None => Err(ApiError::Unavailable("too many requests at once".into())),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        debug!("API {method} {target}: {} {e}", e.status());
    }
    let answer = Answer::new(result);
    trace_request(&method, &target, answer.status);
    Reply::Answer(answer)
}

/// The trace's record of one API request and the status it got.
fn trace_request(method: &hyper::Method, target: &hyper::Uri, status: u16) {
    devices::trace::emit(devices::trace::Kind::Api, None, || {
        devices::trace::json!({
            "method": method.as_str(),
            "path": target.path(),
            "query": target.query(),
            "status": status,
        })
    });
}

/// The trace's record of a request refused before it was routed (a head
/// malformed, too large or too slow, a route that does not exist, the API
/// full or stopping): its status and why.
fn trace_refusal(e: &ApiError) {
    devices::trace::emit(
        devices::trace::Kind::Api,
        None,
        || devices::trace::json!({ "status": e.status(), "error": e.to_string() }),
    );
}

/// Counts one open event stream until dropped.
struct StreamSlot(Arc<Shared>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts an event stream from `since` on a task of its own, which ends
/// with the reader, when it falls behind, or when the server stops.
fn open_stream(shared: &Arc<Shared>, since: Option<u64>) -> Result<Response<ApiBody>, ApiError> {
    let config = &shared.config;
    let Some(ring) = config.events.clone() else {
        return Err(ApiError::Unavailable("this VMM has no event stream".into()));
    };
    if !count_one(&shared.streams, config.max_streams) {
        return Err(ApiError::Unavailable(format!(
            "too many event streams (at most {})",
            config.max_streams
        )));
    }
    // Without `since`, only what happens from now: the cursor is taken
    // before the answer goes out, so a record pushed once the client has it
    // is never lost. A `since` beyond the newest record is another VMM's:
    // everything held is replayed.
    let last = ring.last_seq();
    let cursor = match since {
        None => last,
        Some(s) if s <= last => s,
        Some(_) => 0,
    };
    let slot = StreamSlot(shared.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let write_timeout = config.write_timeout;
    tokio::spawn(async move {
        let shared = slot.0.clone();
        let stopped = async {
            loop {
                let n = shared.stop_streams.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                if shared.stopping.load(Ordering::Acquire) {
                    return;
                }
                n.await;
            }
        };
        tokio::select! {
            ended = stream::produce(&ring, cursor, tx, write_timeout, stream::HEARTBEAT) => {
                debug!("API event stream ended: {ended:?}");
            }
            () = stopped => {}
        }
        drop(slot);
    });
    Ok(stream::response(rx))
}
