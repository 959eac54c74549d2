//! The platform plan: host bridges with their bus ranges and address
//! windows, computed from the configuration alone (no KVM), so that the ACPI
//! tables (`--dump-acpi` included) and the devices always agree.

use arch::bootparams::ram_regions;
use arch::layout::{
    CXL_BUSES_PER_BRIDGE, CXL_CHBS_SIZE, CXL_CHBS_START, CXL_FIRST_BUS, CXL_FMW_START,
    CXL_MAX_HOST_BRIDGES, PCI_ECAM_BUS_END, PCI_ECAM_BUS_START, PCI_IO_SIZE, PCI_IO_START,
    PCI_MMIO32_SIZE, PCI_MMIO32_START, PCI_MMIO64_SIZE, PCI_MMIO64_START,
};
use devices::pci::{AddressRange, HostBridgeResources};

use crate::config::VmConfig;
use crate::cxl_config::CxlConfig;

/// A CXL host bridge in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CxlBridgePlan {
    /// ACPI `_UID` (the CHBS and CFMWS name it).
    pub uid: u32,
    /// Buses and windows it decodes.
    pub resources: HostBridgeResources,
    /// Its component register block (CHBCR).
    pub chbs: u64,
}

/// A CXL fixed memory window in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CxlWindowPlan {
    /// Base HPA.
    pub base: u64,
    /// Size.
    pub size: u64,
    /// Interleave granularity.
    pub granularity: u64,
    /// QoS throttling group.
    pub qtg: u16,
    /// Host bridges (indexes into [`Platform::cxl_bridges`]) in interleave order.
    pub targets: Vec<usize>,
}

/// One host bridge in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBridgePlan {
    /// ACPI `_UID`.
    pub uid: u32,
    /// Buses and windows it decodes.
    pub resources: HostBridgeResources,
}

/// Everything address-related the devices and ACPI tables share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// vCPU count.
    pub cpus: u32,
    /// Guest RAM ranges.
    pub ram: Vec<(u64, u64)>,
    /// The PCIe host bridge (`PCI0`).
    pub pci0: HostBridgePlan,
    /// CXL host bridges, in configuration order.
    pub cxl_bridges: Vec<CxlBridgePlan>,
    /// CXL fixed memory windows.
    pub cxl_windows: Vec<CxlWindowPlan>,
}

fn range(base: u64, size: u64) -> AddressRange {
    AddressRange { base, size }
}

/// Splits the PCI windows and buses between PCI0 and `n` CXL host bridges:
/// PCI0 keeps the lower half of each window and buses below
/// [`CXL_FIRST_BUS`]; each CXL bridge gets an equal slice of the upper half.
fn split(n: usize) -> (HostBridgeResources, Vec<HostBridgeResources>) {
    let all = HostBridgeResources {
        bus_start: PCI_ECAM_BUS_START,
        bus_end: PCI_ECAM_BUS_END,
        mmio32: range(PCI_MMIO32_START, PCI_MMIO32_SIZE),
        mmio64: range(PCI_MMIO64_START, PCI_MMIO64_SIZE),
        io: Some(range(u64::from(PCI_IO_START), u64::from(PCI_IO_SIZE))),
    };
    if n == 0 {
        return (all, vec![]);
    }
    let half32 = PCI_MMIO32_SIZE / 2;
    let half64 = PCI_MMIO64_SIZE / 2;
    let slots = CXL_MAX_HOST_BRIDGES as u64;
    let pci0 = HostBridgeResources {
        bus_end: CXL_FIRST_BUS - 1,
        mmio32: range(PCI_MMIO32_START, half32),
        mmio64: range(PCI_MMIO64_START, half64),
        ..all
    };
    let cxl = (0..n)
        .map(|i| {
            let bus_start = CXL_FIRST_BUS + CXL_BUSES_PER_BRIDGE * i as u8;
            HostBridgeResources {
                bus_start,
                bus_end: bus_start + (CXL_BUSES_PER_BRIDGE - 1),
                mmio32: range(
                    PCI_MMIO32_START + half32 + i as u64 * (half32 / slots),
                    half32 / slots,
                ),
                mmio64: range(
                    PCI_MMIO64_START + half64 + i as u64 * (half64 / slots),
                    half64 / slots,
                ),
                io: None,
            }
        })
        .collect();
    (pci0, cxl)
}

/// Lays the CXL bridges and windows out.
fn plan_cxl(cxl: &CxlConfig) -> (HostBridgeResources, Vec<CxlBridgePlan>, Vec<CxlWindowPlan>) {
    let (pci0, bridges) = split(cxl.host_bridges.len());
    let cxl_bridges = bridges
        .into_iter()
        .enumerate()
        .map(|(i, resources)| CxlBridgePlan {
            uid: i as u32 + 1,
            resources,
            chbs: CXL_CHBS_START + i as u64 * CXL_CHBS_SIZE,
        })
        .collect();
    let mut base = CXL_FMW_START;
    let windows = cxl
        .windows
        .iter()
        .map(|w| {
            let plan = CxlWindowPlan {
                base,
                size: w.size,
                granularity: w.granularity,
                qtg: w.qtg,
                targets: w
                    .targets
                    .iter()
                    .filter_map(|t| cxl.host_bridges.iter().position(|h| &h.id == t))
                    .collect(),
            };
            base += w.size;
            plan
        })
        .collect();
    (pci0, cxl_bridges, windows)
}

impl Platform {
    /// Plans the platform for `cfg`.
    pub fn new(cfg: &VmConfig) -> Result<Self, String> {
        let ram = ram_regions(cfg.memory).map_err(|e| e.to_string())?;
        let (resources, cxl_bridges, cxl_windows) = plan_cxl(&cfg.cxl);
        Ok(Self {
            cpus: cfg.cpus,
            ram,
            pci0: HostBridgePlan { uid: 0, resources },
            cxl_bridges,
            cxl_windows,
        })
    }

    /// The ACPI description of this platform.
    pub fn acpi_config(&self) -> acpi::AcpiConfig {
        let mut c = acpi::AcpiConfig::new(self.cpus);
        c.ram = self.ram.clone();
        c.host_bridges = vec![acpi_host_bridge(
            self.pci0.uid,
            &self.pci0.resources,
            acpi::HostBridgeKind::Pcie,
        )];
        for b in &self.cxl_bridges {
            let kind = acpi::HostBridgeKind::Cxl { chbs_base: b.chbs };
            c.host_bridges
                .push(acpi_host_bridge(b.uid, &b.resources, kind));
        }
        for w in &self.cxl_windows {
            c.cxl_windows.push(acpi::CxlWindow {
                base: w.base,
                size: w.size,
                interleave_ways: w.targets.len() as u32,
                granularity_bytes: w.granularity as u32,
                restrictions: acpi::CxlWindow::HOST_ONLY_COHERENT
                    | acpi::CxlWindow::VOLATILE
                    | acpi::CxlWindow::PERSISTENT,
                qtg_id: w.qtg,
                targets: w
                    .targets
                    .iter()
                    .filter_map(|i| self.cxl_bridges.get(*i).map(|b| b.uid))
                    .collect(),
            });
        }
        c
    }
}

fn acpi_host_bridge(
    uid: u32,
    r: &HostBridgeResources,
    kind: acpi::HostBridgeKind,
) -> acpi::HostBridge {
    acpi::HostBridge {
        uid,
        bus_start: r.bus_start,
        bus_end: r.bus_end,
        io: r.io.map(|w| (w.base as u16, w.size as u16)),
        mmio32: (r.mmio32.base, r.mmio32.size),
        mmio64: (r.mmio64.base, r.mmio64.size),
        kind,
    }
}
