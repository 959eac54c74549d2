//! The file side of a backend: opening (or creating) its file, sizing it,
//! reserving its space so a guest store can never meet a full file system,
//! the huge pages a hugetlbfs backend needs, and what undoes all of it when
//! a later step fails.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::BackendError;

/// The largest backend: the whole CXL window area, beyond which no part of
/// it could ever be mapped into a guest.
pub const MAX_SIZE: u64 = arch::layout::CXL_FMW_SIZE;

/// A file's identity: device and inode (symlinks resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `path` names (following symlinks), if it
    /// exists.
    pub fn of_path(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }

    /// The identity in `m`.
    pub fn of(m: &std::fs::Metadata) -> Self {
        Self {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

pub(super) fn os_err(
    id: &str,
    what: impl Into<String>,
) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    let what = what.into();
    move |err| BackendError::Os {
        id: id.to_string(),
        what,
        err,
    }
}

pub(super) fn last_os_error(id: &str, what: &str) -> BackendError {
    os_err(id, what)(std::io::Error::last_os_error())
}

/// What undoes the file side of a backend whose creation failed.
#[derive(Debug)]
pub(super) enum Undo {
    Nothing,
    /// The file did not exist: remove it.
    Remove(PathBuf),
    /// The file existed with this length: restore it.
    Truncate(u64),
}

impl Undo {
    pub(super) fn run(&self, file: &File) {
        match self {
            Undo::Nothing => {}
            Undo::Remove(path) => {
                // Only the file this call created: the path may have been
                // replaced since.
                let ours = file.metadata().ok().map(|m| FileId::of(&m));
                if ours.is_some() && ours == FileId::of_path(path) {
                    let _ = std::fs::remove_file(path);
                }
            }
            Undo::Truncate(len) => {
                if file.metadata().is_ok_and(|m| m.len() > *len) {
                    let _ = file.set_len(*len);
                }
            }
        }
    }
}

/// Opens the backend file at `path`, creating it if missing, with what
/// undoes that.
pub(super) fn open_file(id: &str, path: &Path) -> Result<(File, Undo), BackendError> {
    let open = |create_new: bool| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(create_new)
            .open(path)
    };
    match open(true) {
        Ok(f) => Ok((f, Undo::Remove(path.to_path_buf()))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let f = open(false).map_err(os_err(id, format!("open {}", path.display())))?;
            let meta = f.metadata().map_err(os_err(id, "stat"))?;
            if !meta.is_file() {
                return Err(BackendError::NotAFile {
                    id: id.to_string(),
                    path: path.to_path_buf(),
                });
            }
            Ok((f, Undo::Truncate(meta.len())))
        }
        Err(e) => Err(os_err(id, format!("create {}", path.display()))(e)),
    }
}

/// Bytes free for an unprivileged writer on the file system holding `file`.
pub(super) fn free_space(file: &File) -> Option<u64> {
    // SAFETY: fstatvfs writes into the zeroed struct we pass.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: our own fd and a valid out-pointer.
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    st.f_bavail.checked_mul(st.f_frsize)
}

/// Allocates `size` bytes of `file` from `offset` (growing it if shorter),
/// so that no store into a shared mapping of them can fail for want of
/// space.
pub(super) fn reserve(
    id: &str,
    path: &Path,
    file: &File,
    offset: u64,
    size: u64,
) -> Result<(), BackendError> {
    let too_large = || BackendError::TooLarge {
        id: id.to_string(),
        size,
        max: MAX_SIZE,
    };
    let len = libc::off_t::try_from(size).map_err(|_| too_large())?;
    let start = libc::off_t::try_from(offset).map_err(|_| too_large())?;
    loop {
        // SAFETY: plain syscall on our own fd.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, start, len) };
        if r == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => {
                return Err(BackendError::NoSpace {
                    id: id.to_string(),
                    path: path.to_path_buf(),
                    size,
                    free: free_space(file),
                })
            }
            _ => {
                return Err(os_err(
                    id,
                    format!("reserve {size:#x} bytes for {}", path.display()),
                )(err))
            }
        }
    }
}

/// HUGETLBFS_MAGIC from linux/magic.h.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

pub(super) fn hugetlbfs_page_size(dir: &Path) -> std::io::Result<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: statfs writes into the zeroed struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.f_type as i64 != HUGETLBFS_MAGIC {
        return Err(std::io::Error::other("not a hugetlbfs mount"));
    }
    Ok(st.f_bsize as u64)
}

/// Huge pages of `page_size` bytes nobody has claimed yet: the pool's free
/// pages less those already reserved by mappings (sysfs).
pub(super) fn free_huge_pages(page_size: u64) -> Option<u64> {
    let dir = format!("/sys/kernel/mm/hugepages/hugepages-{}kB", page_size / 1024);
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("{dir}/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(read("free_hugepages")?.saturating_sub(read("resv_hugepages")?))
}

pub(super) fn tempfile_in(dir: &Path) -> std::io::Result<File> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(std::io::Error::other)?;
    // SAFETY: O_TMPFILE creates an unnamed file in `dir`; the fd is checked.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub(super) fn memfd(id: &str) -> Result<File, BackendError> {
    let name = std::ffi::CString::new(format!("cxlvmm-{}", id.replace('\0', "")))
        .map_err(|e| os_err(id, "memfd name")(std::io::Error::other(e)))?;
    // SAFETY: valid C string; the fd is checked and owned by the File.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(last_os_error(id, "memfd_create"));
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { File::from_raw_fd(fd) })
}
