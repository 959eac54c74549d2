//! DC region configuration in the memory device configuration: layout,
//! DSMAD handles, DC-only devices and validation errors.

use crate::cxl::dcd::{DcConfig, DcRegionConfig, DcRegions};
use crate::cxl::mailbox::testing::{test_memdev, TestMemdev};
use crate::cxl::memdev::tests::{dc_only_config, test_config};
use crate::cxl::memdev::{MemdevError, CAPACITY_MULTIPLIER};

#[test]
fn dc_only_devices_are_valid() {
    let c = dc_only_config();
    c.validate().unwrap();
    let m = TestMemdev::new(c).unwrap();
    assert_eq!(m.capacity_bytes(), 0);
    assert_eq!(m.dpa_space_bytes(), 1 << 30);
    let r = m.dcd().regions();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].base, r[0].length, r[0].dsmad_handle), (0, 1 << 30, 0));
    // Without regions the same device has no capacity at all.
    let mut c = dc_only_config();
    c.dc = DcConfig::default();
    assert!(matches!(c.validate(), Err(MemdevError::NoCapacity)));
}

#[test]
fn dc_regions_sit_above_static_capacity() {
    let m = test_memdev();
    let r = m.dcd().regions();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].base, 10 * CAPACITY_MULTIPLIER);
    assert_eq!(r[0].decode_length, 2 * CAPACITY_MULTIPLIER);
    assert_eq!(r[0].dsmad_handle, 2);
    assert_eq!(r[1].base, 12 * CAPACITY_MULTIPLIER);
    assert_eq!(r[1].dsmad_handle, 3);
    assert!(r[1].sanitize_on_release);
    assert_eq!(m.capacity_bytes(), 10 * CAPACITY_MULTIPLIER);
    assert_eq!(m.dpa_space_bytes(), 14 * CAPACITY_MULTIPLIER);
    // Only a volatile partition before the DC regions: handles from 1.
    let mut c = test_config();
    c.persistent_bytes = 0;
    c.partitionable_bytes = 0;
    c.partition_align_bytes = 0;
    c.initial_partition_volatile_bytes = 0;
    assert_eq!(c.dc_regions().unwrap()[0].dsmad_handle, 1);
}

#[test]
fn dc_validation_errors_are_clear() {
    use crate::cxl::dcd::DcConfigError as E;
    let bad = |f: fn(&mut DcConfig)| {
        let mut c = test_config();
        f(&mut c.dc);
        match c.validate() {
            Err(MemdevError::DynamicCapacity(e)) => e,
            other => panic!("{other:?}"),
        }
    };
    fn one(r: DcRegionConfig) -> DcRegions {
        DcRegions::Explicit(vec![r])
    }
    assert_eq!(
        bad(|d| d.regions = DcRegions::Explicit(vec![DcRegionConfig::new(1 << 30); 9])),
        E::RegionCount(9)
    );
    assert_eq!(
        bad(|d| d.regions = one(DcRegionConfig::new(0))),
        E::ZeroLength(0)
    );
    let e = bad(|d| {
        d.regions = one(DcRegionConfig {
            block_size: 3 << 20,
            ..DcRegionConfig::new(6 << 20)
        })
    });
    assert!(matches!(e, E::BlockSize { region: 0, .. }), "{e}");
    assert!(e.to_string().contains("power of two"), "{e}");
    assert!(matches!(
        bad(|d| d.regions = one(DcRegionConfig {
            block_size: 2048,
            ..DcRegionConfig::new(1 << 20)
        })),
        E::BlockSize { .. }
    ));
    assert!(matches!(
        bad(|d| d.regions = one(DcRegionConfig::new(3 << 20))),
        E::LengthNotBlockMultiple { .. }
    ));
    assert!(matches!(
        bad(|d| d.regions = one(DcRegionConfig {
            decode_length: Some(128 << 20),
            ..DcRegionConfig::new(256 << 20)
        })),
        E::DecodeLength { .. }
    ));
    assert!(matches!(
        bad(|d| d.regions = one(DcRegionConfig {
            decode_length: Some(100 << 20),
            ..DcRegionConfig::new(64 << 20)
        })),
        E::DecodeLength { .. }
    ));
    // A 1 GiB block cannot start at 2.5 GiB.
    assert!(matches!(
        bad(|d| d.regions = one(DcRegionConfig {
            block_size: 1 << 30,
            ..DcRegionConfig::new(1 << 30)
        })),
        E::BaseAlignment { .. }
    ));
    assert!(matches!(
        bad(|d| d.regions = DcRegions::Explicit(vec![
            DcRegionConfig {
                dsmad_handle: Some(7),
                ..DcRegionConfig::new(2 << 20)
            },
            DcRegionConfig {
                dsmad_handle: Some(7),
                ..DcRegionConfig::new(2 << 20)
            },
        ])),
        E::DuplicateDsmadHandle(0, 1, 7)
    ));
    assert!(matches!(
        bad(|d| d.regions = DcRegions::Equal {
            count: 3,
            total_bytes: 1 << 30,
            block_size: 2 << 20,
            sanitize_on_release: false,
        }),
        E::EqualSplit { .. }
    ));
    assert!(matches!(
        bad(|d| d.regions = DcRegions::Equal {
            count: 0,
            total_bytes: 1 << 30,
            block_size: 2 << 20,
            sanitize_on_release: false,
        }),
        E::RegionCount(0)
    ));
    assert_eq!(bad(|d| d.max_extents = 0), E::MaxExtents);
    let msg = MemdevError::from(E::ZeroLength(3)).to_string();
    assert_eq!(msg, "dynamic capacity: DC region 3: length is 0");
}

#[test]
fn dc_equal_split_like_qemu() {
    let mut c = test_config();
    c.dc.regions = DcRegions::Equal {
        count: 4,
        total_bytes: 1 << 30,
        block_size: 2 << 20,
        sanitize_on_release: true,
    };
    let r = c.dc_regions().unwrap();
    assert_eq!(r.len(), 4);
    for (i, region) in r.iter().enumerate() {
        assert_eq!(region.length, 256 << 20);
        assert_eq!(region.decode_length, 256 << 20);
        assert_eq!(region.base, (10 + i as u64) * CAPACITY_MULTIPLIER);
        assert!(region.sanitize_on_release);
    }
}
