//! Builds the CXL hierarchy from the configuration and the platform plan:
//! host memory backends, the memory path, host bridge component registers,
//! root ports, Type 3 devices and the windows' MMIO devices.

use std::sync::{Arc, Mutex};

use arch::layout::CXL_CHBS_SIZE;
use devices::cxl::decode::Interleave;
use devices::cxl::fabric::{
    CxlMemoryPath, GuestMemoryMapper, HostBridgeDesc, Topology, WindowDesc,
};
use devices::cxl::host_bridge::CxlHostBridge;
use devices::cxl::root_port::CxlRootPort;
use devices::cxl::type3::{Type3, Type3Config, MSIX_VECTORS};
use devices::cxl::window::CxlWindow;
use devices::interrupt::MsiAllocator;
use devices::pci::{assign_resources, DevFn, PciNode, RootPortConfig, SharedSegment};
use devices::Bus;

use crate::backends::{BackendRegistry, RegistryError};
use crate::cxl_background::CxlBackgroundTimer;
use crate::cxl_config::CxlConfig;
use crate::platform::Platform;

/// A Type 3 device and its name.
pub struct Type3Handle {
    /// The `id=` it was given.
    pub id: String,
    /// The device.
    pub device: Arc<Mutex<Type3>>,
    /// The root port above it (its error messages go there: AER).
    pub port: Arc<Mutex<CxlRootPort>>,
}

/// The built CXL hierarchy.
pub struct CxlDevices {
    /// Backends by id.
    pub backends: BackendRegistry,
    /// The memory path.
    pub path: Option<Arc<CxlMemoryPath>>,
    /// Type 3 devices in configuration order.
    pub type3: Vec<Type3Handle>,
    /// The timer completing their background operations (with devices).
    pub background_timer: Option<Arc<CxlBackgroundTimer>>,
}

fn devfn(device: usize) -> Result<DevFn, String> {
    u8::try_from(device)
        .ok()
        .and_then(|d| DevFn::new(d, 0))
        .ok_or_else(|| format!("no PCI device number {device}"))
}

impl CxlDevices {
    /// Builds everything on `segment` and `mmio`.
    pub fn new(
        platform: &Platform,
        cfg: &CxlConfig,
        segment: &SharedSegment,
        mmio: &Arc<Bus>,
        mapper: Arc<dyn GuestMemoryMapper>,
        msi: &dyn MsiAllocator,
    ) -> Result<Self, String> {
        let backends = BackendRegistry::default();
        for b in &cfg.backends {
            backends.create(b.clone()).map_err(|e| match e {
                RegistryError::Invalid(m)
                | RegistryError::Conflict(m)
                | RegistryError::NotFound(m) => m,
            })?;
        }
        if cfg.is_empty() {
            return Ok(Self {
                backends,
                path: None,
                type3: Vec::new(),
                background_timer: None,
            });
        }

        // Endpoints are numbered in device order.
        let endpoint_of = |rp: &str| cfg.devices.iter().position(|d| d.port == rp);
        let host_bridges = cfg
            .host_bridges
            .iter()
            .map(|hb| {
                let ports: Vec<(u8, Option<usize>)> = cfg
                    .root_ports
                    .iter()
                    .filter(|r| r.bridge == hb.id)
                    .map(|r| (r.number(), endpoint_of(&r.id)))
                    .collect();
                HostBridgeDesc {
                    has_hdm: ports.len() > 1,
                    root_ports: ports,
                }
            })
            .collect::<Vec<_>>();
        let windows = platform
            .cxl_windows
            .iter()
            .map(|w| {
                Ok(WindowDesc {
                    base: w.base,
                    size: w.size,
                    interleave: Interleave::new(w.targets.len() as u32, w.granularity)
                        .map_err(|e| format!("CXL window interleave: {e:?}"))?,
                    targets: w.targets.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let path = Arc::new(CxlMemoryPath::new(
            Topology {
                windows,
                host_bridges,
                endpoints: cfg.devices.len(),
            },
            mapper,
        ));

        let timer = CxlBackgroundTimer::new().map_err(|e| format!("CXL background timer: {e}"))?;
        let mut type3 = Vec::new();
        for (i, (hb, plan)) in cfg
            .host_bridges
            .iter()
            .zip(&platform.cxl_bridges)
            .enumerate()
        {
            let ports: Vec<_> = cfg
                .root_ports
                .iter()
                .filter(|r| r.bridge == hb.id)
                .collect();
            let chbs = CxlHostBridge::new(ports.len(), path.clone(), i)?;
            mmio.insert(Arc::new(Mutex::new(chbs)), plan.chbs, CXL_CHBS_SIZE)
                .map_err(|e| format!("CXL host bridge '{}': {e}", hb.id))?;
            let mut nodes = Vec::new();
            for (dev, rp) in ports.iter().enumerate() {
                // One MSI vector for the port's AER interrupt.
                let mut port_cfg = RootPortConfig::new(rp.number());
                port_cfg.msi = Some(
                    msi.allocate(1)
                        .map_err(|e| format!("CXL root port '{}': MSI: {e}", rp.id))?,
                );
                let port = CxlRootPort::new(port_cfg)
                    .map_err(|e| format!("CXL root port '{}': {e}", rp.id))?;
                let port = Arc::new(Mutex::new(port));
                let mut children = Vec::new();
                if let Some(ep) = endpoint_of(&rp.id) {
                    let spec = &cfg.devices[ep];
                    let backend = |id: &Option<String>| id.as_ref().and_then(|id| backends.get(id));
                    let volatile = backend(&spec.volatile);
                    let persistent = backend(&spec.persistent);
                    let partitionable = backend(&spec.partition.as_ref().map(|p| p.memdev.clone()));
                    let dc_backing = spec.dc.as_ref().and_then(|dc| backend(&dc.memdev));
                    let memdev = spec.memdev_config(
                        volatile.as_ref().map_or(0, |b| b.size()),
                        persistent.as_ref().map_or(0, |b| b.size()),
                        partitionable.as_ref().map_or(0, |b| b.size()),
                        dc_backing.is_some(),
                    );
                    let group = msi
                        .allocate(usize::from(MSIX_VECTORS))
                        .map_err(|e| format!("CXL device '{}': MSI-X: {e}", spec.id))?;
                    let device = Type3::new(
                        Type3Config {
                            memdev,
                            volatile,
                            persistent,
                            partitionable,
                            dc_backing,
                        },
                        group,
                        path.clone(),
                        ep,
                    )
                    .map_err(|e| format!("CXL device '{}': {e}", spec.id))?;
                    let mut device = device;
                    device.set_background_timer(timer.clone());
                    let device = Arc::new(Mutex::new(device));
                    children.push(PciNode::Function {
                        devfn: devfn(0)?,
                        device: device.clone(),
                    });
                    type3.push(Type3Handle {
                        id: spec.id.clone(),
                        device,
                        port: port.clone(),
                    });
                }
                nodes.push(PciNode::Bridge {
                    devfn: devfn(dev)?,
                    device: port,
                    children,
                });
            }
            let mut seg = segment.lock().unwrap_or_else(|e| e.into_inner());
            assign_resources(&mut seg, &plan.resources, nodes)
                .map_err(|e| format!("CXL host bridge '{}': {e}", hb.id))?;
        }
        for w in &platform.cxl_windows {
            mmio.insert(
                Arc::new(Mutex::new(CxlWindow::new(path.clone()))),
                w.base,
                w.size,
            )
            .map_err(|e| format!("CXL window at {:#x}: {e}", w.base))?;
        }
        Ok(Self {
            backends,
            path: Some(path),
            type3,
            background_timer: Some(timer),
        })
    }
}
