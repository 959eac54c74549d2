//! Tests of the memory device state, and the configurations and devices
//! other tests build on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::events::EventLogDepths;
use super::*;
use crate::cxl::dcd::{DcConfig, DcRegionConfig, DcRegions};

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
        name: String::from("mem0"),
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
    m.set_timestamp(1_000_000);
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

#[test]
fn cold_reset_drops_events_and_timestamp() {
    let (mut m, _clock) = test_memdev_with_clock();
    m.set_timestamp(5);
    let rec = EventRecord::raw(uuid::Uuid::nil(), &Default::default(), &[]);
    m.add_event(EventLogType::Fatal, rec);
    m.cold_reset();
    assert_eq!(m.events().event_status(), 0);
    assert_eq!(m.now(), 0);
}
