//! Tests of the injections: each kind, its records' layout as Linux's
//! `include/cxl/event.h` reads them, and the refusals.

use super::*;
use crate::cxl::component::ras::{
    RasCapability, RasSignal, CORRECTABLE_ERROR_MASK, CORRECTABLE_ERROR_STATUS,
    ERROR_CAPABILITIES_AND_CONTROL, HEADER_LOG, UNCORRECTABLE_ERROR_MASK,
    UNCORRECTABLE_ERROR_SEVERITY, UNCORRECTABLE_ERROR_STATUS,
};
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::mailbox::Opcode;
use crate::cxl::memdev::events::{
    EventLogType, DRAM_EVENT_UUID, GENERAL_MEDIA_EVENT_UUID, MEMORY_MODULE_EVENT_UUID,
};
use crate::cxl::memdev::health::HealthUpdate;
use crate::cxl::memdev::poison::PoisonSource;
use crate::cxl::retcode::RetCode;

const MIB: u64 = 1 << 20;

fn gm(log: EventLogName, dpa: u64) -> GeneralMediaInjection {
    GeneralMediaInjection {
        log,
        flags: 1,
        dpa,
        descriptor: 2,
        event_type: 3,
        transaction_type: 4,
        channel: None,
        rank: None,
        device: None,
        component_id: None,
    }
}

fn dram(dpa: u64) -> DramInjection {
    DramInjection {
        log: EventLogName::Failure,
        flags: 2,
        dpa,
        descriptor: 1,
        event_type: 2,
        transaction_type: 3,
        channel: None,
        rank: None,
        nibble_mask: None,
        bank_group: None,
        bank: None,
        row: None,
        column: None,
        correction_mask: None,
    }
}

fn inject(m: &mut TestMemdev, inj: Injection) -> Result<Injected, InjectError> {
    apply(m, None, &inj)
}

fn only_record(m: &TestMemdev, log: EventLogType) -> [u8; 128] {
    let l = m.events().log(log);
    assert_eq!(l.len(), 1);
    *l.records().next().unwrap().as_bytes()
}

#[test]
fn poison_is_internal_and_outside_the_inject_limit() {
    let mut m = test_memdev();
    for i in 0..6 {
        let p = PoisonInjection {
            start: i * 0x1000,
            length: 128,
        };
        inject(&mut m, Injection::Poison(p)).unwrap();
    }
    assert_eq!(m.poison().len(), 6);
    assert!(m
        .poison()
        .records()
        .all(|r| r.source == PoisonSource::Internal));
    // The guest's own Inject Poison still has its whole limit (4).
    for i in 0..4u64 {
        let dpa = 0x10_0000 + i * 64;
        let (rc, _) = m.execute(Opcode::InjectPoison as u16, &dpa.to_le_bytes());
        assert_eq!(rc, RetCode::Success, "guest injection {i}");
    }
    // Get Poison List reports source Internal (2) in bits 2:0.
    let mut q = 0u64.to_le_bytes().to_vec();
    q.extend_from_slice(&(0x1000u64 / 64).to_le_bytes());
    let (rc, out) = m.execute(Opcode::GetPoisonList as u16, &q);
    assert_eq!(rc, RetCode::Success);
    assert_eq!(u16::from_le_bytes([out[0x0a], out[0x0b]]), 1);
    let addr = u64::from_le_bytes(out[0x20..0x28].try_into().unwrap());
    assert_eq!(addr & 7, 2);
    assert_eq!(addr & !7, 0);
    assert_eq!(u32::from_le_bytes(out[0x28..0x2c].try_into().unwrap()), 2);
}

#[test]
fn poison_past_a_full_list_sets_the_overflow() {
    let mut m = test_memdev();
    for i in 0..8 {
        let p = PoisonInjection {
            start: i * 64,
            length: 64,
        };
        inject(&mut m, Injection::Poison(p)).unwrap();
    }
    assert_eq!(m.poison().overflow_timestamp(), None);
    let out = inject(
        &mut m,
        Injection::Poison(PoisonInjection {
            start: 0x8000,
            length: 64,
        }),
    )
    .unwrap();
    assert_eq!(out.detail["overflow"], true);
    assert!(m.poison().overflow_timestamp().is_some());
    assert_eq!(m.poison().len(), 8);
    let mut q = 0u64.to_le_bytes().to_vec();
    q.extend_from_slice(&(0x1_0000u64 / 64).to_le_bytes());
    let (_, out) = m.execute(Opcode::GetPoisonList as u16, &q);
    assert_eq!(out[0] & 0x2, 0x2, "Poison List Overflow flag");
}

#[test]
fn poison_refusals() {
    let mut m = test_memdev();
    let cap = m.capacity_bytes();
    let p = |start, length| Injection::Poison(PoisonInjection { start, length });
    for (inj, what) in [
        (p(1, 64), "unaligned start"),
        (p(0, 0), "empty"),
        (p(0, 65), "unaligned length"),
        (p(u64::MAX - 63, 128), "wraps"),
    ] {
        assert!(inj.check().is_err(), "{what}");
        assert!(
            matches!(inject(&mut m, inj), Err(InjectError::Invalid(_))),
            "{what}"
        );
    }
    // Media is the static capacity and the DC regions' capacity.
    let end = m.dcd().regions().last().unwrap().end();
    assert!(matches!(
        inject(&mut m, p(end - 64, 128)),
        Err(InjectError::Invalid(_))
    ));
    inject(&mut m, p(0, 256)).unwrap();
    assert!(matches!(
        inject(&mut m, p(128, 256)),
        Err(InjectError::Conflict(_))
    ));
    inject(&mut m, p(cap - 64, 128)).unwrap();
    assert_eq!(m.poison().len(), 2);
}

#[test]
fn general_media_record_layout_and_validity() {
    let mut m = test_memdev();
    let mut g = gm(EventLogName::Warning, 0x4000);
    g.channel = Some(5);
    g.device = Some(0x00ab_cdef);
    g.component_id = Some("DIMM0".into());
    inject(&mut m, Injection::GeneralMedia(g)).unwrap();
    let r = only_record(&m, EventLogType::Warning);
    assert_eq!(&r[0..16], GENERAL_MEDIA_EVENT_UUID.as_bytes());
    assert_eq!(r[0x10], 0x80);
    assert_eq!(r[0x11] & 3, 1, "severity from flags");
    // struct cxl_event_gen_media: phys_addr at 30h (bit 0 volatile).
    assert_eq!(
        u64::from_le_bytes(r[0x30..0x38].try_into().unwrap()),
        0x4001
    );
    assert_eq!((r[0x38], r[0x39], r[0x3a]), (2, 3, 4));
    // Channel and Device valid, Rank not, Component valid.
    assert_eq!(u16::from_le_bytes([r[0x3b], r[0x3c]]), 0b1101);
    assert_eq!(r[0x3d], 5);
    assert_eq!(&r[0x3f..0x42], &[0xef, 0xcd, 0xab]);
    assert_eq!(&r[0x42..0x47], b"DIMM0");
    assert_eq!(r[0x47], 0);
    // Persistent DPA: bit 0 clear.
    let pmem = m.partition().persistent_dpa_range().start;
    inject(
        &mut m,
        Injection::GeneralMedia(gm(EventLogName::Informational, pmem)),
    )
    .unwrap();
    let r = only_record(&m, EventLogType::Informational);
    assert_eq!(u64::from_le_bytes(r[0x30..0x38].try_into().unwrap()), pmem);
    assert_eq!(
        u16::from_le_bytes([r[0x3b], r[0x3c]]),
        0,
        "nothing optional"
    );
}

#[test]
fn event_injection_signals_the_interrupt_the_guest_chose() {
    let mut m = test_memdev();
    let out = inject(&mut m, Injection::GeneralMedia(gm(EventLogName::Fatal, 0))).unwrap();
    assert_eq!(out.msi, None, "no interrupt policy yet");
    // Set Event Interrupt Policy: MSI/MSI-X for the Failure log.
    let (rc, _) = m.execute(Opcode::SetEventInterruptPolicy as u16, &[0, 0, 1, 0, 0]);
    assert_eq!(rc, RetCode::Success);
    let out = inject(&mut m, Injection::Dram(dram(0x40))).unwrap();
    assert_eq!(out.msi, Some(2));
    // A second record to a non-empty log raises nothing.
    let out = inject(&mut m, Injection::Dram(dram(0x80))).unwrap();
    assert_eq!(out.msi, None);
    // The Fatal log (depth 1) is full: the record is an overflow.
    let out = inject(&mut m, Injection::GeneralMedia(gm(EventLogName::Fatal, 0))).unwrap();
    assert_eq!(out.detail["overflow"], true);
    assert_eq!(
        m.events()
            .log(EventLogType::Fatal)
            .overflow()
            .unwrap()
            .error_count,
        1
    );
}

#[test]
fn dram_record_layout_and_validity() {
    let mut m = test_memdev();
    let mut d = dram(0x1_0000);
    d.rank = Some(1);
    d.nibble_mask = Some(0x12_3456);
    d.bank = Some(7);
    d.row = Some(0xff_fffe);
    d.column = Some(0x0102);
    d.correction_mask = Some(vec![0x1111, 0x2222]);
    inject(&mut m, Injection::Dram(d)).unwrap();
    let r = only_record(&m, EventLogType::Failure);
    assert_eq!(&r[0..16], DRAM_EVENT_UUID.as_bytes());
    assert_eq!(r[0x11] & 3, 2);
    assert_eq!(
        u64::from_le_bytes(r[0x30..0x38].try_into().unwrap()),
        0x1_0001
    );
    assert_eq!(
        u16::from_le_bytes([r[0x3b], r[0x3c]]),
        (1 << 1) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7)
    );
    assert_eq!(r[0x3e], 1);
    assert_eq!(&r[0x3f..0x42], &[0x56, 0x34, 0x12]);
    assert_eq!(r[0x43], 7);
    assert_eq!(&r[0x44..0x47], &[0xfe, 0xff, 0xff]);
    assert_eq!(&r[0x47..0x49], &[0x02, 0x01]);
    assert_eq!(
        u64::from_le_bytes(r[0x49..0x51].try_into().unwrap()),
        0x1111
    );
    assert_eq!(
        u64::from_le_bytes(r[0x51..0x59].try_into().unwrap()),
        0x2222
    );
    assert!(r[0x59..0x69].iter().all(|&b| b == 0));
}

#[test]
fn event_refusals() {
    let mut m = test_memdev();
    let top = m.dpa_space_bytes();
    let mut bad_dev = gm(EventLogName::Warning, 0);
    bad_dev.device = Some(1 << 24);
    let mut long_id = gm(EventLogName::Warning, 0);
    long_id.component_id = Some("x".repeat(17));
    let mut bad_row = dram(0);
    bad_row.row = Some(1 << 24);
    let mut bad_mask = dram(0);
    bad_mask.correction_mask = Some(vec![0; 5]);
    for inj in [
        Injection::GeneralMedia(gm(EventLogName::Warning, 0x41)),
        Injection::GeneralMedia(gm(EventLogName::Warning, top)),
        Injection::GeneralMedia(bad_dev),
        Injection::GeneralMedia(long_id),
        Injection::Dram(dram(top + 64)),
        Injection::Dram(bad_row),
        Injection::Dram(bad_mask),
    ] {
        assert!(
            matches!(inject(&mut m, inj.clone()), Err(InjectError::Invalid(_))),
            "{inj:?}"
        );
    }
    assert_eq!(m.events().event_status(), 0, "nothing posted");
    // The DC region's DPA (above the static capacity) is in range and volatile.
    let dc = m.capacity_bytes() + 64 * MIB;
    inject(&mut m, Injection::Dram(dram(dc))).unwrap();
}

#[test]
fn memory_module_record_carries_the_given_health() {
    let mut m = test_memdev();
    let mm = MemoryModuleInjection {
        log: EventLogName::Informational,
        flags: 0,
        event_type: 3,
        health_status: 1,
        media_status: 2,
        additional_status: 3,
        life_used: 33,
        temperature: -7,
        dirty_shutdown_count: 9,
        corrected_volatile_error_count: 10,
        corrected_persistent_error_count: 11,
    };
    inject(&mut m, Injection::MemoryModule(mm)).unwrap();
    let r = only_record(&m, EventLogType::Informational);
    assert_eq!(&r[0..16], MEMORY_MODULE_EVENT_UUID.as_bytes());
    assert_eq!(r[0x30], 3);
    assert_eq!(&r[0x31..0x35], &[1, 2, 3, 33]);
    assert_eq!(i16::from_le_bytes([r[0x35], r[0x36]]), -7);
    assert_eq!(u32::from_le_bytes(r[0x37..0x3b].try_into().unwrap()), 9);
    assert_eq!(u32::from_le_bytes(r[0x3b..0x3f].try_into().unwrap()), 10);
    assert_eq!(u32::from_le_bytes(r[0x3f..0x43].try_into().unwrap()), 11);
    // The device's own health is not changed by a record.
    assert_eq!(m.health().life_used, 0);
}

#[test]
fn health_injection_updates_get_health_info() {
    let mut m = test_memdev();
    let out = inject(
        &mut m,
        Injection::Health(HealthUpdate {
            temperature: Some(90),
            dirty_shutdown_count: Some(3),
            ..Default::default()
        }),
    )
    .unwrap();
    assert_eq!(out.detail["alerts"], 1, "critical over-temperature");
    let (_, h) = m.execute(Opcode::GetHealthInfo as u16, &[]);
    assert_eq!(i16::from_le_bytes([h[4], h[5]]), 90);
    assert_eq!(u32::from_le_bytes(h[6..10].try_into().unwrap()), 3);
    assert_eq!(h[2] & 0b1100, 0b1000, "temperature critical");
    assert_eq!(m.events().log(EventLogType::Failure).len(), 1);
    for bad in [
        HealthUpdate::default(),
        HealthUpdate {
            life_used: Some(101),
            ..Default::default()
        },
    ] {
        assert!(inject(&mut m, Injection::Health(bad)).is_err());
    }
}

fn unmasked_ras() -> RasCapability {
    let mut ras = RasCapability::new();
    ras.write32(UNCORRECTABLE_ERROR_MASK, 0, u32::MAX);
    ras.write32(UNCORRECTABLE_ERROR_SEVERITY, 0, u32::MAX);
    ras.write32(CORRECTABLE_ERROR_MASK, 0, u32::MAX);
    ras
}

#[test]
fn uncorrectable_errors_set_status_first_error_pointer_and_header() {
    let mut m = test_memdev();
    let mut ras = unmasked_ras();
    let inj = Injection::Uncorrectable(UncorrectableErrorsInjection {
        errors: vec![
            UncorrectableError {
                error_type: UncorrectableErrorType::MemDataEcc,
                header: vec![0xdead_beef, 2, 3],
            },
            UncorrectableError {
                error_type: UncorrectableErrorType::CacheDataParity,
                header: vec![9; 16],
            },
        ],
    });
    let out = apply(&mut m, Some(&mut ras), &inj).unwrap();
    assert_eq!(out.ras, RasSignal::UncorrectableNonFatal);
    assert_eq!(ras.read32(UNCORRECTABLE_ERROR_STATUS), (1 << 7) | 1);
    assert_eq!(
        ras.read32(ERROR_CAPABILITIES_AND_CONTROL) & 0x3f,
        7,
        "first error"
    );
    assert_eq!(ras.read32(HEADER_LOG), 0xdead_beef);
    assert_eq!(ras.read32(HEADER_LOG + 8), 3);
    assert_eq!(ras.read32(HEADER_LOG + 12), 0);
    // Masked (reset state): logged, nothing signalled.
    let mut masked = RasCapability::new();
    let out = apply(&mut m, Some(&mut masked), &inj).unwrap();
    assert_eq!(out.ras, RasSignal::None);
    assert_ne!(masked.read32(UNCORRECTABLE_ERROR_STATUS), 0);
    // Refusals.
    let too_long = Injection::Uncorrectable(UncorrectableErrorsInjection {
        errors: vec![UncorrectableError {
            error_type: UncorrectableErrorType::Internal,
            header: vec![0; 17],
        }],
    });
    let empty = Injection::Uncorrectable(UncorrectableErrorsInjection { errors: vec![] });
    for bad in [too_long, empty] {
        assert!(apply(&mut m, Some(&mut ras), &bad).is_err());
    }
    assert!(apply(&mut m, None, &inj).is_err(), "no RAS capability");
}

#[test]
fn correctable_error_sets_status() {
    let mut m = test_memdev();
    let mut ras = unmasked_ras();
    let inj = Injection::Correctable(CorrectableErrorInjection {
        error_type: CorrectableErrorType::RetryThreshold,
    });
    let out = apply(&mut m, Some(&mut ras), &inj).unwrap();
    assert_eq!(out.ras, RasSignal::Correctable);
    assert_eq!(ras.read32(CORRECTABLE_ERROR_STATUS), 1 << 3);
}

#[test]
fn requests_parse_with_qmp_names_and_refuse_unknown_fields() {
    let g: GeneralMediaInjection = serde_json::from_str(
        r#"{"log":"failure","flags":1,"dpa":4096,"descriptor":1,"type":2,"transaction-type":3,"component-id":"abc"}"#,
    )
    .unwrap();
    assert_eq!(g.log, EventLogName::Failure);
    assert_eq!(g.component_id.as_deref(), Some("abc"));
    assert!(serde_json::from_str::<GeneralMediaInjection>(
        r#"{"log":"bad","flags":1,"dpa":0,"descriptor":1,"type":2,"transaction-type":3}"#
    )
    .is_err());
    assert!(serde_json::from_str::<PoisonInjection>(r#"{"start":0,"length":64,"x":1}"#).is_err());
    let u: UncorrectableErrorsInjection = serde_json::from_str(
        r#"{"errors":[{"type":"cxl-ide-rx","header":[1]},{"type":"internal","header":[]}]}"#,
    )
    .unwrap();
    assert_eq!(u.errors[0].error_type.bit(), 16);
    assert_eq!(u.errors[1].error_type.bit(), 14);
    let c: CorrectableErrorInjection =
        serde_json::from_str(r#"{"type":"mem-poison-received"}"#).unwrap();
    assert_eq!(c.error_type.bit(), 5);
}
