//! Laying a Type 3 device's static memory out again after an immediate
//! partition change (the layout itself is `static_layout.rs`).

use super::{Type3, PERFORMANCE};
use crate::cxl::cdat::Cdat;
use crate::cxl::doe::DoeMailbox;
use crate::cxl::static_layout::{dpa_ranges, hdm_layout, volatile_share};

impl Type3 {
    /// Lays memory, HDM partitions and the CDAT out again if the device's
    /// partition layout changed since (Set Partition Info, Immediate).
    pub(super) fn sync_layout(&mut self) {
        let layout = *self.memdev.partition();
        if layout == self.laid_out {
            return;
        }
        self.laid_out = layout;
        let cfg = self.memdev.config();
        let share = volatile_share(cfg, &layout);
        self.static_memory = self.static_backends.memory(cfg, share);
        let (partitions, cdat_ranges) =
            dpa_ranges(&layout, self.memdev.dcd().regions(), PERFORMANCE);
        let hdm = hdm_layout(&self.memdev, partitions);
        if let Some(h) = self.component.hdm_mut() {
            h.set_dpa_layout(hdm);
        }
        match Cdat::for_memory_device(&cdat_ranges) {
            Ok(cdat) => self.doe = DoeMailbox::with_cdat(cdat, None),
            Err(e) => crate::warn_limited!("CXL type 3: CDAT after a partition change: {e:?}"),
        }
        crate::info_limited!(
            "CXL type 3: partitions now {:#x} bytes volatile, {:#x} persistent",
            layout.active_volatile_bytes(),
            layout.active_persistent_bytes()
        );
        self.path
            .set_endpoint_memory(self.endpoint, self.memory_ranges());
    }
}
