//! What the guest's ACPI tables describe, and the checks it must pass.

use arch::layout;

use crate::Error;

/// Everything the tables describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiConfig {
    /// vCPU count; vCPU `i` has APIC ID and ACPI processor UID `i`.
    pub cpus: u32,
    /// PCI host bridges, all in segment 0. The first one decodes the
    /// 0xcf8 configuration ports; a PCIe bridge with `_UID` 0 is `\_SB.PCI0`.
    pub host_bridges: Vec<HostBridge>,
    /// CXL fixed memory windows (CEDT CFMWS).
    pub cxl_windows: Vec<CxlWindow>,
    /// Guest RAM as `(base, size)` ranges (holes allowed). If not empty, an
    /// SRAT puts them and every vCPU in proximity domain 0, which makes
    /// Linux give each CXL fixed memory window a NUMA node of its own, and
    /// gives each CXL host bridge a generic port; an HMAT then reports
    /// [`ram_perf`](Self::ram_perf) and
    /// [`host_bridge_perf`](Self::host_bridge_perf).
    pub ram: Vec<(u64, u64)>,
    /// What the HMAT reports from the vCPUs to the RAM.
    pub ram_perf: AccessPerf,
    /// What the HMAT reports from the vCPUs to each CXL host bridge (its
    /// generic port): Linux adds the CXL path below it (links, switches and
    /// the device's CDAT) to get a device's performance and QoS class.
    pub host_bridge_perf: AccessPerf,
}

/// Latencies and bandwidths between an initiator and a target (HMAT System
/// Locality Latency and Bandwidth Information, ACPI 6.5 5.2.28.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPerf {
    /// Read latency in nanoseconds, 1..=[`AccessPerf::MAX_LATENCY_NS`].
    pub read_latency_ns: u32,
    /// Write latency in nanoseconds, 1..=[`AccessPerf::MAX_LATENCY_NS`].
    pub write_latency_ns: u32,
    /// Read bandwidth in MB/s, 1..=[`AccessPerf::MAX_BANDWIDTH_MBPS`].
    pub read_bandwidth_mbps: u32,
    /// Write bandwidth in MB/s, 1..=[`AccessPerf::MAX_BANDWIDTH_MBPS`].
    pub write_bandwidth_mbps: u32,
}

impl AccessPerf {
    /// Largest latency: 1 ms (Linux wants entry x base unit, in
    /// picoseconds, to fit 32 bits).
    pub const MAX_LATENCY_NS: u32 = 1_000_000;
    /// Largest bandwidth: 100 TB/s (the same 32-bit limit, in MB/s).
    pub const MAX_BANDWIDTH_MBPS: u32 = 100_000_000;

    /// Local DRAM: 80 ns, 51.2 GB/s (one DDR5-6400 channel).
    pub const DRAM: Self = Self {
        read_latency_ns: 80,
        write_latency_ns: 80,
        read_bandwidth_mbps: 51_200,
        write_bandwidth_mbps: 51_200,
    };

    /// A CPU to a CXL host bridge's generic port: 100 ns, 64 GB/s.
    pub const CXL_HOST_BRIDGE: Self = Self {
        read_latency_ns: 100,
        write_latency_ns: 100,
        read_bandwidth_mbps: 64_000,
        write_bandwidth_mbps: 64_000,
    };

    fn validate(&self) -> Result<(), String> {
        let latencies = [self.read_latency_ns, self.write_latency_ns];
        let bandwidths = [self.read_bandwidth_mbps, self.write_bandwidth_mbps];
        if latencies
            .iter()
            .any(|l| !(1..=Self::MAX_LATENCY_NS).contains(l))
        {
            return Err(format!(
                "latencies {latencies:?} ns must be 1..={}",
                Self::MAX_LATENCY_NS
            ));
        }
        if bandwidths
            .iter()
            .any(|b| !(1..=Self::MAX_BANDWIDTH_MBPS).contains(b))
        {
            return Err(format!(
                "bandwidths {bandwidths:?} MB/s must be 1..={}",
                Self::MAX_BANDWIDTH_MBPS
            ));
        }
        Ok(())
    }
}

/// A PCI host bridge: a PCIe root complex or a CXL host bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBridge {
    /// `_UID` (0..=255); also the CHBS UID and the CFMWS target id.
    pub uid: u32,
    /// First bus number (`_BBN`).
    pub bus_start: u8,
    /// Last bus number.
    pub bus_end: u8,
    /// I/O port window `(base, length)`.
    pub io: Option<(u16, u16)>,
    /// 32-bit memory window `(base, length)`; length 0 means none.
    pub mmio32: (u64, u64),
    /// 64-bit memory window `(base, length)`; length 0 means none.
    pub mmio64: (u64, u64),
    /// PCIe or CXL.
    pub kind: HostBridgeKind,
}

/// What kind of host bridge a [`HostBridge`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostBridgeKind {
    /// A PCI Express root complex (`PNP0A08`).
    Pcie,
    /// A CXL 2.0+ host bridge (`ACPI0016`, CXL 3.1 9.17.1) with a CHBS
    /// (CXL 3.1 9.18.1.2).
    Cxl {
        /// Guest-physical base of its component register block (CHBCR),
        /// [`layout::CXL_CHBS_SIZE`] bytes inside the
        /// [`layout::CXL_CHBS_START`] area.
        chbs_base: u64,
    },
}

/// A CXL fixed memory window (CXL 3.1 9.18.1.3, CFMWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxlWindow {
    /// Base HPA, 256 MiB aligned, inside the [`layout::CXL_FMW_START`] region.
    pub base: u64,
    /// Window size, a multiple of `interleave_ways` x 256 MiB.
    pub size: u64,
    /// Host bridge interleave ways: 1, 2, 4, 8, 16, 3, 6 or 12.
    pub interleave_ways: u32,
    /// Host bridge interleave granularity: a power of two, 256 B..=16 KiB.
    pub granularity_bytes: u32,
    /// Window Restrictions: an OR of the `CxlWindow::*` restriction bits.
    pub restrictions: u16,
    /// QoS Throttling Group this window belongs to.
    pub qtg_id: u16,
    /// `_UID`s of the CXL host bridges interleaved, in interleave order.
    pub targets: Vec<u32>,
}

impl CxlWindow {
    /// Window Restrictions bit 0: Device Coherent (CXL 2.0: Type 2 memory).
    pub const DEVICE_COHERENT: u16 = 1 << 0;
    /// Window Restrictions bit 1: Host-only Coherent (CXL 2.0: Type 3 memory).
    pub const HOST_ONLY_COHERENT: u16 = 1 << 1;
    /// Window Restrictions bit 2: volatile memory.
    pub const VOLATILE: u16 = 1 << 2;
    /// Window Restrictions bit 3: persistent memory.
    pub const PERSISTENT: u16 = 1 << 3;
    /// Window Restrictions bit 4: fixed device configuration.
    pub const FIXED_CONFIG: u16 = 1 << 4;
    /// Window Restrictions bit 5: Back-Invalidate coherent.
    pub const BACK_INVALIDATE: u16 = 1 << 5;
    /// Bits 15:6 are reserved.
    const RESERVED_RESTRICTIONS: u16 = !0x3f;
}

impl AcpiConfig {
    /// Proximity domain of every vCPU and all RAM.
    pub const CPU_PROXIMITY_DOMAIN: u32 = 0;

    /// `cpus` vCPUs behind the single host bridge [`HostBridge::pci0`], no
    /// CXL and no SRAT; [`AccessPerf::DRAM`] and
    /// [`AccessPerf::CXL_HOST_BRIDGE`] for the HMAT.
    pub fn new(cpus: u32) -> Self {
        Self {
            cpus,
            host_bridges: vec![HostBridge::pci0()],
            cxl_windows: Vec::new(),
            ram: Vec::new(),
            ram_perf: AccessPerf::DRAM,
            host_bridge_perf: AccessPerf::CXL_HOST_BRIDGE,
        }
    }

    /// The generic ports (SRAT, ACPI 6.5 5.2.16.7): `(_UID, proximity
    /// domain)` of each CXL host bridge, in [`host_bridges`](Self::host_bridges)
    /// order.
    ///
    /// Linux gives each CFMWS window the SRAT does not cover a proximity
    /// domain of its own, counting up from the highest one its SRAT CPU and
    /// memory entries use (drivers/acpi/numa/srat.c, `acpi_numa_init`,
    /// `fake_pxm`), and does not make a node of a generic port's domain. So
    /// the generic ports come after one domain per window: the windows' nodes
    /// stay node 1, 2, ..., and no window's domain is a generic port's, which
    /// the HMAT code (drivers/acpi/numa/hmat.c) looks targets up by.
    pub(crate) fn generic_ports(&self) -> Vec<(u32, u32)> {
        let first = Self::CPU_PROXIMITY_DOMAIN + 1 + self.cxl_windows.len() as u32;
        self.host_bridges
            .iter()
            .filter(|hb| hb.chbs_base().is_some())
            .zip(first..)
            .map(|(hb, pxm)| (hb.uid, pxm))
            .collect()
    }

    /// Whether any host bridge is a CXL host bridge.
    pub(crate) fn has_cxl(&self) -> bool {
        self.host_bridges
            .iter()
            .any(|hb| matches!(hb.kind, HostBridgeKind::Cxl { .. }))
    }

    /// Checks everything [`build`](crate::build) relies on.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.cpus == 0 || self.cpus > layout::MAX_VCPUS {
            return Err(Error::CpuCount(self.cpus));
        }
        if self.host_bridges.is_empty() {
            return Err(Error::NoHostBridge);
        }
        for (i, hb) in self.host_bridges.iter().enumerate() {
            hb.validate()
                .and_then(|()| hb.check_disjoint(&self.host_bridges[..i]))
                .map_err(|reason| Error::HostBridge {
                    uid: hb.uid,
                    reason,
                })?;
        }
        for (index, w) in self.cxl_windows.iter().enumerate() {
            w.validate(&self.host_bridges, &self.cxl_windows[..index])
                .map_err(|reason| Error::CxlWindow { index, reason })?;
        }
        for (index, &(base, size)) in self.ram.iter().enumerate() {
            if size == 0 || base.checked_add(size).is_none() {
                return Err(Error::Ram {
                    index,
                    reason: format!("bad range {base:#x}+{size:#x}"),
                });
            }
        }
        self.ram_perf.validate().map_err(|reason| Error::Perf {
            what: "RAM",
            reason,
        })?;
        self.host_bridge_perf
            .validate()
            .map_err(|reason| Error::Perf {
                what: "CXL host bridge",
                reason,
            })?;
        Ok(())
    }
}

/// Largest `_UID` we accept: it is also part of the device's 4-character name.
const MAX_UID: u32 = 0xff;

impl HostBridge {
    /// The PCIe root complex `\_SB.PCI0` owning every bus and window of
    /// [`layout`].
    pub fn pci0() -> Self {
        Self {
            uid: 0,
            bus_start: layout::PCI_ECAM_BUS_START,
            bus_end: layout::PCI_ECAM_BUS_END,
            io: Some((layout::PCI_IO_START, layout::PCI_IO_SIZE)),
            mmio32: (layout::PCI_MMIO32_START, layout::PCI_MMIO32_SIZE),
            mmio64: (layout::PCI_MMIO64_START, layout::PCI_MMIO64_SIZE),
            kind: HostBridgeKind::Pcie,
        }
    }

    /// The ACPI device name: `PCIx`/`PCxx` for PCIe, `CXLx`/`CXxx` for CXL,
    /// where `x`/`xx` is the `_UID` in hex (so `_UID` 0 is `PCI0`).
    pub(crate) fn name(&self) -> String {
        let (short, long) = match self.kind {
            HostBridgeKind::Pcie => ("PCI", "PC"),
            HostBridgeKind::Cxl { .. } => ("CXL", "CX"),
        };
        if self.uid < 0x10 {
            format!("{short}{:X}", self.uid)
        } else {
            format!("{long}{:02X}", self.uid & MAX_UID)
        }
    }

    /// The component register block, for CXL host bridges.
    pub(crate) fn chbs_base(&self) -> Option<u64> {
        match self.kind {
            HostBridgeKind::Pcie => None,
            HostBridgeKind::Cxl { chbs_base } => Some(chbs_base),
        }
    }

    /// The memory windows with a non-zero length, as inclusive ranges.
    fn memory_ranges(&self) -> impl Iterator<Item = (u64, u64)> {
        [self.mmio32, self.mmio64]
            .into_iter()
            .filter(|&(_, len)| len != 0)
            .map(|(base, len)| (base, base.saturating_add(len - 1)))
    }

    fn validate(&self) -> Result<(), String> {
        if self.uid > MAX_UID {
            return Err(format!("_UID above {MAX_UID:#x}"));
        }
        let ecam_buses = layout::PCI_ECAM_BUS_START..=layout::PCI_ECAM_BUS_END;
        if self.bus_start > self.bus_end
            || !ecam_buses.contains(&self.bus_start)
            || !ecam_buses.contains(&self.bus_end)
        {
            return Err(format!(
                "bus range {:#x}..={:#x} outside the ECAM's {:#x}..={:#x}",
                self.bus_start,
                self.bus_end,
                layout::PCI_ECAM_BUS_START,
                layout::PCI_ECAM_BUS_END
            ));
        }
        if let Some((base, len)) = self.io {
            if len == 0 || u32::from(base) + u32::from(len) > 0x1_0000 {
                return Err(format!("bad I/O window {base:#x}+{len:#x}"));
            }
        }
        let (base, len) = self.mmio32;
        if len != 0 && base.checked_add(len).is_none_or(|end| end > 1 << 32) {
            return Err(format!("32-bit window {base:#x}+{len:#x} crosses 4 GiB"));
        }
        let (base, len) = self.mmio64;
        if len != 0 && base.checked_add(len).is_none() {
            return Err(format!("bad 64-bit window {base:#x}+{len:#x}"));
        }
        if let Some(chbs) = self.chbs_base() {
            let area_end = layout::CXL_CHBS_START + layout::CXL_CHBS_AREA_SIZE;
            if chbs < layout::CXL_CHBS_START
                || chbs
                    .checked_add(layout::CXL_CHBS_SIZE)
                    .is_none_or(|end| end > area_end)
                || !chbs.is_multiple_of(layout::CXL_CHBS_SIZE)
            {
                return Err(format!(
                    "CHBS base {chbs:#x} is not a {:#x}-aligned block in {:#x}..{area_end:#x}",
                    layout::CXL_CHBS_SIZE,
                    layout::CXL_CHBS_START
                ));
            }
        }
        Ok(())
    }

    /// Checks that `self` shares no `_UID`, bus, window or CHBS with `others`.
    fn check_disjoint(&self, others: &[HostBridge]) -> Result<(), String> {
        for o in others {
            if o.uid == self.uid {
                return Err("duplicate _UID".into());
            }
            if self.bus_start <= o.bus_end && o.bus_start <= self.bus_end {
                return Err(format!("bus range overlaps _UID {}", o.uid));
            }
            if let (Some((a, alen)), Some((b, blen))) = (self.io, o.io) {
                let (a, b) = (u32::from(a), u32::from(b));
                if a < b + u32::from(blen) && b < a + u32::from(alen) {
                    return Err(format!("I/O window overlaps _UID {}", o.uid));
                }
            }
            for (a_lo, a_hi) in self.memory_ranges() {
                if o.memory_ranges()
                    .any(|(b_lo, b_hi)| a_lo <= b_hi && b_lo <= a_hi)
                {
                    return Err(format!("memory window overlaps _UID {}", o.uid));
                }
            }
            if self.chbs_base().is_some() && self.chbs_base() == o.chbs_base() {
                return Err(format!("CHBS base shared with _UID {}", o.uid));
            }
        }
        Ok(())
    }
}

impl CxlWindow {
    /// Encoded Interleave Ways (ENIW, CXL 3.1 Table 9-22).
    pub(crate) fn eniw(&self) -> Result<u8, String> {
        match self.interleave_ways {
            1 => Ok(0),
            2 => Ok(1),
            4 => Ok(2),
            8 => Ok(3),
            16 => Ok(4),
            3 => Ok(8),
            6 => Ok(9),
            12 => Ok(10),
            ways => Err(format!("{ways} interleave ways")),
        }
    }

    /// Host Bridge Interleave Granularity (HBIG, CXL 3.1 Table 9-22): the
    /// granularity is `256 << HBIG` bytes, HBIG 0..=6.
    pub(crate) fn hbig(&self) -> Result<u32, String> {
        let g = self.granularity_bytes;
        match g.checked_ilog2().and_then(|log| log.checked_sub(8)) {
            Some(hbig) if g.is_power_of_two() && hbig <= 6 => Ok(hbig),
            _ => Err(format!("interleave granularity {g} bytes")),
        }
    }

    fn validate(&self, bridges: &[HostBridge], earlier: &[CxlWindow]) -> Result<(), String> {
        self.eniw()?;
        self.hbig()?;
        let ways = u64::from(self.interleave_ways);
        let region_end = layout::CXL_FMW_START + layout::CXL_FMW_SIZE;
        let end = self.base.saturating_add(self.size);
        if self.base < layout::CXL_FMW_START || end > region_end {
            return Err(format!(
                "{:#x}+{:#x} is outside {:#x}..{region_end:#x}",
                self.base,
                self.size,
                layout::CXL_FMW_START
            ));
        }
        if !self.base.is_multiple_of(layout::CXL_FMW_ALIGN) {
            return Err(format!("base {:#x} is not 256 MiB aligned", self.base));
        }
        let unit = ways * layout::CXL_FMW_ALIGN;
        if self.size == 0 || !self.size.is_multiple_of(unit) {
            return Err(format!(
                "size {:#x} is not a multiple of {unit:#x}",
                self.size
            ));
        }
        if self.restrictions & Self::RESERVED_RESTRICTIONS != 0 {
            return Err(format!(
                "reserved restriction bits in {:#x}",
                self.restrictions
            ));
        }
        if self.targets.len() as u64 != ways {
            return Err(format!("{} targets for {ways} ways", self.targets.len()));
        }
        for &t in &self.targets {
            if !bridges
                .iter()
                .any(|hb| hb.uid == t && hb.chbs_base().is_some())
            {
                return Err(format!("target _UID {t} is not a CXL host bridge"));
            }
        }
        for hb in bridges {
            if hb
                .memory_ranges()
                .any(|(lo, hi)| self.base <= hi && lo < end)
            {
                return Err(format!("overlaps a window of host bridge _UID {}", hb.uid));
            }
        }
        if let Some(i) = earlier
            .iter()
            .position(|o| self.base < o.base.saturating_add(o.size) && o.base < end)
        {
            return Err(format!("overlaps window {i}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cxl_bridge(uid: u32, buses: (u8, u8), chbs_base: u64) -> HostBridge {
        HostBridge {
            uid,
            bus_start: buses.0,
            bus_end: buses.1,
            io: None,
            mmio32: (0, 0),
            mmio64: (0, 0),
            kind: HostBridgeKind::Cxl { chbs_base },
        }
    }

    fn window(base: u64, ways: u32, targets: Vec<u32>) -> CxlWindow {
        CxlWindow {
            base,
            size: u64::from(ways) * layout::CXL_FMW_ALIGN,
            interleave_ways: ways,
            granularity_bytes: 256,
            restrictions: CxlWindow::HOST_ONLY_COHERENT | CxlWindow::VOLATILE,
            qtg_id: 0,
            targets,
        }
    }

    /// PCI0 on buses 0..=0x7f and CXL bridges 1 and 2 behind it.
    fn cxl_config() -> AcpiConfig {
        let mut cfg = AcpiConfig::new(2);
        cfg.host_bridges[0].bus_end = 0x7f;
        let chbs = layout::CXL_CHBS_START;
        cfg.host_bridges.push(cxl_bridge(1, (0x80, 0x8f), chbs));
        cfg.host_bridges
            .push(cxl_bridge(2, (0x90, 0x9f), chbs + layout::CXL_CHBS_SIZE));
        cfg.cxl_windows
            .push(window(layout::CXL_FMW_START, 2, vec![1, 2]));
        cfg
    }

    fn host_bridge_error(cfg: &AcpiConfig) -> String {
        match cfg.validate() {
            Err(Error::HostBridge { reason, .. }) => reason,
            other => panic!("expected a host bridge error, got {other:?}"),
        }
    }

    fn window_error(w: CxlWindow) -> String {
        let mut cfg = cxl_config();
        cfg.cxl_windows = vec![w];
        match cfg.validate() {
            Err(Error::CxlWindow { index: 0, reason }) => reason,
            other => panic!("expected a window error, got {other:?}"),
        }
    }

    #[test]
    fn valid_configs() {
        AcpiConfig::new(1).validate().unwrap();
        AcpiConfig::new(layout::MAX_VCPUS).validate().unwrap();
        cxl_config().validate().unwrap();
    }

    #[test]
    fn cpu_count() {
        for cpus in [0, layout::MAX_VCPUS + 1] {
            assert_eq!(AcpiConfig::new(cpus).validate(), Err(Error::CpuCount(cpus)));
        }
    }

    #[test]
    fn needs_a_host_bridge() {
        let mut cfg = AcpiConfig::new(1);
        cfg.host_bridges.clear();
        assert_eq!(cfg.validate(), Err(Error::NoHostBridge));
    }

    #[test]
    fn device_names() {
        let mut hb = HostBridge::pci0();
        assert_eq!(hb.name(), "PCI0");
        hb.uid = 0x1f;
        assert_eq!(hb.name(), "PC1F");
        let hb = cxl_bridge(1, (0, 0), 0);
        assert_eq!(hb.name(), "CXL1");
        let hb = cxl_bridge(0xab, (0, 0), 0);
        assert_eq!(hb.name(), "CXAB");
    }

    #[test]
    fn host_bridge_clashes() {
        let mut cfg = cxl_config();
        cfg.host_bridges[2].uid = 1;
        assert_eq!(host_bridge_error(&cfg), "duplicate _UID");

        let mut cfg = cxl_config();
        cfg.host_bridges[2].bus_start = 0x8f;
        assert!(host_bridge_error(&cfg).contains("bus range overlaps"));

        let mut cfg = cxl_config();
        cfg.host_bridges[1].mmio64 = (layout::PCI_MMIO64_START + 0x1000, 0x1000);
        assert!(host_bridge_error(&cfg).contains("memory window overlaps"));

        let mut cfg = cxl_config();
        cfg.host_bridges[1].io = Some((0xf000, 0x100));
        assert!(host_bridge_error(&cfg).contains("I/O window overlaps"));

        let mut cfg = cxl_config();
        cfg.host_bridges[2].kind = HostBridgeKind::Cxl {
            chbs_base: layout::CXL_CHBS_START,
        };
        assert!(host_bridge_error(&cfg).contains("CHBS base shared"));
    }

    #[test]
    fn host_bridge_shapes() {
        let bad = |f: &dyn Fn(&mut HostBridge)| {
            let mut cfg = cxl_config();
            f(&mut cfg.host_bridges[1]);
            host_bridge_error(&cfg)
        };
        assert!(bad(&|hb| hb.uid = 0x100).contains("_UID"));
        assert!(bad(&|hb| hb.bus_start = 0x90).contains("bus range"));
        assert!(bad(&|hb| hb.io = Some((0x1000, 0))).contains("I/O window"));
        assert!(bad(&|hb| hb.io = Some((0xff00, 0x200))).contains("I/O window"));
        assert!(bad(&|hb| hb.mmio32 = (0xffff_0000, 0x2_0000)).contains("crosses 4 GiB"));
        assert!(bad(&|hb| hb.mmio64 = (u64::MAX, 2)).contains("64-bit window"));
        let chbs = |base| HostBridgeKind::Cxl { chbs_base: base };
        assert!(bad(&|hb| hb.kind = chbs(layout::CXL_CHBS_START + 0x1000)).contains("CHBS"));
        assert!(bad(&|hb| hb.kind = chbs(layout::PCI_ECAM_START)).contains("CHBS"));
        let last = layout::CXL_CHBS_START + layout::CXL_CHBS_AREA_SIZE;
        assert!(bad(&|hb| hb.kind = chbs(last)).contains("CHBS"));
    }

    #[test]
    fn window_rules() {
        let base = layout::CXL_FMW_START;
        assert!(window_error(window(base, 5, vec![1; 5])).contains("5 interleave ways"));
        let mut w = window(base, 1, vec![1]);
        w.granularity_bytes = 128;
        assert!(window_error(w).contains("granularity"));
        let mut w = window(base, 1, vec![1]);
        w.granularity_bytes = 32 * 1024;
        assert!(window_error(w).contains("granularity"));
        assert!(window_error(window(base + 0x100_0000, 1, vec![1])).contains("256 MiB"));
        assert!(window_error(window(base - layout::CXL_FMW_ALIGN, 1, vec![1])).contains("outside"));
        let end = base + layout::CXL_FMW_SIZE;
        assert!(
            window_error(window(end - layout::CXL_FMW_ALIGN, 2, vec![1, 2])).contains("outside")
        );
        let mut w = window(base, 2, vec![1, 2]);
        w.size = layout::CXL_FMW_ALIGN * 3;
        assert!(window_error(w).contains("multiple"));
        let mut w = window(base, 1, vec![1]);
        w.size = 0;
        assert!(window_error(w).contains("multiple"));
        let mut w = window(base, 1, vec![1]);
        w.restrictions = 1 << 6;
        assert!(window_error(w).contains("reserved"));
        assert!(window_error(window(base, 2, vec![1])).contains("1 targets for 2 ways"));
        assert!(window_error(window(base, 1, vec![0])).contains("not a CXL host bridge"));
        assert!(window_error(window(base, 1, vec![9])).contains("not a CXL host bridge"));
        let mut cfg = cxl_config();
        cfg.host_bridges[1].mmio64 = (base + layout::CXL_FMW_ALIGN, 0x1000);
        assert!(matches!(
            cfg.validate(),
            Err(Error::CxlWindow { index: 0, ref reason }) if reason.contains("_UID 1")
        ));
    }

    #[test]
    fn windows_do_not_overlap() {
        let mut cfg = cxl_config();
        let second = layout::CXL_FMW_START + layout::CXL_FMW_ALIGN;
        cfg.cxl_windows.push(window(second, 1, vec![2]));
        assert!(matches!(
            cfg.validate(),
            Err(Error::CxlWindow { index: 1, ref reason }) if reason == "overlaps window 0"
        ));
        cfg.cxl_windows[1].base += layout::CXL_FMW_ALIGN;
        cfg.validate().unwrap();
    }

    #[test]
    fn perf_ranges() {
        let mut cfg = AcpiConfig::new(1);
        cfg.ram_perf.read_latency_ns = 0;
        assert!(matches!(
            cfg.validate(),
            Err(Error::Perf { what: "RAM", .. })
        ));
        let mut cfg = AcpiConfig::new(1);
        cfg.host_bridge_perf.write_latency_ns = AccessPerf::MAX_LATENCY_NS + 1;
        assert!(matches!(
            cfg.validate(),
            Err(Error::Perf { what: "CXL host bridge", ref reason }) if reason.contains("latencies")
        ));
        let mut cfg = AcpiConfig::new(1);
        cfg.host_bridge_perf.read_bandwidth_mbps = 0;
        assert!(matches!(cfg.validate(), Err(Error::Perf { .. })));
        cfg.host_bridge_perf.read_bandwidth_mbps = AccessPerf::MAX_BANDWIDTH_MBPS;
        cfg.host_bridge_perf.write_latency_ns = AccessPerf::MAX_LATENCY_NS;
        cfg.validate().unwrap();
    }

    #[test]
    fn ram_ranges() {
        let mut cfg = AcpiConfig::new(1);
        cfg.ram = vec![(0, 0x1000), (u64::MAX, 2)];
        assert!(matches!(cfg.validate(), Err(Error::Ram { index: 1, .. })));
        cfg.ram = vec![(0, 0)];
        assert!(matches!(cfg.validate(), Err(Error::Ram { index: 0, .. })));
    }
}
