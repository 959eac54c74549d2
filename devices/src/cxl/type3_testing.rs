//! What the Type 3 device model's tests share: building a device on the
//! one-window memory path of `cxl::test_rig` (its memslots and MSI-X
//! messages recorded), a DC-only configuration, committing decoder 0 as a
//! driver does, and register access as a driver does it: 64- and 32-bit
//! accesses to the register BAR and one mailbox command (payload, Command
//! Register, Doorbell, then the return code and output).

use std::sync::Arc;

use super::{Type3, Type3Config, DEVICE_REGS_OFFSET, MSIX_VECTORS, REGS_BAR};
use crate::cxl::component::hdm::{
    CTRL_COMMIT, DECODER_BASE_HIGH, DECODER_BASE_LOW, DECODER_CONTROL, DECODER_REGS_START,
    DECODER_SIZE_HIGH, DECODER_SIZE_LOW, HDM_DECODER_ENABLE, HDM_DECODER_GLOBAL_CONTROL,
};
use crate::cxl::component::{CACHEMEM_OFFSET, HDM_POINTER};
use crate::cxl::dcd::{DcConfig, DcRegions, ExtentRange};
use crate::cxl::device_regs::layout::MAILBOX_OFFSET;
use crate::cxl::device_regs::mailbox::{
    COMMAND, COMMANDS_PAYLOAD, CONTROL_DOORBELL, MAILBOX_CONTROL, MAILBOX_STATUS,
};
use crate::cxl::dvsec::{DEV_CONTROL, DEV_CTRL_MEM_ENABLE};
use crate::cxl::mailbox::dcd::DcResponseIn;
use crate::cxl::mailbox::payload::Encode;
use crate::cxl::memdev::MemdevConfig;
use crate::cxl::test_rig::{one_window, RecordingMapper, WINDOW};
use crate::interrupt::RecordingMsiGroup;
use crate::memory::HostMemory;
use crate::pci::PciDevice;

/// A device for `config`, endpoint 0 of a one-window path of `window`
/// bytes; its memslots and MSI-X messages are recorded.
pub fn build(
    config: Type3Config,
    window: u64,
) -> (Type3, Arc<RecordingMapper>, Arc<RecordingMsiGroup>) {
    let maps = RecordingMapper::new();
    let path = Arc::new(one_window(window, maps.clone()));
    let msi = Arc::new(RecordingMsiGroup::new(usize::from(MSIX_VECTORS)));
    let dev = Type3::new(config, msi.clone(), path, 0).expect("the test device builds");
    (dev, maps, msi)
}

/// A DC-only device: one DC region of `size` bytes in 2 MiB blocks at DPA
/// 0, no LSA, and `backing` behind the region if given.
pub fn dc_only(size: u64, backing: Option<Arc<HostMemory>>) -> Type3Config {
    Type3Config {
        memdev: MemdevConfig {
            volatile_bytes: 0,
            lsa_size: 0,
            dc: DcConfig {
                regions: DcRegions::Equal {
                    count: 1,
                    total_bytes: size,
                    block_size: 2 << 20,
                    sanitize_on_release: false,
                },
                static_backing: backing.is_some(),
                ..DcConfig::default()
            },
            ..MemdevConfig::default()
        },
        volatile: None,
        persistent: None,
        partitionable: None,
        dc_backing: backing,
    }
}

/// The input of Add DC Response or Release DC naming `extents` ((DPA,
/// length) pairs), More clear.
pub fn dc_response(extents: &[(u64, u64)]) -> Vec<u8> {
    DcResponseIn {
        flags: 0,
        extents: extents
            .iter()
            .map(|&(dpa, len)| ExtentRange::new(dpa, len))
            .collect(),
    }
    .encode()
}

/// Commits endpoint decoder 0 over `size` bytes (HPA `WINDOW`, DPA 0),
/// enables HDM decoding and sets Mem_Enable, as cxl_mem does.
pub fn commit_decoder0(d: &mut Type3, size: u64) {
    let hdm = CACHEMEM_OFFSET + HDM_POINTER;
    let dec = hdm + DECODER_REGS_START;
    write32(d, dec + DECODER_BASE_LOW, WINDOW as u32);
    write32(d, dec + DECODER_BASE_HIGH, (WINDOW >> 32) as u32);
    write32(d, dec + DECODER_SIZE_LOW, size as u32);
    write32(d, dec + DECODER_SIZE_HIGH, (size >> 32) as u32);
    write32(d, dec + DECODER_CONTROL, CTRL_COMMIT);
    write32(d, hdm + HDM_DECODER_GLOBAL_CONTROL, HDM_DECODER_ENABLE);
    let dvsec = d.dvsec_offset + DEV_CONTROL as u16;
    d.config_write(dvsec, &DEV_CTRL_MEM_ENABLE.to_le_bytes());
}

/// Reads 8 bytes of the register BAR at `off`.
pub fn read64(d: &mut Type3, off: u64) -> u64 {
    let mut b = [0u8; 8];
    d.bar_read(REGS_BAR, off, &mut b);
    u64::from_le_bytes(b)
}

/// Writes 4 bytes of the register BAR at `off`.
pub fn write32(d: &mut Type3, off: u64, v: u32) {
    d.bar_write(REGS_BAR, off, &v.to_le_bytes());
}

/// Runs one mailbox command; returns (return code, output payload).
pub fn mbox(d: &mut Type3, opcode: u16, input: &[u8]) -> (u64, Vec<u8>) {
    let mb = DEVICE_REGS_OFFSET + MAILBOX_OFFSET;
    d.bar_write(REGS_BAR, mb + COMMANDS_PAYLOAD, input);
    let cmd = u64::from(opcode) | ((input.len() as u64) << 16);
    d.bar_write(REGS_BAR, mb + COMMAND, &cmd.to_le_bytes());
    write32(d, mb + MAILBOX_CONTROL, CONTROL_DOORBELL);
    let rc = (read64(d, mb + MAILBOX_STATUS) >> 32) & 0xffff;
    let len = ((read64(d, mb + COMMAND) >> 16) & 0x1f_ffff) as usize;
    let mut out = vec![0u8; len];
    d.bar_read(REGS_BAR, mb + COMMANDS_PAYLOAD, &mut out);
    (rc, out)
}
