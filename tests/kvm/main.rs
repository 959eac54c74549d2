//! Integration tests on this machine's real KVM: small guest programs run on
//! real vCPUs with real memslots, and whole machines booting hand-made
//! kernels.

mod boot;
mod dcd;
mod harness;
mod interleave;
mod memslots;
mod port_io;
mod topology;
