//! The platform plan: host bridges with their bus ranges and address
//! windows, computed from the configuration alone (no KVM), so that the ACPI
//! tables (`--dump-acpi` included) and the devices always agree.

use arch::bootparams::ram_regions;
use arch::layout::{
    PCI_ECAM_BUS_END, PCI_ECAM_BUS_START, PCI_IO_SIZE, PCI_IO_START, PCI_MMIO32_SIZE,
    PCI_MMIO32_START, PCI_MMIO64_SIZE, PCI_MMIO64_START,
};
use devices::pci::{AddressRange, HostBridgeResources};

use crate::config::VmConfig;

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
}

impl Platform {
    /// Plans the platform for `cfg`.
    pub fn new(cfg: &VmConfig) -> Result<Self, String> {
        let ram = ram_regions(cfg.memory).map_err(|e| e.to_string())?;
        let pci0 = HostBridgePlan {
            uid: 0,
            resources: HostBridgeResources {
                bus_start: PCI_ECAM_BUS_START,
                bus_end: PCI_ECAM_BUS_END,
                mmio32: AddressRange {
                    base: PCI_MMIO32_START,
                    size: PCI_MMIO32_SIZE,
                },
                mmio64: AddressRange {
                    base: PCI_MMIO64_START,
                    size: PCI_MMIO64_SIZE,
                },
                io: Some(AddressRange {
                    base: u64::from(PCI_IO_START),
                    size: u64::from(PCI_IO_SIZE),
                }),
            },
        };
        Ok(Self {
            cpus: cfg.cpus,
            ram,
            pci0,
        })
    }

    /// The ACPI description of this platform.
    pub fn acpi_config(&self) -> acpi::AcpiConfig {
        let mut c = acpi::AcpiConfig::new(self.cpus);
        c.ram = self.ram.clone();
        c.host_bridges = vec![acpi_host_bridge(&self.pci0, acpi::HostBridgeKind::Pcie)];
        c
    }
}

fn acpi_host_bridge(hb: &HostBridgePlan, kind: acpi::HostBridgeKind) -> acpi::HostBridge {
    let r = &hb.resources;
    acpi::HostBridge {
        uid: hb.uid,
        bus_start: r.bus_start,
        bus_end: r.bus_end,
        io: r.io.map(|w| (w.base as u16, w.size as u16)),
        mmio32: (r.mmio32.base, r.mmio32.size),
        mmio64: (r.mmio64.base, r.mmio64.size),
        kind,
    }
}
