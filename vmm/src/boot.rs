//! Loading Linux: bzImage, initramfs, command line, boot_params, and the
//! boot page tables and GDT.

use std::fs::File;
use std::path::{Path, PathBuf};

use arch::bootparams::{self, BootConfig};
use arch::layout::{CMDLINE_MAX_SIZE, CMDLINE_START, HIMEM_START};
use arch::{paging, regs};
use linux_loader::cmdline::Cmdline;
use linux_loader::loader::{load_cmdline, BzImage, KernelLoader};
use thiserror::Error;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// setup_header.xloadflags XLF_KERNEL_64: the kernel has the 64-bit entry.
const XLF_KERNEL_64: u16 = 1 << 0;
/// Offset of the 64-bit entry from the load address (boot.rst).
const STARTUP_64_OFFSET: u64 = 0x200;
/// Oldest boot protocol with the fields we fill (2.12: xloadflags).
const MIN_BOOT_PROTOCOL: u16 = 0x020c;

/// Errors loading the guest kernel.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A file could not be opened or read.
    #[error("cannot read {what} '{path}': {err}")]
    Io {
        /// "kernel" or "initramfs".
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The kernel is not a usable bzImage.
    #[error("kernel '{0}' is not a bzImage with a 64-bit entry ({1})")]
    BadKernel(PathBuf, String),
    /// The command line is unusable.
    #[error("kernel command line: {0}")]
    Cmdline(String),
    /// The initramfs does not fit.
    #[error("initramfs '{0}': {1}")]
    Initrd(PathBuf, bootparams::BootError),
    /// Writing boot data into guest memory failed.
    #[error("writing boot data: {0}")]
    Write(String),
}

/// What to boot.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// The bzImage.
    pub kernel: PathBuf,
    /// An optional initramfs.
    pub initramfs: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: String,
}

fn open(what: &'static str, path: &Path) -> Result<File, LoadError> {
    File::open(path).map_err(|err| LoadError::Io {
        what,
        path: path.to_path_buf(),
        err,
    })
}

/// Loads the kernel, initramfs and command line into `mem`, writes
/// boot_params, page tables and GDT, and returns the 64-bit entry point.
pub fn load_linux(
    mem: &GuestMemoryMmap,
    mem_size: u64,
    cfg: &KernelConfig,
    rsdp_addr: u64,
) -> Result<u64, LoadError> {
    let mut kernel = open("kernel", &cfg.kernel)?;
    let bad = |m: String| LoadError::BadKernel(cfg.kernel.clone(), m);
    let loaded = BzImage::load(mem, None, &mut kernel, Some(GuestAddress(HIMEM_START)))
        .map_err(|e| bad(e.to_string()))?;
    let header = loaded
        .setup_header
        .ok_or_else(|| bad("no setup header".into()))?;
    if header.version < MIN_BOOT_PROTOCOL || header.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(bad(format!("boot protocol {:#x}", { header.version })));
    }

    let cmdline = Cmdline::try_from(&cfg.cmdline, CMDLINE_MAX_SIZE)
        .map_err(|e| LoadError::Cmdline(e.to_string()))?;
    let cmdline_size = cfg.cmdline.len() + 1;
    if header.cmdline_size != 0 && cmdline_size > header.cmdline_size as usize + 1 {
        return Err(LoadError::Cmdline(format!(
            "{} bytes, the kernel takes at most {}",
            cfg.cmdline.len(),
            { header.cmdline_size }
        )));
    }
    load_cmdline(mem, GuestAddress(CMDLINE_START), &cmdline)
        .map_err(|e| LoadError::Cmdline(e.to_string()))?;

    let initrd = match &cfg.initramfs {
        None => None,
        Some(path) => {
            let mut f = open("initramfs", path)?;
            let size = f
                .metadata()
                .map_err(|err| LoadError::Io {
                    what: "initramfs",
                    path: path.clone(),
                    err,
                })?
                .len();
            let addr = bootparams::initrd_address(
                mem_size,
                size,
                header.initrd_addr_max,
                loaded.kernel_end,
            )
            .map_err(|e| LoadError::Initrd(path.clone(), e))?;
            mem.read_exact_volatile_from(GuestAddress(addr), &mut f, size as usize)
                .map_err(|e| LoadError::Io {
                    what: "initramfs",
                    path: path.clone(),
                    err: std::io::Error::other(e.to_string()),
                })?;
            Some((addr, size))
        }
    };

    let boot = BootConfig {
        header,
        cmdline_size: cmdline_size as u32,
        initrd,
        rsdp_addr,
        e820: bootparams::e820_map(mem_size).map_err(|e| LoadError::Write(e.to_string()))?,
    };
    let params =
        bootparams::build_boot_params(&boot).map_err(|e| LoadError::Write(e.to_string()))?;
    bootparams::write_boot_params(mem, &params).map_err(|e| LoadError::Write(e.to_string()))?;
    paging::write_identity_map(mem).map_err(|e| LoadError::Write(e.to_string()))?;
    regs::write_gdt_idt(mem).map_err(|e| LoadError::Write(e.to_string()))?;
    Ok(loaded.kernel_load.0 + STARTUP_64_OFFSET)
}
