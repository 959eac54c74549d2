//! The VMM's main loop: waits on the exit eventfd and the console input,
//! the CXL background-operation timer, and (with the API) on operator
//! requests.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use devices::cxl::type3::Type3;
use devices::legacy::Serial;
use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use log::warn;
use vmm_sys_util::epoll::EventSet;

use crate::api_handler::ApiContext;
use crate::cxl_background::CxlBackgroundTimer;
use crate::device_manager::DeviceManager;
use crate::exit::{ExitReason, ExitState};

/// Wakes the loop when the VM must stop. A wake-up with no exit recorded
/// came from SIGINT/SIGTERM: that is an operator shutdown.
struct ExitWatcher {
    exit: Arc<ExitState>,
}

impl MutEventSubscriber for ExitWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.exit.eventfd().read();
        if !self.exit.stopping() {
            self.exit.request(ExitReason::Shutdown);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(self.exit.eventfd(), EventSet::IN)) {
            warn!("cannot watch the exit eventfd: {e:?}");
        }
    }
}

/// Feeds standard input to the serial console.
struct ConsoleInput {
    serial: Arc<Mutex<Serial>>,
    stdin: std::io::Stdin,
}

impl MutEventSubscriber for ConsoleInput {
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let mut buf = [0u8; 64];
        let n = if events.event_set().contains(EventSet::IN) {
            self.stdin.lock().read(&mut buf).unwrap_or(0)
        } else {
            0
        };
        if n == 0 {
            // EOF or hang-up: stop watching.
            let _ = ops.remove(events);
            return;
        }
        let mut s = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        let cap = s.fifo_capacity();
        let _ = s.enqueue_input(&buf[..n.min(cap)]);
    }

    fn init(&mut self, ops: &mut EventOps) {
        // epoll refuses regular files and /dev/null: then there is no input.
        let _ = ops.add(Events::new(&self.stdin, EventSet::IN));
    }
}

/// Answers operator requests from the API thread.
struct ApiWatcher {
    rx: api::ApiReceiver,
    ctx: ApiContext,
}

impl MutEventSubscriber for ApiWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        while let Some((req, responder)) = self.rx.try_recv() {
            log::info!("API: {req:?}");
            responder.respond(self.ctx.handle(req));
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.rx, EventSet::IN)) {
            warn!("cannot watch API requests: {e:?}");
        }
    }
}

/// Completes CXL background operations at their deadline (see
/// [`CxlBackgroundTimer`]).
struct CxlBackgroundWatcher {
    timer: Arc<CxlBackgroundTimer>,
    devices: Vec<Arc<Mutex<Type3>>>,
}

impl MutEventSubscriber for CxlBackgroundWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        self.timer.fired(&self.devices);
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new_raw(self.timer.raw_fd(), EventSet::IN)) {
            warn!("cannot watch the CXL background timer: {e:?}");
        }
    }
}

/// The exit eventfd's descriptor, for the signal handler.
static EXIT_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_terminate(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = EXIT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: write(2) is async-signal-safe; the buffer is a local.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

/// Terminal settings to restore on exit.
struct RawTerminal(Option<libc::termios>);

impl RawTerminal {
    /// Turns off line buffering and echo on a terminal stdin (signals stay).
    fn enter() -> Self {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: isatty/tcgetattr/tcsetattr on our stdin with a local struct.
        unsafe {
            if libc::isatty(fd) != 1 {
                return Self(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Self(None);
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            Self(Some(saved))
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring saved settings on our stdin.
            unsafe { libc::tcsetattr(std::io::stdin().as_raw_fd(), libc::TCSANOW, &t) };
        }
    }
}

/// Runs until an exit is requested, answering API requests from `api` if
/// given. `ready` runs once everything is set up, right before the loop (the
/// VMM thread's seccomp filter goes on there); its failure ends the loop.
pub fn run(
    exit: &Arc<ExitState>,
    devices: &DeviceManager,
    api: Option<(api::ApiReceiver, ApiContext)>,
    ready: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    EXIT_FD.store(exit.eventfd().as_raw_fd(), Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        vmm_sys_util::signal::register_signal_handler(sig, on_terminate)
            .map_err(std::io::Error::from)?;
    }
    let _term = RawTerminal::enter();
    let mut em = EventManager::<Box<dyn MutEventSubscriber>>::new()
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    em.add_subscriber(Box::new(ExitWatcher { exit: exit.clone() }));
    em.add_subscriber(Box::new(ConsoleInput {
        serial: devices.serial.clone(),
        stdin: std::io::stdin(),
    }));
    if let Some(timer) = &devices.cxl.background_timer {
        em.add_subscriber(Box::new(CxlBackgroundWatcher {
            timer: timer.clone(),
            devices: devices.cxl.type3.iter().map(|h| h.device.clone()).collect(),
        }));
    }
    if let Some((rx, ctx)) = api {
        em.add_subscriber(Box::new(ApiWatcher { rx, ctx }));
    }
    ready()?;
    while !exit.stopping() {
        em.run()
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    }
    Ok(())
}
