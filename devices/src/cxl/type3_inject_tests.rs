//! Injections through the Type 3 device model: the trace, the event
//! interrupt, and the AER path from the CXL RAS capability through the
//! endpoint's AER to the root port's Root Error Status and MSI, as Linux's
//! AER driver and `cxl_pci` error handlers find them.

use super::testing::build;
use super::*;
use crate::cxl::component::ras::{
    CORRECTABLE_ERROR_MASK, UNCORRECTABLE_ERROR_MASK, UNCORRECTABLE_ERROR_SEVERITY,
    UNCORRECTABLE_ERROR_STATUS,
};
use crate::cxl::component::{CACHEMEM_OFFSET, RAS_POINTER};
use crate::cxl::inject::{
    CorrectableErrorInjection, CorrectableErrorType, PoisonInjection, UncorrectableError,
    UncorrectableErrorType, UncorrectableErrorsInjection,
};
use crate::cxl::root_port::CxlRootPort;
use crate::cxl::test_rig::memfd;
use crate::interrupt::RecordingMsiGroup;
use crate::pci::aer::{
    CORRECTABLE_STATUS, COR_INTERNAL, ERROR_SOURCE_ID, ROOT_ERROR_COMMAND, ROOT_ERROR_STATUS,
    UNCORRECTABLE_STATUS, UNC_INTERNAL,
};
use crate::pci::caps::{CAP_ID_MSI, EXT_CAP_ID_AER};
use crate::pci::pcie_cap::DEVICE_CONTROL;
use crate::pci::RootPortConfig;
use crate::trace::{capture, Kind};

const SIZE: u64 = 256 << 20;

fn device() -> Type3 {
    build(
        Type3Config {
            memdev: MemdevConfig {
                volatile_bytes: SIZE,
                ..MemdevConfig::default()
            },
            volatile: Some(memfd("vmem0", SIZE, None)),
            persistent: None,
            partitionable: None,
            dc_backing: None,
        },
        SIZE,
    )
    .0
}

fn cfg_read32(d: &mut dyn PciDevice, off: u16) -> u32 {
    let mut b = [0u8; 4];
    d.config_read(off, &mut b);
    u32::from_le_bytes(b)
}

fn cfg_write32(d: &mut dyn PciDevice, off: u16, v: u32) {
    d.config_write(off, &v.to_le_bytes());
}

fn ras_write(d: &mut Type3, reg: u64, v: u32) {
    d.bar_write(
        REGS_BAR,
        CACHEMEM_OFFSET + RAS_POINTER + reg,
        &v.to_le_bytes(),
    );
}

fn ras_read(d: &mut Type3, reg: u64) -> u32 {
    let mut b = [0u8; 4];
    d.bar_read(REGS_BAR, CACHEMEM_OFFSET + RAS_POINTER + reg, &mut b);
    u32::from_le_bytes(b)
}

/// What Linux does at probe: AER enables in Device Control (pci_aer_init)
/// and the RAS masks cleared (cxl_pci_ras_unmask).
fn linux_probe(d: &mut Type3) -> u16 {
    let pcie = d
        .function
        .config()
        .find_capability(CAP_ID_PCI_EXPRESS)
        .unwrap();
    let devctl = pcie + DEVICE_CONTROL as u16;
    let v = cfg_read32(d, devctl) | 0x7;
    cfg_write32(d, devctl, v);
    ras_write(d, UNCORRECTABLE_ERROR_MASK, 0);
    ras_write(d, CORRECTABLE_ERROR_MASK, 0);
    d.function
        .config()
        .find_ext_capability(EXT_CAP_ID_AER)
        .unwrap()
}

/// A root port with MSI enabled and Root Error Command set, as the AER
/// driver leaves it; secondary bus 0x81.
fn root_port() -> (CxlRootPort, Arc<RecordingMsiGroup>, u16) {
    let msi = Arc::new(RecordingMsiGroup::new(1));
    let mut cfg = RootPortConfig::new(0);
    cfg.msi = Some(msi.clone());
    let mut rp = CxlRootPort::new(cfg).unwrap();
    let mut caps = [0u8; 4];
    rp.config_read(0x34, &mut caps);
    // Walk to the MSI capability.
    let mut at = u16::from(caps[0]);
    while at != 0 {
        let h = cfg_read32(&mut rp, at);
        if h as u8 == CAP_ID_MSI {
            break;
        }
        at = u16::from((h >> 8) as u8);
    }
    assert_ne!(at, 0, "root port has MSI");
    cfg_write32(&mut rp, at + 4, 0xfee0_0000);
    cfg_write32(&mut rp, at + 0xc, 0x41);
    rp.config_write(at + 2, &[1]);
    rp.config_write(0x19, &[0x81, 0x81]);
    let aer = find_aer(&mut rp);
    cfg_write32(&mut rp, aer + ROOT_ERROR_COMMAND as u16, 0x7);
    (rp, msi, aer)
}

fn find_aer(d: &mut dyn PciDevice) -> u16 {
    let mut at = 0x100u16;
    loop {
        let h = cfg_read32(d, at);
        if h as u16 == EXT_CAP_ID_AER {
            return at;
        }
        at = (h >> 20) as u16;
        assert_ne!(at, 0, "no AER capability");
    }
}

#[test]
fn uncorrectable_error_reaches_the_root_port_interrupt() {
    let mut d = device();
    let aer = linux_probe(&mut d);
    assert_eq!(find_aer(&mut d), aer);
    let (mut rp, msi, rp_aer) = root_port();
    let inj = Injection::Uncorrectable(UncorrectableErrorsInjection {
        errors: vec![UncorrectableError {
            error_type: UncorrectableErrorType::MemDataEcc,
            header: vec![0x1234],
        }],
    });
    let (msg, trace) = capture(|| d.inject("mem0", &inj).unwrap());
    assert_eq!(msg, Some(ErrorMessage::Fatal), "AER default severity");
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0].kind, Kind::Inject);
    assert_eq!(trace[0].device.as_deref(), Some("mem0"));
    assert_eq!(trace[0].fields["what"], "uncorrectable-errors");
    assert_eq!(trace[0].fields["aer-message"], "ERR_FATAL");
    // cxl_pci's handler finds the RAS status and header.
    assert_eq!(ras_read(&mut d, UNCORRECTABLE_ERROR_STATUS), 1 << 7);
    assert_eq!(
        cfg_read32(&mut d, aer + UNCORRECTABLE_STATUS as u16),
        UNC_INTERNAL
    );
    // The root port's AER interrupt, with the source ID the driver reads.
    assert!(rp.receive_error(ErrorMessage::Fatal));
    assert_eq!(msi.fired().len(), 1);
    assert_eq!(msi.fired()[0].1.data, 0x41);
    assert_ne!(
        cfg_read32(&mut rp, rp_aer + ROOT_ERROR_STATUS as u16) & 0x4,
        0
    );
    assert_eq!(
        cfg_read32(&mut rp, rp_aer + ERROR_SOURCE_ID as u16) >> 16,
        0x8100
    );
    // Non-fatal once software makes it so.
    let sev = aer + crate::pci::aer::UNCORRECTABLE_SEVERITY as u16;
    cfg_write32(&mut d, sev, 0);
    ras_write(&mut d, UNCORRECTABLE_ERROR_SEVERITY, 0);
    assert_eq!(
        d.inject("mem0", &inj).unwrap(),
        Some(ErrorMessage::NonFatal)
    );
}

#[test]
fn correctable_error_and_masks() {
    let mut d = device();
    let aer = d
        .function
        .config()
        .find_ext_capability(EXT_CAP_ID_AER)
        .unwrap();
    let inj = Injection::Correctable(CorrectableErrorInjection {
        error_type: CorrectableErrorType::CrcThreshold,
    });
    // Before the driver unmasks RAS: logged in RAS only.
    assert_eq!(d.inject("mem0", &inj).unwrap(), None);
    assert_eq!(cfg_read32(&mut d, aer + CORRECTABLE_STATUS as u16), 0);
    linux_probe(&mut d);
    assert_eq!(
        d.inject("mem0", &inj).unwrap(),
        Some(ErrorMessage::Correctable)
    );
    assert_eq!(
        cfg_read32(&mut d, aer + CORRECTABLE_STATUS as u16),
        COR_INTERNAL
    );
    // A root port whose Root Error Command is clear records, no interrupt.
    let msi = Arc::new(RecordingMsiGroup::new(1));
    let mut cfg = RootPortConfig::new(0);
    cfg.msi = Some(msi.clone());
    let mut rp = CxlRootPort::new(cfg).unwrap();
    assert!(!rp.receive_error(ErrorMessage::Correctable));
    assert!(msi.fired().is_empty());
}

#[test]
fn refused_injection_changes_nothing_and_traces_nothing() {
    let mut d = device();
    let bad = Injection::Poison(PoisonInjection {
        start: SIZE,
        length: 64,
    });
    let (r, trace) = capture(|| d.inject("mem0", &bad));
    assert!(matches!(r, Err(InjectError::Invalid(_))));
    assert!(trace.is_empty());
    assert!(d.memdev().poison().is_empty());
}
