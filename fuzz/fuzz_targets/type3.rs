//! libFuzzer entry point of the `type3` target (see `cxlvmm_fuzz::type3`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: cxlvmm_fuzz::type3::Input| {
    cxlvmm_fuzz::type3::run(&input);
});
