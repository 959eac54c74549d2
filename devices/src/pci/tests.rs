//! End-to-end: a segment with a host bridge, a root port and an endpoint of
//! the kind CXL devices are (DVSEC, an intercepted register block in
//! extended configuration space, a 64-bit BAR with registers and MSI-X),
//! assigned firmware-style and driven through ECAM and the MMIO bus.

use std::sync::{Arc, Mutex};

use arch::layout;

use super::caps::{add_dvsec, dvsec, find_dvsecs, EXT_CAP_ID_DOE};
use super::config::{ConfigSpace, HeaderType, PciIds, COMMAND};
use super::device::{PciDevice, PciFunction};
use super::ecam::PciEcam;
use super::ids::CLASS_CXL_MEMORY;
use super::msix::{BarLocation, MsixConfig};
use super::pcie_cap::{pcie_capability, PcieCapConfig};
use super::regblock::RegisterBlock;
use super::resources::{assign_resources, HostBridgeResources, PciNode};
use super::{caps, BarInfo, Bdf, DevFn, HostBridge, PciBar, PciSegment, RootPort, RootPortConfig};
use crate::bus::{Bus, BusDevice};
use crate::interrupt::RecordingMsiGroup;

/// Register block the device owns in extended configuration space.
const MAILBOX_LEN: u16 = 0x18;

struct Endpoint {
    function: PciFunction,
    mailbox_at: u16,
    mailbox: [u8; MAILBOX_LEN as usize],
    regs: [u8; 0x100],
}

impl Endpoint {
    fn new(group: Arc<RecordingMsiGroup>) -> Self {
        let ids = PciIds {
            vendor_id: 0x1b36,
            device_id: 0x7777,
            class_code: CLASS_CXL_MEMORY,
            ..Default::default()
        };
        let mut c = ConfigSpace::new(HeaderType::Endpoint, &ids);
        c.add_capability(
            caps::CAP_ID_PCI_EXPRESS,
            &pcie_capability(&PcieCapConfig::endpoint()),
        )
        .unwrap();
        let mut d = dvsec(0x1e98, 1, 0, 0x10).unwrap();
        d.set_u16(0x0c, 0x0004);
        d.set_wmask_u16(0x0c, 0x0004);
        add_dvsec(&mut c, &d).unwrap();
        // The header lives in ConfigSpace; the device intercepts the rest.
        let mailbox_at = c
            .add_ext_capability(EXT_CAP_ID_DOE, 1, &RegisterBlock::new(MAILBOX_LEN.into()))
            .unwrap();
        c.add_bar(0, PciBar::memory64(0x1_0000, false)).unwrap();
        let mut f = PciFunction::new(c);
        let at = |offset| BarLocation { bar: 0, offset };
        f.add_msix(MsixConfig::new(2, at(0x8000), at(0x9000), group).unwrap())
            .unwrap();
        Self {
            function: f,
            mailbox_at,
            mailbox: [0; MAILBOX_LEN as usize],
            regs: [0; 0x100],
        }
    }

    fn mailbox_offset(&self, offset: u16) -> Option<usize> {
        let rel = offset.checked_sub(self.mailbox_at + 4)?;
        (rel < MAILBOX_LEN - 4).then_some(usize::from(rel))
    }
}

impl PciDevice for Endpoint {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        match self.mailbox_offset(offset) {
            Some(o) => {
                for (i, b) in data.iter_mut().enumerate() {
                    *b = self.mailbox.get(o + i).copied().unwrap_or(0);
                }
            }
            None => self.function.config_read(offset, data),
        }
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) {
        match self.mailbox_offset(offset) {
            // A "mailbox" that stores the bitwise complement.
            Some(o) => {
                for (i, b) in data.iter().enumerate() {
                    if let Some(slot) = self.mailbox.get_mut(o + i) {
                        *slot = !b;
                    }
                }
            }
            None => self.function.config_write(offset, data),
        }
    }

    fn bars(&self) -> Vec<BarInfo> {
        self.function.bars()
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        if self.function.msix_bar_read(bar, offset, data) {
            return;
        }
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| self.regs.get(usize::try_from(o).ok()?))
                .copied()
                .unwrap_or(0);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) {
        if self.function.msix_bar_write(bar, offset, data) {
            return;
        }
        // Register 0: a doorbell that raises MSI-X vector 1.
        if offset == 0 {
            self.function.trigger_msix(1);
        }
    }
}

fn ecam_read32(e: &mut PciEcam, bdf: Bdf, reg: u16) -> u32 {
    let off = u64::from(bdf.routing_id()) << 12 | u64::from(reg);
    let mut b = [0u8; 4];
    e.read(layout::PCI_ECAM_START, off, &mut b);
    u32::from_le_bytes(b)
}

fn ecam_write(e: &mut PciEcam, bdf: Bdf, reg: u16, data: &[u8]) {
    let off = u64::from(bdf.routing_id()) << 12 | u64::from(reg);
    e.write(layout::PCI_ECAM_START, off, data);
}

#[test]
fn endpoint_behind_root_port() {
    let mmio = Arc::new(Bus::new());
    let pio = Arc::new(Bus::new());
    let segment = Arc::new(Mutex::new(PciSegment::new(0, mmio.clone(), pio.clone())));
    let group = Arc::new(RecordingMsiGroup::new(2));
    let ep = Arc::new(Mutex::new(Endpoint::new(group.clone())));
    let nodes = vec![
        PciNode::Function {
            devfn: DevFn::new(0, 0).unwrap(),
            device: Arc::new(Mutex::new(HostBridge::new())),
        },
        PciNode::Bridge {
            devfn: DevFn::new(1, 0).unwrap(),
            device: Arc::new(Mutex::new(RootPort::new(RootPortConfig::new(0)).unwrap())),
            children: vec![PciNode::Function {
                devfn: DevFn::new(0, 0).unwrap(),
                device: ep.clone(),
            }],
        },
    ];
    let assignment = assign_resources(
        &mut segment.lock().unwrap(),
        &HostBridgeResources::from_layout(),
        nodes,
    )
    .unwrap();
    let mut ecam = PciEcam::new(segment.clone());
    let bdf = Bdf::new(1, 0, 0).unwrap();

    // Enumeration as the guest does it.
    assert_eq!(ecam_read32(&mut ecam, bdf, 0), 0x7777_1b36);
    assert_eq!(ecam_read32(&mut ecam, bdf, 8) >> 8, CLASS_CXL_MEMORY);
    assert_eq!(
        ecam_read32(&mut ecam, Bdf::new(1, 1, 0).unwrap(), 0),
        u32::MAX
    );
    let (dvsec_at, doe_at) = {
        let dev = ep.lock().unwrap();
        let c = dev.function.config();
        (
            find_dvsecs(c, 0x1e98, 0)[0],
            c.find_ext_capability(EXT_CAP_ID_DOE).unwrap(),
        )
    };
    assert_eq!(ecam_read32(&mut ecam, bdf, dvsec_at + 4), 0x0101_1e98);
    ecam_write(&mut ecam, bdf, dvsec_at + 0x0c, &[0xff, 0xff]);
    assert_eq!(
        ecam_read32(&mut ecam, bdf, dvsec_at + 0x0c) & 0xffff,
        0x0004
    );
    // The intercepted block.
    assert_eq!(
        ecam_read32(&mut ecam, bdf, doe_at) & 0xffff,
        u32::from(EXT_CAP_ID_DOE)
    );
    ecam_write(&mut ecam, bdf, doe_at + 8, &0x1234_5678u32.to_le_bytes());
    assert_eq!(ecam_read32(&mut ecam, bdf, doe_at + 8), !0x1234_5678u32);

    // The BAR is placed and decodes.
    let bar = assignment.bars.iter().find(|b| b.bdf == bdf).unwrap();
    assert_eq!(bar.address % 0x1_0000, 0);
    assert!(mmio.resolve(bar.address).is_some());

    // MSI-X through config space and the BAR.
    let msix_cap = ep
        .lock()
        .unwrap()
        .function
        .config()
        .find_capability(caps::CAP_ID_MSIX);
    let msix_cap = msix_cap.unwrap();
    ecam_write(&mut ecam, bdf, msix_cap + 3, &[0x80]);
    let entry = bar.address + 0x8000 + 16;
    mmio.write(entry, &0xfee0_0000u64.to_le_bytes()).unwrap();
    mmio.write(entry + 8, &0x0000_0000_0000_0033u64.to_le_bytes())
        .unwrap();
    mmio.write(bar.address, &[1]).unwrap();
    assert_eq!(group.fired().len(), 1);
    assert_eq!(group.fired()[0].1.data, 0x33);

    // Turning memory decode off unmaps the BAR.
    let cmd = ecam_read32(&mut ecam, bdf, COMMAND) as u16;
    ecam_write(&mut ecam, bdf, COMMAND, &(cmd & !0x2).to_le_bytes());
    assert!(mmio.resolve(bar.address).is_none());
}
