//! The health and alert operations of [`Memdev`]: Set Alert Configuration
//! (CXL 3.1 8.2.9.9.3.3) and the operator's health changes, whose alerts
//! (`alert.rs`) set Get Health Info's Additional Status and post Memory
//! Module Event Records.

use super::alert::{Alert, AlertConfig, AlertSettings, ADDITIONAL_ALERT_BITS};
use super::events::{EventHeader, EventLogType, EventRecord, EventSeverity, MemoryModuleEvent};
use super::health::HealthUpdate;
use super::Memdev;
use crate::cxl::retcode::RetCode;

impl Memdev {
    /// Changes the alert configuration (Set Alert Configuration): Invalid
    /// Input if a threshold it enables is past its critical threshold. The
    /// Additional Status follows the new thresholds; no alert is raised
    /// (alerts are raised by the health values changing).
    pub fn set_alert_config(&mut self, settings: &AlertSettings) -> Result<(), RetCode> {
        self.alerts = self.alerts.set(settings).ok_or(RetCode::InvalidInput)?;
        self.refresh_additional_status();
        Ok(())
    }

    /// Recomputes the alert bits of Additional Status; returns the old ones.
    fn refresh_additional_status(&mut self) -> u8 {
        let before = self.health.additional_status & ADDITIONAL_ALERT_BITS;
        let after = self.alerts.status(&self.health);
        self.health.additional_status =
            (self.health.additional_status & !ADDITIONAL_ALERT_BITS) | after;
        before
    }

    /// Changes the health values given (fault injection): the Additional
    /// Status follows them, and each alert that rose (an enabled warning
    /// threshold or a critical one crossed) posts a Memory Module Event
    /// Record, warnings to the Warning log, critical ones to the Failure
    /// log. Returns the alerts and the event message number to signal.
    pub fn update_health(&mut self, update: &HealthUpdate) -> (Vec<Alert>, Option<u8>) {
        update.apply(&mut self.health);
        let before = self.refresh_additional_status();
        let after = self.health.additional_status & ADDITIONAL_ALERT_BITS;
        let alerts = AlertConfig::crossed(before, after);
        let mut msi = None;
        for a in &alerts {
            let (log, severity) = if a.critical {
                (EventLogType::Failure, EventSeverity::Failure)
            } else {
                (EventLogType::Warning, EventSeverity::Warning)
            };
            let record = EventRecord::memory_module(&MemoryModuleEvent {
                header: EventHeader {
                    severity,
                    ..EventHeader::default()
                },
                device_event_type: a.kind.device_event_type(),
                health: self.health,
            });
            msi = msi.or(self.add_event(log, record).msi);
        }
        (alerts, msi)
    }
}
