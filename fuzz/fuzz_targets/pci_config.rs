//! libFuzzer entry point of the `pci_config` target (see
//! `cxlvmm_fuzz::pci_config`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: cxlvmm_fuzz::pci_config::Input| {
    cxlvmm_fuzz::pci_config::run(&input);
});
