//! A CXL host bridge's component registers (CHBCR, CXL 3.1 8.2.3 and
//! 9.17.1): the 64 KiB block the CEDT's CHBS points at.
//!
//! With more than one root port the block has an HDM Decoder capability
//! whose decoders route HPA ranges to root ports; with exactly one it has
//! none, and Linux (`devm_cxl_add_passthrough_decoder`) treats the bridge as
//! passing everything to its only port. Decoder changes go to the
//! [`CxlMemoryPath`].

use std::sync::Arc;

use super::component::hdm::{HdmConfig, HdmEvent};
use super::component::{ComponentConfig, ComponentRegisters};
use super::fabric::{CxlMemoryPath, HostBridgeId};
use crate::bus::BusDevice;

/// Host bridge HDM decoders (when it has any).
pub const HOST_BRIDGE_DECODERS: usize = 4;

/// The component register block of one CXL host bridge.
pub struct CxlHostBridge {
    component: ComponentRegisters,
    path: Arc<CxlMemoryPath>,
    id: HostBridgeId,
}

impl CxlHostBridge {
    /// The block of host bridge `id` with `root_ports` root ports.
    pub fn new(
        root_ports: usize,
        path: Arc<CxlMemoryPath>,
        id: HostBridgeId,
    ) -> Result<Self, String> {
        let component = if root_ports > 1 {
            // Target Count is 1, 2, 4 or 8 (CXL 3.1 8.2.4.20.1): room for
            // every root port, up to the 8 one decoder can interleave.
            let targets = u8::try_from(root_ports.min(8).next_power_of_two())
                .map_err(|_| "too many root ports")?;
            ComponentRegisters::host_bridge(HdmConfig::upstream(HOST_BRIDGE_DECODERS, targets))
                .map_err(|e| format!("host bridge HDM decoders: {e:?}"))?
        } else {
            ComponentRegisters::new(ComponentConfig {
                ras: false,
                hdm: None,
            })
            .map_err(|e| format!("host bridge component registers: {e:?}"))?
        };
        Ok(Self {
            component,
            path,
            id,
        })
    }

    /// Whether the bridge decodes (more than one root port).
    pub fn has_hdm(&self) -> bool {
        self.component.hdm().is_some()
    }
}

impl BusDevice for CxlHostBridge {
    fn read(&mut self, _base: u64, offset: u64, data: &mut [u8]) {
        self.component.read(offset, data);
    }

    fn write(&mut self, _base: u64, offset: u64, data: &[u8]) {
        let events = self.component.write(offset, data);
        let component = format!("host-bridge {}", self.id);
        super::component::hdm::trace_events(None, &component, self.component.hdm(), &events);
        if events
            .iter()
            .any(|e| matches!(e, HdmEvent::Committed(_) | HdmEvent::Uncommitted(_)))
        {
            let decoders = self
                .component
                .hdm()
                .map(|h| h.decoders())
                .unwrap_or_default();
            self.path.set_host_bridge_decoders(self.id, decoders);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::component::hdm::{
        CTRL_COMMIT, CTRL_COMMITTED, DECODER_CONTROL, DECODER_REGS_START, DECODER_SIZE_LOW,
        DECODER_TARGET_LIST_LOW,
    };
    use crate::cxl::component::{CACHEMEM_OFFSET, HDM_POINTER};
    use crate::cxl::decode::Interleave;
    use crate::cxl::fabric::{GuestMemoryMapper, HostBridgeDesc, Topology, WindowDesc};
    use crate::memory::HostMemory;

    struct NoMap;
    impl GuestMemoryMapper for NoMap {
        fn map(&self, _: u64, _: &Arc<HostMemory>, _: u64, _: u64) -> Result<(), String> {
            Ok(())
        }
        fn unmap(&self, _: u64) -> Result<(), String> {
            Ok(())
        }
    }

    fn path(ports: usize) -> Arc<CxlMemoryPath> {
        Arc::new(CxlMemoryPath::new(
            Topology {
                windows: vec![WindowDesc {
                    base: 0,
                    size: 1 << 30,
                    interleave: Interleave::new(1, 256).unwrap(),
                    targets: vec![0],
                }],
                host_bridges: vec![HostBridgeDesc {
                    root_ports: (0..ports as u8).map(|p| (p, None)).collect(),
                    has_hdm: ports > 1,
                }],
                endpoints: 0,
            },
            Arc::new(NoMap),
        ))
    }

    fn read32(hb: &mut CxlHostBridge, off: u64) -> u32 {
        let mut b = [0u8; 4];
        hb.read(0, off, &mut b);
        u32::from_le_bytes(b)
    }

    #[test]
    fn single_root_port_has_no_decoders() {
        let mut hb = CxlHostBridge::new(1, path(1), 0).unwrap();
        assert!(!hb.has_hdm());
        // CXL Capability Header with an empty array.
        let hdr = read32(&mut hb, CACHEMEM_OFFSET);
        assert_eq!(hdr & 0xffff, 1, "CXL_CAPABILITY_ID");
        assert_eq!(hdr >> 24, 0, "no capabilities");
    }

    #[test]
    fn target_count_is_the_next_power_of_two_up_to_eight() {
        use crate::cxl::component::hdm::HDM_DECODER_CAPABILITY;
        let cap = CACHEMEM_OFFSET + HDM_POINTER + HDM_DECODER_CAPABILITY;
        for (ports, targets) in [(2, 2), (3, 4), (4, 4), (5, 8), (8, 8), (9, 8), (16, 8)] {
            let mut hb = CxlHostBridge::new(ports, path(ports), 0).unwrap();
            // CXL 3.1 8.2.4.20.1: Target Count, bits 7:4.
            assert_eq!((read32(&mut hb, cap) >> 4) & 0xf, targets, "{ports} ports");
        }
    }

    #[test]
    fn two_root_ports_route_through_a_committed_decoder() {
        let p = path(2);
        let mut hb = CxlHostBridge::new(2, p.clone(), 0).unwrap();
        assert!(hb.has_hdm());
        let dec = CACHEMEM_OFFSET + HDM_POINTER + DECODER_REGS_START;
        hb.write(0, dec + DECODER_SIZE_LOW, &(1u32 << 28).to_le_bytes());
        hb.write(0, dec + DECODER_TARGET_LIST_LOW, &0x0100u32.to_le_bytes());
        // IW = 1 (2 ways), IG = 0 (256 bytes), Commit.
        hb.write(
            0,
            dec + DECODER_CONTROL,
            &((1 << 4) | CTRL_COMMIT).to_le_bytes(),
        );
        assert_ne!(read32(&mut hb, dec + DECODER_CONTROL) & CTRL_COMMITTED, 0);
        // The path now knows the decoder (no endpoints, so no route yet).
        assert_eq!(p.route(0), None);
    }
}
