//! The PCI Express Capability structure, version 2 (PCIe 6.0 7.5.3).
//!
//! [`pcie_capability`] builds it for an endpoint or a port, with the RO / RW /
//! RW1C masks of each field and a link that reports itself trained at the
//! configured speed and width. No ASPM, no hot-plug, no FLR, no optional
//! Device Capabilities 2 features: software finds nothing to enable.

use super::regblock::RegisterBlock;

/// Size of a version 2 PCI Express Capability (through Slot Status 2).
pub const PCIE_CAP_SIZE: usize = 0x3c;

// Register offsets from the capability start (PCIe 6.0 7.5.3, figure 7-23).
/// PCI Express Capabilities Register (PCIe 6.0 7.5.3.2).
pub const PCIE_CAPABILITIES: usize = 0x02;
/// Device Capabilities Register (PCIe 6.0 7.5.3.3).
pub const DEVICE_CAPABILITIES: usize = 0x04;
/// Device Control Register (PCIe 6.0 7.5.3.4).
pub const DEVICE_CONTROL: usize = 0x08;
/// Device Status Register (PCIe 6.0 7.5.3.5).
pub const DEVICE_STATUS: usize = 0x0a;
/// Link Capabilities Register (PCIe 6.0 7.5.3.6).
pub const LINK_CAPABILITIES: usize = 0x0c;
/// Link Control Register (PCIe 6.0 7.5.3.7).
pub const LINK_CONTROL: usize = 0x10;
/// Link Status Register (PCIe 6.0 7.5.3.8).
pub const LINK_STATUS: usize = 0x12;
/// Slot Capabilities Register (PCIe 6.0 7.5.3.9).
pub const SLOT_CAPABILITIES: usize = 0x14;
/// Slot Control Register (PCIe 6.0 7.5.3.10).
pub const SLOT_CONTROL: usize = 0x18;
/// Slot Status Register (PCIe 6.0 7.5.3.11).
pub const SLOT_STATUS: usize = 0x1a;
/// Root Control Register (PCIe 6.0 7.5.3.12).
pub const ROOT_CONTROL: usize = 0x1c;
/// Root Capabilities Register (PCIe 6.0 7.5.3.13).
pub const ROOT_CAPABILITIES: usize = 0x1e;
/// Root Status Register (PCIe 6.0 7.5.3.14).
pub const ROOT_STATUS: usize = 0x20;
/// Device Capabilities 2 Register (PCIe 6.0 7.5.3.15).
pub const DEVICE_CAPABILITIES_2: usize = 0x24;
/// Device Control 2 Register (PCIe 6.0 7.5.3.16).
pub const DEVICE_CONTROL_2: usize = 0x28;
/// Link Capabilities 2 Register (PCIe 6.0 7.5.3.18).
pub const LINK_CAPABILITIES_2: usize = 0x2c;
/// Link Control 2 Register (PCIe 6.0 7.5.3.19).
pub const LINK_CONTROL_2: usize = 0x30;
/// Link Status 2 Register (PCIe 6.0 7.5.3.20).
pub const LINK_STATUS_2: usize = 0x32;

/// Capability Version field value.
pub const PCIE_CAP_VERSION: u16 = 2;
/// PCI Express Capabilities: Slot Implemented (bit 8).
pub const PCIE_CAP_SLOT_IMPLEMENTED: u16 = 1 << 8;
/// Device Capabilities: Role-Based Error Reporting (bit 15, must be 1).
pub const DEVCAP_ROLE_BASED_ERROR: u32 = 1 << 15;
/// Device Capabilities: Extended Tag Field Supported (bit 5).
pub const DEVCAP_EXTENDED_TAG: u32 = 1 << 5;
/// Device Capabilities: Endpoint L0s/L1 Acceptable Latency "no limit" (bits 11:6).
pub const DEVCAP_ENDPOINT_LATENCY_NO_LIMIT: u32 = 0x3f << 6;
/// Device Control: error reporting enables, Relaxed Ordering, Max_Payload_Size,
/// Extended Tag, Phantom Functions, Aux Power PM, No Snoop, Max_Read_Request_Size.
pub const DEVCTL_RW_BITS: u16 = 0x7fff;
/// Device Control power-on value: Relaxed Ordering, No Snoop, 512-byte reads.
pub const DEVCTL_DEFAULT: u16 = (1 << 4) | (1 << 11) | (0b010 << 12);
/// Device Status: CED, NFED, FED, URD, Emergency Power Reduction Detected.
pub const DEVSTA_RW1C_BITS: u16 = 0x004f;
/// Link Capabilities: Data Link Layer Link Active Reporting Capable (bit 20).
pub const LNKCAP_DLL_ACTIVE_REPORTING: u32 = 1 << 20;
/// Link Capabilities: ASPM Optionality Compliance (bit 22).
pub const LNKCAP_ASPM_OPTIONALITY: u32 = 1 << 22;
/// Link Control bits RW in an endpoint: ASPM Control, RCB, Common Clock,
/// Extended Synch, Hardware Autonomous Width Disable.
pub const LNKCTL_RW_BITS_ENDPOINT: u16 = 0x0003 | (1 << 3) | (1 << 6) | (1 << 7) | (1 << 9);
/// Link Control bits RW in a downstream port: ASPM Control, Link Disable,
/// Common Clock, Extended Synch, Hardware Autonomous Width Disable.
pub const LNKCTL_RW_BITS_PORT: u16 = 0x0003 | (1 << 4) | (1 << 6) | (1 << 7) | (1 << 9);
/// Link Status: Slot Clock Configuration (bit 12).
pub const LNKSTA_SLOT_CLOCK: u16 = 1 << 12;
/// Link Status: Data Link Layer Link Active (bit 13).
pub const LNKSTA_DLL_ACTIVE: u16 = 1 << 13;
/// Link Status: Link Bandwidth Management / Autonomous Bandwidth Status (RW1C).
pub const LNKSTA_RW1C_BITS: u16 = (1 << 14) | (1 << 15);
/// Slot Capabilities: No Command Completed Support (bit 18).
pub const SLTCAP_NO_COMMAND_COMPLETED: u32 = 1 << 18;
/// Slot Capabilities: Physical Slot Number shift (bits 31:19).
pub const SLTCAP_PHYSICAL_SLOT_SHIFT: u32 = 19;
/// Slot Control: every defined bit, RW (no hot-plug controller acts on them).
pub const SLTCTL_RW_BITS: u16 = 0x1fff;
/// Slot Status: RW1C event bits (attention button, power fault, MRL sensor
/// changed, presence detect changed, command completed, DLL state changed).
pub const SLTSTA_RW1C_BITS: u16 = 0x001f | (1 << 8);
/// Slot Status: Presence Detect State (bit 6).
pub const SLTSTA_PRESENCE_DETECT: u16 = 1 << 6;
/// Root Control: System Error on Correctable/Non-Fatal/Fatal, PME Interrupt Enable.
pub const RTCTL_RW_BITS: u16 = 0x000f;
/// Root Status: PME Status (bit 16, RW1C).
pub const RTSTA_PME_STATUS: u32 = 1 << 16;
/// Device Capabilities 2: Extended Fmt Field Supported (bit 20).
pub const DEVCAP2_EXTENDED_FMT: u32 = 1 << 20;
/// Device Control 2: AtomicOp Requester Enable (bit 6).
pub const DEVCTL2_ATOMIC_REQUESTER: u16 = 1 << 6;
/// Link Control 2: Target Link Speed, Enter Compliance, Hardware Autonomous
/// Speed Disable, Transmit Margin, Enter Modified Compliance, Compliance SOS,
/// Compliance Preset/De-emphasis (everything but Selectable De-emphasis).
pub const LNKCTL2_RW_BITS: u16 = 0xffbf;

/// Device/Port Type field values (PCIe 6.0 7.5.3.2, bits 7:4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciePortType {
    /// PCI Express Endpoint.
    Endpoint = 0x0,
    /// Legacy PCI Express Endpoint.
    LegacyEndpoint = 0x1,
    /// Root Port of a PCI Express Root Complex.
    RootPort = 0x4,
    /// Upstream Port of a PCI Express Switch.
    UpstreamPort = 0x5,
    /// Downstream Port of a PCI Express Switch.
    DownstreamPort = 0x6,
    /// Root Complex Integrated Endpoint.
    RcIntegratedEndpoint = 0x9,
}

impl PciePortType {
    /// Ports below which a link goes down: root and switch downstream ports.
    pub fn is_downstream_port(self) -> bool {
        matches!(self, PciePortType::RootPort | PciePortType::DownstreamPort)
    }
}

/// Link speeds, numbered as in the Supported Link Speeds Vector (PCIe 6.0
/// 7.5.3.18): the value is the Max/Current Link Speed field encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkSpeed {
    /// 2.5 GT/s.
    Gen1 = 1,
    /// 5.0 GT/s.
    Gen2 = 2,
    /// 8.0 GT/s.
    Gen3 = 3,
    /// 16.0 GT/s.
    Gen4 = 4,
    /// 32.0 GT/s.
    Gen5 = 5,
    /// 64.0 GT/s.
    Gen6 = 6,
}

/// Link widths (Maximum/Negotiated Link Width encodings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkWidth {
    /// x1.
    X1 = 1,
    /// x2.
    X2 = 2,
    /// x4.
    X4 = 4,
    /// x8.
    X8 = 8,
    /// x16.
    X16 = 16,
}

/// What a PCI Express Capability describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcieCapConfig {
    /// Device/Port Type.
    pub port_type: PciePortType,
    /// Link speed (maximum and current).
    pub link_speed: LinkSpeed,
    /// Link width (maximum and negotiated).
    pub link_width: LinkWidth,
    /// Port Number in Link Capabilities.
    pub port_number: u8,
    /// Physical slot number if the port implements a slot (no hot-plug);
    /// ignored for endpoints.
    pub slot: Option<u16>,
    /// Interrupt Message Number (MSI/MSI-X vector for port events).
    pub interrupt_message_number: u8,
}

impl PcieCapConfig {
    /// An endpoint at Gen5 x8.
    pub fn endpoint() -> Self {
        Self {
            port_type: PciePortType::Endpoint,
            link_speed: LinkSpeed::Gen5,
            link_width: LinkWidth::X8,
            port_number: 0,
            slot: None,
            interrupt_message_number: 0,
        }
    }

    /// A root port with this port number at Gen5 x8, no slot.
    pub fn root_port(port_number: u8) -> Self {
        Self {
            port_type: PciePortType::RootPort,
            port_number,
            ..Self::endpoint()
        }
    }
}

/// Builds a version 2 PCI Express Capability (add it with ID
/// [`super::caps::CAP_ID_PCI_EXPRESS`]).
pub fn pcie_capability(cfg: &PcieCapConfig) -> RegisterBlock {
    let mut b = RegisterBlock::new(PCIE_CAP_SIZE);
    let port = cfg.port_type.is_downstream_port();
    let root = cfg.port_type == PciePortType::RootPort;
    let slot = if port { cfg.slot } else { None };
    let has_link = cfg.port_type != PciePortType::RcIntegratedEndpoint;

    let mut caps = PCIE_CAP_VERSION | ((cfg.port_type as u16) << 4);
    caps |= u16::from(cfg.interrupt_message_number & 0x1f) << 9;
    if slot.is_some() {
        caps |= PCIE_CAP_SLOT_IMPLEMENTED;
    }
    b.set_u16(PCIE_CAPABILITIES, caps);

    let mut devcap = DEVCAP_ROLE_BASED_ERROR | DEVCAP_EXTENDED_TAG;
    if !port {
        devcap |= DEVCAP_ENDPOINT_LATENCY_NO_LIMIT;
    }
    b.set_u32(DEVICE_CAPABILITIES, devcap);
    b.set_u16(DEVICE_CONTROL, DEVCTL_DEFAULT);
    b.set_wmask_u16(DEVICE_CONTROL, DEVCTL_RW_BITS);
    b.set_w1c_u16(DEVICE_STATUS, DEVSTA_RW1C_BITS);

    if has_link {
        let speed = cfg.link_speed as u32;
        let width = cfg.link_width as u32;
        let mut lnkcap = speed | (width << 4) | LNKCAP_ASPM_OPTIONALITY;
        lnkcap |= u32::from(cfg.port_number) << 24;
        if port {
            lnkcap |= LNKCAP_DLL_ACTIVE_REPORTING;
        }
        b.set_u32(LINK_CAPABILITIES, lnkcap);
        b.set_wmask_u16(
            LINK_CONTROL,
            if port {
                LNKCTL_RW_BITS_PORT
            } else {
                LNKCTL_RW_BITS_ENDPOINT
            },
        );
        let mut lnksta = (speed | (width << 4)) as u16 | LNKSTA_SLOT_CLOCK;
        if port {
            lnksta |= LNKSTA_DLL_ACTIVE;
        }
        b.set_u16(LINK_STATUS, lnksta);
        b.set_w1c_u16(LINK_STATUS, LNKSTA_RW1C_BITS);
        // Supported Link Speeds Vector: every speed up to the maximum.
        let vector = ((1u32 << (speed + 1)) - 1) & !1;
        b.set_u32(LINK_CAPABILITIES_2, vector);
        b.set_u16(LINK_CONTROL_2, speed as u16);
        b.set_wmask_u16(LINK_CONTROL_2, LNKCTL2_RW_BITS);
    }

    if let Some(n) = slot {
        let sltcap =
            SLTCAP_NO_COMMAND_COMPLETED | (u32::from(n & 0x1fff) << SLTCAP_PHYSICAL_SLOT_SHIFT);
        b.set_u32(SLOT_CAPABILITIES, sltcap);
        b.set_wmask_u16(SLOT_CONTROL, SLTCTL_RW_BITS);
        b.set_u16(SLOT_STATUS, SLTSTA_PRESENCE_DETECT);
        b.set_w1c_u16(SLOT_STATUS, SLTSTA_RW1C_BITS);
    }

    if root {
        b.set_wmask_u16(ROOT_CONTROL, RTCTL_RW_BITS);
        b.set_w1c_u32(ROOT_STATUS, RTSTA_PME_STATUS);
    }

    b.set_u32(DEVICE_CAPABILITIES_2, DEVCAP2_EXTENDED_FMT);
    if !port {
        b.set_wmask_u16(DEVICE_CONTROL_2, DEVCTL2_ATOMIC_REQUESTER);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::caps::CAP_ID_PCI_EXPRESS;
    use crate::pci::config::{ConfigSpace, HeaderType, PciIds};

    fn space(cfg: &PcieCapConfig) -> (ConfigSpace, u16) {
        let mut c = ConfigSpace::new(HeaderType::Bridge, &PciIds::default());
        let off = c
            .add_capability(CAP_ID_PCI_EXPRESS, &pcie_capability(cfg))
            .unwrap();
        (c, off)
    }

    #[test]
    fn root_port_link_trained() {
        let mut cfg = PcieCapConfig::root_port(3);
        cfg.link_speed = LinkSpeed::Gen4;
        cfg.link_width = LinkWidth::X16;
        cfg.slot = Some(5);
        let (c, o) = space(&cfg);
        assert_eq!(c.read_u16(o + 2), 0x0142);
        let lnkcap = c.read_u32(o + 0x0c);
        assert_eq!(lnkcap & 0xf, 4);
        assert_eq!((lnkcap >> 4) & 0x3f, 16);
        assert_eq!(lnkcap >> 24, 3);
        assert_ne!(lnkcap & LNKCAP_DLL_ACTIVE_REPORTING, 0);
        let lnksta = c.read_u16(o + 0x12);
        assert_eq!(lnksta & 0xf, 4);
        assert_eq!((lnksta >> 4) & 0x3f, 16);
        assert_ne!(lnksta & LNKSTA_DLL_ACTIVE, 0);
        assert_eq!(lnksta & (1 << 11), 0, "not training");
        assert_eq!(c.read_u32(o + 0x2c), 0b1_1110);
        assert_eq!(c.read_u16(o + 0x30) & 0xf, 4);
        assert_eq!(c.read_u32(o + 0x14) >> 19, 5);
        assert_ne!(c.read_u16(o + 0x1a) & SLTSTA_PRESENCE_DETECT, 0);
    }

    #[test]
    fn endpoint_masks() {
        let (mut c, o) = space(&PcieCapConfig::endpoint());
        assert_eq!(c.read_u16(o + 2), 0x0002);
        c.write(o + 2, &[0xff; 6]);
        assert_eq!(c.read_u16(o + 2), 0x0002);
        c.write(o + 8, &0xffffu16.to_le_bytes());
        assert_eq!(c.read_u16(o + 8), 0x7fff);
        // Device Status error bits are RW1C.
        let ds = usize::from(o) + DEVICE_STATUS;
        c.regs_mut().set_u16(ds, 0x0009);
        c.write(o + 0x0a, &0x0001u16.to_le_bytes());
        assert_eq!(c.read_u16(o + 0x0a), 0x0008);
        // Link status is read-only except the RW1C bits.
        let before = c.read_u16(o + 0x12);
        c.write(o + 0x12, &0x3fffu16.to_le_bytes());
        assert_eq!(c.read_u16(o + 0x12), before);
        assert_eq!(c.read_u16(o + 0x12) & LNKSTA_DLL_ACTIVE, 0);
        // No slot and no root registers in an endpoint.
        c.write(o + 0x18, &[0xff; 8]);
        assert_eq!(c.read_u32(o + 0x18), 0);
        assert_eq!(c.read_u32(o + 0x1c), 0);
    }

    #[test]
    fn root_status_pme_rw1c() {
        let (mut c, o) = space(&PcieCapConfig::root_port(0));
        let rs = usize::from(o) + ROOT_STATUS;
        c.regs_mut().set_u32(rs, RTSTA_PME_STATUS | 0x0100);
        c.write(o + 0x20, &u32::MAX.to_le_bytes());
        assert_eq!(c.read_u32(o + 0x20), 0x0100);
        c.write(o + 0x1c, &[0xff, 0xff]);
        assert_eq!(c.read_u16(o + 0x1c), 0x000f);
        // Without a slot the slot registers stay zero.
        assert_eq!(c.read_u16(o + 2) & PCIE_CAP_SLOT_IMPLEMENTED, 0);
    }
}
