//! libFuzzer entry point of the `cli_topology` target (see
//! `cxlvmm_fuzz::cli_topology`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cxlvmm_fuzz::cli_topology::run(data);
});
