//! The device manager: builds the buses and every device from the platform
//! plan, and wires their interrupts and exit requests.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

use arch::layout::{
    ACPI_PM_PORT, ACPI_PM_SIZE, ACPI_RESET_PORT, CMOS_PORT, COM1_IRQ, COM1_PORT, I8042_CMD_PORT,
    I8042_DATA_PORT, PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_SIZE, PCI_ECAM_SIZE, PCI_ECAM_START,
    PVPANIC_PORT,
};
use devices::legacy::{AcpiPm, AcpiReset, Cmos, ExitHandler, ExitRequest, PvPanic, Serial, I8042};
use devices::pci::{
    assign_resources, DevFn, HostBridge, PciConfigIo, PciEcam, PciNode, PciSegment, SharedSegment,
};
use devices::Bus;
use thiserror::Error;

use crate::config::SerialOutput;
use crate::config::VmConfig;
use crate::cxl_devices::CxlDevices;
use crate::exit::{ExitReason, ExitState};
use crate::interrupts::{GsiRouter, KvmMsiAllocator};
use crate::memory::MemoryManager;
use crate::platform::Platform;
use crate::virtio_devices::VirtioDevices;

/// Errors building devices.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// Registering on a bus failed.
    #[error("registering {0}: {1}")]
    Bus(&'static str, devices::BusError),
    /// Interrupt setup failed.
    #[error("interrupt for {0}: {1}")]
    Irq(&'static str, std::io::Error),
    /// The serial output file could not be created.
    #[error("serial output '{0}': {1}")]
    SerialFile(String, std::io::Error),
    /// PCI resource assignment failed.
    #[error("PCI: {0}")]
    Pci(String),
    /// Building the CXL hierarchy failed.
    #[error("{0}")]
    Cxl(String),
    /// Building a virtio device failed.
    #[error("{0}")]
    Virtio(String),
}

/// Every bus and the devices the VMM talks to after start-up.
pub struct DeviceManager {
    /// Port I/O bus.
    pub io_bus: Arc<Bus>,
    /// MMIO bus.
    pub mmio_bus: Arc<Bus>,
    /// COM1.
    pub serial: Arc<Mutex<Serial>>,
    /// PCI segment 0.
    pub pci: SharedSegment,
    /// The CXL hierarchy.
    pub cxl: CxlDevices,
    /// virtio devices on PCI0.
    pub virtio: VirtioDevices,
}

fn serial_output(out: &SerialOutput) -> Result<Box<dyn Write + Send>, DeviceError> {
    Ok(match out {
        SerialOutput::Stdout => Box::new(std::io::stdout()),
        SerialOutput::Null => Box::new(std::io::sink()),
        SerialOutput::File(p) => Box::new(
            File::create(p).map_err(|e| DeviceError::SerialFile(p.display().to_string(), e))?,
        ),
    })
}

impl DeviceManager {
    /// Builds the legacy devices and the PCI segment.
    pub fn new(
        platform: &Platform,
        cfg: &VmConfig,
        router: &Arc<GsiRouter>,
        memory: &Arc<MemoryManager>,
        exit: Arc<ExitState>,
    ) -> Result<Self, DeviceError> {
        let serial_out = &cfg.serial;
        let io_bus = Arc::new(Bus::new());
        let mmio_bus = Arc::new(Bus::new());
        let on_exit: ExitHandler = Arc::new(move |r| {
            exit.request(match r {
                ExitRequest::Poweroff => ExitReason::Poweroff,
                ExitRequest::Reset => ExitReason::Reset,
                ExitRequest::Panic => {
                    ExitReason::GuestCrash("the guest kernel panicked (pvpanic)".into())
                }
            })
        });

        let line = router
            .legacy_line(COM1_IRQ)
            .map_err(|e| DeviceError::Irq("COM1", e))?;
        let serial = Arc::new(Mutex::new(Serial::new(line, serial_output(serial_out)?)));
        io_bus
            .insert(serial.clone(), u64::from(COM1_PORT), 8)
            .map_err(|e| DeviceError::Bus("COM1", e))?;

        let (below, above) = ram_split(platform);
        io_bus
            .insert(
                Arc::new(Mutex::new(Cmos::new(below, above))),
                u64::from(CMOS_PORT),
                2,
            )
            .map_err(|e| DeviceError::Bus("CMOS", e))?;
        let i8042 = Arc::new(Mutex::new(I8042::new(on_exit.clone())));
        io_bus
            .insert(i8042.clone(), u64::from(I8042_DATA_PORT), 1)
            .map_err(|e| DeviceError::Bus("i8042", e))?;
        io_bus
            .insert(i8042, u64::from(I8042_CMD_PORT), 1)
            .map_err(|e| DeviceError::Bus("i8042", e))?;
        io_bus
            .insert(
                Arc::new(Mutex::new(AcpiPm::new(on_exit.clone()))),
                u64::from(ACPI_PM_PORT),
                u64::from(ACPI_PM_SIZE),
            )
            .map_err(|e| DeviceError::Bus("ACPI PM registers", e))?;
        io_bus
            .insert(
                Arc::new(Mutex::new(PvPanic::new(on_exit.clone()))),
                u64::from(PVPANIC_PORT),
                1,
            )
            .map_err(|e| DeviceError::Bus("pvpanic", e))?;
        io_bus
            .insert(
                Arc::new(Mutex::new(AcpiReset::new(on_exit))),
                u64::from(ACPI_RESET_PORT),
                1,
            )
            .map_err(|e| DeviceError::Bus("ACPI reset register", e))?;

        let pci: SharedSegment = Arc::new(Mutex::new(PciSegment::new(
            0,
            mmio_bus.clone(),
            io_bus.clone(),
        )));
        let (virtio, virtio_nodes) = VirtioDevices::build(
            &cfg.disks,
            &cfg.nets,
            &cfg.fs.fs,
            memory.ram(),
            &KvmMsiAllocator(router.clone()),
        )
        .map_err(DeviceError::Virtio)?;
        {
            let mut seg = pci.lock().unwrap_or_else(|e| e.into_inner());
            let host_bridge = PciNode::Function {
                devfn: DevFn::new(0, 0).ok_or_else(|| DeviceError::Pci("devfn".into()))?,
                device: Arc::new(Mutex::new(HostBridge::new())),
            };
            let mut nodes = vec![host_bridge];
            nodes.extend(virtio_nodes);
            assign_resources(&mut seg, &platform.pci0.resources, nodes)
                .map_err(|e| DeviceError::Pci(e.to_string()))?;
        }
        mmio_bus
            .insert(
                Arc::new(Mutex::new(PciEcam::new(pci.clone()))),
                PCI_ECAM_START,
                PCI_ECAM_SIZE,
            )
            .map_err(|e| DeviceError::Bus("PCI ECAM", e))?;
        io_bus
            .insert(
                Arc::new(Mutex::new(PciConfigIo::new(pci.clone()))),
                u64::from(PCI_CONFIG_IO_PORT),
                u64::from(PCI_CONFIG_IO_SIZE),
            )
            .map_err(|e| DeviceError::Bus("PCI config ports", e))?;

        let cxl = CxlDevices::new(
            platform,
            &cfg.cxl,
            &pci,
            &mmio_bus,
            memory.clone(),
            &KvmMsiAllocator(router.clone()),
        )
        .map_err(DeviceError::Cxl)?;

        Ok(Self {
            io_bus,
            mmio_bus,
            serial,
            pci,
            cxl,
            virtio,
        })
    }
}

/// RAM below and above 4 GiB, for the CMOS memory-size registers.
fn ram_split(platform: &Platform) -> (u64, u64) {
    let below = platform.ram.first().map_or(0, |r| r.1);
    let above = platform.ram.get(1).map_or(0, |r| r.1);
    (below, above)
}
