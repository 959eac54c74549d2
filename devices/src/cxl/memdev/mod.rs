//! The state of a CXL Type 3 memory device that mailbox commands act on.
//!
//! [`Memdev`] holds the configuration, the current partition layout, the
//! Label Storage Area, the poison list, the device timestamp, the event logs,
//! the health information and the memory device status. Commands reach it
//! through [`Memdev::execute`]; the device model reaches it directly (event
//! injection, media writes requested by Clear Poison, LSA flush, resets).

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::cxl::dcd::{DcConfig, DcConfigError, DcRegion, DcdState};
use crate::cxl::device_regs::memdev_status::MemdevStatus;
use crate::cxl::events::{AddedEvent, EventLogDepths, EventLogType, EventLogs, EventRecord};
use crate::cxl::mailbox::health::HealthInfo;
use crate::cxl::mailbox::lsa::Lsa;
use crate::cxl::mailbox::partition::PartitionLayout;
use crate::cxl::mailbox::poison::PoisonList;
use crate::cxl::mailbox::timestamp::{DeviceTimestamp, HostMonotonicClock, MonotonicClock};
use crate::cxl::mailbox::{self, RetCode};

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
        let layout = PartitionLayout::new(self);
        let first_handle = u8::from(layout.active_volatile_bytes() > 0)
            + u8::from(layout.active_persistent_bytes() > 0);
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

/// 64 bytes the device must write to its media at a DPA, as requested by
/// Clear Poison (CXL 3.1 8.2.9.9.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaWrite {
    /// Device physical address (64-byte aligned).
    pub dpa: u64,
    /// The data to write.
    pub data: [u8; 64],
}

/// Writes cachelines to the device's backing memory on behalf of commands.
pub trait MediaWriter: Send {
    /// Writes `data` at device physical address `dpa` (64-byte aligned).
    fn write_cacheline(&mut self, dpa: u64, data: &[u8; 64]) -> io::Result<()>;
}

/// A CXL Type 3 memory device's command-visible state.
pub struct Memdev {
    config: MemdevConfig,
    partition: PartitionLayout,
    lsa: Lsa,
    poison: PoisonList,
    timestamp: DeviceTimestamp,
    events: EventLogs,
    health: HealthInfo,
    status: MemdevStatus,
    media_writer: Option<Box<dyn MediaWriter>>,
    media_writes: Vec<MediaWrite>,
    dcd: DcdState,
}

impl fmt::Debug for Memdev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memdev")
            .field("config", &self.config)
            .field("partition", &self.partition)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Memdev {
    /// A device for `config`, with the host's monotonic clock.
    pub fn new(config: MemdevConfig) -> Result<Self, MemdevError> {
        Self::with_clock(config, Box::new(HostMonotonicClock::new()))
    }

    /// A device for `config` whose timestamp advances with `clock`.
    pub fn with_clock(
        config: MemdevConfig,
        clock: Box<dyn MonotonicClock>,
    ) -> Result<Self, MemdevError> {
        config.validate()?;
        let lsa =
            Lsa::new(config.lsa_size, config.lsa_file.as_deref()).map_err(MemdevError::LsaFile)?;
        let dcd = DcdState::new(config.dc_regions()?, &config.dc);
        Ok(Self {
            partition: PartitionLayout::new(&config),
            lsa,
            poison: PoisonList::new(config.poison_list_max_records),
            timestamp: DeviceTimestamp::new(clock),
            events: EventLogs::new(&config.event_log_depths, config.event_msi_message_number),
            health: HealthInfo::default(),
            status: MemdevStatus::default(),
            media_writer: None,
            media_writes: Vec::new(),
            dcd,
            config,
        })
    }

    /// Runs mailbox command `opcode` with input payload `input`: the return
    /// code and the output payload (empty unless successful).
    pub fn execute(&mut self, opcode: u16, input: &[u8]) -> (RetCode, Vec<u8>) {
        mailbox::execute(self, opcode, input)
    }

    /// The configuration.
    pub fn config(&self) -> &MemdevConfig {
        &self.config
    }

    /// Static capacity in bytes (volatile-only, persistent-only and
    /// partitionable: Identify's Total Capacity), the top of the static DPA
    /// space. Dynamic Capacity regions lie above it.
    pub fn capacity_bytes(&self) -> u64 {
        self.config.static_capacity_bytes().unwrap_or(0)
    }

    /// Top of the whole DPA space: the end of the last DC region's decode
    /// range, or the static capacity without DC.
    pub fn dpa_space_bytes(&self) -> u64 {
        self.dcd.dpa_end().unwrap_or_else(|| self.capacity_bytes())
    }

    /// The Dynamic Capacity state.
    pub fn dcd(&self) -> &DcdState {
        &self.dcd
    }

    pub(crate) fn dcd_mut(&mut self) -> &mut DcdState {
        &mut self.dcd
    }

    /// The DC state, the event logs and the device time, borrowed together
    /// (operator requests write DC event records).
    pub(crate) fn dcd_parts(&mut self) -> (&mut DcdState, &mut EventLogs, u64) {
        let now = self.timestamp.now();
        (&mut self.dcd, &mut self.events, now)
    }

    /// The current partition layout.
    pub fn partition(&self) -> &PartitionLayout {
        &self.partition
    }

    pub(crate) fn partition_mut(&mut self) -> &mut PartitionLayout {
        &mut self.partition
    }

    /// The Label Storage Area.
    pub fn lsa(&self) -> &Lsa {
        &self.lsa
    }

    /// The Label Storage Area, for load/flush.
    pub fn lsa_mut(&mut self) -> &mut Lsa {
        &mut self.lsa
    }

    /// The poison list.
    pub fn poison(&self) -> &PoisonList {
        &self.poison
    }

    /// The poison list, for injecting media errors.
    pub fn poison_mut(&mut self) -> &mut PoisonList {
        &mut self.poison
    }

    /// The device timestamp.
    pub fn timestamp(&self) -> &DeviceTimestamp {
        &self.timestamp
    }

    pub(crate) fn timestamp_mut(&mut self) -> &mut DeviceTimestamp {
        &mut self.timestamp
    }

    /// The current device time (Get Timestamp), in ns since the epoch.
    pub fn now(&self) -> u64 {
        self.timestamp.now()
    }

    /// The event logs.
    pub fn events(&self) -> &EventLogs {
        &self.events
    }

    pub(crate) fn events_mut(&mut self) -> &mut EventLogs {
        &mut self.events
    }

    /// Adds `record` to `log`, stamped with the device time. The result
    /// says which handle it got and which MSI/MSI-X message number, if any,
    /// the device model must now signal.
    pub fn add_event(&mut self, log: EventLogType, record: EventRecord) -> AddedEvent {
        let now = self.timestamp.now();
        self.events.add(log, record, now)
    }

    /// The health information.
    pub fn health(&self) -> &HealthInfo {
        &self.health
    }

    /// The health information, for fault injection.
    pub fn health_mut(&mut self) -> &mut HealthInfo {
        &mut self.health
    }

    /// The Memory Device Status.
    pub fn status(&self) -> &MemdevStatus {
        &self.status
    }

    /// The Memory Device Status, for fault injection.
    pub fn status_mut(&mut self) -> &mut MemdevStatus {
        &mut self.status
    }

    /// Installs the writer Clear Poison uses to write its data to media.
    /// Without one, writes queue up for [`Memdev::take_media_writes`].
    pub fn set_media_writer(&mut self, writer: Box<dyn MediaWriter>) {
        self.media_writer = Some(writer);
    }

    /// Media writes requested by commands and not yet performed (only when
    /// no [`MediaWriter`] is installed), oldest first.
    pub fn take_media_writes(&mut self) -> Vec<MediaWrite> {
        std::mem::take(&mut self.media_writes)
    }

    /// Writes `data` at `dpa` through the media writer, or queues it.
    pub(crate) fn write_media(&mut self, dpa: u64, data: [u8; 64]) -> Result<(), RetCode> {
        match self.media_writer.as_mut() {
            Some(w) => w.write_cacheline(dpa, &data).map_err(|e| {
                crate::error_limited!("cxl: media write at DPA {dpa:#x} failed: {e}");
                RetCode::InternalError
            }),
            None => {
                self.media_writes.push(MediaWrite { dpa, data });
                Ok(())
            }
        }
    }

    /// Applies a cold reset: a pending partition change takes effect, the
    /// event logs, poison list overflow and timestamp are lost. With the DC
    /// event log gone, pending DC offers are declined and pending release
    /// requests withdrawn (see [`DcdState::cold_reset`]); drain
    /// [`Memdev::take_dcd_effects`] afterwards.
    pub fn cold_reset(&mut self) {
        self.partition.apply_pending();
        self.dcd.cold_reset();
        self.events = EventLogs::new(
            &self.config.event_log_depths,
            self.config.event_msi_message_number,
        );
        self.poison.reset_overflow();
        self.timestamp.reset();
        self.status = MemdevStatus::default();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::cxl::dcd::{DcRegionConfig, DcRegions};

    /// A clock tests move by hand.
    #[derive(Clone, Default)]
    pub(crate) struct FakeClock(pub Arc<AtomicU64>);

    impl FakeClock {
        pub(crate) fn advance(&self, ns: u64) {
            self.0.fetch_add(ns, Ordering::SeqCst);
        }
    }

    impl MonotonicClock for FakeClock {
        fn now_ns(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// The configuration most tests use: 1 GiB volatile-only, 512 MiB
    /// persistent-only, 1 GiB partitionable at 256 MiB alignment (512 MiB
    /// of it volatile), a 4 KiB LSA, and two DC regions with static backing
    /// memory: region 0, 512 MiB in 2 MiB blocks at DPA A000_0000h
    /// (DSMAD handle 2); region 1, 256 MiB in 4 MiB blocks (512 MiB
    /// decoded), Sanitize on Release, at C000_0000h (DSMAD handle 3).
    pub(crate) fn test_config() -> MemdevConfig {
        MemdevConfig {
            serial: 0x0123_4567_89AB_CDEF,
            vendor_id: 0x1B36,
            device_id: 0x0D93,
            subsys_vendor_id: 0x1AF4,
            subsys_id: 0x1100,
            volatile_bytes: 4 * CAPACITY_MULTIPLIER,
            persistent_bytes: 2 * CAPACITY_MULTIPLIER,
            partitionable_bytes: 4 * CAPACITY_MULTIPLIER,
            partition_align_bytes: CAPACITY_MULTIPLIER,
            initial_partition_volatile_bytes: 2 * CAPACITY_MULTIPLIER,
            lsa_size: 4096,
            lsa_file: None,
            fw_revision: String::from("FW-1.2.3"),
            event_log_depths: EventLogDepths {
                informational: 4,
                warning: 3,
                failure: 2,
                fatal: 1,
                dynamic_capacity: 64,
            },
            poison_list_max_records: 8,
            inject_poison_limit: 4,
            mailbox_msi_message_number: 1,
            event_msi_message_number: 2,
            dc: DcConfig {
                regions: DcRegions::Explicit(vec![
                    DcRegionConfig::new(512 << 20),
                    DcRegionConfig {
                        length: 256 << 20,
                        decode_length: Some(512 << 20),
                        block_size: 4 << 20,
                        dsmad_handle: None,
                        sanitize_on_release: true,
                    },
                ]),
                static_backing: true,
                ..DcConfig::default()
            },
        }
    }

    /// A DC-only device: no static capacity, no DC backing memory, one
    /// 1 GiB region in 2 MiB blocks at DPA 0.
    pub(crate) fn dc_only_config() -> MemdevConfig {
        MemdevConfig {
            volatile_bytes: 0,
            persistent_bytes: 0,
            partitionable_bytes: 0,
            partition_align_bytes: 0,
            initial_partition_volatile_bytes: 0,
            dc: DcConfig {
                regions: DcRegions::Explicit(vec![DcRegionConfig::new(1 << 30)]),
                ..DcConfig::default()
            },
            ..test_config()
        }
    }

    pub(crate) fn test_memdev_with_clock() -> (Memdev, FakeClock) {
        let clock = FakeClock::default();
        let m = Memdev::with_clock(test_config(), Box::new(clock.clone())).unwrap();
        (m, clock)
    }

    pub(crate) fn test_memdev() -> Memdev {
        test_memdev_with_clock().0
    }

    #[test]
    fn default_config_is_valid() {
        MemdevConfig::default().validate().unwrap();
        test_config().validate().unwrap();
        Memdev::new(MemdevConfig::default()).unwrap();
    }

    #[test]
    fn validation_rejects_bad_configs() {
        let bad = |f: fn(&mut MemdevConfig)| {
            let mut c = test_config();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(matches!(
            bad(|c| c.volatile_bytes += 1),
            MemdevError::NotCapacityMultiple {
                field: "volatile_bytes",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.persistent_bytes = 1 << 20),
            MemdevError::NotCapacityMultiple { .. }
        ));
        assert!(matches!(
            bad(|c| {
                c.volatile_bytes = 0;
                c.persistent_bytes = 0;
                c.partitionable_bytes = 0;
                c.partition_align_bytes = 0;
                c.initial_partition_volatile_bytes = 0;
                c.dc = DcConfig::default();
            }),
            MemdevError::NoCapacity
        ));
        assert!(matches!(
            bad(|c| c.volatile_bytes = u64::MAX - (u64::MAX % CAPACITY_MULTIPLIER)),
            MemdevError::CapacityOverflow
        ));
        assert!(matches!(
            bad(|c| c.partition_align_bytes = 0),
            MemdevError::PartitionAlignment { .. }
        ));
        assert!(matches!(
            bad(|c| c.partition_align_bytes = 3 * CAPACITY_MULTIPLIER),
            MemdevError::PartitionAlignment { .. }
        ));
        assert!(matches!(
            bad(|c| c.initial_partition_volatile_bytes = 8 * CAPACITY_MULTIPLIER),
            MemdevError::InitialPartition(_)
        ));
        assert!(matches!(
            bad(|c| c.lsa_size = MAX_LSA_SIZE + 1),
            MemdevError::LsaTooLarge(_)
        ));
        assert!(matches!(
            bad(|c| c.fw_revision = "x".repeat(17)),
            MemdevError::FwRevision(_)
        ));
        assert!(matches!(
            bad(|c| c.fw_revision = "réve".into()),
            MemdevError::FwRevision(_)
        ));
        assert!(matches!(
            bad(|c| c.event_msi_message_number = 16),
            MemdevError::MessageNumber(16)
        ));
        assert!(matches!(
            bad(|c| c.event_log_depths.fatal = 0),
            MemdevError::EventLogDepth(0)
        ));
        assert!(matches!(
            bad(|c| c.poison_list_max_records = 0x100_0000),
            MemdevError::PoisonListSize(_)
        ));
    }

    #[test]
    fn add_event_stamps_device_time() {
        let (mut m, clock) = test_memdev_with_clock();
        let (rc, _) = m.execute(0x0301, &1_000_000u64.to_le_bytes());
        assert_eq!(rc, RetCode::Success);
        clock.advance(500);
        let rec = EventRecord::raw(uuid::Uuid::nil(), &Default::default(), &[]);
        let added = m.add_event(EventLogType::Informational, rec);
        assert_eq!(added.handle, Some(1));
        let stored = m
            .events()
            .log(EventLogType::Informational)
            .records()
            .next()
            .copied();
        assert_eq!(stored.map(|r| r.timestamp()), Some(1_000_500));
    }

    type WriteLog = Arc<std::sync::Mutex<Vec<(u64, [u8; 64])>>>;

    struct VecWriter(WriteLog, bool);

    impl MediaWriter for VecWriter {
        fn write_cacheline(&mut self, dpa: u64, data: &[u8; 64]) -> io::Result<()> {
            if self.1 {
                return Err(io::Error::other("broken"));
            }
            self.0.lock().unwrap().push((dpa, *data));
            Ok(())
        }
    }

    #[test]
    fn media_writes_queue_or_go_to_writer() {
        let mut m = test_memdev();
        m.write_media(0x40, [1; 64]).unwrap();
        assert_eq!(
            m.take_media_writes(),
            vec![MediaWrite {
                dpa: 0x40,
                data: [1; 64]
            }]
        );
        assert!(m.take_media_writes().is_empty());
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        m.set_media_writer(Box::new(VecWriter(log.clone(), false)));
        m.write_media(0x80, [2; 64]).unwrap();
        assert_eq!(log.lock().unwrap().as_slice(), &[(0x80, [2; 64])]);
        assert!(m.take_media_writes().is_empty());
        m.set_media_writer(Box::new(VecWriter(log, true)));
        assert_eq!(m.write_media(0xC0, [3; 64]), Err(RetCode::InternalError));
    }

    #[test]
    fn cold_reset_drops_events_and_timestamp() {
        let (mut m, _clock) = test_memdev_with_clock();
        m.execute(0x0301, &5u64.to_le_bytes());
        let rec = EventRecord::raw(uuid::Uuid::nil(), &Default::default(), &[]);
        m.add_event(EventLogType::Fatal, rec);
        m.cold_reset();
        assert_eq!(m.events().event_status(), 0);
        assert_eq!(m.now(), 0);
    }
}
