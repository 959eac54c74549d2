//! Host memory backends: memfd, a file, or a file on hugetlbfs, mapped once
//! into the VMM and handed out to KVM memslots (direct path) or read and
//! written by the emulated decode path.
//!
//! Everything a guest store could later trip over is settled at creation: a
//! shared file's space is allocated, a hugetlbfs backend's huge pages are
//! reserved, and an existing file too short for the size is refused; a
//! creation that fails leaves the file system as it found it.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use super::error::BackendError;
pub use super::file::MAX_SIZE;
use super::file::{
    free_huge_pages, hugetlbfs_page_size, last_os_error, memfd, open_file, os_err, reserve,
    tempfile_in, FileId, Undo,
};
use super::ranges::{self, Listed};

/// Where the memory comes from (QMP `memory-backend-memfd`,
/// `memory-backend-file`; the API's and `--memory-backend`'s `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// An anonymous memfd (the default); no path.
    Memfd,
    /// A regular file at `path`: created if missing, an empty one sized, a
    /// longer one used for its first `size` bytes; a shorter non-empty one
    /// is refused.
    File,
    /// An unlinked file created in the hugetlbfs mount directory `path`.
    Hugetlbfs,
}

impl BackendKind {
    /// The kind as the API and the command line spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Memfd => "memfd",
            BackendKind::File => "file",
            BackendKind::Hugetlbfs => "hugetlbfs",
        }
    }
}

/// How to create a backend: the command line's `--memory-backend` and the
/// API's `POST /memory-backends` body (QMP `object-add` field names).
/// Request documents refuse unknown fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BackendConfig {
    /// Operator-chosen identifier (unique per VM).
    pub id: String,
    /// memfd, file or hugetlbfs.
    pub kind: BackendKind,
    /// The file (`file`) or the hugetlbfs mount directory (`hugetlbfs`);
    /// none for a memfd (the API takes absolute paths only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Size in bytes (a multiple of the page size).
    pub size: u64,
    /// MAP_SHARED (writes reach the file) rather than MAP_PRIVATE.
    #[serde(default = "default_share")]
    pub share: bool,
    /// Fault every page in at creation.
    #[serde(default)]
    pub prealloc: bool,
    /// Application-specific tag (used to find the backend for DC extents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
}

fn default_share() -> bool {
    true
}

impl BackendConfig {
    /// The smallest page any backend has: a memfd's or a file's. A
    /// hugetlbfs backend needs a multiple of its mount's page size, known
    /// only when the backend is created.
    pub const MIN_PAGE_SIZE: u64 = 4096;

    /// Checks the size against `page_size` and [`MAX_SIZE`]: the checks
    /// [`HostMemory::new`] makes, which the command line makes too with
    /// [`Self::MIN_PAGE_SIZE`] so it never accepts what creation refuses.
    pub fn check_size(&self, page_size: u64) -> Result<(), BackendError> {
        if self.size == 0 || !self.size.is_multiple_of(page_size) {
            return Err(BackendError::BadSize {
                id: self.id.clone(),
                size: self.size,
                align: page_size,
            });
        }
        if self.size > MAX_SIZE {
            return Err(BackendError::TooLarge {
                id: self.id.clone(),
                size: self.size,
                max: MAX_SIZE,
            });
        }
        Ok(())
    }

    /// Checks that the kind and the path go together: a memfd takes none,
    /// a file or hugetlbfs backend needs one.
    pub fn check_path(&self) -> Result<(), String> {
        match (self.kind, &self.path) {
            (BackendKind::Memfd, Some(_)) => Err("a memfd backend takes no path".into()),
            (BackendKind::File | BackendKind::Hugetlbfs, None) => {
                Err(format!("a {} backend needs a path", self.kind.as_str()))
            }
            _ => Ok(()),
        }
    }

    /// The file or mount directory (empty for a memfd; [`Self::check_path`]
    /// passed before anything uses it).
    fn file_path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
}

/// MemAvailable from /proc/meminfo, in bytes.
pub(super) fn mem_available() -> Option<u64> {
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
    /// The file's identity (file backends).
    file_id: Option<FileId>,
    /// The path of the file this backend created (removed on delete).
    created: Option<PathBuf>,
    /// The file's blocks (or huge pages) are allocated or reserved:
    /// sanitizing must keep them so.
    reserved: bool,
    _listed: Listed,
}

// SAFETY: the mapping is owned by this struct for its whole life; concurrent
// access to guest memory through raw pointers is inherent to a VMM (the guest
// writes it concurrently through KVM anyway), and every access here goes
// through volatile copies.
unsafe impl Send for HostMemory {}
// SAFETY: see above.
unsafe impl Sync for HostMemory {}

/// A backend is a resource: two handles are equal when they are the same
/// backend (requests naming a backend compare by identity).
impl PartialEq for HostMemory {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for HostMemory {}

impl HostMemory {
    /// Creates and maps a backend. Everything that can be checked is
    /// checked before the host is touched; a file this call created is
    /// removed again, and one it grew is shrunk back, if a later step
    /// fails.
    pub fn new(config: BackendConfig) -> Result<Self, BackendError> {
        let id = config.id.clone();
        config
            .check_path()
            .map_err(|reason| BackendError::BadPath {
                id: id.clone(),
                reason,
            })?;
        let page_size = match config.kind {
            BackendKind::Hugetlbfs => {
                let dir = config.file_path();
                hugetlbfs_page_size(dir)
                    .map_err(os_err(&id, format!("statfs {}", dir.display())))?
            }
            BackendKind::Memfd | BackendKind::File => BackendConfig::MIN_PAGE_SIZE,
        };
        config.check_size(page_size)?;
        // Populating anonymous memory (a memfd, or a private mapping's
        // copies) that the host does not have would wake the OOM killer.
        let anonymous = matches!(config.kind, BackendKind::Memfd) || !config.share;
        if config.prealloc && anonymous && config.kind != BackendKind::Hugetlbfs {
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
        if config.kind == BackendKind::Hugetlbfs {
            check_huge_pages(&id, config.size, page_size)?;
        }
        let (file, undo) = match config.kind {
            BackendKind::Memfd => (memfd(&id)?, Undo::Nothing),
            BackendKind::File => open_file(&id, config.file_path())?,
            BackendKind::Hugetlbfs => {
                let dir = config.file_path();
                let f = tempfile_in(dir)
                    .map_err(os_err(&id, format!("create file in {}", dir.display())))?;
                (f, Undo::Nothing)
            }
        };
        let mapped = Self::size_file(&config, &file, page_size)
            .and_then(|reserved| Ok((reserved, Self::map(&config, &file, page_size)?)))
            .inspect_err(|_| undo.run(&file))?;
        let (allocated, ptr) = mapped;
        // A shared hugetlbfs mapping holds a reservation of its pages that
        // a punched hole gives up: sanitizing must take them again too.
        let reserved = allocated || (config.share && config.kind == BackendKind::Hugetlbfs);
        let file_id = match config.kind {
            BackendKind::File => file.metadata().ok().map(|m| FileId::of(&m)),
            _ => None,
        };
        let created = match undo {
            Undo::Remove(path) => Some(path),
            _ => None,
        };
        Ok(Self {
            _listed: ranges::list(ptr.as_ptr() as u64, config.size),
            config,
            file,
            ptr,
            page_size,
            file_id,
            created,
            reserved,
        })
    }

    /// Gives `file` its size and, where a store could otherwise fail, its
    /// blocks. True if the blocks are allocated.
    fn size_file(
        config: &BackendConfig,
        file: &File,
        page_size: u64,
    ) -> Result<bool, BackendError> {
        let id = &config.id;
        let cur = file.metadata().map_err(os_err(id, "stat"))?.len();
        match config.kind {
            BackendKind::File => {
                let path = config.file_path();
                if cur != 0 && cur < config.size {
                    return Err(BackendError::FileTooSmall {
                        id: id.clone(),
                        path: path.to_path_buf(),
                        len: cur,
                        size: config.size,
                    });
                }
                // A private mapping never writes the file (stores go to
                // anonymous copies): it only needs the length.
                if config.share {
                    reserve(id, path, file, 0, config.size)?;
                    return Ok(true);
                }
            }
            BackendKind::Hugetlbfs if config.share && config.prealloc => {
                // Allocates the huge pages now; the mount's pool or size
                // limit refuses here rather than at a guest store.
                return match reserve(id, &PathBuf::new(), file, 0, config.size) {
                    Ok(()) => Ok(true),
                    Err(BackendError::NoSpace { .. }) => Err(BackendError::NoHugePages {
                        id: id.clone(),
                        page_size,
                        needed: config.size / page_size,
                        available: free_huge_pages(page_size).unwrap_or(0),
                    }),
                    Err(e) => Err(e),
                };
            }
            _ => {}
        }
        if cur < config.size {
            file.set_len(config.size).map_err(os_err(id, "resize"))?;
        }
        Ok(false)
    }

    /// Maps `file`.
    fn map(
        config: &BackendConfig,
        file: &File,
        page_size: u64,
    ) -> Result<NonNull<u8>, BackendError> {
        let id = &config.id;
        let hugetlb = config.kind == BackendKind::Hugetlbfs;
        let mut flags = if config.share {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        // hugetlbfs reserves the huge pages of a mapping (shared or
        // private) when it is made unless told not to: keep that, it is
        // what turns a short pool into an error here instead of a SIGBUS.
        if !config.share && !hugetlb {
            flags |= libc::MAP_NORESERVE;
        }
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
            let err = std::io::Error::last_os_error();
            if hugetlb && err.raw_os_error() == Some(libc::ENOMEM) {
                return Err(BackendError::NoHugePages {
                    id: id.clone(),
                    page_size,
                    needed: config.size / page_size,
                    available: free_huge_pages(page_size).unwrap_or(0),
                });
            }
            return Err(os_err(id, "mmap")(err));
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

    /// The backing file's identity (device and inode), for file backends.
    pub fn file_id(&self) -> Option<FileId> {
        self.file_id
    }

    /// The file this backend created, if it did (it did not exist before).
    pub fn created_file(&self) -> Option<&std::path::Path> {
        self.created.as_deref()
    }

    /// Removes the file this backend created, if it did and the path still
    /// names that file; a file that existed before is left alone. For the
    /// backend's deletion: the mapping stays valid until it is dropped.
    pub fn remove_created_file(&self) -> std::io::Result<bool> {
        match &self.created {
            Some(path) if self.file_id.is_some() && FileId::of_path(path) == self.file_id => {
                std::fs::remove_file(path).map(|()| true)
            }
            _ => Ok(false),
        }
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

    /// Zeroes `len` bytes from `offset` (sanitize). Whole pages are given
    /// back rather than written (see [`HostMemory::zero`]); nothing may map
    /// them into a guest meanwhile.
    pub fn zero_range(&self, offset: u64, len: u64) -> Result<(), BackendError> {
        self.check(offset, len as usize)?;
        let whole_pages =
            offset.is_multiple_of(self.page_size) && len.is_multiple_of(self.page_size);
        let dropped = len > 0
            && whole_pages
            && if self.config.share {
                self.punch_and_reserve(offset, len)?
            } else {
                self.drop_private_pages(offset, len)
            };
        if !dropped {
            // SAFETY: bounds checked above; the mapping is ours and writable.
            unsafe {
                std::ptr::write_bytes(self.ptr.as_ptr().add(offset as usize), 0, len as usize)
            };
        }
        Ok(())
    }

    /// Zeroes the whole backend (sanitize) without touching a page it does
    /// not have to: shared memory is punched out of its file, private
    /// memory dropped. Nothing may map it into a guest meanwhile (the
    /// memory path unmaps a released extent before sanitizing it).
    pub fn zero(&self) -> Result<(), BackendError> {
        self.zero_range(0, self.config.size)
    }

    /// Shared mappings: the file's pages go back to the host (a hole reads
    /// zeros); a backend whose blocks were reserved gets them again, so a
    /// store after the sanitize cannot fail either. False if the file
    /// system cannot punch holes.
    fn punch_and_reserve(&self, offset: u64, len: u64) -> Result<bool, BackendError> {
        // SAFETY: plain syscall on our own fd.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )
        };
        if r != 0 {
            return Ok(false);
        }
        if self.reserved {
            let path = self.config.file_path();
            reserve(&self.config.id, path, &self.file, offset, len)?;
        }
        Ok(true)
    }

    /// Private mappings: the guest's copies are dropped. What a private
    /// page reverts to is the file's page, and a file backend's file may
    /// hold data: so the range becomes fresh anonymous memory (reads
    /// zeros, costs nothing until written), for a memfd too, whose own
    /// read-fault pages are punched out. A hugetlbfs file is never written
    /// through a private mapping (it reads zeros) and keeps its huge page
    /// reservation with MADV_DONTNEED. False if the pages could not be
    /// dropped.
    fn drop_private_pages(&self, offset: u64, len: u64) -> bool {
        // SAFETY: the caller checked offset+len against the mapping.
        let addr = unsafe { self.ptr.as_ptr().add(offset as usize) }.cast::<libc::c_void>();
        let size = len as usize;
        match self.config.kind {
            BackendKind::File | BackendKind::Memfd => {
                // SAFETY: replaces part of our own mapping, at the same
                // address and length, with fresh anonymous memory; nothing
                // in the VMM holds a reference into it across this call.
                let p = unsafe {
                    libc::mmap(
                        addr,
                        size,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_FIXED
                            | libc::MAP_PRIVATE
                            | libc::MAP_ANONYMOUS
                            | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if p == addr {
                    if matches!(self.config.kind, BackendKind::Memfd) {
                        // The memfd's own pages (read faults) go too.
                        // SAFETY: plain syscall on our own fd.
                        unsafe {
                            libc::fallocate(
                                self.file.as_raw_fd(),
                                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                                offset as libc::off_t,
                                len as libc::off_t,
                            )
                        };
                    }
                    return true;
                }
                // The old mapping may be gone: put the file back, then
                // the caller writes zeros over it.
                // SAFETY: as above, with the original file mapping.
                unsafe {
                    libc::mmap(
                        addr,
                        size,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_NORESERVE,
                        self.file.as_raw_fd(),
                        offset as libc::off_t,
                    )
                };
                false
            }
            // SAFETY: our own mapping; dropping private huge pages makes
            // the range read the (never written) file again: zeros.
            BackendKind::Hugetlbfs => unsafe {
                libc::madvise(addr, size, libc::MADV_DONTNEED) == 0
            },
        }
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

/// Refuses a hugetlbfs backend the pool cannot give its pages to.
fn check_huge_pages(id: &str, size: u64, page_size: u64) -> Result<(), BackendError> {
    let needed = size / page_size;
    match free_huge_pages(page_size) {
        Some(available) if available < needed => Err(BackendError::NoHugePages {
            id: id.to_string(),
            page_size,
            needed,
            available,
        }),
        _ => Ok(()),
    }
}

impl Drop for HostMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `new`, exactly once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.config.size as usize) };
    }
}
