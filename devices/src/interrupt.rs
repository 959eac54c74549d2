//! Interrupt delivery as devices see it.
//!
//! Devices never touch KVM: they raise interrupts through these traits, which
//! the VMM implements over irqfd and KVM GSI routing, and which tests
//! implement with recorders.

use std::io;
use std::sync::{Arc, Mutex};

/// An edge-triggered legacy interrupt line (an IOAPIC pin through irqfd).
pub trait InterruptLine: Send + Sync {
    /// Raises the line once.
    fn trigger(&self) -> io::Result<()>;
}

/// An MSI message as a device writes it: address and data (PCI 3.0 6.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsiMessage {
    /// Message address (64-bit).
    pub address: u64,
    /// Message data.
    pub data: u32,
}

/// The MSI or MSI-X vectors of one device.
///
/// Masking is the device's business (the MSI-X table and PBA live in the
/// device); a group only routes and delivers.
pub trait MsiGroup: Send + Sync {
    /// Number of vectors in the group.
    fn len(&self) -> usize;
    /// True if the group has no vectors.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sets the message vector `index` delivers. Out-of-range indexes fail.
    fn set_route(&self, index: usize, msg: MsiMessage) -> io::Result<()>;
    /// Delivers vector `index` once with its current route.
    fn trigger(&self, index: usize) -> io::Result<()>;
}

/// Hands out MSI vector groups to devices.
pub trait MsiAllocator: Send + Sync {
    /// A new group of `vectors` vectors.
    fn allocate(&self, vectors: usize) -> io::Result<Arc<dyn MsiGroup>>;
}

/// A test double that records routes and deliveries.
#[derive(Default)]
pub struct RecordingMsiGroup {
    state: Mutex<RecordingState>,
}

#[derive(Default)]
struct RecordingState {
    routes: Vec<MsiMessage>,
    fired: Vec<(usize, MsiMessage)>,
}

impl RecordingMsiGroup {
    /// A recorder with `vectors` vectors.
    pub fn new(vectors: usize) -> Self {
        Self {
            state: Mutex::new(RecordingState {
                routes: vec![MsiMessage::default(); vectors],
                fired: vec![],
            }),
        }
    }

    /// Every delivery so far: vector index and the message it carried.
    pub fn fired(&self) -> Vec<(usize, MsiMessage)> {
        self.lock().fired.clone()
    }

    /// Forgets the deliveries recorded so far.
    pub fn clear(&self) {
        self.lock().fired.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecordingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MsiGroup for RecordingMsiGroup {
    fn len(&self) -> usize {
        self.lock().routes.len()
    }

    fn set_route(&self, index: usize, msg: MsiMessage) -> io::Result<()> {
        let mut s = self.lock();
        let slot = s
            .routes
            .get_mut(index)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        *slot = msg;
        Ok(())
    }

    fn trigger(&self, index: usize) -> io::Result<()> {
        let mut s = self.lock();
        let msg = *s
            .routes
            .get(index)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        s.fired.push((index, msg));
        Ok(())
    }
}

/// A test double for a legacy line: counts triggers.
#[derive(Default)]
pub struct CountingLine {
    count: Mutex<u64>,
}

impl CountingLine {
    /// How many times the line was raised.
    pub fn count(&self) -> u64 {
        *self.count.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl InterruptLine for CountingLine {
    fn trigger(&self) -> io::Result<()> {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Ok(())
    }
}
