//! Vendor, device and class codes of the PCI functions we emulate.
//!
//! Vendor choice: the generic platform functions (host bridge, root port)
//! use Red Hat's vendor ID 0x1b36 with the device IDs Red Hat assigned to the
//! generic virtual PCIe host bridge (0x0008) and root port (0x000c). The
//! vendor exists for exactly this, virtual hardware of KVM machines; Linux
//! binds no driver and applies no quirk to these IDs (the port driver binds
//! by class), and `lspci` names them as the virtual parts they are, whereas
//! any ID we made up would belong to some real vendor. Other device models
//! pick their own IDs here; CXL memory devices are matched by class code
//! ([`CLASS_CXL_MEMORY`]), not by ID.

/// Red Hat, Inc.: generic virtual devices.
pub const VENDOR_ID_REDHAT: u16 = 0x1b36;
/// Generic PCIe host bridge.
pub const DEVICE_ID_HOST_BRIDGE: u16 = 0x0008;
/// Generic PCIe root port.
pub const DEVICE_ID_ROOT_PORT: u16 = 0x000c;
/// cxlvmm's CXL Type 3 memory device. Not an ID Red Hat assigned: Linux
/// matches CXL memory devices by class code, and no driver or quirk keys on
/// this value; it only needs to be stable so tools can recognise the device.
pub const DEVICE_ID_CXL_TYPE3: u16 = 0x0d93;

// Class codes: base class << 16 | sub-class << 8 | programming interface
// (PCI Code and ID Assignment Specification 1.16, section 1).
/// Host bridge (06/00/00).
pub const CLASS_HOST_BRIDGE: u32 = 0x06_00_00;
/// PCI-to-PCI bridge, normal decode (06/04/00).
pub const CLASS_PCI_BRIDGE: u32 = 0x06_04_00;
/// CXL memory device, CXL 2.0+ interface (05/02/10).
pub const CLASS_CXL_MEMORY: u32 = 0x05_02_10;
