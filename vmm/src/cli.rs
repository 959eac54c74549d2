//! The command line, and its translation into a checked [`VmConfig`].

use std::path::PathBuf;

use arch::bootparams::ram_regions;
use arch::layout::MAX_VCPUS;
use clap::Parser;

use crate::config::{SerialOutput, VmConfig};
use crate::cxl_config::{self, CxlConfig};
use crate::disk_config;
use crate::fs_config;
use crate::net_config;
use crate::seccomp::SeccompMode;
use crate::size::parse_size;

/// Most virtio devices (PCI0 device numbers 1..=30; 0 is the host bridge).
pub const MAX_VIRTIO_DEVICES: usize = 30;

/// Default kernel command line when none is given.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0";

/// cxlvmm: a KVM virtual machine monitor with CXL emulation.
#[derive(Debug, Parser)]
#[command(name = "cxlvmm", version, about)]
pub struct Args {
    /// Linux kernel (bzImage) to boot.
    #[arg(long, value_name = "PATH", required_unless_present = "dump_acpi")]
    pub kernel: Option<PathBuf>,

    /// Initramfs to hand to the kernel.
    #[arg(long, value_name = "PATH")]
    pub initramfs: Option<PathBuf>,

    /// Kernel command line.
    #[arg(long, value_name = "STRING", default_value = DEFAULT_CMDLINE)]
    pub cmdline: String,

    /// Number of vCPUs.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub cpus: u32,

    /// Guest RAM size (bytes, or with a K, M, G suffix).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub memory: u64,

    /// Where the serial console goes: `stdout`, `file:PATH` or `null`.
    #[arg(long, value_name = "WHERE", default_value = "stdout", value_parser = SerialOutput::parse)]
    pub serial: SerialOutput,

    /// Hide the CPUID hypervisor bit (see the README: the guest loses
    /// kvm-clock and paravirtual features, but Linux commits CXL regions).
    #[arg(long)]
    pub hide_hypervisor: bool,

    /// A CXL Type 3 device of SIZE volatile memory with its own host
    /// bridge, root port and window: `SIZE[,serial=N][,memdev=memfd|file:PATH][,share=on|off][,lsa-size=SIZE][,fw-version=STR]`.
    #[arg(long, value_name = "SIZE[,...]")]
    pub cxl: Vec<String>,

    /// A host memory backend: `id=ID,size=SIZE[,kind=memfd|file|hugetlbfs][,path=P][,share=on|off][,prealloc=on|off][,tag=UUID]`.
    #[arg(long, value_name = "id=ID,...")]
    pub memory_backend: Vec<String>,

    /// A CXL host bridge: `id=ID`.
    #[arg(long, value_name = "id=ID")]
    pub cxl_host_bridge: Vec<String>,

    /// A CXL root port: `id=ID,bus=HOST_BRIDGE[,port=N]`.
    #[arg(long, value_name = "id=ID,...")]
    pub cxl_root_port: Vec<String>,

    /// A CXL Type 3 device: `id=ID,port=ROOT_PORT[,volatile-memdev=B][,persistent-memdev=B][,lsa-size=SIZE][,lsa-file=PATH][,serial=N][,fw-version=STR]`
    /// with Dynamic Capacity: `[,dc-regions=N],dc-regions-total-size=SIZE[,dc-block-size=SIZE][,dc-sanitize=on|off][,dc-memdev=B][,dc-event-log-depth=N]`.
    #[arg(long, value_name = "id=ID,...")]
    pub cxl_type3: Vec<String>,

    /// A CXL fixed memory window: `targets=HB[:HB...],size=SIZE[,granularity=SIZE][,qtg=N]`.
    #[arg(long, value_name = "targets=...,size=SIZE")]
    pub cxl_fmw: Vec<String>,

    /// A virtio-blk disk on a raw image (repeatable): `path=IMG[,readonly=on][,id=ID]`.
    #[arg(long, value_name = "path=IMG,...")]
    pub disk: Vec<String>,

    /// A virtio-net device on a tap that cxlvmm opens, or creates
    /// (repeatable): `tap=NAME[,mac=MAC][,id=ID]`.
    #[arg(long, value_name = "tap=NAME,...")]
    pub net: Vec<String>,

    /// A virtio-fs device served by a running vhost-user-fs backend
    /// (virtiofsd) on a unix socket (repeatable): `tag=TAG,socket=PATH[,queue-size=N]`.
    #[arg(long, value_name = "tag=TAG,socket=PATH,...")]
    pub fs: Vec<String>,

    /// Share a host directory with the guest through virtio-fs; cxlvmm runs
    /// virtiofsd on it (repeatable): `DIR[,tag=TAG]` (tags `share`,
    /// `share1`, ... by default). The guest mounts it with
    /// `mount -t virtiofs TAG /mnt`.
    #[arg(long, value_name = "DIR[,tag=TAG]")]
    pub share: Vec<String>,

    /// The virtiofsd binary for --share (default: $CXLVMM_VIRTIOFSD, then
    /// virtiofsd on PATH, then /usr/libexec/virtiofsd).
    #[arg(long, value_name = "PATH")]
    pub virtiofsd: Option<PathBuf>,

    /// Serve the REST API (JSON over HTTP) on this unix socket.
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,

    /// Write the decoded trace to this file (created or truncated), one
    /// JSON object per line: every mailbox command, event record,
    /// interrupt, HDM decoder commit, memslot, API request, injection and
    /// DC step. `cxlvmm-remote trace PATH` prints it.
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,

    /// Seccomp filters on every cxlvmm thread (vCPUs, API, VMM): `on`
    /// refuses a system call outside a thread's list (cxlvmm reports the
    /// thread and the call and exits with status 1), `log` allows it and
    /// has the kernel log it (audit, dmesg), `off` installs none.
    #[arg(long, value_name = "off|log|on", default_value = "on", value_parser = SeccompMode::parse)]
    pub seccomp: SeccompMode,

    /// Write every ACPI table as DIR/SIGNATURE.dat and exit.
    #[arg(long, value_name = "DIR")]
    pub dump_acpi: Option<PathBuf>,

    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Args {
    /// Checks the arguments and builds the VM configuration.
    pub fn into_config(self) -> Result<VmConfig, String> {
        if self.cpus == 0 || self.cpus > MAX_VCPUS {
            return Err(format!(
                "--cpus {}: must be between 1 and {MAX_VCPUS}",
                self.cpus
            ));
        }
        ram_regions(self.memory).map_err(|e| format!("--memory: {e}"))?;
        if let Some(k) = &self.kernel {
            if !k.is_file() {
                return Err(format!("--kernel '{}': no such file", k.display()));
            }
        }
        if let Some(i) = &self.initramfs {
            if !i.is_file() {
                return Err(format!("--initramfs '{}': no such file", i.display()));
            }
        }
        let cxl = self.cxl_config()?;
        let disks = disk_config::parse_disks(&self.disk)?;
        let nets = net_config::parse_nets(&self.net)?;
        let fs = fs_config::parse_fs_setup(&self.fs, &self.share, self.virtiofsd.as_deref())?;
        if disks.len() + nets.len() + fs.devices() > MAX_VIRTIO_DEVICES {
            return Err(format!(
                "--disk, --net, --fs and --share: at most {MAX_VIRTIO_DEVICES} virtio devices in all"
            ));
        }
        Ok(VmConfig {
            kernel: self.kernel,
            initramfs: self.initramfs,
            cmdline: self.cmdline,
            cpus: self.cpus,
            memory: self.memory,
            serial: self.serial,
            hide_hypervisor: self.hide_hypervisor,
            cxl,
            api_socket: self.api_socket,
            disks,
            nets,
            fs,
            seccomp: self.seccomp,
        })
    }

    fn cxl_config(&self) -> Result<CxlConfig, String> {
        let mut c = CxlConfig::default();
        for (i, s) in self.cxl.iter().enumerate() {
            c.extend(cxl_config::parse_short(s, i)?);
        }
        for s in &self.memory_backend {
            c.backends.push(cxl_config::parse_backend(s)?);
        }
        for s in &self.cxl_host_bridge {
            c.host_bridges.push(cxl_config::parse_host_bridge(s)?);
        }
        for s in &self.cxl_root_port {
            c.root_ports.push(cxl_config::parse_root_port(s)?);
        }
        for s in &self.cxl_type3 {
            c.devices.push(cxl_config::parse_type3(s)?);
        }
        for s in &self.cxl_fmw {
            c.windows.push(cxl_config::parse_window(s)?);
        }
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<VmConfig, String> {
        let mut v = vec!["cxlvmm"];
        v.extend_from_slice(args);
        Args::try_parse_from(v)
            .map_err(|e| e.to_string())?
            .into_config()
    }

    #[test]
    fn defaults() {
        let c = parse(&["--dump-acpi", "/tmp/x"]).unwrap();
        assert_eq!((c.cpus, c.memory), (1, 512 << 20));
        assert_eq!(c.cmdline, DEFAULT_CMDLINE);
        assert_eq!(c.serial, SerialOutput::Stdout);
        assert_eq!(c.seccomp, SeccompMode::On);
    }

    #[test]
    fn seccomp_modes() {
        for (arg, mode) in [
            ("on", SeccompMode::On),
            ("log", SeccompMode::Log),
            ("off", SeccompMode::Off),
        ] {
            let c = parse(&["--dump-acpi", "d", "--seccomp", arg]).unwrap();
            assert_eq!(c.seccomp, mode);
        }
        let e = parse(&["--dump-acpi", "d", "--seccomp", "strict"]).unwrap_err();
        assert!(e.contains("invalid seccomp mode 'strict'"), "{e}");
    }

    #[test]
    fn net_devices() {
        let c = parse(&[
            "--dump-acpi",
            "d",
            "--net",
            "tap=tap0",
            "--net",
            "tap=tap1,mac=02:00:00:00:00:02,id=b",
        ])
        .unwrap();
        assert_eq!(c.nets.len(), 2);
        assert_eq!(
            (c.nets[0].tap.as_str(), c.nets[1].id.as_str()),
            ("tap0", "b")
        );
        assert_eq!(c.nets[1].mac, [2, 0, 0, 0, 0, 2]);
        let e = parse(&["--dump-acpi", "d", "--net", "tap=t,mac=zz"]).unwrap_err();
        assert!(e.starts_with("--net: mac 'zz'"), "{e}");
        // Disks and nets share PCI0's 30 device numbers.
        let mut args = vec!["--dump-acpi".to_string(), "d".to_string()];
        for i in 0..31 {
            args.push("--net".into());
            args.push(format!("tap=t{i}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = parse(&args).unwrap_err();
        assert!(e.contains("at most 30 virtio devices"), "{e}");
    }

    #[test]
    fn virtio_device_count_is_shared() {
        let dir = std::env::temp_dir().join(format!("cxlvmm-cli-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("img");
        std::fs::write(&img, [0u8; 512]).unwrap();
        let sock = dir.join("sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let disk = |i: usize| format!("path={},id=d{i}", img.display());
        let fs = format!("tag=t,socket={}", sock.display());
        let mut args: Vec<String> = vec!["--dump-acpi".into(), "d".into()];
        for i in 0..29 {
            args.extend(["--disk".into(), disk(i)]);
        }
        args.extend(["--fs".into(), fs.clone()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = parse(&refs).unwrap();
        assert_eq!((c.disks.len(), c.fs.devices()), (29, 1));
        args.extend(["--disk".into(), disk(29)]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = parse(&refs).unwrap_err();
        assert!(e.contains("at most 30 virtio devices"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn user_errors() {
        assert!(parse(&[]).unwrap_err().contains("--kernel"));
        assert!(parse(&["--kernel", "/nonexistent/bz"])
            .unwrap_err()
            .contains("no such file"));
        assert!(parse(&["--dump-acpi", "d", "--memory", "12Q"])
            .unwrap_err()
            .contains("invalid size"));
        assert!(parse(&["--dump-acpi", "d", "--cpus", "999"])
            .unwrap_err()
            .contains("between 1 and"));
        assert!(parse(&["--dump-acpi", "d", "--cpus", "0"]).is_err());
        assert!(parse(&["--dump-acpi", "d", "--memory", "1M"])
            .unwrap_err()
            .contains("--memory"));
        assert!(parse(&["--dump-acpi", "d", "--serial", "tcp:1"]).is_err());
    }
}
