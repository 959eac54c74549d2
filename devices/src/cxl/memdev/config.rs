//! The configuration of a memory device and its checks.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::events::{EventLogDepths, EventLogType};
use crate::cxl::dcd::{DcConfig, DcConfigError, DcRegion};

/// Capacities are reported, and must be configured, in multiples of 256 MiB
/// (CXL 3.1 8.2.9.9.1.1).
pub const CAPACITY_MULTIPLIER: u64 = 256 << 20;
/// Largest Label Storage Area accepted.
pub const MAX_LSA_SIZE: u32 = 16 << 20;
/// Length of the FW Revision field (CXL 3.1 8.2.9.9.1.1).
pub const FW_REVISION_LEN: usize = 16;
/// Largest Poison List Maximum Media Error Records value (a 24-bit field).
pub const MAX_POISON_LIST_RECORDS: u32 = 0x00FF_FFFF;

/// Configuration of a memory device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemdevConfig {
    /// The operator's name for the device (its `id`), for the trace.
    pub name: String,
    /// Device serial number (also the PCIe Device Serial Number).
    pub serial: u64,
    /// PCI Vendor ID, as in the function's configuration space.
    pub vendor_id: u16,
    /// PCI Device ID.
    pub device_id: u16,
    /// PCI Subsystem Vendor ID.
    pub subsys_vendor_id: u16,
    /// PCI Subsystem ID.
    pub subsys_id: u16,
    /// Volatile-only capacity in bytes (multiple of 256 MiB).
    pub volatile_bytes: u64,
    /// Persistent-only capacity in bytes (multiple of 256 MiB).
    pub persistent_bytes: u64,
    /// Capacity that Set Partition Info can assign to either volatile or
    /// persistent use, in bytes (multiple of the partition alignment).
    pub partitionable_bytes: u64,
    /// Partition Alignment in bytes (multiple of 256 MiB; 0 if and only if
    /// there is no partitionable capacity).
    pub partition_align_bytes: u64,
    /// Part of the partitionable capacity that is volatile at power-on.
    pub initial_partition_volatile_bytes: u64,
    /// Label Storage Area size in bytes.
    pub lsa_size: u32,
    /// File the LSA is loaded from and written through to, if any.
    pub lsa_file: Option<PathBuf>,
    /// FW revision string (ASCII, up to 16 bytes).
    pub fw_revision: String,
    /// Depth of each event log.
    pub event_log_depths: EventLogDepths,
    /// Poison List Maximum Media Error Records.
    pub poison_list_max_records: u32,
    /// Inject Poison Limit (0: no limit beyond the poison list size).
    pub inject_poison_limit: u16,
    /// MSI/MSI-X message number of mailbox interrupts (0-15).
    pub mailbox_msi_message_number: u8,
    /// MSI/MSI-X message number of event interrupts (0-15).
    pub event_msi_message_number: u8,
    /// Dynamic Capacity regions above the static capacity (none by
    /// default). The Dynamic Capacity Event Log depth is
    /// `event_log_depths.dynamic_capacity`.
    pub dc: DcConfig,
}

impl Default for MemdevConfig {
    /// A 256 MiB volatile device with a 64 KiB LSA. The PCI IDs are zero:
    /// the device model must set them to its configuration space values.
    fn default() -> Self {
        Self {
            name: String::new(),
            serial: 1,
            vendor_id: 0,
            device_id: 0,
            subsys_vendor_id: 0,
            subsys_id: 0,
            volatile_bytes: CAPACITY_MULTIPLIER,
            persistent_bytes: 0,
            partitionable_bytes: 0,
            partition_align_bytes: 0,
            initial_partition_volatile_bytes: 0,
            lsa_size: 64 << 10,
            lsa_file: None,
            fw_revision: String::from("cxlvmm 0.1"),
            event_log_depths: EventLogDepths::default(),
            poison_list_max_records: 256,
            inject_poison_limit: 16,
            mailbox_msi_message_number: 0,
            event_msi_message_number: 0,
            dc: DcConfig::default(),
        }
    }
}

/// An invalid [`MemdevConfig`], or an LSA file that could not be used.
#[derive(Debug, Error)]
pub enum MemdevError {
    /// A capacity is not a multiple of 256 MiB.
    #[error("{field} ({value:#x}) is not a multiple of 256 MiB")]
    NotCapacityMultiple {
        /// The configuration field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// The device has no capacity at all: no static capacity and no
    /// Dynamic Capacity regions.
    #[error(
        "the device has no memory capacity (no static capacity and no dynamic capacity regions)"
    )]
    NoCapacity,
    /// The capacities add up to more than 2^64 bytes.
    #[error("total capacity overflows")]
    CapacityOverflow,
    /// Partitionable capacity and partition alignment do not agree.
    #[error(
        "partitionable capacity {partitionable:#x} does not fit partition alignment {align:#x}"
    )]
    PartitionAlignment {
        /// Partitionable capacity.
        partitionable: u64,
        /// Partition alignment.
        align: u64,
    },
    /// The initial volatile part is not aligned or exceeds the partitionable
    /// capacity.
    #[error("initial partition volatile capacity {0:#x} is invalid")]
    InitialPartition(u64),
    /// LSA too large.
    #[error("LSA size {0:#x} exceeds {MAX_LSA_SIZE:#x}")]
    LsaTooLarge(u32),
    /// FW revision not ASCII or over 16 bytes.
    #[error("FW revision {0:?} is not ASCII of at most 16 bytes")]
    FwRevision(String),
    /// An MSI/MSI-X message number over 15.
    #[error("MSI/MSI-X message number {0} is over 15")]
    MessageNumber(u8),
    /// An event log depth of 0 or over the maximum.
    #[error("event log depth {0} is not in 1..={max}", max = EventLogDepths::MAX)]
    EventLogDepth(u16),
    /// Poison list size of 0 or over 24 bits.
    #[error("poison list size {0} is not in 1..=0xFFFFFF")]
    PoisonListSize(u32),
    /// The LSA file could not be opened, read or sized.
    #[error("LSA file: {0}")]
    LsaFile(#[source] io::Error),
    /// An invalid Dynamic Capacity configuration.
    #[error("dynamic capacity: {0}")]
    DynamicCapacity(#[from] DcConfigError),
}

impl MemdevConfig {
    /// Capacity outside dynamic capacity regions: volatile-only plus
    /// persistent-only plus partitionable.
    pub fn static_capacity_bytes(&self) -> Option<u64> {
        self.volatile_bytes
            .checked_add(self.persistent_bytes)?
            .checked_add(self.partitionable_bytes)
    }

    /// True if the device has Dynamic Capacity regions. A device with DC
    /// regions may have no static capacity at all (DC-only).
    pub fn has_dynamic_capacity(&self) -> bool {
        self.dc.has_regions()
    }

    /// The DC regions laid out above the static capacity. Region 0 starts
    /// at the end of the static capacity; default DSMAD handles follow the
    /// static partitions' CDAT DSMAS handles (volatile, then persistent,
    /// each only if non-empty at power-on), so a CDAT built from
    /// [volatile, persistent, DC regions...] matches.
    pub fn dc_regions(&self) -> Result<Vec<DcRegion>, DcConfigError> {
        let static_bytes = self.static_capacity_bytes().unwrap_or(0);
        // The power-on partitions (as PartitionLayout::new lays them out).
        let share = self
            .initial_partition_volatile_bytes
            .min(self.partitionable_bytes);
        let volatile = self.volatile_bytes.saturating_add(share);
        let persistent = self
            .persistent_bytes
            .saturating_add(self.partitionable_bytes - share);
        let first_handle = u8::from(volatile > 0) + u8::from(persistent > 0);
        self.dc.resolve(static_bytes, first_handle)
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), MemdevError> {
        for (field, value) in [
            ("volatile_bytes", self.volatile_bytes),
            ("persistent_bytes", self.persistent_bytes),
            ("partitionable_bytes", self.partitionable_bytes),
            ("partition_align_bytes", self.partition_align_bytes),
        ] {
            if !value.is_multiple_of(CAPACITY_MULTIPLIER) {
                return Err(MemdevError::NotCapacityMultiple { field, value });
            }
        }
        let total = self
            .static_capacity_bytes()
            .ok_or(MemdevError::CapacityOverflow)?;
        if total == 0 && !self.has_dynamic_capacity() {
            return Err(MemdevError::NoCapacity);
        }
        let (partitionable, align) = (self.partitionable_bytes, self.partition_align_bytes);
        let align_ok = if align == 0 {
            partitionable == 0
        } else {
            partitionable != 0 && partitionable.is_multiple_of(align)
        };
        if !align_ok {
            return Err(MemdevError::PartitionAlignment {
                partitionable,
                align,
            });
        }
        let initial = self.initial_partition_volatile_bytes;
        let initial_ok =
            initial <= partitionable && (initial == 0 || initial.is_multiple_of(align));
        if !initial_ok {
            return Err(MemdevError::InitialPartition(initial));
        }
        if self.lsa_size > MAX_LSA_SIZE {
            return Err(MemdevError::LsaTooLarge(self.lsa_size));
        }
        if !self.fw_revision.is_ascii() || self.fw_revision.len() > FW_REVISION_LEN {
            return Err(MemdevError::FwRevision(self.fw_revision.clone()));
        }
        for n in [
            self.mailbox_msi_message_number,
            self.event_msi_message_number,
        ] {
            if n > 15 {
                return Err(MemdevError::MessageNumber(n));
            }
        }
        for t in EventLogType::ALL {
            let d = self.event_log_depths.get(t);
            if d == 0 || d > EventLogDepths::MAX {
                return Err(MemdevError::EventLogDepth(d));
            }
        }
        let p = self.poison_list_max_records;
        if p == 0 || p > MAX_POISON_LIST_RECORDS {
            return Err(MemdevError::PoisonListSize(p));
        }
        self.dc_regions()?;
        Ok(())
    }
}
