//! The Type 3 devices the `type3` target drives: a DC-only device (tagged
//! backends only), a device with host memory behind its whole DC range, and
//! one with static volatile and persistent capacity, an LSA and small DC
//! blocks. Each sits alone below one host bridge and root port (passthrough)
//! in one 1 GiB window, as `--cxl-host-bridge`/`--cxl-root-port` build it.

use std::sync::Arc;

use arbitrary::Arbitrary;
use devices::cxl::dcd::{DcConfig, DcRegionConfig, DcRegions};
use devices::cxl::decode::Interleave;
use devices::cxl::fabric::{CxlMemoryPath, HostBridgeDesc, Topology, WindowDesc};
use devices::cxl::memdev::MemdevConfig;
use devices::cxl::type3::{Type3, Type3Config, MSIX_VECTORS};
use devices::interrupt::RecordingMsiGroup;
use devices::memory::HostMemory;

use devices::cxl::test_rig::RecordingMapper;

/// Base of the window (the first CFMWS, as the platform places it).
pub const WINDOW: u64 = 0x80_0000_0000;
/// Size of the window.
pub const WINDOW_SIZE: u64 = 1 << 30;
/// 256 MiB, the CXL capacity and decoder unit.
pub const UNIT: u64 = 256 << 20;
const MIB: u64 = 1 << 20;

/// Which device to build.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Two DC regions (64 MiB of 2 MiB blocks; 32 MiB of 4 MiB blocks with
    /// Sanitize on Release), no static capacity, no DC backing: every
    /// extent needs a tagged backend.
    DcOnly,
    /// 256 MiB volatile, one 16 MiB DC region (2 MiB blocks, Sanitize on
    /// Release) with a backend behind it: untagged extents are mapped from
    /// it, tags only label them.
    DcBacked,
    /// 256 MiB volatile, 256 MiB persistent, a 64 KiB LSA, one 8 MiB DC
    /// region of 64 KiB blocks for tagged backends.
    StaticAndDc,
}

/// A built device and everything around it.
pub struct Rig {
    /// The device.
    pub dev: Type3,
    /// What it built.
    pub kind: DeviceKind,
    /// Memslots the memory path installed.
    pub mapper: Arc<RecordingMapper>,
    /// Interrupts it raised.
    pub msi: Arc<RecordingMsiGroup>,
    /// Backends of the static partitions and of the DC range.
    pub static_backends: Vec<Arc<HostMemory>>,
    /// The backend behind the DC range and the DPA it starts at.
    pub dc_backing: Option<(Arc<HostMemory>, u64)>,
}

/// A memfd backend (shared, not preallocated: untouched pages cost nothing).
pub use devices::cxl::test_rig::memfd;

fn region(length: u64, block_size: u64, sanitize_on_release: bool) -> DcRegionConfig {
    DcRegionConfig {
        block_size,
        sanitize_on_release,
        ..DcRegionConfig::new(length)
    }
}

fn dc(regions: Vec<DcRegionConfig>, static_backing: bool) -> DcConfig {
    DcConfig {
        regions: DcRegions::Explicit(regions),
        static_backing,
        // Small limits, so that full logs and extent lists are reachable.
        max_extents: 24,
        history_depth: 16,
    }
}

impl Rig {
    /// Builds `kind`.
    pub fn new(kind: DeviceKind) -> Self {
        let mapper = RecordingMapper::new();
        let path = Arc::new(CxlMemoryPath::new(
            Topology {
                windows: vec![WindowDesc {
                    base: WINDOW,
                    size: WINDOW_SIZE,
                    interleave: Interleave::new(1, 256).expect("1-way"),
                    targets: vec![0],
                }],
                host_bridges: vec![HostBridgeDesc {
                    root_ports: vec![(0, Some(0))],
                    has_hdm: false,
                }],
                endpoints: 1,
            },
            mapper.clone(),
        ));
        let mut memdev = MemdevConfig {
            serial: 0xf022,
            volatile_bytes: 0,
            lsa_size: 0,
            ..MemdevConfig::default()
        };
        memdev.event_log_depths.dynamic_capacity = 12;
        memdev.event_log_depths.informational = 4;
        let mut cfg = Type3Config {
            memdev,
            volatile: None,
            persistent: None,
            partitionable: None,
            dc_backing: None,
        };
        match kind {
            DeviceKind::DcOnly => {
                cfg.memdev.dc = dc(
                    vec![
                        region(64 * MIB, 2 * MIB, false),
                        region(32 * MIB, 4 * MIB, true),
                    ],
                    false,
                );
            }
            DeviceKind::DcBacked => {
                cfg.memdev.volatile_bytes = UNIT;
                cfg.volatile = Some(memfd("vmem", UNIT, None));
                cfg.memdev.dc = dc(vec![region(16 * MIB, 2 * MIB, true)], true);
                cfg.dc_backing = Some(memfd("dcmem", 16 * MIB, None));
            }
            DeviceKind::StaticAndDc => {
                cfg.memdev.volatile_bytes = UNIT;
                cfg.memdev.persistent_bytes = UNIT;
                cfg.memdev.lsa_size = 64 << 10;
                cfg.volatile = Some(memfd("vmem", UNIT, None));
                cfg.persistent = Some(memfd("pmem", UNIT, None));
                cfg.memdev.dc = dc(vec![region(8 * MIB, 64 << 10, false)], false);
            }
        }
        let static_backends: Vec<_> = [&cfg.volatile, &cfg.persistent, &cfg.dc_backing]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let dc_backing = cfg.dc_backing.clone();
        let msi = Arc::new(RecordingMsiGroup::new(usize::from(MSIX_VECTORS)));
        let dev = Type3::new(cfg, msi.clone(), path, 0).expect("Type 3 device");
        let dc_backing = dc_backing.map(|b| {
            let base = dev.memdev().dcd().regions()[0].base;
            (b, base)
        });
        Self {
            dev,
            kind,
            mapper,
            msi,
            static_backends,
            dc_backing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds_with_its_regions() {
        for (kind, regions) in [
            (DeviceKind::DcOnly, 2),
            (DeviceKind::DcBacked, 1),
            (DeviceKind::StaticAndDc, 1),
        ] {
            let r = Rig::new(kind);
            assert_eq!(r.dev.memdev().dcd().regions().len(), regions, "{kind:?}");
            assert!(r.mapper.ranges().is_empty(), "nothing mapped before commit");
        }
        let r = Rig::new(DeviceKind::DcBacked);
        let (_, base) = r.dc_backing.as_ref().unwrap();
        assert_eq!(*base, UNIT, "DC starts after the volatile partition");
    }
}
