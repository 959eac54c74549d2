//! The machine's buses and PCI segment, built as `vmm`'s device manager
//! builds them (`DeviceManager::new` without the legacy devices and KVM):
//! PCI0's host bridge through firmware-style resource assignment, ECAM on
//! the MMIO bus, the 0xcf8/0xcfc ports on the I/O bus, then the CXL
//! hierarchy by `CxlDevices::new` (host bridge component registers, root
//! ports, Type 3 devices, the windows), with memslots recorded instead of
//! installed and MSI-X recorded instead of injected.

use std::io;
use std::sync::{Arc, Mutex};

use arbitrary::Arbitrary;
use arch::layout::{PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_SIZE, PCI_ECAM_SIZE, PCI_ECAM_START};
use devices::bus::BusRange;
use devices::interrupt::{MsiAllocator, MsiGroup, RecordingMsiGroup};
use devices::pci::{
    assign_resources, DevFn, HostBridge, PciConfigIo, PciEcam, PciNode, PciSegment, SharedSegment,
};
use devices::Bus;
use vmm::config::{SerialOutput, VmConfig};
use vmm::cxl_config::{
    parse_backend, parse_host_bridge, parse_root_port, parse_short, parse_type3, parse_window,
    CxlConfig,
};
use vmm::cxl_devices::CxlDevices;
use vmm::platform::Platform;

use devices::cxl::test_rig::RecordingMapper;

/// The topologies, written as their command-line flags.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyKind {
    /// No CXL: PCI0 alone, owning every bus.
    PciOnly,
    /// `--cxl 256M`: one bridge, one port, one device.
    Short,
    /// One bridge with two root ports (so it has HDM decoders), a volatile
    /// device and a DC-only device, one window over the bridge.
    TwoPorts,
    /// Two bridges, one device each, one window interleaving both.
    Interleaved,
}

fn long_form(
    backends: &[&str],
    bridges: &[&str],
    ports: &[&str],
    devices: &[&str],
    windows: &[&str],
) -> CxlConfig {
    CxlConfig {
        backends: backends.iter().map(|s| parse_backend(s).unwrap()).collect(),
        host_bridges: bridges
            .iter()
            .map(|s| parse_host_bridge(s).unwrap())
            .collect(),
        root_ports: ports.iter().map(|s| parse_root_port(s).unwrap()).collect(),
        devices: devices.iter().map(|s| parse_type3(s).unwrap()).collect(),
        windows: windows.iter().map(|s| parse_window(s).unwrap()).collect(),
    }
}

impl TopologyKind {
    /// The CXL configuration, through the command-line parsers and checks.
    pub fn config(self) -> CxlConfig {
        let c = match self {
            TopologyKind::PciOnly => CxlConfig::default(),
            TopologyKind::Short => parse_short("256M,serial=0x5eed", 0).unwrap(),
            TopologyKind::TwoPorts => long_form(
                &["id=m0,size=256M"],
                &["id=hb0"],
                &["id=rp0,bus=hb0", "id=rp1,bus=hb0"],
                &[
                    "id=d0,port=rp0,volatile-memdev=m0",
                    "id=d1,port=rp1,dc-regions=2,dc-regions-total-size=512M",
                ],
                &["targets=hb0,size=1G"],
            ),
            TopologyKind::Interleaved => long_form(
                &["id=m0,size=256M", "id=m1,size=256M"],
                &["id=hb0", "id=hb1"],
                &["id=rp0,bus=hb0", "id=rp1,bus=hb1"],
                &[
                    "id=d0,port=rp0,volatile-memdev=m0",
                    "id=d1,port=rp1,volatile-memdev=m1",
                ],
                &["targets=hb0:hb1,size=512M,granularity=4K"],
            ),
        };
        c.finish().expect("a valid topology")
    }
}

/// Hands out recording MSI groups.
struct RecordingMsi;

impl MsiAllocator for RecordingMsi {
    fn allocate(&self, vectors: usize) -> io::Result<Arc<dyn MsiGroup>> {
        Ok(Arc::new(RecordingMsiGroup::new(vectors)))
    }
}

/// The built machine.
pub struct Machine {
    /// MMIO bus (ECAM, CHBS, windows, BARs).
    pub mmio: Arc<Bus>,
    /// Port I/O bus (0xcf8, I/O BARs).
    pub io: Arc<Bus>,
    /// PCI segment 0.
    pub segment: SharedSegment,
    /// The CXL hierarchy.
    pub cxl: CxlDevices,
    /// Memslots.
    pub mapper: Arc<RecordingMapper>,
    /// Ranges no BAR may take: ECAM, CHBS, windows on MMIO; the config
    /// ports on I/O.
    pub fixed_mmio: Vec<BusRange>,
    /// Fixed I/O ranges.
    pub fixed_io: Vec<BusRange>,
    /// (BDF routing id, vendor and device ID dword) of every function.
    pub ids: Vec<(u16, u32)>,
}

fn not_bars(bus: &Bus, seg: &PciSegment) -> Vec<BusRange> {
    let bars: Vec<(u64, u64)> = seg
        .bdfs()
        .into_iter()
        .flat_map(|b| seg.mappings(b))
        .map(|m| (m.base, m.len))
        .collect();
    bus.ranges()
        .into_iter()
        .filter(|r| !bars.contains(&(r.base, r.len)))
        .collect()
}

impl Machine {
    /// Builds `kind`.
    pub fn new(kind: TopologyKind) -> Self {
        let cfg = VmConfig {
            kernel: None,
            initramfs: None,
            cmdline: String::new(),
            cpus: 1,
            memory: 64 << 20,
            serial: SerialOutput::Null,
            hide_hypervisor: false,
            cxl: kind.config(),
            api_socket: None,
            disks: Vec::new(),
            nets: Vec::new(),
            fs: Default::default(),
            seccomp: vmm::seccomp::SeccompMode::Off,
        };
        let platform = Platform::new(&cfg).expect("platform");
        let mmio = Arc::new(Bus::new());
        let io = Arc::new(Bus::new());
        let segment: SharedSegment =
            Arc::new(Mutex::new(PciSegment::new(0, mmio.clone(), io.clone())));
        {
            let mut seg = segment.lock().unwrap();
            let host_bridge = PciNode::Function {
                devfn: DevFn::new(0, 0).unwrap(),
                device: Arc::new(Mutex::new(HostBridge::new())),
            };
            assign_resources(&mut seg, &platform.pci0.resources, vec![host_bridge])
                .expect("PCI0 resources");
        }
        mmio.insert(
            Arc::new(Mutex::new(PciEcam::new(segment.clone()))),
            PCI_ECAM_START,
            PCI_ECAM_SIZE,
        )
        .unwrap();
        io.insert(
            Arc::new(Mutex::new(PciConfigIo::new(segment.clone()))),
            u64::from(PCI_CONFIG_IO_PORT),
            u64::from(PCI_CONFIG_IO_SIZE),
        )
        .unwrap();
        let mapper = RecordingMapper::new();
        let cxl = CxlDevices::new(
            &platform,
            &cfg.cxl,
            &segment,
            &mmio,
            mapper.clone(),
            &RecordingMsi,
        )
        .expect("CXL hierarchy");
        let (fixed_mmio, fixed_io, ids) = {
            let seg = segment.lock().unwrap();
            let ids = seg
                .bdfs()
                .into_iter()
                .map(|b| {
                    let mut d = [0u8; 4];
                    seg.config_read(b, 0, &mut d);
                    (b.routing_id(), u32::from_le_bytes(d))
                })
                .collect();
            (not_bars(&mmio, &seg), not_bars(&io, &seg), ids)
        };
        Self {
            mmio,
            io,
            segment,
            cxl,
            mapper,
            fixed_mmio,
            fixed_io,
            ids,
        }
    }
}

impl Drop for Machine {
    /// The buses hold ECAM and the config ports, which hold the segment,
    /// which holds the buses: the cycle would keep every device alive (a
    /// leak per input). Emptying the buses breaks it; the VMM builds one
    /// machine per process and never needs to.
    fn drop(&mut self) {
        for bus in [&self.mmio, &self.io] {
            for r in bus.ranges() {
                let _ = bus.remove(r.base);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topologies_build_with_their_functions() {
        // Host bridge; + root port and device per CXL device.
        for (kind, functions, type3) in [
            (TopologyKind::PciOnly, 1, 0),
            (TopologyKind::Short, 3, 1),
            (TopologyKind::TwoPorts, 5, 2),
            (TopologyKind::Interleaved, 5, 2),
        ] {
            let m = Machine::new(kind);
            assert_eq!(m.ids.len(), functions, "{kind:?}");
            assert_eq!(m.cxl.type3.len(), type3, "{kind:?}");
            // ECAM and the config ports, plus a CHBS per bridge and the windows.
            assert!(m.fixed_mmio.iter().any(|r| r.base == PCI_ECAM_START));
            assert_eq!(m.fixed_io.len(), 1);
        }
    }
}
