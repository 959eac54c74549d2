//! A CXL fixed memory window on the MMIO bus: every guest access that no
//! memslot covers (interleaved paths, unbacked or undecoded HPA) exits here
//! and is routed by the [`CxlMemoryPath`].

use std::sync::Arc;

use super::fabric::CxlMemoryPath;
use crate::bus::BusDevice;

/// The MMIO side of one CFMWS window.
pub struct CxlWindow {
    path: Arc<CxlMemoryPath>,
}

impl CxlWindow {
    /// A window device routing through `path`.
    pub fn new(path: Arc<CxlMemoryPath>) -> Self {
        Self { path }
    }
}

impl BusDevice for CxlWindow {
    fn read(&mut self, base: u64, offset: u64, data: &mut [u8]) {
        match base.checked_add(offset) {
            Some(hpa) => self.path.read(hpa, data),
            None => data.fill(0xff),
        }
    }

    fn write(&mut self, base: u64, offset: u64, data: &[u8]) {
        if let Some(hpa) = base.checked_add(offset) {
            self.path.write(hpa, data);
        }
    }
}
