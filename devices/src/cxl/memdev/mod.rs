//! The state of a CXL Type 3 memory device and the operations on it.
//!
//! [`Memdev`] owns every part of the device's state: the partition layout
//! (`partition`), the Label Storage Area (`lsa`), the poison list
//! (`poison`), the device timestamp (`timestamp`), the health information
//! (`health`) and the alert configuration driving its Additional Status
//! (`alert`, operations in `health_ops`), the event logs (`events`), the
//! Memory Device Status (`status`), the Features (`features`), the
//! persistent memory security state (`security`) and the Dynamic Capacity
//! state ([`crate::cxl::dcd`]).
//!
//! Two callers use the same operations: the guest's mailbox
//! ([`crate::cxl::mailbox`] decodes a command, calls one operation and
//! encodes its result) and the device model for the operator's API
//! ([`crate::cxl::type3::Type3`], which owns the `Memdev` and lends it to
//! its register block for a doorbell). An operation returns what it caused
//! that the device model must carry out: extents to map or unmap
//! ([`DcdEffect`]), data to write to the media ([`MediaWrite`]), DPA ranges
//! to erase and the MSI/MSI-X message number to signal (`effects`).
//! Nothing is queued for later, except a background operation
//! (`background`, operations in `background_ops`): its work is done, and
//! its effects returned, when the device model polls it at or after its
//! deadline.

pub mod alert;
pub mod background;
pub mod background_ops;
pub mod config;
pub mod effects;
pub mod events;
pub mod faults;
mod faults_ops;
pub mod features;
mod features_ops;
pub mod firmware;
pub mod firmware_ops;
pub mod health;
mod health_ops;
pub mod lsa;
pub mod partition;
pub mod poison;
pub mod scan_media;
mod scan_media_ops;
pub mod security;
mod security_ops;
pub mod status;
pub mod timestamp;
pub(crate) mod trace;

#[cfg(test)]
mod faults_tests;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::io;

use uuid::Uuid;

pub use config::{
    MemdevConfig, MemdevError, CAPACITY_MULTIPLIER, FW_REVISION_LEN, MAX_LSA_SIZE,
    MAX_POISON_LIST_RECORDS,
};
pub use faults::FaultSelector;

pub use self::effects::{Effects, MediaWrite};

use self::alert::AlertConfig;
use self::background::Background;
use self::events::{
    AddedEvent, EventLogType, EventLogs, EventRecord, EventRecordsPage, InterruptSetting,
};
use self::faults::Faults;
use self::features::Features;
use self::firmware::Firmware;
use self::health::HealthInfo;
use self::lsa::Lsa;
use self::partition::PartitionLayout;
use self::poison::{PoisonAddError, PoisonList, PoisonListPage, PoisonSource, POISON_GRANULE};
use self::scan_media::ScanMedia;
use self::security::SecurityState;
use self::status::{MediaStatus, MemdevStatus};
use self::timestamp::{DeviceTimestamp, HostMonotonicClock, MonotonicClock};
use crate::cxl::dcd::log::{log_free, post};
use crate::cxl::dcd::{
    AddOutcome, AddRequest, DcEventLogStatus, DcExtent, DcdEffect, DcdError, DcdState, ExtentInfo,
    ExtentRange, ExtentStatus, ReleaseOutcome, ReleaseRequest,
};
use crate::cxl::retcode::RetCode;

/// A CXL Type 3 memory device's state.
pub struct Memdev {
    config: MemdevConfig,
    partition: PartitionLayout,
    lsa: Lsa,
    poison: PoisonList,
    timestamp: DeviceTimestamp,
    events: EventLogs,
    health: HealthInfo,
    alerts: AlertConfig,
    status: MemdevStatus,
    features: Features,
    security: SecurityState,
    background: Background,
    firmware: Firmware,
    scan: ScanMedia,
    dcd: DcdState,
    faults: Faults,
}

impl fmt::Debug for Memdev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memdev")
            .field("config", &self.config)
            .field("partition", &self.partition)
            .field("status", &self.status)
            .field("security", &self.security)
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
            alerts: AlertConfig::default(),
            status: MemdevStatus::default(),
            features: Features::default(),
            security: SecurityState::default(),
            background: Background::default(),
            firmware: Firmware::new(&config.fw_revision),
            scan: ScanMedia::default(),
            dcd,
            faults: Faults::default(),
            config,
        })
    }

    // ---- views ----

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

    /// Whether every byte of `start..end` is media: in the static capacity
    /// or in a DC region's capacity (Region Base to Base + Region Length).
    /// The poison commands, Scan Media and poison injection take any such
    /// DPA, as QEMU's DCD device does; Dynamic Capacity no extent holds
    /// included (it is the device's media, not the host's yet).
    pub fn is_media_range(&self, start: u64, end: u64) -> bool {
        if start > end {
            return false;
        }
        let parts = std::iter::once((0, self.capacity_bytes()))
            .chain(self.dcd.regions().iter().map(|r| (r.base, r.end())));
        let mut covered = start;
        for (s, e) in parts {
            if s <= covered && covered < e {
                covered = e;
            }
        }
        covered >= end
    }

    /// The Dynamic Capacity state.
    pub fn dcd(&self) -> &DcdState {
        &self.dcd
    }

    /// The current partition layout.
    pub fn partition(&self) -> &PartitionLayout {
        &self.partition
    }

    /// The Label Storage Area.
    pub fn lsa(&self) -> &Lsa {
        &self.lsa
    }

    /// The poison list.
    pub fn poison(&self) -> &PoisonList {
        &self.poison
    }

    /// The event logs.
    pub fn events(&self) -> &EventLogs {
        &self.events
    }

    /// The health information.
    pub fn health(&self) -> &HealthInfo {
        &self.health
    }

    /// The alert configuration (Get Alert Configuration).
    pub fn alert_config(&self) -> &AlertConfig {
        &self.alerts
    }

    /// The Memory Device Status.
    pub fn status(&self) -> &MemdevStatus {
        &self.status
    }

    /// The Features' values.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The persistent memory security state.
    pub fn security(&self) -> &SecurityState {
        &self.security
    }

    /// The current device time (Get Timestamp), in ns since the epoch.
    pub fn now(&self) -> u64 {
        self.timestamp.now()
    }

    // ---- timestamp, health, status ----

    /// Sets the device time to `timestamp` ns since the epoch, as of now
    /// (Set Timestamp).
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.timestamp.set(timestamp);
    }

    /// Replaces the health information (fault injection).
    pub fn set_health(&mut self, health: HealthInfo) {
        self.health = health;
    }

    /// Replaces the Memory Device Status (fault injection).
    pub fn set_status(&mut self, status: MemdevStatus) {
        self.status = status;
    }

    // ---- partitions ----

    /// Assigns `volatile_bytes` of the partitionable capacity to volatile
    /// use, now (`immediate`) or at the next cold reset (Set Partition
    /// Info). Unsupported if nothing is partitionable; Invalid Input if not
    /// aligned or too large.
    pub fn set_partition(&mut self, volatile_bytes: u64, immediate: bool) -> Result<(), RetCode> {
        self.partition.set(volatile_bytes, immediate)
    }

    // ---- Label Storage Area ----

    /// `len` bytes of the LSA at `offset` (Get LSA); Invalid Input if the
    /// range leaves the LSA.
    pub fn read_lsa(&self, offset: usize, len: usize) -> Result<&[u8], RetCode> {
        self.lsa.read(offset, len).ok_or(RetCode::InvalidInput)
    }

    /// Writes `data` at `offset` of the LSA, through to its file (Set LSA):
    /// Invalid Input if it would leave the LSA, Internal Error if the file
    /// write fails (the LSA keeps its old bytes).
    pub fn write_lsa(&mut self, offset: usize, data: &[u8]) -> Result<(), RetCode> {
        match self.lsa.write(offset, data) {
            Ok(true) => Ok(()),
            Ok(false) => Err(RetCode::InvalidInput),
            Err(e) => {
                crate::error_limited!("cxl: LSA write-through failed: {e}");
                Err(RetCode::InternalError)
            }
        }
    }

    /// Writes the whole LSA to its file and syncs it (no-op without one).
    pub fn flush_lsa(&mut self) -> io::Result<()> {
        self.lsa.flush()
    }

    /// Re-reads the LSA from its file (no-op without one).
    pub fn reload_lsa(&mut self) -> io::Result<()> {
        self.lsa.load()
    }

    // ---- poison ----

    /// Checks a command's DPA: 64-byte aligned (Invalid Input) and its
    /// cacheline media, static or Dynamic Capacity (Invalid Physical
    /// Address).
    fn check_poison_dpa(&self, dpa: u64) -> Result<(), RetCode> {
        if !dpa.is_multiple_of(POISON_GRANULE) {
            return Err(RetCode::InvalidInput);
        }
        match dpa.checked_add(POISON_GRANULE) {
            Some(end) if self.is_media_range(dpa, end) => Ok(()),
            _ => Err(RetCode::InvalidPhysicalAddress),
        }
    }

    fn check_media_ready(&self) -> Result<(), RetCode> {
        match self.status.media_status {
            MediaStatus::Ready => Ok(()),
            _ => Err(RetCode::MediaDisabled),
        }
    }

    /// The poisoned ranges overlapping `start..start+length`, clipped to
    /// it, at most `max` of them; an identical query continues where the
    /// last one stopped (Get Poison List). Invalid Input if `start` is not
    /// 64-byte aligned, Invalid Physical Address where it is not all media
    /// (static capacity and DC regions).
    pub fn poison_list(
        &mut self,
        start: u64,
        length: u64,
        max: usize,
    ) -> Result<PoisonListPage, RetCode> {
        if !start.is_multiple_of(POISON_GRANULE) {
            return Err(RetCode::InvalidInput);
        }
        match start.checked_add(length) {
            Some(end) if self.is_media_range(start, end) => {}
            _ => return Err(RetCode::InvalidPhysicalAddress),
        }
        Ok(self.poison.query(start, length, max))
    }

    /// Poisons the cacheline at `dpa` (Inject Poison). An already poisoned
    /// line succeeds without change; past the Inject Poison Limit it is
    /// Inject Poison Limit Reached.
    pub fn inject_poison(&mut self, dpa: u64) -> Result<(), RetCode> {
        self.check_poison_dpa(dpa)?;
        self.check_media_ready()?;
        if self.poison.is_poisoned(dpa) {
            return Ok(());
        }
        let limit = usize::from(self.config.inject_poison_limit);
        if limit != 0 && self.poison.injected_count() >= limit {
            return Err(RetCode::InjectPoisonLimitReached);
        }
        let now = self.now();
        // A full list records the overflow; the injection itself still happens.
        let _ = self
            .poison
            .add(dpa, POISON_GRANULE, PoisonSource::Injected, now);
        Ok(())
    }

    /// Clears the poison of the cacheline at `dpa` (Clear Poison): the line
    /// leaves the poison list and `data` is to be written to the media
    /// there (the returned write).
    pub fn clear_poison(&mut self, dpa: u64, data: [u8; 64]) -> Result<MediaWrite, RetCode> {
        self.check_poison_dpa(dpa)?;
        self.check_media_ready()?;
        let now = self.now();
        self.poison.clear_cacheline(dpa, now);
        Ok(MediaWrite { dpa, data })
    }

    /// Records a media error the device found (`source`) at
    /// `dpa..dpa+length`, stamped with the device time (fault injection).
    pub fn add_media_error(
        &mut self,
        dpa: u64,
        length: u64,
        source: PoisonSource,
    ) -> Result<(), PoisonAddError> {
        let now = self.now();
        self.poison.add(dpa, length, source, now)
    }

    // ---- events ----

    /// Adds `record` to `log`, stamped with the device time. The result
    /// says which handle it got and which MSI/MSI-X message number, if any,
    /// the device model must now signal.
    pub fn add_event(&mut self, log: EventLogType, record: EventRecord) -> AddedEvent {
        let now = self.timestamp.now();
        let added = self.events.add(log, record, now);
        trace::event_posted(&self.config.name, log, &record, &added);
        added
    }

    /// The oldest records of `log`, at most `max` (Get Event Records); the
    /// host has now seen them, so the device no longer takes them back.
    pub fn read_event_records(&mut self, log: EventLogType, max: usize) -> EventRecordsPage {
        self.events.read(log, max)
    }

    /// Clears the oldest records of `log`, which must carry `handles` in
    /// order (Clear Event Records); Invalid Handle otherwise.
    pub fn clear_event_records(
        &mut self,
        log: EventLogType,
        handles: &[u16],
    ) -> Result<(), RetCode> {
        let r = self.events.clear(log, handles);
        trace::events_cleared(&self.config.name, log, Some(handles), &r);
        r
    }

    /// Clears every record of `log` (Clear Event Records, Clear All
    /// Events); Invalid Input unless the log overflowed.
    pub fn clear_all_event_records(&mut self, log: EventLogType) -> Result<(), RetCode> {
        let r = self.events.clear_all(log);
        trace::events_cleared(&self.config.name, log, None, &r);
        r
    }

    /// Sets the interrupt setting of each log named (Set Event Interrupt
    /// Policy).
    pub fn set_event_interrupt_policy(&mut self, settings: &[(EventLogType, InterruptSetting)]) {
        for (log, s) in settings {
            self.events.set_interrupt(*log, *s);
        }
    }

    /// How full the Dynamic Capacity Event Log is.
    pub fn dc_event_log_status(&self) -> DcEventLogStatus {
        DcEventLogStatus::of(&self.events)
    }

    // ---- Dynamic Capacity: the host ----

    /// The host accepts `list` out of the oldest pending offer (Add Dynamic
    /// Capacity Response); returns the extents to map and the declined
    /// ones. On error nothing changes.
    pub fn add_dc_response(
        &mut self,
        list: &[ExtentRange],
        more: bool,
    ) -> Result<Vec<DcdEffect>, RetCode> {
        if let Some(answer) = self.answer_dc_fault(list, more) {
            return answer;
        }
        let r = self.dcd.add_response(list, more);
        trace::dc_host(&self.config.name, "accepted", list, &r);
        r
    }

    /// The host gives back `list` (Release Dynamic Capacity); returns the
    /// extents to unmap. On error nothing changes.
    pub fn release_dc(&mut self, list: &[ExtentRange]) -> Result<Vec<DcdEffect>, RetCode> {
        let r = self.dcd.host_release(list);
        trace::dc_host(&self.config.name, "released", list, &r);
        if r.is_err() {
            self.release_dc_fault(list);
        }
        r
    }

    // ---- Dynamic Capacity: the operator ----

    /// Offers capacity to the host (Add Capacity records, one More chain).
    /// On error nothing changes.
    pub fn dcd_add_capacity(&mut self, req: AddRequest) -> Result<AddOutcome, DcdError> {
        let out = self.dcd_add_capacity_untraced(&req);
        trace::dc_offered(&self.config.name, &req, &out);
        out
    }

    fn dcd_add_capacity_untraced(&mut self, req: &AddRequest) -> Result<AddOutcome, DcdError> {
        let now = self.timestamp.now();
        let plan = self.dcd.plan_add(req, log_free(&self.events))?;
        let (extents, records) = self.dcd.commit_add(&plan);
        let (msi, posted) = post(&self.config.name, &mut self.events, now, &records);
        self.dcd.note_offer_records(posted);
        Ok(AddOutcome { extents, msi })
    }

    /// Asks the host for capacity back (Release Capacity records; the
    /// extents become release-pending) or, forced, takes it (Forced
    /// Capacity Release records; the extents are released at once; offered
    /// extents are withdrawn, see [`crate::cxl::dcd::withdraw`]). On error
    /// nothing changes.
    pub fn dcd_release_capacity(
        &mut self,
        req: ReleaseRequest,
    ) -> Result<ReleaseOutcome, DcdError> {
        let out = self.dcd_release_capacity_untraced(req);
        trace::dc_release_asked(&self.config.name, &out);
        out
    }

    fn dcd_release_capacity_untraced(
        &mut self,
        req: ReleaseRequest,
    ) -> Result<ReleaseOutcome, DcdError> {
        let now = self.timestamp.now();
        let plan = self.dcd.plan_release(&req, log_free(&self.events))?;
        let mut effects = Vec::new();
        let (extents, records, withdrawn) = self.dcd.commit_release(&plan, &mut effects);
        if !withdrawn.is_empty() {
            self.dcd.retract_withdrawn(&mut self.events);
        }
        let (msi, _) = post(&self.config.name, &mut self.events, now, &records);
        Ok(ReleaseOutcome {
            extents,
            forced: plan.forced(),
            withdrawn,
            msi,
            effects,
        })
    }

    /// The extents the host holds (accepted or release pending), in DPA
    /// order.
    pub fn dcd_accepted_extents(&self) -> Vec<DcExtent> {
        self.dcd.accepted_extents()
    }

    /// Every live extent with its state, in DPA order.
    pub fn dcd_extents(&self) -> Vec<ExtentInfo> {
        self.dcd.extents()
    }

    /// Status of the extents tagged `tag`.
    pub fn dcd_status_by_tag(&self, tag: Uuid) -> ExtentStatus {
        self.dcd.status_by_tag(tag)
    }

    /// Status of the extent at `offset` of region `region`, `len` bytes.
    pub fn dcd_status_by_extent(&self, region: u8, offset: u64, len: u64) -> ExtentStatus {
        self.dcd.status_by_extent(region, offset, len)
    }

    // ---- reset ----

    /// Applies a cold reset: a pending partition change takes effect, the
    /// event logs, poison list overflow and timestamp are lost. With the DC
    /// event log gone, pending DC offers are declined and pending release
    /// requests withdrawn (see [`DcdState::cold_reset`]); the declined
    /// offers are returned. The security state locks if a user passphrase
    /// is set and unfreezes; the Features take their saved values.
    pub fn cold_reset(&mut self) -> Vec<DcdEffect> {
        self.partition.apply_pending();
        self.security.cold_reset();
        self.features.cold_reset();
        self.background.cold_reset();
        self.firmware.cold_reset();
        self.scan = ScanMedia::default();
        let declined = self.dcd.cold_reset();
        self.reset_dc_faults();
        self.events = EventLogs::new(
            &self.config.event_log_depths,
            self.config.event_msi_message_number,
        );
        self.poison.reset_overflow();
        self.timestamp.reset();
        self.status = MemdevStatus::default();
        declined
    }
}
