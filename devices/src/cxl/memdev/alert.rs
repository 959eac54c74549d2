//! Alert configuration and the health alerts it drives (CXL 3.1
//! 8.2.9.9.3.1-3).
//!
//! The device has fixed critical thresholds for life used and temperature,
//! and five programmable warning thresholds (life used, over- and
//! under-temperature, corrected volatile and persistent error counts) the
//! host sets and enables with Set Alert Configuration. [`AlertConfig::status`]
//! turns health values into Get Health Info's Additional Status;
//! [`AlertConfig::crossed`] says which alerts a health change newly raised,
//! each of which the device reports with a Memory Module Event Record.

use super::health::HealthInfo;

// CXL 3.1 8.2.9.9.3.2 Get Alert Configuration (Valid Alerts / Programmable Alerts bits)
/// Life Used Programmable Warning Threshold.
pub const ALERT_LIFE_USED: u8 = 1 << 0;
/// Device Over-Temperature Programmable Warning Threshold.
pub const ALERT_OVER_TEMPERATURE: u8 = 1 << 1;
/// Device Under-Temperature Programmable Warning Threshold.
pub const ALERT_UNDER_TEMPERATURE: u8 = 1 << 2;
/// Corrected Volatile Memory Error Programmable Warning Threshold.
pub const ALERT_CORRECTED_VOLATILE: u8 = 1 << 3;
/// Corrected Persistent Memory Error Programmable Warning Threshold.
pub const ALERT_CORRECTED_PERSISTENT: u8 = 1 << 4;
/// Every programmable alert this device has.
pub const ALERTS_PROGRAMMABLE: u8 = 0x1f;

// CXL 3.1 8.2.9.9.3.1 Get Health Info (Additional Status)
/// Additional Status bits 1:0, Life Used: 01b warning.
pub const ADDITIONAL_LIFE_USED_WARNING: u8 = 0b01;
/// Additional Status bits 1:0, Life Used: 10b critical.
pub const ADDITIONAL_LIFE_USED_CRITICAL: u8 = 0b10;
/// Additional Status bits 3:2, Device Temperature: 01b warning.
pub const ADDITIONAL_TEMPERATURE_WARNING: u8 = 0b01 << 2;
/// Additional Status bits 3:2, Device Temperature: 10b critical.
pub const ADDITIONAL_TEMPERATURE_CRITICAL: u8 = 0b10 << 2;
/// Additional Status bit 4: Corrected Volatile Error Count at warning.
pub const ADDITIONAL_CORRECTED_VOLATILE_WARNING: u8 = 1 << 4;
/// Additional Status bit 5: Corrected Persistent Error Count at warning.
pub const ADDITIONAL_CORRECTED_PERSISTENT_WARNING: u8 = 1 << 5;
/// The Additional Status bits the alerts drive.
pub const ADDITIONAL_ALERT_BITS: u8 = 0x3f;

/// Life Used Critical Alert Threshold, in percent.
pub const LIFE_USED_CRITICAL: u8 = 90;
/// Device Over-Temperature Critical Alert Threshold, degrees Celsius.
pub const OVER_TEMPERATURE_CRITICAL: i16 = 85;
/// Device Under-Temperature Critical Alert Threshold, degrees Celsius.
pub const UNDER_TEMPERATURE_CRITICAL: i16 = -10;

/// What an alert is about; the Device Event Type of the Memory Module
/// Event Record that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// Life used reached a threshold.
    LifeUsed,
    /// Temperature went past a threshold.
    Temperature,
    /// A corrected error count reached its threshold.
    CorrectedErrors,
}

impl AlertKind {
    // CXL 3.1 8.2.9.2.1.3 Memory Module Event Record (Device Event Type)
    /// Device Event Type: 02h Life Used Change, 03h Temperature Change,
    /// 00h Health Status Change.
    pub fn device_event_type(self) -> u8 {
        match self {
            AlertKind::LifeUsed => 0x02,
            AlertKind::Temperature => 0x03,
            AlertKind::CorrectedErrors => 0x00,
        }
    }
}

/// One alert a health change raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    /// What crossed.
    pub kind: AlertKind,
    /// A critical threshold (else a programmable warning threshold).
    pub critical: bool,
}

/// Set Alert Configuration's input, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertSettings {
    /// Valid Alert Actions: which alerts this request changes.
    pub valid_actions: u8,
    /// Enable Alert Actions: for each changed alert, enabled or not.
    pub enable_actions: u8,
    /// Life Used Programmable Warning Threshold.
    pub life_used: u8,
    /// Device Over-Temperature Programmable Warning Threshold.
    pub over_temperature: i16,
    /// Device Under-Temperature Programmable Warning Threshold.
    pub under_temperature: i16,
    /// Corrected Volatile Memory Error Programmable Warning Threshold.
    pub corrected_volatile: u16,
    /// Corrected Persistent Memory Error Programmable Warning Threshold.
    pub corrected_persistent: u16,
}

/// The device's alert configuration (Get Alert Configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertConfig {
    /// Valid Alerts: the programmable warning thresholds enabled.
    pub valid: u8,
    /// Life Used Programmable Warning Threshold.
    pub life_used: u8,
    /// Device Over-Temperature Programmable Warning Threshold.
    pub over_temperature: i16,
    /// Device Under-Temperature Programmable Warning Threshold.
    pub under_temperature: i16,
    /// Corrected Volatile Memory Error Programmable Warning Threshold.
    pub corrected_volatile: u16,
    /// Corrected Persistent Memory Error Programmable Warning Threshold.
    pub corrected_persistent: u16,
}

impl Default for AlertConfig {
    /// No warning enabled; thresholds below the critical ones.
    fn default() -> Self {
        Self {
            valid: 0,
            life_used: 75,
            over_temperature: 70,
            under_temperature: 0,
            corrected_volatile: 100,
            corrected_persistent: 100,
        }
    }
}

impl AlertConfig {
    /// Applies Set Alert Configuration; `None` (Invalid Input) if a
    /// threshold it enables is not on the safe side of its critical
    /// threshold, or an action names an alert the device does not have.
    /// Nothing changes then.
    pub fn set(&self, s: &AlertSettings) -> Option<AlertConfig> {
        if s.valid_actions & !ALERTS_PROGRAMMABLE != 0 {
            return None;
        }
        let mut next = *self;
        let enable = s.valid_actions & s.enable_actions;
        if enable & ALERT_LIFE_USED != 0 {
            if s.life_used >= LIFE_USED_CRITICAL {
                return None;
            }
            next.life_used = s.life_used;
        }
        if enable & ALERT_OVER_TEMPERATURE != 0 {
            if s.over_temperature >= OVER_TEMPERATURE_CRITICAL {
                return None;
            }
            next.over_temperature = s.over_temperature;
        }
        if enable & ALERT_UNDER_TEMPERATURE != 0 {
            if s.under_temperature <= UNDER_TEMPERATURE_CRITICAL {
                return None;
            }
            next.under_temperature = s.under_temperature;
        }
        if enable & ALERT_CORRECTED_VOLATILE != 0 {
            next.corrected_volatile = s.corrected_volatile;
        }
        if enable & ALERT_CORRECTED_PERSISTENT != 0 {
            next.corrected_persistent = s.corrected_persistent;
        }
        next.valid = (self.valid & !s.valid_actions) | enable;
        Some(next)
    }

    fn enabled(&self, bit: u8) -> bool {
        self.valid & bit != 0
    }

    /// The Additional Status bits 5:0 for `h`: critical thresholds always
    /// count, warning thresholds only when enabled.
    pub fn status(&self, h: &HealthInfo) -> u8 {
        let mut s = 0;
        if h.life_used != 0xff && h.life_used >= LIFE_USED_CRITICAL {
            s |= ADDITIONAL_LIFE_USED_CRITICAL;
        } else if self.enabled(ALERT_LIFE_USED)
            && h.life_used != 0xff
            && h.life_used >= self.life_used
        {
            s |= ADDITIONAL_LIFE_USED_WARNING;
        }
        let t = h.device_temperature;
        if t != 0x7fff {
            if t >= OVER_TEMPERATURE_CRITICAL || t <= UNDER_TEMPERATURE_CRITICAL {
                s |= ADDITIONAL_TEMPERATURE_CRITICAL;
            } else if (self.enabled(ALERT_OVER_TEMPERATURE) && t >= self.over_temperature)
                || (self.enabled(ALERT_UNDER_TEMPERATURE) && t <= self.under_temperature)
            {
                s |= ADDITIONAL_TEMPERATURE_WARNING;
            }
        }
        if self.enabled(ALERT_CORRECTED_VOLATILE)
            && h.corrected_volatile_error_count >= u32::from(self.corrected_volatile)
        {
            s |= ADDITIONAL_CORRECTED_VOLATILE_WARNING;
        }
        if self.enabled(ALERT_CORRECTED_PERSISTENT)
            && h.corrected_persistent_error_count >= u32::from(self.corrected_persistent)
        {
            s |= ADDITIONAL_CORRECTED_PERSISTENT_WARNING;
        }
        s
    }

    /// The alerts raised going from Additional Status `before` to `after`
    /// (both from [`Self::status`]): a state that rose to warning or to
    /// critical.
    pub fn crossed(before: u8, after: u8) -> Vec<Alert> {
        let mut v = Vec::new();
        for (kind, shift, width) in [
            (AlertKind::LifeUsed, 0, 2),
            (AlertKind::Temperature, 2, 2),
            (AlertKind::CorrectedErrors, 4, 1),
            (AlertKind::CorrectedErrors, 5, 1),
        ] {
            let mask = (1u8 << width) - 1;
            let b = (before >> shift) & mask;
            let a = (after >> shift) & mask;
            if a > b {
                v.push(Alert {
                    kind,
                    critical: width == 2 && a == 0b10,
                });
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(life: u8, temp: i16, vol: u32, pers: u32) -> HealthInfo {
        HealthInfo {
            life_used: life,
            device_temperature: temp,
            corrected_volatile_error_count: vol,
            corrected_persistent_error_count: pers,
            ..HealthInfo::default()
        }
    }

    #[test]
    fn set_enables_and_checks_against_critical() {
        let c = AlertConfig::default();
        let s = AlertSettings {
            valid_actions: ALERT_LIFE_USED | ALERT_OVER_TEMPERATURE,
            enable_actions: ALERT_LIFE_USED,
            life_used: 50,
            over_temperature: 99,
            ..Default::default()
        };
        let n = c.set(&s).unwrap();
        assert_eq!(n.valid, ALERT_LIFE_USED);
        assert_eq!(n.life_used, 50);
        // Not enabled: its threshold is not taken (nor checked).
        assert_eq!(n.over_temperature, 70);
        // Disabling leaves the threshold.
        let n2 = n
            .set(&AlertSettings {
                valid_actions: ALERT_LIFE_USED,
                ..Default::default()
            })
            .unwrap();
        assert_eq!((n2.valid, n2.life_used), (0, 50));
        for bad in [
            AlertSettings {
                valid_actions: ALERT_LIFE_USED,
                enable_actions: ALERT_LIFE_USED,
                life_used: LIFE_USED_CRITICAL,
                ..Default::default()
            },
            AlertSettings {
                valid_actions: ALERT_OVER_TEMPERATURE,
                enable_actions: ALERT_OVER_TEMPERATURE,
                over_temperature: OVER_TEMPERATURE_CRITICAL,
                ..Default::default()
            },
            AlertSettings {
                valid_actions: ALERT_UNDER_TEMPERATURE,
                enable_actions: ALERT_UNDER_TEMPERATURE,
                under_temperature: UNDER_TEMPERATURE_CRITICAL,
                ..Default::default()
            },
            AlertSettings {
                valid_actions: 1 << 5,
                ..Default::default()
            },
        ] {
            assert_eq!(c.set(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn status_and_crossings() {
        let mut c = AlertConfig::default();
        assert_eq!(c.status(&health(80, 35, 500, 500)), 0, "warnings disabled");
        assert_eq!(
            c.status(&health(95, 90, 0, 0)),
            ADDITIONAL_LIFE_USED_CRITICAL | ADDITIONAL_TEMPERATURE_CRITICAL
        );
        c.valid = ALERTS_PROGRAMMABLE;
        let s = c.status(&health(80, -5, 100, 99));
        assert_eq!(
            s,
            ADDITIONAL_LIFE_USED_WARNING
                | ADDITIONAL_TEMPERATURE_WARNING
                | ADDITIONAL_CORRECTED_VOLATILE_WARNING
        );
        assert_eq!(c.status(&health(0xff, 0x7fff, 0, 0)), 0, "not implemented");
        let up = AlertConfig::crossed(0, s);
        assert_eq!(
            up,
            vec![
                Alert {
                    kind: AlertKind::LifeUsed,
                    critical: false
                },
                Alert {
                    kind: AlertKind::Temperature,
                    critical: false
                },
                Alert {
                    kind: AlertKind::CorrectedErrors,
                    critical: false
                },
            ]
        );
        let crit = c.status(&health(95, 35, 0, 0));
        assert_eq!(
            AlertConfig::crossed(s, crit),
            vec![Alert {
                kind: AlertKind::LifeUsed,
                critical: true
            }]
        );
        assert!(
            AlertConfig::crossed(crit, 0).is_empty(),
            "falling raises nothing"
        );
        assert_eq!(AlertKind::Temperature.device_event_type(), 0x03);
    }
}
