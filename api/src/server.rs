//! The API server: HTTP/1.1 on a unix socket (tiny_http), on its own
//! thread. Each valid request goes to the VMM through an [`ApiSender`];
//! the answer comes back as JSON.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, error, warn};
use tiny_http::{Header, Request, Response, Server};

use crate::channel::{channel, ApiReceiver, ApiResult, ApiSender};
use crate::{routes, socket, ApiError, ApiRequest};

/// Runs first thing on the API thread, before it serves anything (the VMM
/// installs the thread's seccomp filter with it); the server does not start
/// if it fails. Threads the API thread starts inherit what it set up.
pub type ThreadInit = Arc<dyn Fn() -> io::Result<()> + Send + Sync>;

/// Server limits.
#[derive(Clone)]
pub struct ApiServerConfig {
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// How long a request waits for the VMM (503 after).
    pub reply_timeout: Duration,
    /// Requests handled at once (503 beyond).
    pub max_in_flight: usize,
    /// Set-up run on the API thread before anything else.
    pub thread_init: Option<ThreadInit>,
}

impl std::fmt::Debug for ApiServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerConfig")
            .field("max_body", &self.max_body)
            .field("reply_timeout", &self.reply_timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("thread_init", &self.thread_init.as_ref().map(|_| "..."))
            .finish()
    }
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            max_body: 64 << 10,
            reply_timeout: Duration::from_secs(30),
            max_in_flight: 16,
            thread_init: None,
        }
    }
}

/// Starts API servers.
pub struct ApiServer;

impl ApiServer {
    /// Listens on the unix socket `path` (created with mode 0600; a stale
    /// socket file is replaced, a live one is an error) and serves it on a
    /// new thread. Returns the handle that stops it and the VMM's end of
    /// the request channel.
    pub fn start(
        path: impl AsRef<Path>,
        config: ApiServerConfig,
    ) -> io::Result<(ApiServerHandle, ApiReceiver)> {
        let path = path.as_ref().to_path_buf();
        let (sender, receiver) = channel()?;
        let listener = socket::bind(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        // tiny_http starts its own threads (the acceptor and a pool) when
        // the server is created: create it on the API thread, after
        // `thread_init`, so that they inherit what it set up.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("api".into())
                .spawn(move || {
                    if let Some(init) = &config.thread_init {
                        if let Err(e) = init() {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    }
                    // From here on, dropping `server` removes the socket file.
                    let server = match Server::from_listener(listener, None) {
                        Ok(s) => Arc::new(s),
                        Err(e) => {
                            let _ = ready_tx.send(Err(io::Error::other(e)));
                            return;
                        }
                    };
                    if ready_tx.send(Ok(server.clone())).is_err() {
                        return;
                    }
                    serve(&server, Arc::new(sender), &config, &stop)
                })?
        };
        let server = match ready_rx.recv() {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => {
                let _ = thread.join();
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                let _ = std::fs::remove_file(&path);
                return Err(io::Error::other("the API thread ended before serving"));
            }
        };
        let handle = ApiServerHandle {
            server,
            stop,
            thread: Some(thread),
            path,
        };
        Ok((handle, receiver))
    }
}

/// A running server. Stopping it (`shutdown` or drop) ends the API thread
/// and removes the socket file; requests already handed to the VMM still
/// get their answers.
pub struct ApiServerHandle {
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
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
            self.stop.store(true, Ordering::SeqCst);
            self.server.unblock();
            if thread.join().is_err() {
                error!("the API thread panicked");
            }
        }
    }
}

impl Drop for ApiServerHandle {
    fn drop(&mut self) {
        self.stop();
        // `self.server` is dropped next, by now its last reference: that
        // stops tiny_http's accept thread and removes the socket file.
    }
}

/// The API thread: takes requests until stopped.
fn serve(server: &Server, sender: Arc<ApiSender>, config: &ApiServerConfig, stop: &AtomicBool) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    error!("API server stopped accepting connections: {e}");
                }
                return;
            }
        };
        if stop.load(Ordering::SeqCst) {
            respond(rq, Err(ApiError::Unavailable("the API is stopping".into())));
            continue;
        }
        if in_flight.fetch_add(1, Ordering::SeqCst) >= config.max_in_flight {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            respond(
                rq,
                Err(ApiError::Unavailable("too many requests at once".into())),
            );
            continue;
        }
        // A thread per request, so that a client that stalls mid-body or a
        // slow answer holds up no one else.
        let guard = InFlight(in_flight.clone());
        let (sender, config) = (sender.clone(), config.clone());
        let spawned = std::thread::Builder::new()
            .name("api-request".into())
            .spawn(move || {
                let _guard = guard;
                handle(rq, &sender, &config);
            });
        if let Err(e) = spawned {
            // The request went down with the closure: tiny_http answers 500.
            warn!("cannot start an API request thread: {e}");
        }
    }
}

/// Counts a request in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn handle(mut rq: Request, sender: &ApiSender, config: &ApiServerConfig) {
    let result = process(&mut rq, sender, config);
    if let Err(e) = &result {
        debug!("API {} {}: {} {e}", rq.method(), rq.url(), e.status());
    }
    respond(rq, result);
}

/// Routes first (404/405 need no body), then reads and parses the body,
/// then asks the VMM.
fn process(rq: &mut Request, sender: &ApiSender, config: &ApiServerConfig) -> ApiResult {
    let target = rq.url().to_string();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target.as_str(), None),
    };
    let matched = routes::route(rq.method().as_str(), path)?;
    let body = read_body(rq, config.max_body)?;
    let request = ApiRequest::from_parts(matched, query, &body)?;
    sender.call(request, config.reply_timeout)
}

fn read_body(rq: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit };
    if rq.body_length().is_some_and(|n| n > limit) {
        return Err(too_large);
    }
    let mut body = Vec::new();
    rq.as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
    if body.len() > limit {
        return Err(too_large);
    }
    Ok(body)
}

/// Writes the answer: the response's JSON, or `{"error": ...}`.
fn respond(rq: Request, result: ApiResult) {
    let encoded = result.and_then(|r| match r.to_json() {
        Ok(body) => Ok((r.status(), body)),
        Err(e) => Err(ApiError::Internal(format!("cannot encode the answer: {e}"))),
    });
    let (status, body, allow) = match encoded {
        Ok((status, body)) => (status, body, None),
        Err(e) => {
            let allow = match &e {
                ApiError::MethodNotAllowed { allowed, .. } => Some(allowed.join(", ")),
                _ => None,
            };
            // An error body is a single string: it always serializes.
            let body = serde_json::to_vec(&e.body()).unwrap_or_default();
            (e.status(), Some(body), allow)
        }
    };
    let has_body = body.is_some();
    let mut response = Response::from_data(body.unwrap_or_default())
        .with_status_code(status)
        .with_chunked_threshold(usize::MAX);
    if has_body {
        add_header(&mut response, "Content-Type", "application/json");
    }
    if let Some(allow) = allow {
        add_header(&mut response, "Allow", &allow);
    }
    if let Err(e) = rq.respond(response) {
        debug!("cannot send an API answer: {e}");
    }
}

fn add_header<R: Read>(response: &mut Response<R>, name: &str, value: &str) {
    if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        response.add_header(h);
    }
}
