//! Health Info and Alerts command set: Get Health Info, Get and Set Alert
//! Configuration (CXL 3.1 8.2.9.9.3).

use super::payload::{Decode, Encode, Input, NoInput, Output};
use super::RetCode;
use crate::cxl::memdev::alert::{
    AlertConfig, AlertSettings, ALERTS_PROGRAMMABLE, LIFE_USED_CRITICAL, OVER_TEMPERATURE_CRITICAL,
    UNDER_TEMPERATURE_CRITICAL,
};
use crate::cxl::memdev::health::HealthInfo;
use crate::cxl::memdev::{Effects, Memdev};

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Table 8-136 Get Health Info Output Payload)
/// Get Health Info output (`struct cxl_mbox_health_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetHealthInfoOut {
    /// The device's health, in its 12h-byte encoding.
    pub health: HealthInfo,
}

impl Encode for GetHealthInfoOut {
    fn encode(&self) -> Vec<u8> {
        self.health.to_bytes().to_vec()
    }
}

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Opcode 4200h)
/// Get Health Info: no input; 12h bytes of output.
pub fn get_health_info(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetHealthInfoOut {
        health: *memdev.health(),
    }
    .encode())
}

/// Size of the Get Alert Configuration output payload.
pub const GET_ALERT_CONFIG_OUT_SIZE: usize = 0x10;
/// Size of the Set Alert Configuration input payload.
pub const SET_ALERT_CONFIG_IN_SIZE: usize = 0x0c;

// CXL 3.1 8.2.9.9.3.2 Get Alert Configuration (Get Alert Configuration Output Payload)
/// Get Alert Configuration output (`struct cxl_mbox_get_alert_config_out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetAlertConfigOut {
    /// The programmable warning thresholds and which are enabled.
    pub config: AlertConfig,
}

impl Encode for GetAlertConfigOut {
    fn encode(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = Output::zeroed(GET_ALERT_CONFIG_OUT_SIZE);
        out.put_u8(0x00, c.valid);
        out.put_u8(0x01, ALERTS_PROGRAMMABLE);
        out.put_u8(0x02, LIFE_USED_CRITICAL);
        out.put_u8(0x03, c.life_used);
        out.put_u16(0x04, OVER_TEMPERATURE_CRITICAL as u16);
        out.put_u16(0x06, UNDER_TEMPERATURE_CRITICAL as u16);
        out.put_u16(0x08, c.over_temperature as u16);
        out.put_u16(0x0a, c.under_temperature as u16);
        out.put_u16(0x0c, c.corrected_volatile);
        out.put_u16(0x0e, c.corrected_persistent);
        out.into_vec()
    }
}

// CXL 3.1 8.2.9.9.3.3 Set Alert Configuration (Set Alert Configuration Input Payload)
/// Set Alert Configuration input (`struct cxl_mbox_set_alert_config_in`,
/// ndctl's `struct cxl_cmd_set_alert_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetAlertConfigIn {
    /// The decoded fields.
    pub settings: AlertSettings,
}

impl Decode<'_> for SetAlertConfigIn {
    fn decode(input: Input<'_>) -> Result<Self, RetCode> {
        input.expect_len(SET_ALERT_CONFIG_IN_SIZE)?;
        let short = RetCode::InvalidPayloadLength;
        Ok(Self {
            settings: AlertSettings {
                valid_actions: input.u8(0x00).ok_or(short)?,
                enable_actions: input.u8(0x01).ok_or(short)?,
                life_used: input.u8(0x02).ok_or(short)?,
                over_temperature: input.u16(0x04).ok_or(short)? as i16,
                under_temperature: input.u16(0x06).ok_or(short)? as i16,
                corrected_volatile: input.u16(0x08).ok_or(short)?,
                corrected_persistent: input.u16(0x0a).ok_or(short)?,
            },
        })
    }
}

impl Encode for SetAlertConfigIn {
    fn encode(&self) -> Vec<u8> {
        let s = &self.settings;
        let mut out = Output::zeroed(SET_ALERT_CONFIG_IN_SIZE);
        out.put_u8(0x00, s.valid_actions);
        out.put_u8(0x01, s.enable_actions);
        out.put_u8(0x02, s.life_used);
        out.put_u16(0x04, s.over_temperature as u16);
        out.put_u16(0x06, s.under_temperature as u16);
        out.put_u16(0x08, s.corrected_volatile);
        out.put_u16(0x0a, s.corrected_persistent);
        out.into_vec()
    }
}

// CXL 3.1 8.2.9.9.3.2 Get Alert Configuration (Opcode 4201h)
/// Get Alert Configuration: no input; 10h bytes of output.
pub fn get_alert_config(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    NoInput::decode(input)?;
    Ok(GetAlertConfigOut {
        config: *memdev.alert_config(),
    }
    .encode())
}

// CXL 3.1 8.2.9.9.3.3 Set Alert Configuration (Opcode 4202h)
/// Set Alert Configuration: 0Ch bytes of input, no output; Invalid Input
/// for a threshold past its critical one or an alert the device lacks.
pub fn set_alert_config(
    memdev: &mut Memdev,
    input: Input,
    _fx: &mut Effects,
) -> Result<Vec<u8>, RetCode> {
    let req = SetAlertConfigIn::decode(input)?;
    memdev.set_alert_config(&req.settings)?;
    Ok(Vec::new())
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
