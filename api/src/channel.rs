//! The hand-over between the API thread and the VMM's event loop: a queue
//! of requests, an eventfd that wakes the loop, and a one-shot reply
//! channel per request. The API side awaits the reply (the server runs on
//! a single-threaded runtime, which must never block on the VMM).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::{ApiError, ApiRequest, ApiResponse};

/// What the VMM answers.
pub type ApiResult = Result<ApiResponse, ApiError>;

type Message = (ApiRequest, Responder);

/// Where a queued request stands: the VMM takes it or the client gives up
/// on it, whichever comes first, so a request the client was told failed is
/// never applied.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// Creates a connected sender (API side) and receiver (VMM side).
pub fn channel() -> io::Result<(ApiSender, ApiReceiver)> {
    let eventfd = EventFd::new(EFD_NONBLOCK)?;
    let (tx, rx) = mpsc::channel();
    let sender = ApiSender {
        eventfd: eventfd.try_clone()?,
        tx,
    };
    Ok((sender, ApiReceiver { eventfd, rx }))
}

/// The VMM's end: register it (it is `AsRawFd`, readable when requests
/// wait) with the event loop, then on each wake-up call
/// [`ApiReceiver::try_recv`] until it returns `None`.
pub struct ApiReceiver {
    eventfd: EventFd,
    rx: Receiver<Message>,
}

impl ApiReceiver {
    /// The next waiting request and where to send its answer. Once this
    /// returns `None` the eventfd is no longer readable, until the next
    /// request. Requests their clients gave up on are skipped.
    pub fn try_recv(&self) -> Option<(ApiRequest, Responder)> {
        loop {
            let m = match self.rx.try_recv() {
                Ok(m) => m,
                Err(_) => {
                    // Clear the eventfd, then look again: a request queued
                    // after the first look either shows up now or signals
                    // the eventfd anew.
                    let _ = self.eventfd.read();
                    self.rx.try_recv().ok()?
                }
            };
            if m.1.take() {
                return Some(m);
            }
        }
    }
}

impl AsRawFd for ApiReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.eventfd.as_raw_fd()
    }
}

/// Takes the VMM's answer to one request.
#[derive(Debug)]
pub struct Responder {
    tx: oneshot::Sender<ApiResult>,
    state: Arc<AtomicU8>,
}

impl Responder {
    /// Claims the request for the VMM; false if its client gave up first.
    fn take(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Answers the request. Dropping a `Responder` unanswered fails the
    /// request with a 500.
    pub fn respond(self, result: ApiResult) {
        // The client may have given up; nothing to do then.
        let _ = self.tx.send(result);
    }
}

/// The API's end: queues requests and waits for their answers. Cheap to
/// share between threads (`&self` methods).
#[derive(Debug)]
pub struct ApiSender {
    eventfd: EventFd,
    tx: Sender<Message>,
}

impl ApiSender {
    /// Queues `request`, wakes the VMM and waits up to `timeout` for the
    /// VMM to take it. Fails with 503 when the VMM is gone or does not take
    /// it in time (the request is then withdrawn: it is never applied), 500
    /// when it drops the request or answers with the wrong kind of
    /// response. A request the VMM took is answered however long applying
    /// it lasts. Dropping the future before the VMM took the request
    /// withdraws it too (its client is gone).
    pub async fn call_async(&self, request: ApiRequest, timeout: Duration) -> ApiResult {
        let endpoint = request.endpoint();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let responder = Responder {
            tx: reply_tx,
            state: state.clone(),
        };
        let _withdraw = WithdrawOnDrop(state.clone());
        let gone = || ApiError::Unavailable("the VMM is not taking requests".into());
        self.tx.send((request, responder)).map_err(|_| gone())?;
        self.eventfd.write(1).map_err(|_| gone())?;
        let dropped = || ApiError::Internal("the VMM dropped the request".into());
        let result = match tokio::time::timeout(timeout, &mut reply_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => return Err(dropped()),
            Err(_elapsed) => {
                if withdraw(&state) {
                    return Err(ApiError::Unavailable(format!(
                        "the VMM did not take the request within {} s; it was not applied",
                        timeout.as_secs()
                    )));
                }
                // Taken: it is being applied; its answer will come.
                reply_rx.await.map_err(|_| dropped())?
            }
        };
        let response = result?;
        if !response.answers(endpoint) {
            return Err(ApiError::Internal(format!(
                "the VMM answered {endpoint:?} with the wrong kind of response"
            )));
        }
        Ok(response)
    }
}

/// QUEUED -> CANCELLED; false when the VMM took the request first.
fn withdraw(state: &AtomicU8) -> bool {
    state
        .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// Withdraws a request still queued when its caller goes away (the
/// connection was dropped), so that the VMM never applies it late. After
/// the VMM took it, this does nothing.
struct WithdrawOnDrop(Arc<AtomicU8>);

impl Drop for WithdrawOnDrop {
    fn drop(&mut self) {
        withdraw(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{VmInfo, VmState};

    const T: Duration = Duration::from_secs(5);

    fn readable(rx: &ApiReceiver) -> bool {
        let mut pfd = libc::pollfd {
            fd: rx.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    }

    fn info() -> ApiResponse {
        ApiResponse::VmInfo(VmInfo {
            state: VmState::Running,
            cpus: 1,
            memory: 1 << 30,
            version: "0".into(),
            devices: 0,
        })
    }

    impl ApiSender {
        /// [`ApiSender::call_async`] from a test thread, on a runtime of
        /// its own (the server only ever awaits it).
        fn call(&self, request: ApiRequest, timeout: Duration) -> ApiResult {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(self.call_async(request, timeout))
        }
    }

    /// Answers the next request with `answer` on another thread.
    fn vmm(rx: ApiReceiver, answer: Option<ApiResult>) -> std::thread::JoinHandle<ApiReceiver> {
        std::thread::spawn(move || loop {
            if let Some((_, responder)) = rx.try_recv() {
                if let Some(a) = answer {
                    responder.respond(a);
                }
                return rx;
            }
            std::thread::sleep(Duration::from_millis(1));
        })
    }

    #[test]
    fn wakes_and_answers() {
        let (tx, rx) = channel().unwrap();
        assert!(!readable(&rx));
        let rx = vmm(rx, Some(Ok(info())));
        assert_eq!(tx.call(ApiRequest::VmInfo, T), Ok(info()));
        let rx = rx.join().unwrap();
        assert!(rx.try_recv().is_none());
        assert!(!readable(&rx), "drained receiver must not stay readable");
    }

    #[test]
    fn failures() {
        let (tx, rx) = channel().unwrap();
        drop(rx);
        let e = tx.call(ApiRequest::VmInfo, T).unwrap_err();
        assert_eq!(e.status(), 503, "{e}");

        let (tx, rx) = channel().unwrap();
        let h = vmm(rx, Some(Ok(ApiResponse::Done)));
        assert_eq!(tx.call(ApiRequest::VmInfo, T).unwrap_err().status(), 500);
        let rx = h.join().unwrap();

        let h = vmm(rx, None);
        assert_eq!(tx.call(ApiRequest::VmInfo, T).unwrap_err().status(), 500);
        let rx = h.join().unwrap();

        let h = vmm(rx, Some(Err(ApiError::Conflict("busy".into()))));
        let e = tx.call(ApiRequest::VmInfo, T).unwrap_err();
        assert_eq!(e, ApiError::Conflict("busy".into()));
        let rx = h.join().unwrap();

        let e = tx
            .call(ApiRequest::VmInfo, Duration::from_millis(10))
            .unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.to_string().contains("not applied"), "{e}");
        assert!(
            rx.try_recv().is_none(),
            "a request its client gave up on never reaches the VMM"
        );
    }

    #[test]
    fn a_taken_request_is_answered_however_long_it_takes() {
        let (tx, rx) = channel().unwrap();
        let slow = std::thread::spawn(move || loop {
            if let Some((_, responder)) = rx.try_recv() {
                std::thread::sleep(Duration::from_millis(200));
                responder.respond(Ok(info()));
                return rx;
            }
            std::thread::sleep(Duration::from_millis(1));
        });
        assert_eq!(
            tx.call(ApiRequest::VmInfo, Duration::from_millis(50)),
            Ok(info())
        );
        slow.join().unwrap();
    }

    #[test]
    fn a_call_dropped_before_the_vmm_took_it_is_never_applied() {
        let (tx, rx) = channel().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let r = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(20),
                tx.call_async(ApiRequest::VmInfo, T),
            )
            .await
        });
        assert!(r.is_err(), "the call must still wait: {r:?}");
        assert!(
            rx.try_recv().is_none(),
            "a withdrawn request reached the VMM"
        );
    }
}
