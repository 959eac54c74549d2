//! Integration tests on this machine's real KVM: small guest programs run on
//! real vCPUs with real memslots, and whole machines booting hand-made
//! kernels.

mod api_survival;
mod backends;
mod background;
mod boot;
mod dcd;
mod dcd_guest;
mod dcd_withdraw;
mod faults;
mod harness;
mod inject;
mod interleave;
mod memslots;
mod port_io;
mod seccomp;
mod sigbus;
mod topology;
mod trace;
mod virtio;
mod virtio_fs;
