//! Tests of the commands in `health.rs` (compiled as
//! `cxl::mailbox::health::tests`).

use super::*;
use crate::cxl::mailbox::testing::test_memdev;
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::health::{HEALTH_STATUS_MAINTENANCE_NEEDED, MEDIA_STATUS_NORMAL};

#[test]
fn get_health_info_fields() {
    let mut m = test_memdev();
    m.set_health(HealthInfo {
        health_status: HEALTH_STATUS_MAINTENANCE_NEEDED,
        media_status: MEDIA_STATUS_NORMAL,
        additional_status: 0x10,
        life_used: 7,
        device_temperature: -5,
        dirty_shutdown_count: 0x0102_0304,
        corrected_volatile_error_count: 0x1112_1314,
        corrected_persistent_error_count: 0x2122_2324,
    });
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

use crate::cxl::memdev::alert::{
    ADDITIONAL_CORRECTED_VOLATILE_WARNING, ADDITIONAL_LIFE_USED_WARNING, ALERT_CORRECTED_VOLATILE,
    ALERT_LIFE_USED, ALERT_OVER_TEMPERATURE,
};
use crate::cxl::memdev::events::{EventLogType, MEMORY_MODULE_EVENT_UUID};
use crate::cxl::memdev::health::HealthUpdate;

fn set_alert(m: &mut crate::cxl::mailbox::testing::TestMemdev, s: AlertSettings) -> RetCode {
    let input = SetAlertConfigIn { settings: s }.encode();
    assert_eq!(input.len(), 0x0c);
    m.execute(Opcode::SetAlertConfig as u16, &input).0
}

#[test]
fn get_alert_config_defaults() {
    let mut m = test_memdev();
    let (rc, out) = m.execute(Opcode::GetAlertConfig as u16, &[]);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(out.len(), 0x10);
    assert_eq!(out[0], 0, "no alert valid");
    assert_eq!(out[1], 0x1f, "all five programmable");
    assert_eq!(out[2], 90);
    assert_eq!(i16::from_le_bytes([out[4], out[5]]), 85);
    assert_eq!(i16::from_le_bytes([out[6], out[7]]), -10);
    assert_eq!(
        m.execute(Opcode::GetAlertConfig as u16, &[0]).0,
        RetCode::InvalidPayloadLength
    );
}

#[test]
fn set_alert_config_round_trips_as_ndctl_sends_it() {
    let mut m = test_memdev();
    // ndctl `cxl set-alert-config -L 60 --life-used-alert=on`.
    let rc = set_alert(
        &mut m,
        AlertSettings {
            valid_actions: ALERT_LIFE_USED,
            enable_actions: ALERT_LIFE_USED,
            life_used: 60,
            ..Default::default()
        },
    );
    assert_eq!(rc, RetCode::Success);
    let rc = set_alert(
        &mut m,
        AlertSettings {
            valid_actions: ALERT_OVER_TEMPERATURE,
            enable_actions: ALERT_OVER_TEMPERATURE,
            over_temperature: 60,
            ..Default::default()
        },
    );
    assert_eq!(rc, RetCode::Success);
    let (_, out) = m.execute(Opcode::GetAlertConfig as u16, &[]);
    assert_eq!(out[0], ALERT_LIFE_USED | ALERT_OVER_TEMPERATURE);
    assert_eq!(out[3], 60);
    assert_eq!(i16::from_le_bytes([out[8], out[9]]), 60);
}

#[test]
fn set_alert_config_refuses_bad_payloads() {
    let mut m = test_memdev();
    assert_eq!(
        m.execute(Opcode::SetAlertConfig as u16, &[0; 0x0b]).0,
        RetCode::InvalidPayloadLength
    );
    assert_eq!(
        m.execute(Opcode::SetAlertConfig as u16, &[0; 0x0d]).0,
        RetCode::InvalidPayloadLength
    );
    let past_critical = AlertSettings {
        valid_actions: ALERT_LIFE_USED,
        enable_actions: ALERT_LIFE_USED,
        life_used: 95,
        ..Default::default()
    };
    assert_eq!(set_alert(&mut m, past_critical), RetCode::InvalidInput);
    let unknown = AlertSettings {
        valid_actions: 0x20,
        ..Default::default()
    };
    assert_eq!(set_alert(&mut m, unknown), RetCode::InvalidInput);
    assert_eq!(m.alert_config().valid, 0, "nothing changed");
}

#[test]
fn health_crossing_an_enabled_threshold_posts_a_memory_module_record() {
    let mut m = test_memdev();
    // Disabled: no alert, no record.
    let (alerts, _) = m.update_health(&HealthUpdate {
        life_used: Some(80),
        ..Default::default()
    });
    assert!(alerts.is_empty());
    assert!(m.events().log(EventLogType::Warning).is_empty());
    assert_eq!(m.health().additional_status, 0);
    // Enabling updates Additional Status but raises nothing by itself.
    let rc = set_alert(
        &mut m,
        AlertSettings {
            valid_actions: ALERT_LIFE_USED | ALERT_CORRECTED_VOLATILE,
            enable_actions: ALERT_LIFE_USED | ALERT_CORRECTED_VOLATILE,
            life_used: 50,
            corrected_volatile: 10,
            ..Default::default()
        },
    );
    assert_eq!(rc, RetCode::Success);
    assert_eq!(m.health().additional_status, ADDITIONAL_LIFE_USED_WARNING);
    assert!(m.events().log(EventLogType::Warning).is_empty());
    let (alerts, _) = m.update_health(&HealthUpdate {
        corrected_volatile_error_count: Some(10),
        ..Default::default()
    });
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        m.health().additional_status,
        ADDITIONAL_LIFE_USED_WARNING | ADDITIONAL_CORRECTED_VOLATILE_WARNING
    );
    let log = m.events().log(EventLogType::Warning);
    assert_eq!(log.len(), 1);
    let r = log.records().next().unwrap();
    assert_eq!(r.uuid(), MEMORY_MODULE_EVENT_UUID);
    assert_eq!(r.flags() & 3, 1, "warning severity");
    assert_eq!(r.data()[0], 0x00, "health status change");
    assert_eq!(&r.data()[1..0x13], &m.health().to_bytes());
    // Critical life used goes to the Failure log, whatever the enables.
    let (alerts, _) = m.update_health(&HealthUpdate {
        life_used: Some(95),
        ..Default::default()
    });
    assert!(alerts[0].critical);
    let r = *m
        .events()
        .log(EventLogType::Failure)
        .records()
        .next()
        .unwrap();
    assert_eq!(r.data()[0], 0x02, "life used change");
    assert_eq!(r.flags() & 3, 2);
    // Get Health Info reports it.
    let (_, out) = m.execute(Opcode::GetHealthInfo as u16, &[]);
    assert_eq!(out[2] & 3, 0b10);
    assert_eq!(out[3], 95);
}
