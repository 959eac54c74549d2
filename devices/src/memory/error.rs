//! Why a host memory backend could not be created or used.

use std::path::PathBuf;

use thiserror::Error;

/// Errors creating or using a backend.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The kind and the path do not go together.
    #[error("backend '{id}': {reason}")]
    BadPath {
        /// Backend id.
        id: String,
        /// What is wrong.
        reason: String,
    },
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
    /// The file system cannot hold the file.
    #[error("backend '{id}': cannot reserve {size} bytes for {}: the file system has {} bytes free", path.display(), free.map_or("unknown".to_string(), |f| f.to_string()))]
    NoSpace {
        /// Backend id.
        id: String,
        /// The file.
        path: PathBuf,
        /// The size asked for.
        size: u64,
        /// Bytes free on its file system, if known.
        free: Option<u64>,
    },
    /// An existing, non-empty file shorter than the backend.
    #[error("backend '{id}': {} is {len} bytes, smaller than the backend's {size} (use a new or empty file, or one at least that large)", path.display())]
    FileTooSmall {
        /// Backend id.
        id: String,
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The size asked for.
        size: u64,
    },
    /// The path names something that is not a regular file.
    #[error("backend '{id}': {} is not a regular file", path.display())]
    NotAFile {
        /// Backend id.
        id: String,
        /// The path.
        path: PathBuf,
    },
    /// Not enough free huge pages.
    #[error("backend '{id}': needs {needed} free huge pages of {page_size} bytes, the host has {available} (see /sys/kernel/mm/hugepages)")]
    NoHugePages {
        /// Backend id.
        id: String,
        /// Huge page size.
        page_size: u64,
        /// Pages needed.
        needed: u64,
        /// Pages free and unreserved.
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
