//! x86_64 boot support: the address layout, CPUID, MSRs, registers, page
//! tables and the Linux boot parameters.

pub mod layout;
