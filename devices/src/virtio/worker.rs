//! The device thread: one per virtio device, named after it. It waits
//! (epoll) on the queues' notification eventfds, on a control eventfd and on
//! the model's own event sources (a tap), serves the queues with the device
//! model, and raises MSI-X vectors.
//!
//! The transport talks to it with [`Command`]s: [`Command::Activate`] when
//! the driver sets DRIVER_OK, [`Command::Reset`] when it writes 0 to the
//! status (the thread drops the queues and then clears
//! [`DeviceShared::resetting`], so the status reads 0 only once no request
//! is in flight, 4.1.4.3.2), [`Command::Stop`] at exit.
//!
//! A device with a [`QueueBackend`] (vhost-user) is served differently: the
//! thread never waits on the notification eventfds (the backend reads
//! them); at DRIVER_OK it hands the queues to the backend, it waits on the
//! backend's per-queue "call" eventfds and raises the queue's MSI-X vector
//! for each, and it watches the backend's socket: a backend that goes away
//! sets DEVICE_NEEDS_RESET and nothing else happens to the VM.
//!
//! Syscalls made on this thread: epoll_wait, read (eventfds), write (the
//! MSI-X irqfds), futex (locks), and those of the device model (for
//! virtio-blk: pread64, pwrite64, fdatasync, fallocate; for virtio-net:
//! read and write on the tap; for vhost-user: sendmsg and recvmsg on the
//! backend's socket).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::device::{QueueLayout, QueueOutcome, VirtioDevice};
use super::ids::VIRTIO_MSI_NO_VECTOR;
use super::queue::needs_interrupt;
use super::status::STATUS_NEEDS_RESET;
use crate::pci::PciFunction;

/// ISR status bit 0: a queue was used (4.1.4.5).
pub const ISR_QUEUE: u8 = 1 << 0;
/// ISR status bit 1: the configuration changed (4.1.4.5).
pub const ISR_CONFIG: u8 = 1 << 1;

const WAKE_TOKEN: u64 = u64::MAX;
/// Tokens of the model's event sources: this plus the model's token (queue
/// notifications use the queue index, below 2^32).
const SOURCE_TOKEN_BASE: u64 = 1 << 32;
/// The backend's socket (vhost-user): readable or hung up means gone.
const WATCH_TOKEN: u64 = u64::MAX - 1;
/// A backend's call eventfd for queue N has token CALL_TOKEN + N (above
/// every event source's token).
const CALL_TOKEN: u64 = 1 << 33;

/// State the transport (vCPU threads) and the device thread share.
pub struct DeviceShared {
    /// The PCI function, for MSI-X delivery.
    pub function: Mutex<PciFunction>,
    /// ISR status (4.1.4.5), cleared when read.
    pub isr: AtomicU8,
    /// The device gave up on the driver's queues (DEVICE_NEEDS_RESET).
    pub needs_reset: AtomicBool,
    /// A reset was asked for and the thread has not finished it.
    pub resetting: AtomicBool,
}

impl DeviceShared {
    /// Shared state around `function`.
    pub fn new(function: PciFunction) -> Self {
        Self {
            function: Mutex::new(function),
            isr: AtomicU8::new(0),
            needs_reset: AtomicBool::new(false),
            resetting: AtomicBool::new(false),
        }
    }

    /// Locks the PCI function.
    pub fn function(&self) -> std::sync::MutexGuard<'_, PciFunction> {
        self.function.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals `vector` with `isr` bits set (4.1.5.2 / 4.1.5.3).
    pub fn interrupt(&self, isr: u8, vector: u16) {
        self.isr.fetch_or(isr, Ordering::SeqCst);
        if vector != VIRTIO_MSI_NO_VECTOR {
            self.function().trigger_msix(vector);
        }
    }

    /// Sets DEVICE_NEEDS_RESET and sends a configuration change (2.1.2).
    pub fn fail(&self, why: &str, config_vector: u16) {
        crate::warn_limited!("virtio: device needs reset: {why}");
        self.needs_reset.store(true, Ordering::SeqCst);
        self.interrupt(ISR_CONFIG, config_vector);
    }

    /// The status bits the device adds to what the driver wrote.
    pub fn device_status_bits(&self) -> u8 {
        if self.needs_reset.load(Ordering::SeqCst) {
            STATUS_NEEDS_RESET
        } else {
            0
        }
    }
}

/// One live queue.
pub struct ActiveQueue {
    /// Queue index.
    pub index: usize,
    /// The queue.
    pub queue: Queue,
    /// Its MSI-X vector.
    pub vector: u16,
}

/// Work the VMM runs on a device thread before anything else there (it
/// installs the thread's seccomp filter); an error ends the thread.
pub type ThreadSetup = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// What the transport tells the thread.
pub enum Command {
    /// Run this on the thread first (sent before the vCPUs start).
    Setup(ThreadSetup),
    /// DRIVER_OK: serve these queues with these features.
    Activate {
        /// The enabled queues.
        queues: Vec<ActiveQueue>,
        /// Negotiated features.
        features: u64,
        /// config_msix_vector.
        config_vector: u16,
    },
    /// The driver reset the device.
    Reset,
    /// The VMM is going away.
    Stop,
}

/// The transport's end of a device thread.
pub struct WorkerHandle {
    tx: Sender<Command>,
    wake: EventFd,
    thread: Option<JoinHandle<()>>,
    /// Fails an exchange with a queue backend still waiting (at exit).
    unblock: Option<Box<dyn Fn() + Send + Sync>>,
    /// Set before the connection is cut at exit, so the thread does not
    /// take its own hang-up for the backend's.
    stopping: Arc<AtomicBool>,
}

impl WorkerHandle {
    /// Sends `cmd` and wakes the thread.
    pub fn send(&self, cmd: Command) {
        if self.tx.send(cmd).is_err() {
            log::warn!("virtio: device thread is gone");
            return;
        }
        if let Err(e) = self.wake.write(1) {
            log::warn!("virtio: waking the device thread: {e}");
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.send(Command::Stop);
        // A thread waiting on a backend that never answers would never see
        // the Stop: cut the connection so the wait ends.
        if let Some(unblock) = &self.unblock {
            unblock();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryMmap,
    shared: Arc<DeviceShared>,
    notify: Vec<EventFd>,
    rx: Receiver<Command>,
    wake: EventFd,
    queues: Vec<ActiveQueue>,
    config_vector: u16,
    broken: bool,
    /// The device has a queue backend (its queues are served elsewhere).
    external: bool,
    /// The VMM is stopping the thread (see [`WorkerHandle`]).
    stopping: Arc<AtomicBool>,
}

/// Starts the thread for `device`; `notify` are (clones of) the queues'
/// notification eventfds, by queue index.
pub fn spawn(
    name: String,
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryMmap,
    shared: Arc<DeviceShared>,
    notify: Vec<EventFd>,
) -> std::io::Result<WorkerHandle> {
    let (tx, rx) = channel();
    let wake = EventFd::new(EFD_NONBLOCK)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let mut worker = Worker {
        device,
        mem,
        shared,
        notify,
        rx,
        wake: wake.try_clone()?,
        queues: Vec::new(),
        config_vector: VIRTIO_MSI_NO_VECTOR,
        broken: false,
        external: false,
        stopping: stopping.clone(),
    };
    let epoll = Epoll::new()?;
    epoll.ctl(
        ControlOperation::Add,
        worker.wake.as_raw_fd(),
        EpollEvent::new(EventSet::IN, WAKE_TOKEN),
    )?;
    let mut unblock = None;
    if let Some(backend) = worker.device.queue_backend() {
        // The backend reads the notifications; the thread waits on the
        // backend's signals and on its socket (once: after that the backend
        // is gone for good).
        for (i, fd) in backend.call_events().iter().enumerate() {
            epoll.ctl(
                ControlOperation::Add,
                fd.as_raw_fd(),
                EpollEvent::new(EventSet::IN, CALL_TOKEN + i as u64),
            )?;
        }
        if let Some(fd) = backend.watch_fd() {
            let events =
                EventSet::IN | EventSet::READ_HANG_UP | EventSet::HANG_UP | EventSet::ONE_SHOT;
            epoll.ctl(
                ControlOperation::Add,
                fd,
                EpollEvent::new(events, WATCH_TOKEN),
            )?;
        }
        unblock = backend.unblocker();
        worker.external = true;
    } else {
        for (i, fd) in worker.notify.iter().enumerate() {
            epoll.ctl(
                ControlOperation::Add,
                fd.as_raw_fd(),
                EpollEvent::new(EventSet::IN, i as u64),
            )?;
        }
    }
    let sources = worker.device.event_sources();
    for s in &sources {
        epoll.ctl(
            ControlOperation::Add,
            s.fd,
            EpollEvent::new(s.events, SOURCE_TOKEN_BASE + u64::from(s.token)),
        )?;
    }
    let slots = 2 * worker.notify.len() + sources.len() + 2;
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || worker.run(epoll, slots))?;
    Ok(WorkerHandle {
        tx,
        wake,
        thread: Some(thread),
        unblock,
        stopping,
    })
}

impl Worker {
    fn run(mut self, epoll: Epoll, slots: usize) {
        let mut events = vec![EpollEvent::default(); slots];
        loop {
            let n = match epoll.wait(-1, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::error!("virtio: device thread epoll: {e}");
                    return;
                }
            };
            for ev in events.iter().take(n) {
                let token = ev.data();
                if token == WAKE_TOKEN {
                    let _ = self.wake.read();
                    if !self.commands() {
                        return;
                    }
                } else if token == WATCH_TOKEN {
                    self.backend_lost();
                } else if token >= CALL_TOKEN {
                    self.relay_call((token - CALL_TOKEN) as usize);
                } else if token >= SOURCE_TOKEN_BASE {
                    let Ok(source) = u32::try_from(token - SOURCE_TOKEN_BASE) else {
                        continue;
                    };
                    let set = ev.event_set();
                    for index in self.device.process_event(source, set) {
                        self.serve(index);
                    }
                } else if let Some(fd) = self.notify.get(token as usize) {
                    let _ = fd.read();
                    self.serve(token as usize);
                }
            }
        }
    }

    /// Applies queued commands; false when the thread must end.
    fn commands(&mut self) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Command::Setup(setup)) => {
                    if let Err(e) = setup() {
                        log::error!("virtio: {}: thread set-up failed: {e}", self.device.name());
                        return false;
                    }
                }
                Ok(Command::Activate {
                    queues,
                    features,
                    config_vector,
                }) => {
                    self.queues = queues;
                    self.config_vector = config_vector;
                    self.broken = false;
                    self.device.activate(features);
                    if self.external {
                        self.start_backend(features);
                        continue;
                    }
                    // Buffers made available before DRIVER_OK are served now.
                    let indexes: Vec<usize> = self.queues.iter().map(|q| q.index).collect();
                    for i in indexes {
                        self.serve(i);
                    }
                }
                Ok(Command::Reset) => {
                    if let Some(backend) = self.device.queue_backend() {
                        backend.stop();
                    }
                    self.queues.clear();
                    self.broken = false;
                    self.device.reset();
                    self.shared.needs_reset.store(false, Ordering::SeqCst);
                    self.shared.isr.store(0, Ordering::SeqCst);
                    self.shared.resetting.store(false, Ordering::SeqCst);
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    /// DRIVER_OK on a device with a queue backend: hand the queues over.
    fn start_backend(&mut self, features: u64) {
        let layouts: Vec<QueueLayout> = self
            .queues
            .iter()
            .map(|q| QueueLayout {
                index: q.index,
                size: q.queue.size(),
                max_size: q.queue.max_size(),
                desc: q.queue.desc_table(),
                avail: q.queue.avail_ring(),
                used: q.queue.used_ring(),
            })
            .collect();
        let Some(backend) = self.device.queue_backend() else {
            return;
        };
        if let Err(why) = backend.start(features, &layouts, &self.notify, &self.mem) {
            self.broken = true;
            self.shared.fail(&why, self.config_vector);
        }
    }

    /// The backend signalled queue `index`: it used buffers.
    fn relay_call(&mut self, index: usize) {
        let Some(backend) = self.device.queue_backend() else {
            return;
        };
        if let Some(fd) = backend.call_events().get(index) {
            let _ = fd.read();
        }
        if self.broken {
            return;
        }
        if let Some(q) = self.queues.iter().find(|q| q.index == index) {
            self.shared.interrupt(ISR_QUEUE, q.vector);
        }
    }

    /// The backend's socket hung up (or spoke unasked): it is gone.
    fn backend_lost(&mut self) {
        if self.stopping.load(Ordering::SeqCst) {
            // The VMM cut the connection itself on its way out.
            return;
        }
        let Some(backend) = self.device.queue_backend() else {
            return;
        };
        let why = backend.lost();
        if self.queues.is_empty() {
            log::warn!("virtio: {}: {why}", self.device.name());
        } else if !self.broken {
            self.broken = true;
            self.shared.fail(&why, self.config_vector);
        }
    }

    /// Serves queue `index` until the driver adds nothing more (with
    /// EVENT_IDX, re-checking after re-enabling notifications).
    fn serve(&mut self, index: usize) {
        if self.broken {
            return;
        }
        let Some(aq) = self.queues.iter_mut().find(|q| q.index == index) else {
            return;
        };
        // Used entries since the last interrupt decision (EVENT_IDX compares
        // the driver's used_event against this range, 2.7.10).
        let old_used = aq.queue.next_used();
        let mut any = false;
        let result = loop {
            if let Err(e) = aq.queue.disable_notification(&self.mem) {
                break Err(format!("queue {index}: {e}"));
            }
            match self.device.process_queue(index, &mut aq.queue, &self.mem) {
                QueueOutcome::Done { used } => any |= used,
                QueueOutcome::NeedsReset(why) => break Err(format!("queue {index}: {why}")),
            }
            match aq.queue.enable_notification(&self.mem) {
                Ok(true) => continue,
                Ok(false) => break Ok(()),
                Err(e) => break Err(format!("queue {index}: {e}")),
            }
        };
        if let Err(why) = result {
            self.broken = true;
            self.shared.fail(&why, self.config_vector);
            return;
        }
        if any {
            match needs_interrupt(&aq.queue, &self.mem, old_used) {
                Ok(true) => self.shared.interrupt(ISR_QUEUE, aq.vector),
                Ok(false) => {}
                Err(e) => {
                    self.broken = true;
                    self.shared
                        .fail(&format!("queue {index}: {e}"), self.config_vector);
                }
            }
        }
    }
}
