//! x86_64 boot support: the address layout, CPUID, MSRs, registers, page
//! tables and the Linux boot parameters.

pub mod bootparams;
pub mod cpuid;
pub mod gdt;
pub mod layout;
pub mod msr;
pub mod paging;
pub mod regs;
