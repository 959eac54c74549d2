//! CXL topologies the command line accepts build and enumerate: every
//! device answers on its bus, whatever the number of root ports.

use arch::layout::PCI_ECAM_START;
use vmm::config::VmConfig;
use vmm::cxl_config::{
    parse_backend, parse_host_bridge, parse_root_port, parse_type3, parse_window, CxlConfig,
    MAX_ROOT_PORTS,
};

use crate::harness::{vm_config, Asm, TestVm};

fn config(ports: usize) -> VmConfig {
    let mut cxl = CxlConfig::default();
    cxl.host_bridges.push(parse_host_bridge("id=hb0").unwrap());
    for i in 0..ports {
        cxl.root_ports
            .push(parse_root_port(&format!("id=rp{i},bus=hb0")).unwrap());
        cxl.backends
            .push(parse_backend(&format!("id=m{i},size=256M")).unwrap());
        cxl.devices.push(
            parse_type3(&format!(
                "id=d{i},port=rp{i},volatile-memdev=m{i},serial={i}"
            ))
            .unwrap(),
        );
    }
    cxl.windows
        .push(parse_window(&format!("targets=hb0,size={}M", 256 * ports)).unwrap());
    vm_config(cxl)
}

fn vendor_device(t: &TestVm, bus: u64, dev: u64) -> u32 {
    let mut b = [0u8; 4];
    t.mmio
        .read(PCI_ECAM_START + (bus << 20) + (dev << 15), &mut b)
        .unwrap();
    u32::from_le_bytes(b)
}

#[test]
fn host_bridges_with_any_number_of_root_ports_build_and_enumerate() {
    for ports in [2, 3, 5, MAX_ROOT_PORTS] {
        let t = TestVm::with_config(&Asm::default().finish(), &config(ports));
        // The root ports on the bridge's root bus 0x80, each Type 3 device
        // alone on a secondary bus of its own.
        let mut seen = Vec::new();
        for dev in 0..32 {
            if vendor_device(&t, 0x80, dev) != 0xffff_ffff {
                seen.push(dev);
            }
        }
        assert_eq!(seen.len(), ports, "{ports} ports: root ports at {seen:?}");
        let mut devices = 0;
        for bus in 0x81..0x90 {
            if vendor_device(&t, bus, 0) != 0xffff_ffff {
                devices += 1;
            }
        }
        assert_eq!(devices, ports, "{ports} ports: Type 3 devices");
    }
}
