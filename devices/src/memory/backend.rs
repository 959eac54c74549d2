//! Host memory backends: memfd, a file, or a file on hugetlbfs, mapped once
//! into the VMM and handed out to KVM memslots (direct path) or read and
//! written by the emulated decode path.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::ptr::NonNull;

use thiserror::Error;
use uuid::Uuid;

/// Where the memory comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// An anonymous memfd (the default).
    Memfd,
    /// A regular file, created if missing and grown to the size.
    File(PathBuf),
    /// A hugetlbfs mount point: an unlinked file is created in it.
    Hugetlbfs(PathBuf),
}

/// How to create a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendConfig {
    /// Operator-chosen identifier (unique per VM).
    pub id: String,
    /// memfd, file or hugetlbfs.
    pub kind: BackendKind,
    /// Size in bytes (a multiple of the page size).
    pub size: u64,
    /// MAP_SHARED (writes reach the file) rather than MAP_PRIVATE.
    pub share: bool,
    /// Fault every page in at creation.
    pub prealloc: bool,
    /// Application-specific tag (used to find the backend for DC extents).
    pub tag: Option<Uuid>,
}

/// Errors creating or using a backend.
#[derive(Debug, Error)]
pub enum BackendError {
    /// A bad size.
    #[error("backend '{id}': size {size:#x} must be a non-zero multiple of {align:#x}")]
    BadSize {
        /// Backend id.
        id: String,
        /// The size given.
        size: u64,
        /// Required alignment.
        align: u64,
    },
    /// Larger than anything could map.
    #[error("backend '{id}': size {size:#x} is larger than the CXL window area ({max:#x})")]
    TooLarge {
        /// Backend id.
        id: String,
        /// The size given.
        size: u64,
        /// The largest size.
        max: u64,
    },
    /// Preallocation asks for more memory than the host has available.
    #[error("backend '{id}': preallocating {size:#x} bytes needs more than the host's available memory ({available:#x} bytes)")]
    NoMemory {
        /// Backend id.
        id: String,
        /// The size given.
        size: u64,
        /// MemAvailable.
        available: u64,
    },
    /// A system call failed.
    #[error("backend '{id}': {what}: {err}")]
    Os {
        /// Backend id.
        id: String,
        /// What was being done.
        what: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// An access outside the backend.
    #[error("backend '{id}': access {offset:#x}+{len:#x} outside {size:#x} bytes")]
    OutOfRange {
        /// Backend id.
        id: String,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// Backend size.
        size: u64,
    },
}

/// The largest backend: the whole CXL window area, beyond which no part of
/// it could ever be mapped into a guest.
pub const MAX_SIZE: u64 = arch::layout::CXL_FMW_SIZE;

/// What undoes the file side of a backend whose creation failed.
enum Undo {
    Nothing,
    /// The file did not exist: remove it.
    Remove(PathBuf),
    /// The file existed with this length: restore it.
    Truncate(u64),
}

impl Undo {
    fn run(&self, file: &File) {
        match self {
            Undo::Nothing => {}
            Undo::Remove(path) => {
                let _ = std::fs::remove_file(path);
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
fn open_file(id: &str, path: &std::path::Path) -> Result<(File, Undo), BackendError> {
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
            let len = f.metadata().map_err(os_err(id, "stat"))?.len();
            Ok((f, Undo::Truncate(len)))
        }
        Err(e) => Err(os_err(id, format!("create {}", path.display()))(e)),
    }
}

/// MemAvailable from /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A mapped host memory backend.
#[derive(Debug)]
pub struct HostMemory {
    config: BackendConfig,
    file: File,
    ptr: NonNull<u8>,
    page_size: u64,
}

// SAFETY: the mapping is owned by this struct for its whole life; concurrent
// access to guest memory through raw pointers is inherent to a VMM (the guest
// writes it concurrently through KVM anyway), and every access here goes
// through volatile copies.
unsafe impl Send for HostMemory {}
// SAFETY: see above.
unsafe impl Sync for HostMemory {}

fn os_err(id: &str, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    let what = what.into();
    move |err| BackendError::Os {
        id: id.to_string(),
        what,
        err,
    }
}

fn last_os_error(id: &str, what: &str) -> BackendError {
    os_err(id, what)(std::io::Error::last_os_error())
}

impl HostMemory {
    /// Creates and maps a backend. Everything that can be checked is
    /// checked before the host is touched; a file this call created is
    /// removed again, and one it grew is shrunk back, if a later step
    /// fails.
    pub fn new(config: BackendConfig) -> Result<Self, BackendError> {
        let id = config.id.clone();
        let page_size = match &config.kind {
            BackendKind::Hugetlbfs(dir) => hugetlbfs_page_size(dir)
                .map_err(os_err(&id, format!("statfs {}", dir.display())))?,
            BackendKind::Memfd | BackendKind::File(_) => 4096,
        };
        if config.size == 0 || !config.size.is_multiple_of(page_size) {
            return Err(BackendError::BadSize {
                id,
                size: config.size,
                align: page_size,
            });
        }
        if config.size > MAX_SIZE {
            return Err(BackendError::TooLarge {
                id,
                size: config.size,
                max: MAX_SIZE,
            });
        }
        // Populating anonymous memory (a memfd, or a private mapping's
        // copies) that the host does not have would wake the OOM killer.
        let anonymous = matches!(config.kind, BackendKind::Memfd) || !config.share;
        if config.prealloc && anonymous && !matches!(config.kind, BackendKind::Hugetlbfs(_)) {
            if let Some(available) = mem_available() {
                if config.size > available {
                    return Err(BackendError::NoMemory {
                        id,
                        size: config.size,
                        available,
                    });
                }
            }
        }
        let (file, undo) = match &config.kind {
            BackendKind::Memfd => (memfd(&id)?, Undo::Nothing),
            BackendKind::File(path) => open_file(&id, path)?,
            BackendKind::Hugetlbfs(dir) => {
                let f = tempfile_in(dir)
                    .map_err(os_err(&id, format!("create file in {}", dir.display())))?;
                (f, Undo::Nothing)
            }
        };
        let mapped = Self::map(&config, &file).inspect_err(|_| undo.run(&file))?;
        Ok(Self {
            config,
            file,
            ptr: mapped,
            page_size,
        })
    }

    /// Sizes `file` and maps it.
    fn map(config: &BackendConfig, file: &File) -> Result<NonNull<u8>, BackendError> {
        let id = &config.id;
        let cur = file.metadata().map_err(os_err(id, "stat"))?.len();
        if cur < config.size {
            file.set_len(config.size).map_err(os_err(id, "resize"))?;
        }
        let mut flags = if config.share {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE | libc::MAP_NORESERVE
        };
        if config.prealloc {
            flags |= libc::MAP_POPULATE;
        }
        let len = usize::try_from(config.size).map_err(|_| BackendError::TooLarge {
            id: id.clone(),
            size: config.size,
            max: MAX_SIZE,
        })?;
        // SAFETY: a fresh mapping of a file we own; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(last_os_error(id, "mmap"));
        }
        NonNull::new(ptr.cast::<u8>()).ok_or_else(|| last_os_error(id, "mmap"))
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &BackendConfig {
        &self.config
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Its tag, if any.
    pub fn tag(&self) -> Option<Uuid> {
        self.config.tag
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.config.size
    }

    /// The page size of the memory (4 KiB, or the huge page size).
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// Host virtual address of byte 0 (for KVM memslots).
    pub fn host_addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// The file behind a shared mapping, which another `MAP_SHARED` mapping
    /// of it at the same offset sees byte for byte (a composed interleave);
    /// `None` for a private mapping, whose copies no second mapping sees.
    pub fn shared_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.config.share.then(|| self.file.as_fd())
    }

    fn check(&self, offset: u64, len: usize) -> Result<(), BackendError> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.config.size => Ok(()),
            _ => Err(BackendError::OutOfRange {
                id: self.config.id.clone(),
                offset,
                len: len as u64,
                size: self.config.size,
            }),
        }
    }

    /// Copies bytes out of the backend.
    pub fn read(&self, offset: u64, data: &mut [u8]) -> Result<(), BackendError> {
        self.check(offset, data.len())?;
        for (i, b) in data.iter_mut().enumerate() {
            // SAFETY: bounds checked above; volatile because the guest may
            // write the same memory concurrently.
            *b = unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(offset as usize + i)) };
        }
        Ok(())
    }

    /// Copies bytes into the backend.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        self.check(offset, data.len())?;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: bounds checked above.
            unsafe { std::ptr::write_volatile(self.ptr.as_ptr().add(offset as usize + i), *b) };
        }
        Ok(())
    }

    /// Zeroes `len` bytes from `offset`.
    pub fn zero_range(&self, offset: u64, len: u64) -> Result<(), BackendError> {
        self.check(offset, len as usize)?;
        // SAFETY: bounds checked above; the mapping is ours and writable.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(offset as usize), 0, len as usize) };
        Ok(())
    }

    /// Zeroes the whole backend (sanitize). Shared mappings give the pages
    /// back to the host by punching a hole; private ones are cleared.
    pub fn zero(&self) -> Result<(), BackendError> {
        if self.config.share {
            // SAFETY: plain syscall on our own fd.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    self.config.size as libc::off_t,
                )
            };
            if r == 0 {
                return Ok(());
            }
        }
        // SAFETY: the whole mapping is ours and writable.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0, self.config.size as usize) };
        Ok(())
    }

    /// Flushes a shared file mapping to its file.
    pub fn sync(&self) -> Result<(), BackendError> {
        // SAFETY: msync on our own mapping.
        let r = unsafe {
            libc::msync(
                self.ptr.as_ptr().cast(),
                self.config.size as usize,
                libc::MS_SYNC,
            )
        };
        if r != 0 {
            return Err(last_os_error(&self.config.id, "msync"));
        }
        Ok(())
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `new`, exactly once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.config.size as usize) };
    }
}

fn memfd(id: &str) -> Result<File, BackendError> {
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

/// HUGETLBFS_MAGIC from linux/magic.h.
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

fn hugetlbfs_page_size(dir: &std::path::Path) -> std::io::Result<u64> {
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

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<File> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: BackendKind, size: u64, share: bool) -> BackendConfig {
        BackendConfig {
            id: "t".into(),
            kind,
            size,
            share,
            prealloc: false,
            tag: None,
        }
    }

    #[test]
    fn memfd_read_write_zero() {
        let m = HostMemory::new(cfg(BackendKind::Memfd, 1 << 20, true)).unwrap();
        m.write(4096, b"hello").unwrap();
        let mut b = [0u8; 5];
        m.read(4096, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        assert!(m.read((1 << 20) - 2, &mut b).is_err());
        assert!(m.write(u64::MAX, &b).is_err());
        m.zero().unwrap();
        m.read(4096, &mut b).unwrap();
        assert_eq!(b, [0; 5]);
        m.write(8192, b"abc").unwrap();
        m.zero_range(8193, 1).unwrap();
        let mut c = [0u8; 3];
        m.read(8192, &mut c).unwrap();
        assert_eq!(&c, b"a\0c");
        assert!(m.zero_range(1 << 20, 1).is_err());
    }

    #[test]
    fn shared_file_sees_writes() {
        let dir = std::env::temp_dir().join(format!("cxlvmm-backend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mem");
        let m = HostMemory::new(cfg(BackendKind::File(path.clone()), 64 << 10, true)).unwrap();
        m.write(0x1234, &[0xab, 0xcd]).unwrap();
        m.sync().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 64 << 10);
        assert_eq!(&bytes[0x1234..0x1236], &[0xab, 0xcd]);
        drop(m);
        // A private mapping leaves the file alone.
        let p = HostMemory::new(cfg(BackendKind::File(path.clone()), 64 << 10, false)).unwrap();
        p.write(0, &[1]).unwrap();
        drop(p);
        assert_eq!(std::fs::read(&path).unwrap()[0], 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs on a hugetlbfs mount named by CXLVMM_HUGETLBFS (scripts/test.sh
    /// reserves huge pages and mounts one); without it there is nothing to
    /// test against, and the test says so.
    #[test]
    fn hugetlbfs_backend() {
        let Some(dir) = std::env::var_os("CXLVMM_HUGETLBFS") else {
            eprintln!("CXLVMM_HUGETLBFS not set: hugetlbfs backend not exercised");
            return;
        };
        let m = HostMemory::new(cfg(
            BackendKind::Hugetlbfs(dir.clone().into()),
            4 << 20,
            true,
        ))
        .unwrap();
        assert_eq!(m.page_size(), 2 << 20);
        m.write((2 << 20) + 5, b"huge").unwrap();
        let mut b = [0u8; 4];
        m.read((2 << 20) + 5, &mut b).unwrap();
        assert_eq!(&b, b"huge");
        m.zero().unwrap();
        m.read((2 << 20) + 5, &mut b).unwrap();
        assert_eq!(b, [0; 4]);
        // Sizes must be whole huge pages.
        assert!(matches!(
            HostMemory::new(cfg(BackendKind::Hugetlbfs(dir.into()), 3 << 20, true)),
            Err(BackendError::BadSize { align, .. }) if align == 2 << 20
        ));
    }

    #[test]
    fn refused_file_backends_leave_the_file_system_as_it_was() {
        let dir = std::env::temp_dir().join(format!("cxlvmm-refused-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new");
        // Refused before the host is touched: nothing is created.
        assert!(HostMemory::new(cfg(BackendKind::File(new.clone()), 1000, true)).is_err());
        let too_big = cfg(BackendKind::File(new.clone()), MAX_SIZE + 4096, true);
        assert!(matches!(
            HostMemory::new(too_big),
            Err(BackendError::TooLarge { .. })
        ));
        assert!(!new.exists());
        // A later failure undoes the file side: a file the call created is
        // removed, one that existed gets its length back.
        let (f, undo) = open_file("t", &new).unwrap();
        assert!(new.exists());
        undo.run(&f);
        assert!(!new.exists());
        let old = dir.join("old");
        std::fs::write(&old, [7u8; 4096]).unwrap();
        let (f, undo) = open_file("t", &old).unwrap();
        f.set_len(8192).unwrap();
        undo.run(&f);
        assert_eq!(std::fs::read(&old).unwrap(), [7u8; 4096]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn preallocating_more_than_the_host_has_is_refused() {
        let Some(available) = mem_available() else {
            return;
        };
        let size = (available / 4096 + 1) * 4096;
        if size > MAX_SIZE {
            return;
        }
        let mut c = cfg(BackendKind::Memfd, size, true);
        c.prealloc = true;
        let err = HostMemory::new(c).unwrap_err();
        assert!(matches!(err, BackendError::NoMemory { .. }), "{err}");
        assert!(err.to_string().contains("available memory"), "{err}");
    }

    #[test]
    fn bad_size_and_bad_hugetlbfs() {
        assert!(matches!(
            HostMemory::new(cfg(BackendKind::Memfd, 100, true)),
            Err(BackendError::BadSize { .. })
        ));
        assert!(matches!(
            HostMemory::new(cfg(BackendKind::Memfd, 0, true)),
            Err(BackendError::BadSize { .. })
        ));
        let err =
            HostMemory::new(cfg(BackendKind::Hugetlbfs("/tmp".into()), 2 << 20, true)).unwrap_err();
        assert!(err.to_string().contains("not a hugetlbfs mount"), "{err}");
    }
}
