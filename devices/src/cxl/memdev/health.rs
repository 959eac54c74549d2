//! The device's health information (CXL 3.1 8.2.9.9.3.1).

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Health Status bits)
/// Health Status: Maintenance Needed.
pub const HEALTH_STATUS_MAINTENANCE_NEEDED: u8 = 1 << 0;
/// Health Status: Performance Degraded.
pub const HEALTH_STATUS_PERFORMANCE_DEGRADED: u8 = 1 << 1;
/// Health Status: Hardware Replacement Needed.
pub const HEALTH_STATUS_HARDWARE_REPLACEMENT_NEEDED: u8 = 1 << 2;

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Media Status values)
/// Media Status: Normal.
pub const MEDIA_STATUS_NORMAL: u8 = 0x00;

/// Size of the Get Health Info output payload.
pub const HEALTH_INFO_SIZE: usize = 0x12;

// CXL 3.1 8.2.9.9.3.1 Get Health Info (output payload)
/// The device health the Get Health Info command reports; also the Device
/// Health Information of a Memory Module Event Record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthInfo {
    /// Health Status bits (`HEALTH_STATUS_*`).
    pub health_status: u8,
    /// Media Status (`MEDIA_STATUS_NORMAL`, ...).
    pub media_status: u8,
    /// Additional Status (life used, temperature and error count states).
    pub additional_status: u8,
    /// Life Used, in percent (FFh: not implemented).
    pub life_used: u8,
    /// Device Temperature in degrees Celsius (7FFFh: not implemented).
    pub device_temperature: i16,
    /// Dirty Shutdown Count.
    pub dirty_shutdown_count: u32,
    /// Corrected Volatile Error Count.
    pub corrected_volatile_error_count: u32,
    /// Corrected Persistent Error Count.
    pub corrected_persistent_error_count: u32,
}

impl Default for HealthInfo {
    /// A healthy, new device at 35 degrees Celsius.
    fn default() -> Self {
        Self {
            health_status: 0,
            media_status: MEDIA_STATUS_NORMAL,
            additional_status: 0,
            life_used: 0,
            device_temperature: 35,
            dirty_shutdown_count: 0,
            corrected_volatile_error_count: 0,
            corrected_persistent_error_count: 0,
        }
    }
}

impl HealthInfo {
    /// The 12h-byte wire encoding.
    pub fn to_bytes(&self) -> [u8; HEALTH_INFO_SIZE] {
        let mut out = [0u8; HEALTH_INFO_SIZE];
        out[0x00] = self.health_status;
        out[0x01] = self.media_status;
        out[0x02] = self.additional_status;
        out[0x03] = self.life_used;
        out[0x04..0x06].copy_from_slice(&self.device_temperature.to_le_bytes());
        out[0x06..0x0A].copy_from_slice(&self.dirty_shutdown_count.to_le_bytes());
        out[0x0A..0x0E].copy_from_slice(&self.corrected_volatile_error_count.to_le_bytes());
        out[0x0E..0x12].copy_from_slice(&self.corrected_persistent_error_count.to_le_bytes());
        out
    }
}

/// Health values an operator changes (`POST .../inject/health`); the
/// fields not given keep their values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HealthUpdate {
    /// Life Used, in percent (0-100, or 255: not implemented).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub life_used: Option<u8>,
    /// Device Temperature in degrees Celsius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<i16>,
    /// Dirty Shutdown Count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty_shutdown_count: Option<u32>,
    /// Corrected Volatile Error Count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_volatile_error_count: Option<u32>,
    /// Corrected Persistent Error Count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_persistent_error_count: Option<u32>,
}

impl HealthUpdate {
    /// What is wrong with it, if anything: nothing given, or a life used
    /// over 100 other than 255.
    pub fn check(&self) -> Result<(), String> {
        if *self == Self::default() {
            return Err("give at least one health value".into());
        }
        if let Some(l) = self.life_used {
            if l > 100 && l != 0xff {
                return Err(format!(
                    "life-used {l} is not a percentage (0-100, or 255: not implemented)"
                ));
            }
        }
        Ok(())
    }

    /// Writes the given values into `h`.
    pub fn apply(&self, h: &mut HealthInfo) {
        if let Some(v) = self.life_used {
            h.life_used = v;
        }
        if let Some(v) = self.temperature {
            h.device_temperature = v;
        }
        if let Some(v) = self.dirty_shutdown_count {
            h.dirty_shutdown_count = v;
        }
        if let Some(v) = self.corrected_volatile_error_count {
            h.corrected_volatile_error_count = v;
        }
        if let Some(v) = self.corrected_persistent_error_count {
            h.corrected_persistent_error_count = v;
        }
    }
}
