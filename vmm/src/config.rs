//! The checked VM configuration every later stage builds from.

use std::path::PathBuf;

use crate::cxl_config::CxlConfig;
use crate::disk_config::DiskConfig;
use crate::fs_config::FsSetup;
use crate::net_config::NetConfig;
use crate::seccomp::SeccompMode;

/// Where the serial console's output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialOutput {
    /// The VMM's standard output.
    Stdout,
    /// A file (created or truncated).
    File(PathBuf),
    /// Discarded.
    Null,
}

impl SerialOutput {
    /// Parses `stdout`, `null` or `file:PATH`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "stdout" => Ok(Self::Stdout),
            "null" => Ok(Self::Null),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(Self::File(PathBuf::from(p))),
                _ => Err(format!(
                    "invalid serial output '{s}': expected stdout, null or file:PATH"
                )),
            },
        }
    }
}

/// A checked VM configuration.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// The bzImage (absent only for --dump-acpi).
    pub kernel: Option<PathBuf>,
    /// Optional initramfs.
    pub initramfs: Option<PathBuf>,
    /// Kernel command line.
    pub cmdline: String,
    /// vCPU count.
    pub cpus: u32,
    /// RAM size in bytes.
    pub memory: u64,
    /// Serial console output.
    pub serial: SerialOutput,
    /// Hide the CPUID hypervisor bit.
    pub hide_hypervisor: bool,
    /// CXL topology and memory backends.
    pub cxl: CxlConfig,
    /// Where the REST API listens, if anywhere.
    pub api_socket: Option<PathBuf>,
    /// virtio-blk disks, in command-line order.
    pub disks: Vec<DiskConfig>,
    /// virtio-net devices on taps, in command-line order.
    pub nets: Vec<NetConfig>,
    /// virtio-fs devices (`--fs`, `--share`).
    pub fs: FsSetup,
    /// Seccomp filters on every thread.
    pub seccomp: SeccompMode,
}
