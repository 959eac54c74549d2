//! A raw disk image: a regular file or a block device, opened once
//! (O_CLOEXEC, as std opens every file), read and written at offsets
//! (pread64/pwrite64), flushed with fdatasync, holes punched and ranges
//! zeroed with fallocate.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes per virtio-blk sector (5.2.4: capacity in 512-byte sectors).
pub const SECTOR_SIZE: u64 = 512;

/// An open image.
#[derive(Debug)]
pub struct DiskImage {
    file: File,
    size: u64,
    readonly: bool,
}

impl DiskImage {
    /// Opens `path` read-write, or read-only.
    pub fn open(path: &Path, readonly: bool) -> io::Result<Self> {
        let mut file = OpenOptions::new().read(true).write(!readonly).open(path)?;
        // Block devices report their size only through seeking.
        let size = file.seek(SeekFrom::End(0))?;
        Ok(Self::from_file(file, size, readonly))
    }

    /// An image over an open file of `size` bytes.
    pub fn from_file(file: File, size: u64, readonly: bool) -> Self {
        Self {
            file,
            size,
            readonly,
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whole sectors (a partial last sector is not reachable).
    pub fn sectors(&self) -> u64 {
        self.size / SECTOR_SIZE
    }

    /// Opened read-only.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Writes `buf` at `offset`.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.readonly {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        self.file.write_all_at(buf, offset)
    }

    /// Makes written data durable.
    pub fn flush(&self) -> io::Result<()> {
        if self.readonly {
            return Ok(());
        }
        self.file.sync_data()
    }

    /// Punches a hole (discard). A host that cannot is not an error:
    /// discard is advisory.
    pub fn discard(&self, offset: u64, len: u64) -> io::Result<()> {
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        match self.fallocate(mode, offset, len) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
            r => r,
        }
    }

    /// Zeroes a range: in place, or by punching a hole when `unmap`; by
    /// writing zeroes where the host supports neither.
    pub fn write_zeroes(&self, offset: u64, len: u64, unmap: bool) -> io::Result<()> {
        let mode = if unmap {
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE
        } else {
            libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE
        };
        match self.fallocate(mode, offset, len) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                let zeroes = vec![0u8; len.min(1 << 20) as usize];
                let mut done = 0;
                while done < len {
                    let n = (len - done).min(zeroes.len() as u64);
                    self.write_at(&zeroes[..n as usize], offset + done)?;
                    done += n;
                }
                Ok(())
            }
            r => r,
        }
    }

    fn fallocate(&self, mode: libc::c_int, offset: u64, len: u64) -> io::Result<()> {
        if self.readonly {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        let (Ok(off), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: fallocate(2) on a descriptor we own, with plain integers.
        let r = unsafe { libc::fallocate(self.file.as_raw_fd(), mode, off, len) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
