//! The CXL Type 3 memory device (CXL 3.1 8.1, 8.2): a PCIe endpoint with
//! class code 05/02/10 that Linux's `cxl_pci` binds to.
//!
//! Configuration space: PCI Express, Power Management and MSI-X
//! capabilities; Device Serial Number; the PCIe DVSEC for CXL Devices
//! (ranges, Mem_Enable), Register Locator, GPF and Flex Bus DVSECs; a DOE
//! mailbox serving CDAT.
//!
//! BAR 0 (128 KiB): component registers (RAS, endpoint HDM decoders) at 0,
//! device registers (capability array, device status, mailbox, memory device
//! status) at 64 KiB. BAR 2 (4 KiB): the MSI-X table and PBA.
//!
//! Decoder commits and Mem_Enable changes are reported to the
//! [`CxlMemoryPath`], which installs or removes memslots; mailbox doorbells
//! and event records raise the MSI-X vectors the device registers name.

use std::ops::Range;
use std::sync::Arc;

use super::background_timer::BackgroundTimer;
use super::cdat::{Cdat, Performance};
use super::component::hdm::{HdmConfig, HdmEvent};
use super::component::RasSignal;
use super::component::{ComponentRegisters, COMPONENT_BLOCK_SIZE};
use super::dcd::faults::DcFaultRequest;
use super::dcd::{
    AddOutcome, AddRequest, DcExtent, DcdEffect, DcdError, ReleaseOutcome, ReleaseRequest,
};
use super::device_regs::layout::DEVICE_REGS_SIZE;
use super::device_regs::{DeviceRegisters, MsiVectors};
use super::doe::{DoeMailbox, DOE_CAP_SIZE};
use super::dvsec::{
    cxl_device_dvsec, device_gpf_dvsec, flex_bus_port_dvsec, register_locator_dvsec,
    CxlDeviceDvsec, DvsecRange, FlexBusRole, GpfTime, RegisterBlockEntry, RegisterBlockId,
    DEV_CONTROL, DEV_CTRL_MEM_ENABLE,
};
use super::fabric::{CxlMemoryPath, EndpointId, MemoryRange};
use super::inject::{self, InjectError, Injection};
use super::memdev::faults::{FaultError, FaultRequest};
use super::memdev::partition::PartitionLayout;
use super::memdev::{Effects, FaultSelector, MediaWrite, Memdev, MemdevConfig};
use super::pci_caps::{add_doe, add_dsn, add_dvsec_body};
use super::static_layout::{self as layout, StaticBackends};
use crate::interrupt::MsiGroup;
use crate::memory::HostMemory;
use crate::pci::aer::{Aer, ErrorMessage, InternalError};
use crate::pci::caps::{power_management, CAP_ID_PCI_EXPRESS, CAP_ID_POWER_MANAGEMENT};
use crate::pci::ids::{CLASS_CXL_MEMORY, DEVICE_ID_CXL_TYPE3, VENDOR_ID_REDHAT};
use crate::pci::pcie_cap::pcie_capability;
use crate::pci::{
    BarInfo, BarLocation, ConfigError, ConfigSpace, HeaderType, MsixConfig, PciBar, PciDevice,
    PciFunction, PciIds, PcieCapConfig,
};

/// BAR holding the component and device registers.
pub const REGS_BAR: u8 = 0;
/// Size of [`REGS_BAR`].
pub const REGS_BAR_SIZE: u64 = 2 * COMPONENT_BLOCK_SIZE;
/// Offset of the device registers in [`REGS_BAR`].
pub const DEVICE_REGS_OFFSET: u64 = COMPONENT_BLOCK_SIZE;
/// BAR holding the MSI-X table and PBA.
pub const MSIX_BAR: u8 = 2;
/// Size of [`MSIX_BAR`].
pub const MSIX_BAR_SIZE: u64 = 0x1000;
/// Offset of the MSI-X PBA in [`MSIX_BAR`].
const MSIX_PBA_OFFSET: u32 = 0x800;
/// MSI-X vectors (Linux's `cxl_pci` asks for up to 16).
pub const MSIX_VECTORS: u16 = 16;
/// Endpoint HDM decoders.
pub const HDM_DECODERS: usize = 4;

/// Device-side performance reported in the CDAT (DRAM-like, CXL-attached).
pub const PERFORMANCE: Performance = Performance {
    read_latency_ps: 150_000,
    write_latency_ps: 150_000,
    read_bandwidth_mbps: 16_000,
    write_bandwidth_mbps: 16_000,
};

/// How to build a Type 3 device.
pub struct Type3Config {
    /// Identity, capacities, LSA, firmware revision, event log depths.
    pub memdev: MemdevConfig,
    /// Host memory behind the volatile partition (DPA 0).
    pub volatile: Option<Arc<HostMemory>>,
    /// Host memory behind the persistent partition (after the volatile one).
    pub persistent: Option<Arc<HostMemory>>,
    /// Host memory behind the partitionable capacity (its volatile share
    /// follows the volatile-only capacity, the rest the persistent-only).
    pub partitionable: Option<Arc<HostMemory>>,
    /// Host memory behind the whole Dynamic Capacity DPA range (from the
    /// first DC region's base), for extents offered without a tagged
    /// backend. Requires `memdev.dc.static_backing`.
    pub dc_backing: Option<Arc<HostMemory>>,
}

/// Errors building a device.
#[derive(Debug, thiserror::Error)]
pub enum Type3Error {
    /// The memory device configuration is invalid.
    #[error("{0}")]
    Memdev(String),
    /// A backend does not match its partition.
    #[error("{0}")]
    Backend(String),
    /// Building configuration space failed.
    #[error("configuration space: {0:?}")]
    Config(ConfigError),
    /// Building a CXL structure failed.
    #[error("{0}")]
    Structure(String),
}

impl From<ConfigError> for Type3Error {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

/// A CXL Type 3 memory device.
pub struct Type3 {
    function: PciFunction,
    /// The device's state: the operator's requests and the register
    /// block's doorbells (lent it for each access) act on it.
    memdev: Memdev,
    regs: DeviceRegisters,
    component: ComponentRegisters,
    doe: DoeMailbox,
    doe_offset: u16,
    dvsec_offset: u16,
    aer: Aer,
    path: Arc<CxlMemoryPath>,
    endpoint: EndpointId,
    mem_enable: bool,
    /// Static partitions' memory.
    static_memory: Vec<MemoryRange>,
    /// Static DC backing memory and the DPA it starts at.
    dc_backing: Option<(Arc<HostMemory>, u64)>,
    /// The VMM's timer completing background operations on time.
    background_timer: Option<Arc<dyn BackgroundTimer>>,
    /// The backends of the static capacity.
    static_backends: StaticBackends,
    /// The partition layout `static_memory` follows.
    laid_out: PartitionLayout,
}

fn pci_ids(cfg: &MemdevConfig) -> PciIds {
    let or = |v: u16, default: u16| if v == 0 { default } else { v };
    PciIds {
        vendor_id: VENDOR_ID_REDHAT,
        device_id: DEVICE_ID_CXL_TYPE3,
        revision_id: 1,
        class_code: CLASS_CXL_MEMORY,
        subsystem_vendor_id: or(cfg.subsys_vendor_id, VENDOR_ID_REDHAT),
        subsystem_id: or(cfg.subsys_id, DEVICE_ID_CXL_TYPE3),
    }
}

impl Type3 {
    /// Builds the device as `endpoint` of `path`, with MSI-X through `msi`.
    pub fn new(
        cfg: Type3Config,
        msi: Arc<dyn MsiGroup>,
        path: Arc<CxlMemoryPath>,
        endpoint: EndpointId,
    ) -> Result<Self, Type3Error> {
        let mut memdev_cfg = cfg.memdev.clone();
        let ids = pci_ids(&memdev_cfg);
        memdev_cfg.vendor_id = ids.vendor_id;
        memdev_cfg.device_id = ids.device_id;
        memdev_cfg.subsys_vendor_id = ids.subsystem_vendor_id;
        memdev_cfg.subsys_id = ids.subsystem_id;
        let static_backends = StaticBackends {
            volatile: cfg.volatile.clone(),
            persistent: cfg.persistent.clone(),
            partitionable: cfg.partitionable.clone(),
        };
        static_backends
            .check(&memdev_cfg)
            .map_err(Type3Error::Backend)?;
        if cfg.dc_backing.is_some() != memdev_cfg.dc.static_backing {
            return Err(Type3Error::Backend(
                "DC backing memory and the static_backing setting disagree".into(),
            ));
        }
        let memdev =
            Memdev::new(memdev_cfg.clone()).map_err(|e| Type3Error::Memdev(e.to_string()))?;
        let dc_regions = memdev.dcd().regions().to_vec();
        let dc_backing = match (&cfg.dc_backing, dc_regions.first(), dc_regions.last()) {
            (Some(b), Some(first), Some(last)) => {
                let need = last.end() - first.base;
                if b.size() < need {
                    return Err(Type3Error::Backend(format!(
                        "DC backend '{}' has {:#x} bytes, the DC regions need {need:#x}",
                        b.id(),
                        b.size()
                    )));
                }
                Some((b.clone(), first.base))
            }
            (Some(_), _, _) => {
                return Err(Type3Error::Backend(
                    "a DC backend was given but the device has no DC regions".into(),
                ))
            }
            (None, _, _) => None,
        };

        let laid_out = *memdev.partition();
        let memory =
            static_backends.memory(&memdev_cfg, layout::volatile_share(&memdev_cfg, &laid_out));
        let (partitions, cdat_ranges) = layout::dpa_ranges(&laid_out, &dc_regions, PERFORMANCE);
        let capacity = memdev.capacity_bytes();
        let component = ComponentRegisters::with_decoders(HdmConfig::endpoint(
            HDM_DECODERS,
            layout::hdm_layout(&memdev, partitions),
        ))
        .map_err(|e| Type3Error::Structure(format!("HDM decoders: {e:?}")))?;
        let cdat = Cdat::for_memory_device(&cdat_ranges)
            .map_err(|e| Type3Error::Structure(format!("CDAT: {e:?}")))?;

        let mut config = ConfigSpace::new(HeaderType::Endpoint, &ids);
        config.add_bar(REGS_BAR, PciBar::memory64(REGS_BAR_SIZE, false))?;
        config.add_bar(MSIX_BAR, PciBar::memory32(MSIX_BAR_SIZE))?;
        let pcie_cap = config.add_capability(
            CAP_ID_PCI_EXPRESS,
            &pcie_capability(&PcieCapConfig::endpoint()),
        )?;
        config.add_capability(CAP_ID_POWER_MANAGEMENT, &power_management())?;
        add_dsn(&mut config, memdev_cfg.serial)?;
        // HDM_Count 1: range 1 covers the static capacity (0 for DC-only).
        let dvsec = cxl_device_dvsec(&CxlDeviceDvsec {
            ranges: vec![DvsecRange::cdat_described(capacity)],
            mem_hwinit_mode: false,
            viral_capable: false,
        })
        .map_err(|e| Type3Error::Structure(format!("device DVSEC: {e:?}")))?;
        let dvsec_offset = add_dvsec_body(&mut config, &dvsec)?;
        let locator = register_locator_dvsec(&[
            RegisterBlockEntry {
                bar: REGS_BAR,
                id: RegisterBlockId::Component,
                offset: 0,
            },
            RegisterBlockEntry {
                bar: REGS_BAR,
                id: RegisterBlockId::MemoryDevice,
                offset: DEVICE_REGS_OFFSET,
            },
        ])
        .map_err(|e| Type3Error::Structure(format!("register locator: {e:?}")))?;
        add_dvsec_body(&mut config, &locator)?;
        let gpf = device_gpf_dvsec(GpfTime { base: 2, scale: 3 }, 0)
            .map_err(|e| Type3Error::Structure(format!("GPF DVSEC: {e:?}")))?;
        add_dvsec_body(&mut config, &gpf)?;
        add_dvsec_body(
            &mut config,
            &flex_bus_port_dvsec(FlexBusRole::UpstreamPortOrDevice, false),
        )?;
        let doe_offset = add_doe(&mut config)?;
        let aer = Aer::add(&mut config, pcie_cap, false)?;

        let mut function = PciFunction::new(config);
        function.add_msix(MsixConfig::new(
            MSIX_VECTORS,
            BarLocation {
                bar: MSIX_BAR,
                offset: 0,
            },
            BarLocation {
                bar: MSIX_BAR,
                offset: MSIX_PBA_OFFSET,
            },
            msi,
        )?)?;

        path.set_endpoint_memory(endpoint, memory.clone());
        Ok(Self {
            function,
            regs: DeviceRegisters::new(&memdev),
            memdev,
            component,
            doe: DoeMailbox::with_cdat(cdat, None),
            doe_offset,
            dvsec_offset,
            aer,
            path,
            endpoint,
            mem_enable: false,
            static_memory: memory,
            dc_backing,
            background_timer: None,
            static_backends,
            laid_out,
        })
    }

    /// The memory device state (for the operator API and tests).
    pub fn memdev(&self) -> &Memdev {
        &self.memdev
    }

    /// Which endpoint of the memory path this is.
    pub fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// Signals MSI/MSI-X message numbers (a vector beyond the table is
    /// dropped with a log line, never a panic).
    pub fn signal(&mut self, vectors: MsiVectors) {
        for n in vectors.iter() {
            crate::trace::emit(
                crate::trace::Kind::Interrupt,
                Some(&self.memdev.config().name),
                || crate::trace::json!({ "type": "msi-x", "vector": n }),
            );
            if u16::from(n) < MSIX_VECTORS {
                self.function.trigger_msix(u16::from(n));
            } else {
                crate::warn_limited!("CXL type 3: message number {n} beyond the MSI-X table");
            }
        }
    }

    /// Offers Dynamic Capacity to the guest (operator request).
    pub fn dc_add(&mut self, req: AddRequest) -> Result<AddOutcome, DcdError> {
        let out = self.memdev.dcd_add_capacity(req)?;
        self.signal_event(out.msi);
        Ok(out)
    }

    /// Asks for (or, forced, takes back) Dynamic Capacity (operator request).
    pub fn dc_release(&mut self, req: ReleaseRequest) -> Result<ReleaseOutcome, DcdError> {
        let out = self.memdev.dcd_release_capacity(req)?;
        self.signal_event(out.msi);
        self.apply_dcd_effects(&out.effects);
        Ok(out)
    }

    /// Carries out an operator's injection on the device `id` (its name
    /// for the trace): the state changes, the event interrupt the guest
    /// chose, and for a RAS error the AER Internal Error it causes. Returns
    /// the error message the device sends its root port, if any (the caller
    /// delivers it: the port is another device). On error nothing changed.
    pub fn inject(
        &mut self,
        id: &str,
        inj: &Injection,
    ) -> Result<Option<ErrorMessage>, InjectError> {
        let out = inject::apply(&mut self.memdev, self.component.ras_mut(), inj)?;
        self.signal_event(out.msi);
        let internal = match out.ras {
            RasSignal::None => None,
            RasSignal::Correctable => Some(InternalError::Corrected),
            RasSignal::UncorrectableNonFatal | RasSignal::UncorrectableFatal => {
                Some(InternalError::Uncorrectable)
            }
        };
        let message = internal.and_then(|e| {
            self.aer
                .log_internal(self.function.config_mut(), e, &[0; 4])
        });
        crate::trace::emit(crate::trace::Kind::Inject, Some(id), || {
            crate::trace::json!({
                "what": inj.name(),
                "result": out.detail,
                "event-msi": out.msi,
                "aer-message": message.map(ErrorMessage::name),
            })
        });
        Ok(message)
    }

    /// Arms a mailbox fault on the device; returns the fault's id.
    pub fn fault_add(&mut self, req: FaultRequest) -> Result<u32, FaultError> {
        self.memdev.fault_add(req)
    }

    /// Posts a Dynamic Capacity fault's records on the device, with the
    /// event interrupt the guest chose; returns the fault's id.
    pub fn dc_fault_add(&mut self, req: DcFaultRequest) -> Result<u32, FaultError> {
        let (fault, msi) = self.memdev.dc_fault_add(req)?;
        self.signal_event(msi);
        Ok(fault)
    }

    /// Clears faults; returns their ids.
    pub fn fault_clear(&mut self, which: FaultSelector) -> Result<Vec<u32>, FaultError> {
        self.memdev.fault_clear(which)
    }

    /// The memory path this device reports to.
    pub fn path(&self) -> &Arc<CxlMemoryPath> {
        &self.path
    }

    fn signal_event(&mut self, msi: Option<u8>) {
        if let Some(n) = msi {
            let mut v = MsiVectors::none();
            v.insert(n);
            self.signal(v);
        }
    }

    /// The host memory behind a held extent, if any.
    fn extent_memory(&self, e: &DcExtent) -> Option<MemoryRange> {
        let (backend, offset) = match (&e.backend, &self.dc_backing) {
            (Some(b), _) => (b.clone(), 0),
            (None, Some((b, base))) => (b.clone(), e.dpa - base),
            (None, None) => return None,
        };
        Some(MemoryRange {
            dpa: e.dpa,
            len: e.len,
            backend,
            offset,
        })
    }

    /// Static partitions plus every extent the host holds, as the memory
    /// path should see them.
    fn memory_ranges(&self) -> Vec<MemoryRange> {
        let mut v = self.static_memory.clone();
        for e in self.memdev.dcd_accepted_extents() {
            v.extend(self.extent_memory(&e));
        }
        v
    }

    /// [`Self::memory_ranges`] overlapping `dpa`, found by ordered-map
    /// lookups in the DC state rather than a walk of every extent.
    fn memory_in(&self, dpa: &Range<u64>) -> Vec<MemoryRange> {
        let overlaps = |r: &&MemoryRange| r.dpa < dpa.end && dpa.start < r.dpa + r.len;
        let mut v: Vec<MemoryRange> = self
            .static_memory
            .iter()
            .filter(overlaps)
            .cloned()
            .collect();
        if dpa.start >= dpa.end {
            return v;
        }
        let dcd = self.memdev.dcd();
        let first = dcd.containing(dpa.start).map_or(dpa.start, |(k, _)| k);
        for (k, l) in dcd.extents.range(first..dpa.end) {
            if l.state.held() {
                v.extend(self.extent_memory(&dcd.to_extent(*k, l)));
            }
        }
        v
    }

    /// Carries out what Dynamic Capacity changes mean for memory: accepted
    /// extents get mapped, released ones unmapped (and zeroed when
    /// sanitized), declined backends become free (their last reference goes).
    fn apply_dcd_effects(&self, effects: &[DcdEffect]) {
        if effects.is_empty() {
            return;
        }
        // Only the DPA of accepted and released extents changed (declined
        // ones were never held). The path widens these ranges to the whole
        // ranges it holds there (a release may have cut a held extent) and
        // asks for what backs them now: the cost follows the change, not
        // the number of extents held (set_endpoint_memory with
        // memory_ranges() gives the same memory, at a cost linear in it).
        // One difference: an extent that a Release Capacity request split
        // without an effect keeps its single memslot until an effect
        // touches its DPA (the host's Release Dynamic Capacity), rather
        // than being re-sliced by the next unrelated accept or release.
        let changed: Vec<Range<u64>> = effects
            .iter()
            .filter_map(|e| match e {
                DcdEffect::Accepted { extent } | DcdEffect::Released { extent, .. } => {
                    Some(extent.dpa..extent.dpa.saturating_add(extent.len))
                }
                DcdEffect::Declined { .. } => None,
            })
            .collect();
        self.path
            .update_endpoint_memory(self.endpoint, &changed, |w| self.memory_in(w));
        for e in effects {
            if let DcdEffect::Released {
                extent,
                sanitize: true,
                ..
            } = e
            {
                let result = match (&extent.backend, &self.dc_backing) {
                    (Some(b), _) => b.zero(),
                    (None, Some((b, base))) => b.zero_range(extent.dpa - base, extent.len),
                    (None, None) => Ok(()),
                };
                if let Err(err) = result {
                    crate::warn_limited!("CXL type 3: sanitizing a released extent: {err}");
                }
            }
        }
    }

    /// Writes the data commands left for the media (Clear Poison's 64 bytes)
    /// into the memory behind their DPA; DPA nothing backs is skipped.
    fn apply_media_writes(&self, writes: &[MediaWrite]) {
        if writes.is_empty() {
            return;
        }
        let ranges = self.memory_ranges();
        for w in writes {
            let hit = ranges
                .iter()
                .find(|r| r.dpa <= w.dpa && w.dpa - r.dpa + 64 <= r.len);
            match hit {
                Some(r) => {
                    if let Err(e) = r.backend.write(r.offset + (w.dpa - r.dpa), &w.data) {
                        crate::warn_limited!("CXL type 3: media write at DPA {:#x}: {e}", w.dpa);
                    }
                }
                None => {
                    crate::warn_limited!("CXL type 3: media write at unbacked DPA {:#x}", w.dpa)
                }
            }
        }
    }

    /// Erases the media behind DPA ranges (Passphrase Secure Erase): the
    /// memory behind them reads zeros afterwards (shared backends give the
    /// pages back to the host, private ones get fresh pages, as a DC
    /// release's sanitize does); DPA nothing backs has nothing to erase.
    fn apply_media_erases(&self, erases: &[Range<u64>]) {
        for dpa in erases {
            crate::info_limited!("CXL type 3: erasing DPA {:#x}..{:#x}", dpa.start, dpa.end);
            for r in self.memory_in(dpa) {
                let start = dpa.start.max(r.dpa);
                let end = dpa.end.min(r.dpa.saturating_add(r.len));
                if start >= end {
                    continue;
                }
                if let Err(e) = r
                    .backend
                    .zero_range(r.offset + (start - r.dpa), end - start)
                {
                    crate::warn_limited!("CXL type 3: erasing DPA {start:#x}..{end:#x}: {e}");
                }
            }
            // DC backing memory no extent holds now is erased too (a
            // Sanitize covers the DC regions): an extent accepted later
            // reads zeros.
            if let Some((b, base)) = &self.dc_backing {
                let start = dpa.start.max(*base);
                let end = dpa.end.min(base.saturating_add(b.size()));
                if start < end {
                    if let Err(e) = b.zero_range(start - base, end - start) {
                        crate::warn_limited!(
                            "CXL type 3: erasing DC DPA {start:#x}..{end:#x}: {e}"
                        );
                    }
                }
            }
        }
    }

    /// Carries out what an operation on the device state caused.
    fn apply(&mut self, effects: &Effects) {
        self.sync_layout();
        self.apply_dcd_effects(&effects.dcd);
        self.apply_media_writes(&effects.media_writes);
        self.apply_media_erases(&effects.media_erases);
    }

    /// Reports the decoders and enables to the memory path.
    fn report_decoders(&self) {
        let (decoders, hdm_enabled) = match self.component.hdm() {
            Some(h) => (h.decoders(), h.decoding_enabled()),
            None => (Vec::new(), false),
        };
        self.path
            .set_endpoint_decoders(self.endpoint, decoders, hdm_enabled && self.mem_enable);
    }

    fn doe_register(&self, offset: u16) -> Option<u64> {
        let rel = offset.checked_sub(self.doe_offset)?;
        (4..DOE_CAP_SIZE).contains(&rel).then_some(u64::from(rel))
    }
}

impl PciDevice for Type3 {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        match self.doe_register(offset) {
            Some(rel) => self.doe.read(rel, data),
            None => self.function.config_read(offset, data),
        }
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        if let Some(rel) = self.doe_register(offset) {
            // No DOE interrupt: Linux polls the DOE status.
            let _ = self.doe.write(rel, data);
            return;
        }
        self.function.config_write(offset, data);
        let ctrl = self
            .function
            .config()
            .read_u16(self.dvsec_offset + DEV_CONTROL as u16);
        let mem_enable = ctrl & DEV_CTRL_MEM_ENABLE != 0;
        if mem_enable != self.mem_enable {
            self.mem_enable = mem_enable;
            self.report_decoders();
        }
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.function.bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if self.function.msix_bar_read(bar, offset, data) {
            return;
        }
        match (bar, offset) {
            (REGS_BAR, o) if o < DEVICE_REGS_OFFSET => self.component.read(o, data),
            (REGS_BAR, o) if o - DEVICE_REGS_OFFSET < DEVICE_REGS_SIZE => {
                self.poll_background();
                self.regs.read(&self.memdev, o - DEVICE_REGS_OFFSET, data)
            }
            _ => data.fill(0),
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if self.function.msix_bar_write(bar, offset, data) {
            return;
        }
        match (bar, offset) {
            (REGS_BAR, o) if o < DEVICE_REGS_OFFSET => {
                let events = self.component.write(o, data);
                crate::cxl::component::hdm::trace_events(
                    Some(&self.memdev.config().name),
                    "endpoint",
                    self.component.hdm(),
                    &events,
                );
                let changed = events.iter().any(|e| {
                    matches!(
                        e,
                        HdmEvent::Committed(_)
                            | HdmEvent::Uncommitted(_)
                            | HdmEvent::DecodingEnabled(_)
                    )
                });
                if changed {
                    self.report_decoders();
                }
            }
            (REGS_BAR, o) if o - DEVICE_REGS_OFFSET < DEVICE_REGS_SIZE => {
                self.poll_background();
                let before = self.before_doorbell();
                let done = self
                    .regs
                    .write(&mut self.memdev, o - DEVICE_REGS_OFFSET, data);
                self.signal(done.msi);
                self.apply(&done.effects);
                self.after_doorbell(before);
            }
            _ => {}
        }
    }
}

#[path = "type3_background.rs"]
mod background;
#[path = "type3_layout.rs"]
mod relayout;

#[cfg(test)]
#[path = "type3_testing.rs"]
mod testing;

#[cfg(test)]
#[path = "type3_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "type3_background_tests.rs"]
mod background_tests;

#[cfg(test)]
#[path = "type3_partition_tests.rs"]
mod partition_tests;

#[cfg(test)]
#[path = "type3_inject_tests.rs"]
mod inject_tests;

#[cfg(test)]
#[path = "type3_fault_tests.rs"]
mod fault_tests;

#[cfg(test)]
#[path = "type3_trace_tests.rs"]
mod trace_tests;
