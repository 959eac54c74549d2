//! Health Info and Alerts command set: Get Health Info (CXL 3.1 8.2.9.9.3).

use super::payload::{Input, Output};
use super::RetCode;
use crate::cxl::memdev::Memdev;

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
        let mut o = Output::zeroed(HEALTH_INFO_SIZE);
        o.put_u8(0x00, self.health_status);
        o.put_u8(0x01, self.media_status);
        o.put_u8(0x02, self.additional_status);
        o.put_u8(0x03, self.life_used);
        o.put_u16(0x04, self.device_temperature as u16);
        o.put_u32(0x06, self.dirty_shutdown_count);
        o.put_u32(0x0A, self.corrected_volatile_error_count);
        o.put_u32(0x0E, self.corrected_persistent_error_count);
        let mut out = [0u8; HEALTH_INFO_SIZE];
        out.copy_from_slice(&o.into_vec());
        out
    }
}

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Opcode 4200h)
/// Get Health Info: no input; 12h bytes of output.
pub fn get_health_info(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(0)?;
    Ok(memdev.health().to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::test_memdev;

    #[test]
    fn get_health_info_fields() {
        let mut m = test_memdev();
        *m.health_mut() = HealthInfo {
            health_status: HEALTH_STATUS_MAINTENANCE_NEEDED,
            media_status: MEDIA_STATUS_NORMAL,
            additional_status: 0x10,
            life_used: 7,
            device_temperature: -5,
            dirty_shutdown_count: 0x0102_0304,
            corrected_volatile_error_count: 0x1112_1314,
            corrected_persistent_error_count: 0x2122_2324,
        };
        let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out.len(), 0x12);
        assert_eq!(out[0], 1);
        assert_eq!(out[1], 0);
        assert_eq!(out[2], 0x10);
        assert_eq!(out[3], 7);
        assert_eq!(&out[4..6], &(-5i16).to_le_bytes());
        assert_eq!(&out[6..10], &0x0102_0304u32.to_le_bytes());
        assert_eq!(&out[10..14], &0x1112_1314u32.to_le_bytes());
        assert_eq!(&out[14..18], &0x2122_2324u32.to_le_bytes());
    }

    #[test]
    fn get_health_info_defaults_are_sane() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[]);
        assert_eq!(rc, RetCode::Success);
        assert_eq!(&out[0..4], &[0, 0, 0, 0]);
        assert_eq!(i16::from_le_bytes([out[4], out[5]]), 35);
        assert!(out[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn get_health_info_rejects_input() {
        let mut m = test_memdev();
        let (rc, out) = m.execute(Opcode::GetHealthInfo as u16, &[0]);
        assert_eq!(rc, RetCode::InvalidPayloadLength);
        assert!(out.is_empty());
    }
}
