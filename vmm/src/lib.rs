//! cxlvmm's virtual machine monitor: configuration, the KVM VM and its
//! vCPUs, memory and device management, and the main loop.

pub mod api_handler;
pub mod backends;
pub mod boot;
pub mod cli;
pub mod config;
pub mod cxl_background;
pub mod cxl_config;
pub mod cxl_devices;
pub mod cxl_faults;
pub mod cxl_inject;
pub mod cxl_ops;
pub mod device_manager;
pub mod disk_config;
pub mod event_loop;
pub mod exit;
pub mod fs_config;
pub mod interrupts;
pub mod launcher;
pub mod machine;
pub mod memory;
pub mod net_config;
pub mod options;
pub mod platform;
pub mod seccomp;
pub mod sigbus;
pub mod signal_line;
pub mod size;
pub mod trace_sink;
pub mod uptime;
pub mod vcpu;
pub mod virtio_devices;
pub mod virtiofsd;
pub mod vm;
