//! The CXL topology on the command line, and the checks that refuse an
//! invalid one at start-up with one clear line.
//!
//! Long form (each flag repeatable):
//!
//! ```text
//! --memory-backend id=ID,size=SIZE[,kind=memfd|file|hugetlbfs][,path=P][,share=on|off][,prealloc=on|off][,tag=UUID]
//! --cxl-host-bridge id=ID
//! --cxl-root-port id=ID,bus=HOST_BRIDGE[,port=N]
//! --cxl-type3 id=ID,port=ROOT_PORT[,volatile-memdev=BACKEND][,persistent-memdev=BACKEND]
//!             [,partitionable-memdev=BACKEND[,partition-align=SIZE][,partition-volatile=SIZE]]
//!             [,lsa-size=SIZE][,lsa-file=PATH][,serial=N][,fw-version=STR]
//!             [,dc-regions=N,dc-regions-total-size=SIZE[,dc-block-size=SIZE][,dc-sanitize=on|off]
//!              [,dc-memdev=BACKEND][,dc-event-log-depth=N]]
//! --cxl-fmw targets=HB[:HB...],size=SIZE[,granularity=SIZE][,qtg=N]
//! ```
//!
//! Short form: `--cxl SIZE[,serial=N][,memdev=memfd|file:PATH][,share=on|off][,lsa-size=SIZE]`
//! gives one host bridge, one root port, one Type 3 device with SIZE of
//! volatile memory, and a window over it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use arch::layout::{CXL_FMW_ALIGN, CXL_FMW_SIZE};
use devices::cxl::dcd::{DcConfig, DcRegions};
use devices::cxl::decode::Interleave;
use devices::cxl::memdev::MemdevConfig;
use devices::memory::{BackendConfig, BackendKind};
use uuid::Uuid;

use crate::options::KeyValues;

/// Capacities and windows come in 256 MiB units (CXL 3.1 8.2.9.9.1.1, 9.18.1.3).
pub const CXL_UNIT: u64 = CXL_FMW_ALIGN;
/// Most CXL host bridges (each gets 16 buses).
pub const MAX_HOST_BRIDGES: usize = arch::layout::CXL_MAX_HOST_BRIDGES;
/// Most root ports per host bridge: each needs a bus of its own below the
/// bridge's root bus, out of the bridge's 16.
pub const MAX_ROOT_PORTS: usize = arch::layout::CXL_BUSES_PER_BRIDGE as usize - 1;
/// Default partition alignment (CXL 3.1 8.2.9.9.1.1: a multiple of 256 MiB).
pub const DEFAULT_PARTITION_ALIGN: u64 = CXL_UNIT;
/// Default firmware revision string.
pub const DEFAULT_FW_VERSION: &str = "cxlvmm-0.1";

/// A CXL host bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostBridgeSpec {
    /// Identifier.
    pub id: String,
}

/// A CXL root port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPortSpec {
    /// Identifier.
    pub id: String,
    /// Host bridge it sits on.
    pub bridge: String,
    /// Port number (the host bridge decoders' target ID); `None` until
    /// [`CxlConfig::finish`] numbers the ports given without one.
    pub port: Option<u8>,
}

impl RootPortSpec {
    /// The port number (every port has one once the configuration is
    /// finished).
    pub fn number(&self) -> u8 {
        self.port.unwrap_or_default()
    }
}

/// Dynamic Capacity of a Type 3 device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcSpec {
    /// Number of DC regions (1 to 8).
    pub regions: u8,
    /// Total DC capacity, split equally between the regions.
    pub total_size: u64,
    /// Block size of every region.
    pub block_size: u64,
    /// Sanitize on Release for every region.
    pub sanitize_on_release: bool,
    /// Backend behind the whole DC range (for untagged adds); none for a
    /// DC-only device whose extents all come from tagged backends.
    pub memdev: Option<String>,
    /// Depth of the Dynamic Capacity Event Log.
    pub event_log_depth: u16,
}

/// Default DC block size (Linux requires 2 MiB-aligned extents).
pub const DEFAULT_DC_BLOCK_SIZE: u64 = 2 << 20;
/// Default Dynamic Capacity Event Log depth (a 9-extent add fits many times).
pub const DEFAULT_DC_EVENT_LOG_DEPTH: u16 = 256;

/// Partitionable capacity of a Type 3 device (CXL 3.1 8.2.9.9.2): Set
/// Partition Info splits it between volatile and persistent use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Backend behind it; its size is the partitionable capacity.
    pub memdev: String,
    /// Partition Alignment.
    pub align: u64,
    /// Volatile part at power-on.
    pub volatile: u64,
}

/// A CXL Type 3 memory device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Type3Spec {
    /// Identifier.
    pub id: String,
    /// Root port it sits below.
    pub port: String,
    /// Backend of the volatile partition.
    pub volatile: Option<String>,
    /// Backend of the persistent partition.
    pub persistent: Option<String>,
    /// Partitionable capacity, if any.
    pub partition: Option<PartitionSpec>,
    /// Label storage area size.
    pub lsa_size: u32,
    /// File the LSA persists to.
    pub lsa_file: Option<PathBuf>,
    /// Serial number.
    pub serial: u64,
    /// Firmware revision string.
    pub fw_version: String,
    /// Dynamic Capacity, if any.
    pub dc: Option<DcSpec>,
}

impl Type3Spec {
    /// The memory device configuration the device is built with, given the
    /// sizes of its volatile, persistent and partitionable backends and
    /// whether a backend sits behind its DC range (the one place both the
    /// checks below and the device builder take it from).
    pub fn memdev_config(
        &self,
        volatile_bytes: u64,
        persistent_bytes: u64,
        partitionable_bytes: u64,
        dc_backed: bool,
    ) -> MemdevConfig {
        let (align, initial) = match &self.partition {
            Some(p) => (p.align, p.volatile),
            None => (0, 0),
        };
        let mut memdev = MemdevConfig {
            name: self.id.clone(),
            serial: self.serial,
            volatile_bytes,
            persistent_bytes,
            partitionable_bytes,
            partition_align_bytes: align,
            initial_partition_volatile_bytes: initial,
            lsa_size: self.lsa_size,
            lsa_file: self.lsa_file.clone(),
            fw_revision: self.fw_version.clone(),
            ..MemdevConfig::default()
        };
        if let Some(dc) = &self.dc {
            memdev.dc = DcConfig {
                regions: DcRegions::Equal {
                    count: dc.regions,
                    total_bytes: dc.total_size,
                    block_size: dc.block_size,
                    sanitize_on_release: dc.sanitize_on_release,
                },
                static_backing: dc_backed,
                ..DcConfig::default()
            };
            memdev.event_log_depths.dynamic_capacity = dc.event_log_depth;
        }
        memdev
    }
}

/// A CXL fixed memory window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    /// Host bridges, in interleave order.
    pub targets: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Interleave granularity in bytes.
    pub granularity: u64,
    /// QoS throttling group.
    pub qtg: u16,
}

/// The whole CXL configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CxlConfig {
    /// Host memory backends.
    pub backends: Vec<BackendConfig>,
    /// Host bridges (ACPI `_UID` = index + 1).
    pub host_bridges: Vec<HostBridgeSpec>,
    /// Root ports.
    pub root_ports: Vec<RootPortSpec>,
    /// Type 3 devices.
    pub devices: Vec<Type3Spec>,
    /// Fixed memory windows.
    pub windows: Vec<WindowSpec>,
}

fn tag(flag: &str, s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| format!("{flag}: tag '{s}' is not a UUID"))
}

/// Parses `--memory-backend`.
pub fn parse_backend(s: &str) -> Result<BackendConfig, String> {
    const F: &str = "--memory-backend";
    let kv = KeyValues::parse(
        F,
        s,
        &["id", "size", "kind", "path", "share", "prealloc", "tag"],
        None,
    )?;
    let path = kv.get("path").map(PathBuf::from);
    let kind = match (kv.get("kind").unwrap_or("memfd"), &path) {
        ("memfd", None) => BackendKind::Memfd,
        ("memfd", Some(_)) => return Err(format!("{F}: a memfd backend takes no path")),
        ("file", Some(_)) => BackendKind::File,
        ("hugetlbfs", Some(_)) => BackendKind::Hugetlbfs,
        ("file" | "hugetlbfs", None) => return Err(format!("{F}: kind needs path=")),
        (k, _) => return Err(format!("{F}: kind '{k}' is not memfd, file or hugetlbfs")),
    };
    let backend = BackendConfig {
        id: kv.required("id")?.to_string(),
        kind,
        path,
        size: kv
            .size("size")?
            .ok_or_else(|| format!("{F}: 'size' is required"))?,
        share: kv.bool("share")?.unwrap_or(true),
        prealloc: kv.bool("prealloc")?.unwrap_or(false),
        tag: kv.get("tag").map(|t| tag(F, t)).transpose()?,
    };
    backend
        .check_size(BackendConfig::MIN_PAGE_SIZE)
        .map_err(|e| format!("{F}: {e}"))?;
    Ok(backend)
}

/// Parses `--cxl-host-bridge`.
pub fn parse_host_bridge(s: &str) -> Result<HostBridgeSpec, String> {
    let kv = KeyValues::parse("--cxl-host-bridge", s, &["id"], Some("id"))?;
    Ok(HostBridgeSpec {
        id: kv.required("id")?.to_string(),
    })
}

/// Parses `--cxl-root-port`; `index` numbers ports without `port=`.
pub fn parse_root_port(s: &str) -> Result<RootPortSpec, String> {
    const F: &str = "--cxl-root-port";
    let kv = KeyValues::parse(F, s, &["id", "bus", "port"], None)?;
    let port = match kv.int("port")? {
        Some(p) => Some(u8::try_from(p).map_err(|_| format!("{F}: port {p} is above 255"))?),
        None => None, // numbered in order later
    };
    Ok(RootPortSpec {
        id: kv.required("id")?.to_string(),
        bridge: kv.required("bus")?.to_string(),
        port,
    })
}

/// Parses `--cxl-type3`.
pub fn parse_type3(s: &str) -> Result<Type3Spec, String> {
    const F: &str = "--cxl-type3";
    let kv = KeyValues::parse(
        F,
        s,
        &[
            "id",
            "port",
            "volatile-memdev",
            "persistent-memdev",
            "partitionable-memdev",
            "partition-align",
            "partition-volatile",
            "lsa-size",
            "lsa-file",
            "serial",
            "fw-version",
            "dc-regions",
            "dc-regions-total-size",
            "dc-block-size",
            "dc-sanitize",
            "dc-memdev",
            "dc-event-log-depth",
        ],
        None,
    )?;
    let lsa = kv.size("lsa-size")?.unwrap_or(0);
    let dc = match (kv.int("dc-regions")?, kv.size("dc-regions-total-size")?) {
        (None, None) => {
            for k in [
                "dc-block-size",
                "dc-sanitize",
                "dc-memdev",
                "dc-event-log-depth",
            ] {
                if kv.get(k).is_some() {
                    return Err(format!("{F}: {k} needs dc-regions-total-size"));
                }
            }
            None
        }
        (n, Some(total)) => {
            let regions = n.unwrap_or(1);
            if !(1..=8).contains(&regions) {
                return Err(format!("{F}: dc-regions must be 1 to 8, not {regions}"));
            }
            let depth = kv
                .int("dc-event-log-depth")?
                .unwrap_or(u64::from(DEFAULT_DC_EVENT_LOG_DEPTH));
            Some(DcSpec {
                regions: regions as u8,
                total_size: total,
                block_size: kv.size("dc-block-size")?.unwrap_or(DEFAULT_DC_BLOCK_SIZE),
                sanitize_on_release: kv.bool("dc-sanitize")?.unwrap_or(false),
                memdev: kv.get("dc-memdev").map(str::to_string),
                event_log_depth: u16::try_from(depth)
                    .map_err(|_| format!("{F}: dc-event-log-depth {depth} is too large"))?,
            })
        }
        (Some(_), None) => return Err(format!("{F}: dc-regions needs dc-regions-total-size")),
    };
    let partition = match kv.get("partitionable-memdev") {
        Some(b) => Some(PartitionSpec {
            memdev: b.to_string(),
            align: kv
                .size("partition-align")?
                .unwrap_or(DEFAULT_PARTITION_ALIGN),
            volatile: kv.size("partition-volatile")?.unwrap_or(0),
        }),
        None => {
            for k in ["partition-align", "partition-volatile"] {
                if kv.get(k).is_some() {
                    return Err(format!("{F}: {k} needs partitionable-memdev"));
                }
            }
            None
        }
    };
    Ok(Type3Spec {
        id: kv.required("id")?.to_string(),
        port: kv.required("port")?.to_string(),
        volatile: kv.get("volatile-memdev").map(str::to_string),
        persistent: kv.get("persistent-memdev").map(str::to_string),
        partition,
        lsa_size: u32::try_from(lsa).map_err(|_| format!("{F}: lsa-size too large"))?,
        lsa_file: kv.get("lsa-file").map(PathBuf::from),
        serial: kv.int("serial")?.unwrap_or(0),
        fw_version: kv
            .get("fw-version")
            .unwrap_or(DEFAULT_FW_VERSION)
            .to_string(),
        dc,
    })
}

/// Parses `--cxl-fmw`.
pub fn parse_window(s: &str) -> Result<WindowSpec, String> {
    const F: &str = "--cxl-fmw";
    let kv = KeyValues::parse(F, s, &["targets", "size", "granularity", "qtg"], None)?;
    let qtg = kv.int("qtg")?.unwrap_or(0);
    Ok(WindowSpec {
        targets: kv
            .required("targets")?
            .split(':')
            .map(str::to_string)
            .collect(),
        size: kv
            .size("size")?
            .ok_or_else(|| format!("{F}: 'size' is required"))?,
        granularity: kv.size("granularity")?.unwrap_or(256),
        qtg: u16::try_from(qtg).map_err(|_| format!("{F}: qtg {qtg} too large"))?,
    })
}

/// Expands `--cxl SIZE[,...]` into one bridge, port, device and window.
pub fn parse_short(s: &str, index: usize) -> Result<CxlConfig, String> {
    const F: &str = "--cxl";
    let kv = KeyValues::parse(
        F,
        s,
        &[
            "size",
            "serial",
            "memdev",
            "share",
            "lsa-size",
            "fw-version",
        ],
        Some("size"),
    )?;
    let size = kv
        .size("size")?
        .ok_or_else(|| format!("{F}: a size is required"))?;
    let (kind, path) = match kv.get("memdev").unwrap_or("memfd") {
        "memfd" => (BackendKind::Memfd, None),
        m => match m.strip_prefix("file:") {
            Some(p) if !p.is_empty() => (BackendKind::File, Some(PathBuf::from(p))),
            _ => return Err(format!("{F}: memdev '{m}' is not memfd or file:PATH")),
        },
    };
    let n = |what: &str| format!("{what}{index}");
    let lsa = kv.size("lsa-size")?.unwrap_or(0);
    Ok(CxlConfig {
        backends: vec![BackendConfig {
            id: n("cxl-vmem"),
            kind,
            path,
            size,
            share: kv.bool("share")?.unwrap_or(true),
            prealloc: false,
            tag: None,
        }],
        host_bridges: vec![HostBridgeSpec { id: n("cxl-hb") }],
        root_ports: vec![RootPortSpec {
            id: n("cxl-rp"),
            bridge: n("cxl-hb"),
            port: Some(0),
        }],
        devices: vec![Type3Spec {
            id: n("cxl-mem"),
            port: n("cxl-rp"),
            volatile: Some(n("cxl-vmem")),
            persistent: None,
            partition: None,
            lsa_size: u32::try_from(lsa).map_err(|_| format!("{F}: lsa-size too large"))?,
            lsa_file: None,
            serial: kv.int("serial")?.unwrap_or(index as u64 + 1),
            fw_version: kv
                .get("fw-version")
                .unwrap_or(DEFAULT_FW_VERSION)
                .to_string(),
            dc: None,
        }],
        windows: vec![WindowSpec {
            targets: vec![n("cxl-hb")],
            size: size
                .checked_next_multiple_of(CXL_UNIT)
                .ok_or_else(|| format!("{F}: size {size:#x} is too large"))?,
            granularity: 256,
            qtg: 0,
        }],
    })
}

fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(format!("{what} '{id}' is defined twice"));
        }
    }
    Ok(())
}

impl CxlConfig {
    /// Appends another configuration (a short-form expansion).
    pub fn extend(&mut self, other: CxlConfig) {
        self.backends.extend(other.backends);
        self.host_bridges.extend(other.host_bridges);
        self.root_ports.extend(other.root_ports);
        self.devices.extend(other.devices);
        self.windows.extend(other.windows);
    }

    /// True if there is no CXL hardware at all.
    pub fn is_empty(&self) -> bool {
        self.host_bridges.is_empty()
    }

    /// Numbers root ports given without `port=` (the lowest numbers their
    /// bridge has free, in order) and checks the whole topology.
    pub fn finish(mut self) -> Result<Self, String> {
        // Ports without a number get the lowest ones their bridge has free.
        let mut taken: BTreeMap<String, BTreeSet<u8>> = BTreeMap::new();
        for rp in &self.root_ports {
            if let Some(p) = rp.port {
                taken.entry(rp.bridge.clone()).or_default().insert(p);
            }
        }
        for rp in self.root_ports.iter_mut().filter(|r| r.port.is_none()) {
            let used = taken.entry(rp.bridge.clone()).or_default();
            let free = (0..=u8::MAX).find(|p| !used.contains(p)).ok_or_else(|| {
                format!("CXL host bridge '{}': no free root port number", rp.bridge)
            })?;
            used.insert(free);
            rp.port = Some(free);
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<(), String> {
        unique(
            "memory backend",
            self.backends.iter().map(|b| b.id.as_str()),
        )?;
        unique(
            "CXL host bridge",
            self.host_bridges.iter().map(|h| h.id.as_str()),
        )?;
        unique(
            "CXL root port",
            self.root_ports.iter().map(|r| r.id.as_str()),
        )?;
        unique("CXL device", self.devices.iter().map(|d| d.id.as_str()))?;
        if self.host_bridges.len() > MAX_HOST_BRIDGES {
            return Err(format!("at most {MAX_HOST_BRIDGES} CXL host bridges"));
        }
        let backend = |id: &str| self.backends.iter().find(|b| b.id == id);
        for hb in &self.host_bridges {
            let ports: Vec<&RootPortSpec> = self
                .root_ports
                .iter()
                .filter(|r| r.bridge == hb.id)
                .collect();
            if ports.len() > MAX_ROOT_PORTS {
                return Err(format!(
                    "CXL host bridge '{}': at most {MAX_ROOT_PORTS} root ports",
                    hb.id
                ));
            }
            let mut nums: Vec<u8> = ports.iter().map(|r| r.number()).collect();
            nums.sort_unstable();
            nums.dedup();
            if nums.len() != ports.len() {
                return Err(format!(
                    "CXL host bridge '{}': two root ports share a port number",
                    hb.id
                ));
            }
        }
        for rp in &self.root_ports {
            if !self.host_bridges.iter().any(|h| h.id == rp.bridge) {
                return Err(format!(
                    "CXL root port '{}': no CXL host bridge '{}'",
                    rp.id, rp.bridge
                ));
            }
        }
        let mut used_ports = BTreeSet::new();
        let mut used_backends = BTreeSet::new();
        for d in &self.devices {
            if !self.root_ports.iter().any(|r| r.id == d.port) {
                return Err(format!(
                    "CXL device '{}': no CXL root port '{}'",
                    d.id, d.port
                ));
            }
            if !used_ports.insert(d.port.as_str()) {
                return Err(format!("CXL root port '{}' has two devices", d.port));
            }
            if d.volatile.is_none()
                && d.persistent.is_none()
                && d.partition.is_none()
                && d.dc.is_none()
            {
                return Err(format!(
                    "CXL device '{}': needs volatile-memdev, persistent-memdev, partitionable-memdev or dc-regions-total-size",
                    d.id
                ));
            }
            let dc_memdev = d.dc.as_ref().and_then(|dc| dc.memdev.clone());
            let part_memdev = d.partition.as_ref().map(|p| p.memdev.clone());
            for b in [&d.volatile, &d.persistent, &part_memdev, &dc_memdev]
                .into_iter()
                .flatten()
            {
                let be = backend(b)
                    .ok_or_else(|| format!("CXL device '{}': no memory backend '{b}'", d.id))?;
                if !used_backends.insert(b.clone()) {
                    return Err(format!("memory backend '{b}' is used twice"));
                }
                if be.size == 0 || !be.size.is_multiple_of(CXL_UNIT) {
                    return Err(format!(
                        "memory backend '{b}' of CXL device '{}': size must be a multiple of 256M",
                        d.id
                    ));
                }
            }
            self.check_memdev(d, dc_memdev.as_deref())?;
        }
        let mut total = 0u64;
        for (i, w) in self.windows.iter().enumerate() {
            let name = format!("--cxl-fmw #{i}");
            if w.size == 0 || !w.size.is_multiple_of(CXL_UNIT) {
                return Err(format!("{name}: size must be a multiple of 256M"));
            }
            Interleave::new(w.targets.len() as u32, w.granularity).map_err(|e| {
                format!(
                    "{name}: {} targets, granularity {}: {e:?}",
                    w.targets.len(),
                    w.granularity
                )
            })?;
            let mut seen = BTreeSet::new();
            for t in &w.targets {
                if !seen.insert(t) {
                    return Err(format!("{name}: CXL host bridge '{t}' is a target twice"));
                }
                if !self.host_bridges.iter().any(|h| &h.id == t) {
                    return Err(format!("{name}: no CXL host bridge '{t}'"));
                }
                if !self.root_ports.iter().any(|r| &r.bridge == t) {
                    return Err(format!("{name}: CXL host bridge '{t}' has no root port"));
                }
            }
            total = total.saturating_add(w.size);
        }
        if total > CXL_FMW_SIZE {
            return Err(format!(
                "CXL windows total {total:#x} bytes, more than the {CXL_FMW_SIZE:#x} reserved"
            ));
        }
        if !self.devices.is_empty() && self.windows.is_empty() {
            return Err("CXL devices need a window (--cxl-fmw)".into());
        }
        Ok(())
    }

    /// What the device itself would refuse at build time: the memory device
    /// configuration (DC regions and block size, firmware version, LSA
    /// size, event log depth) and a DC backend too small for the DC range.
    fn check_memdev(&self, d: &Type3Spec, dc_memdev: Option<&str>) -> Result<(), String> {
        let size = |id: &Option<String>| {
            id.as_deref()
                .and_then(|id| self.backends.iter().find(|b| b.id == id))
                .map_or(0, |b| b.size)
        };
        let part_memdev = d.partition.as_ref().map(|p| p.memdev.clone());
        let memdev = d.memdev_config(
            size(&d.volatile),
            size(&d.persistent),
            size(&part_memdev),
            dc_memdev.is_some(),
        );
        memdev
            .validate()
            .map_err(|e| format!("CXL device '{}': {e}", d.id))?;
        if let Some(b) = dc_memdev {
            let regions = memdev
                .dc_regions()
                .map_err(|e| format!("CXL device '{}': {e}", d.id))?;
            let need = match (regions.first(), regions.last()) {
                (Some(first), Some(last)) => last.end() - first.base,
                _ => 0,
            };
            let have = size(&Some(b.to_string()));
            if have < need {
                return Err(format!(
                    "memory backend '{b}' of CXL device '{}' has {have:#x} bytes, its DC regions need {need:#x}",
                    d.id
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "cxl_config_tests.rs"]
mod tests;
