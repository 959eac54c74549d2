//! The device's Features (CXL 3.1 8.2.9.6): Device Patrol Scrub Control
//! (8.2.9.9.11.1) and DDR5 Error Check Scrub (ECS) Control (8.2.9.9.11.2),
//! their current, default and saved values, and Set Feature's data
//! transfers.
//!
//! The attribute layouts are the ones Linux's EDAC driver reads
//! (drivers/cxl/core/edac.c, as in CXL 3.2's tables, which QEMU also uses):
//! Patrol Scrub readable {capabilities u8, cycle u16 (7:0 current hours,
//! 15:8 minimum hours), flags u8}, writable {cycle hours u8, flags u8};
//! ECS readable {log capabilities u8, per media FRU {capabilities u8,
//! configuration u16, flags u8}}, writable {log capabilities u8, per media
//! FRU {configuration u16}}.
//!
//! Both features support the Default and Saved selections; their Deepest
//! Reset Persistence is None, so a cold reset makes the saved values
//! current. Set Feature takes the whole writable data or a part of it at an
//! offset (the rest keeps its current value), in one command or as
//! Initiate, Continue.., Finish (contiguous offsets) or Abort; the values
//! are checked when the transfer completes, and only then applied.

use uuid::Uuid;

use crate::cxl::retcode::RetCode;

// CXL 3.1 8.2.9.9.11.1 Device Patrol Scrub Control Feature (Feature UUID)
/// Device Patrol Scrub Control.
pub const PATROL_SCRUB_UUID: Uuid = Uuid::from_u128(0x96dad7d6_fde8_482b_a733_75774e06db8a);
// CXL 3.1 8.2.9.9.11.2 DDR5 Error Check Scrub (ECS) Control Feature (Feature UUID)
/// DDR5 Error Check Scrub (ECS) Control.
pub const ECS_UUID: Uuid = Uuid::from_u128(0xe5b13f22_2328_4a14_b8ba_b9691e893386);

// CXL 3.1 8.2.9.6.1 Get Supported Features (Table 8-97 Attribute Flags)
/// Changeable.
pub const FEATURE_CHANGEABLE: u32 = 1 << 0;
/// Deepest Reset Persistence (bits 3:1; 000b: None).
pub const FEATURE_DEEPEST_RESET_PERSISTENCE_MASK: u32 = 0b111 << 1;
/// Persist across Firmware Update.
pub const FEATURE_PERSIST_ACROSS_FW_UPDATE: u32 = 1 << 4;
/// Default Selection Supported.
pub const FEATURE_DEFAULT_SELECTION_SUPPORTED: u32 = 1 << 5;
/// Saved Selection Supported.
pub const FEATURE_SAVED_SELECTION_SUPPORTED: u32 = 1 << 6;

// CXL 3.1 8.2.9.6.1 Get Supported Features (Set Feature Effects, the CEL
// Command Effect bits)
/// Immediate Configuration Change.
pub const SET_EFFECT_IMMEDIATE_CONFIGURATION_CHANGE: u16 = 1 << 1;
/// CEL\[11:10\] Valid.
pub const SET_EFFECT_BITS_11_10_VALID: u16 = 1 << 9;

// CXL 3.1 8.2.9.6.3 Set Feature (Set Feature Flags)
/// Data Transfer (bits 2:0).
pub const SET_FEATURE_DATA_TRANSFER_MASK: u32 = 0b111;
/// Saved Across Reset.
pub const SET_FEATURE_SAVED_ACROSS_RESET: u32 = 1 << 3;

// CXL 3.1 8.2.9.9.11.1 (Patrol Scrub Control capabilities and flags)
/// Scrub Cycle Changeable.
pub const SCRUB_CAP_CYCLE_CHANGEABLE: u8 = 1 << 0;
/// Scrub Real-time Report Capable.
pub const SCRUB_CAP_REALTIME_REPORT: u8 = 1 << 1;
/// Patrol Scrub Enabled (flags).
pub const SCRUB_FLAG_ENABLED: u8 = 1 << 0;
/// Minimum Patrol Scrub Cycle the device supports, in hours.
pub const SCRUB_MIN_CYCLE_HOURS: u8 = 1;
/// Patrol Scrub Cycle at power-on, in hours.
pub const SCRUB_DEFAULT_CYCLE_HOURS: u8 = 12;
/// Get and Set Feature Version of Patrol Scrub Control.
pub const SCRUB_FEATURE_VERSION: u8 = 1;

// CXL 3.1 8.2.9.9.11.2 (ECS Control fields)
/// Media FRUs the ECS feature reports.
pub const ECS_MEDIA_FRUS: usize = 3;
/// ECS Log Entry Type (log capabilities bits 1:0): 00b per DRAM, 01b per
/// memory media FRU.
pub const ECS_LOG_ENTRY_TYPE_MASK: u8 = 0b11;
/// ECS Real-time Report Capability (per-FRU capabilities).
pub const ECS_CAP_REALTIME_REPORT: u8 = 1 << 0;
/// ECS Threshold Count (configuration bits 2:0): 3: 256, 4: 1024, 5: 4096.
pub const ECS_THRESHOLD_MASK: u16 = 0b111;
/// ECS Mode (configuration bit 3): 0 counts rows, 1 codewords.
pub const ECS_MODE: u16 = 1 << 3;
/// Reset ECS Counter (configuration bit 4, write-only).
pub const ECS_RESET_COUNTER: u16 = 1 << 4;
/// Get and Set Feature Version of ECS Control.
pub const ECS_FEATURE_VERSION: u8 = 1;

const SCRUB_READ_SIZE: usize = 4;
const SCRUB_WRITE_SIZE: usize = 2;
const ECS_READ_SIZE: usize = 1 + 4 * ECS_MEDIA_FRUS;
const ECS_WRITE_SIZE: usize = 1 + 2 * ECS_MEDIA_FRUS;

/// A feature the device supports; its position in [`FeatureId::ALL`] is
/// its Feature Index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureId {
    /// Device Patrol Scrub Control.
    PatrolScrub,
    /// DDR5 ECS Control.
    Ecs,
}

/// A Supported Feature Entry's fields (Get Supported Features).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureInfo {
    /// Feature Identifier.
    pub uuid: Uuid,
    /// Feature Index.
    pub index: u16,
    /// Get Feature Size (readable attributes).
    pub get_size: u16,
    /// Set Feature Size (writable attributes).
    pub set_size: u16,
    /// Attribute Flags (`FEATURE_*`).
    pub attr_flags: u32,
    /// Get Feature Version.
    pub get_version: u8,
    /// Set Feature Version.
    pub set_version: u8,
    /// Set Feature Effects.
    pub set_effects: u16,
}

impl FeatureId {
    /// Every feature, in Feature Index order.
    pub const ALL: [FeatureId; 2] = [FeatureId::PatrolScrub, FeatureId::Ecs];

    /// The feature with identifier `uuid`.
    pub fn from_uuid(uuid: &Uuid) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.info().uuid == *uuid)
    }

    /// The feature's Supported Feature Entry.
    pub fn info(self) -> FeatureInfo {
        let attr_flags = FEATURE_CHANGEABLE
            | FEATURE_PERSIST_ACROSS_FW_UPDATE
            | FEATURE_DEFAULT_SELECTION_SUPPORTED
            | FEATURE_SAVED_SELECTION_SUPPORTED;
        let set_effects = SET_EFFECT_IMMEDIATE_CONFIGURATION_CHANGE | SET_EFFECT_BITS_11_10_VALID;
        let (uuid, index, get_size, set_size, version) = match self {
            FeatureId::PatrolScrub => (
                PATROL_SCRUB_UUID,
                0,
                SCRUB_READ_SIZE,
                SCRUB_WRITE_SIZE,
                SCRUB_FEATURE_VERSION,
            ),
            FeatureId::Ecs => (
                ECS_UUID,
                1,
                ECS_READ_SIZE,
                ECS_WRITE_SIZE,
                ECS_FEATURE_VERSION,
            ),
        };
        FeatureInfo {
            uuid,
            index,
            get_size: get_size as u16,
            set_size: set_size as u16,
            attr_flags,
            get_version: version,
            set_version: version,
            set_effects,
        }
    }
}

// CXL 3.1 8.2.9.6.2 Get Feature (Selection)
/// Which value Get Feature returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Selection {
    /// Current Value.
    Current = 0,
    /// Default Value.
    Default = 1,
    /// Saved Value.
    Saved = 2,
}

impl Selection {
    /// The selection with value `v`; other values are reserved.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Current),
            1 => Some(Self::Default),
            2 => Some(Self::Saved),
            _ => None,
        }
    }
}

// CXL 3.1 8.2.9.6.3 Set Feature (Set Feature Flags, Data Transfer)
/// Set Feature's Data Transfer action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataTransfer {
    /// Full Data Transfer.
    Full,
    /// Initiate Data Transfer.
    Initiate,
    /// Continue Data Transfer.
    Continue,
    /// Finish Data Transfer.
    Finish,
    /// Abort Data Transfer.
    Abort,
}

impl DataTransfer {
    /// The action in Set Feature Flags; values 5-7 are reserved.
    pub fn from_flags(flags: u32) -> Option<Self> {
        match flags & SET_FEATURE_DATA_TRANSFER_MASK {
            0 => Some(Self::Full),
            1 => Some(Self::Initiate),
            2 => Some(Self::Continue),
            3 => Some(Self::Finish),
            4 => Some(Self::Abort),
            _ => None,
        }
    }
}

/// The Patrol Scrub Control settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatrolScrub {
    /// Patrol Scrub Cycle, in hours.
    pub cycle_hours: u8,
    /// Patrol Scrub Enabled.
    pub enabled: bool,
}

impl Default for PatrolScrub {
    fn default() -> Self {
        Self {
            cycle_hours: SCRUB_DEFAULT_CYCLE_HOURS,
            enabled: false,
        }
    }
}

/// The ECS Control settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ecs {
    /// ECS Log Entry Type.
    pub log_entry_type: u8,
    /// ECS Configuration of each media FRU (threshold and mode; the
    /// write-only Reset ECS Counter bit is never stored).
    pub config: [u16; ECS_MEDIA_FRUS],
}

impl Default for Ecs {
    /// Per memory media FRU, threshold 256, counting rows.
    fn default() -> Self {
        Self {
            log_entry_type: 1,
            config: [3; ECS_MEDIA_FRUS],
        }
    }
}

/// The value of every feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeatureSettings {
    /// Device Patrol Scrub Control.
    pub patrol_scrub: PatrolScrub,
    /// DDR5 ECS Control.
    pub ecs: Ecs,
}

impl FeatureSettings {
    /// Readable attributes of `id` (Get Feature's data).
    pub fn readable(&self, id: FeatureId) -> Vec<u8> {
        match id {
            FeatureId::PatrolScrub => {
                let s = self.patrol_scrub;
                vec![
                    SCRUB_CAP_CYCLE_CHANGEABLE | SCRUB_CAP_REALTIME_REPORT,
                    s.cycle_hours,
                    SCRUB_MIN_CYCLE_HOURS,
                    if s.enabled { SCRUB_FLAG_ENABLED } else { 0 },
                ]
            }
            FeatureId::Ecs => {
                let mut v = vec![self.ecs.log_entry_type];
                for c in self.ecs.config {
                    v.push(ECS_CAP_REALTIME_REPORT);
                    v.extend_from_slice(&c.to_le_bytes());
                    v.push(0);
                }
                v
            }
        }
    }

    /// Writable attributes of `id` as they stand (what a partial Set
    /// Feature starts from).
    pub fn writable(&self, id: FeatureId) -> Vec<u8> {
        match id {
            FeatureId::PatrolScrub => {
                let s = self.patrol_scrub;
                vec![
                    s.cycle_hours,
                    if s.enabled { SCRUB_FLAG_ENABLED } else { 0 },
                ]
            }
            FeatureId::Ecs => {
                let mut v = vec![self.ecs.log_entry_type];
                for c in self.ecs.config {
                    v.extend_from_slice(&c.to_le_bytes());
                }
                v
            }
        }
    }

    /// These settings with `id`'s writable attributes `data` applied;
    /// Invalid Input for a value out of range or a reserved bit set.
    pub fn with_writable(&self, id: FeatureId, data: &[u8]) -> Result<Self, RetCode> {
        let mut out = *self;
        let byte = |i: usize| data.get(i).copied().ok_or(RetCode::InvalidInput);
        match id {
            FeatureId::PatrolScrub => {
                let cycle = byte(0)?;
                let flags = byte(1)?;
                if cycle < SCRUB_MIN_CYCLE_HOURS || flags & !SCRUB_FLAG_ENABLED != 0 {
                    return Err(RetCode::InvalidInput);
                }
                out.patrol_scrub = PatrolScrub {
                    cycle_hours: cycle,
                    enabled: flags & SCRUB_FLAG_ENABLED != 0,
                };
            }
            FeatureId::Ecs => {
                let log = byte(0)?;
                if log > 1 {
                    return Err(RetCode::InvalidInput);
                }
                out.ecs.log_entry_type = log;
                for (i, slot) in out.ecs.config.iter_mut().enumerate() {
                    let c = u16::from_le_bytes([byte(1 + 2 * i)?, byte(2 + 2 * i)?]);
                    let known = ECS_THRESHOLD_MASK | ECS_MODE | ECS_RESET_COUNTER;
                    if c & !known != 0 || !(3..=5).contains(&(c & ECS_THRESHOLD_MASK)) {
                        return Err(RetCode::InvalidInput);
                    }
                    *slot = c & !ECS_RESET_COUNTER;
                }
            }
        }
        Ok(out)
    }
}

/// A partial Set Feature transfer in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Transfer {
    id: FeatureId,
    /// The writable attributes as transferred so far (starting from the
    /// current values).
    data: Vec<u8>,
    /// Offset the next part must start at.
    next: usize,
}

/// One Set Feature command, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetFeature<'a> {
    /// Feature Identifier.
    pub uuid: Uuid,
    /// Set Feature Flags.
    pub flags: u32,
    /// Offset of `data` in the writable attributes.
    pub offset: u16,
    /// Version of the data.
    pub version: u8,
    /// Feature Data.
    pub data: &'a [u8],
}

/// Current and saved values of the features and the transfer in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    current: FeatureSettings,
    saved: FeatureSettings,
    transfer: Option<Transfer>,
}

impl Features {
    /// The values in use.
    pub fn current(&self) -> &FeatureSettings {
        &self.current
    }

    /// The values a cold reset restores.
    pub fn saved(&self) -> &FeatureSettings {
        &self.saved
    }

    /// The feature a partial transfer is in progress for, if any.
    pub fn transfer_in_progress(&self) -> Option<FeatureId> {
        self.transfer.as_ref().map(|t| t.id)
    }

    /// Get Feature: `count` bytes (fewer at the end) of the readable
    /// attributes of the feature `uuid` from `offset`, of the `selection`
    /// value. Unsupported for an unknown feature, Feature Transfer In
    /// Progress while a Set Feature transfer of it is under way,
    /// Unsupported Feature Selection Value for a reserved selection,
    /// Invalid Input for an offset past the data.
    pub fn get(
        &self,
        uuid: &Uuid,
        selection: u8,
        offset: u16,
        count: u16,
    ) -> Result<Vec<u8>, RetCode> {
        let id = FeatureId::from_uuid(uuid).ok_or(RetCode::Unsupported)?;
        if self.transfer_in_progress() == Some(id) {
            return Err(RetCode::FeatureTransferInProgress);
        }
        let settings = match Selection::from_u8(selection) {
            Some(Selection::Current) => self.current,
            Some(Selection::Default) => FeatureSettings::default(),
            Some(Selection::Saved) => self.saved,
            None => return Err(RetCode::UnsupportedFeatureSelectionValue),
        };
        let data = settings.readable(id);
        let start = usize::from(offset);
        if start >= data.len() {
            return Err(RetCode::InvalidInput);
        }
        let end = start.saturating_add(usize::from(count)).min(data.len());
        Ok(data.get(start..end).map(<[u8]>::to_vec).unwrap_or_default())
    }

    /// Set Feature. See the module documentation for the transfer rules;
    /// the return codes: Unsupported (unknown feature), Invalid Input
    /// (reserved Data Transfer value, data past the writable attributes,
    /// values out of range), Unsupported Feature Version, Invalid Payload
    /// Length (no data), Feature Transfer In Progress (another transfer is
    /// under way), Feature Transfer Out Of Order (a part without an
    /// Initiate, or not at the offset where the last one ended). Nothing
    /// changes on error, except that a Finish whose values are refused
    /// ends its transfer.
    pub fn set(&mut self, req: &SetFeature<'_>) -> Result<(), RetCode> {
        let id = FeatureId::from_uuid(&req.uuid).ok_or(RetCode::Unsupported)?;
        let action = DataTransfer::from_flags(req.flags).ok_or(RetCode::InvalidInput)?;
        let other_in_progress = self.transfer.as_ref().is_some_and(|t| t.id != id);
        if other_in_progress {
            return Err(RetCode::FeatureTransferInProgress);
        }
        if action == DataTransfer::Abort {
            return match self.transfer.take() {
                Some(_) => Ok(()),
                None => Err(RetCode::FeatureTransferOutOfOrder),
            };
        }
        let info = id.info();
        if req.version != info.set_version {
            return Err(RetCode::UnsupportedFeatureVersion);
        }
        if req.data.is_empty() {
            return Err(RetCode::InvalidPayloadLength);
        }
        let start = usize::from(req.offset);
        let end = start
            .checked_add(req.data.len())
            .filter(|&e| e <= usize::from(info.set_size))
            .ok_or(RetCode::InvalidInput)?;
        let saved = req.flags & SET_FEATURE_SAVED_ACROSS_RESET != 0;
        match action {
            DataTransfer::Full | DataTransfer::Initiate => {
                if self.transfer.is_some() {
                    return Err(RetCode::FeatureTransferInProgress);
                }
                let mut data = self.current.writable(id);
                write_at(&mut data, start, req.data);
                if action == DataTransfer::Full {
                    self.apply(id, &data, saved)
                } else {
                    self.transfer = Some(Transfer {
                        id,
                        data,
                        next: end,
                    });
                    Ok(())
                }
            }
            DataTransfer::Continue | DataTransfer::Finish => {
                let t = self
                    .transfer
                    .as_mut()
                    .filter(|t| t.next == start)
                    .ok_or(RetCode::FeatureTransferOutOfOrder)?;
                write_at(&mut t.data, start, req.data);
                t.next = end;
                if action == DataTransfer::Continue {
                    return Ok(());
                }
                let data = self.transfer.take().map(|t| t.data).unwrap_or_default();
                self.apply(id, &data, saved)
            }
            DataTransfer::Abort => Ok(()),
        }
    }

    fn apply(&mut self, id: FeatureId, data: &[u8], saved: bool) -> Result<(), RetCode> {
        self.current = self.current.with_writable(id, data)?;
        if saved {
            self.saved = self.saved.with_writable(id, data)?;
        }
        Ok(())
    }

    /// A cold reset: the saved values become current; a transfer in
    /// progress is dropped.
    pub fn cold_reset(&mut self) {
        self.current = self.saved;
        self.transfer = None;
    }
}

fn write_at(buf: &mut [u8], offset: usize, src: &[u8]) {
    let Some(end) = offset.checked_add(src.len()) else {
        return;
    };
    if let Some(dst) = buf.get_mut(offset..end) {
        dst.copy_from_slice(src);
    }
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
