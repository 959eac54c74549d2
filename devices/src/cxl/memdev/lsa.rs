//! The Label Storage Area (CXL 3.1 8.2.9.9.2.3, 8.2.9.9.2.4).
//!
//! The LSA is a byte buffer. With a backing file it is loaded from the file
//! at creation (a missing or short file reads as zeros and is extended), and
//! every Set LSA writes through to the file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The Label Storage Area.
#[derive(Debug)]
pub struct Lsa {
    data: Vec<u8>,
    file: Option<(PathBuf, File)>,
}

impl Lsa {
    /// An LSA of `size` bytes, backed by `path` if given (created if
    /// missing). A backing file larger than `size` is refused rather than
    /// truncated.
    pub fn new(size: u32, path: Option<&Path>) -> io::Result<Self> {
        let len = usize::try_from(size).map_err(io::Error::other)?;
        let mut lsa = Self {
            data: vec![0; len],
            file: None,
        };
        if let Some(path) = path {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            let file_len = file.metadata()?.len();
            if file_len > u64::from(size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is {file_len} bytes, larger than the {size}-byte LSA",
                        path.display()
                    ),
                ));
            }
            if file_len < u64::from(size) {
                file.set_len(u64::from(size))?;
            }
            lsa.file = Some((path.to_path_buf(), file));
            lsa.load()?;
        }
        Ok(lsa)
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// The whole LSA.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(p, _)| p.as_path())
    }

    /// `len` bytes at `offset`, if inside the LSA.
    pub fn read(&self, offset: usize, len: usize) -> Option<&[u8]> {
        self.data.get(offset..offset.checked_add(len)?)
    }

    /// Writes `src` at `offset`, through to the backing file. `Ok(false)` if
    /// the range is outside the LSA (nothing written). When the file write
    /// fails the LSA keeps its old bytes (and the file gets them back as
    /// far as it takes them), so the two never disagree.
    pub fn write(&mut self, offset: usize, src: &[u8]) -> io::Result<bool> {
        let Some(end) = offset.checked_add(src.len()) else {
            return Ok(false);
        };
        let Some(dst) = self.data.get_mut(offset..end) else {
            return Ok(false);
        };
        if let Some((_, file)) = &self.file {
            if let Err(e) = file.write_all_at(src, offset as u64) {
                let _ = file.write_all_at(dst, offset as u64);
                return Err(e);
            }
        }
        dst.copy_from_slice(src);
        Ok(true)
    }

    /// Re-reads the LSA from the backing file (no-op without one).
    pub fn load(&mut self) -> io::Result<()> {
        if let Some((_, file)) = &self.file {
            file.read_exact_at(&mut self.data, 0)?;
        }
        Ok(())
    }

    /// Writes the whole LSA to the backing file and syncs it (no-op without
    /// one).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some((_, file)) = &self.file {
            file.write_all_at(&self.data, 0)?;
            file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let mut p = std::env::temp_dir();
        p.push(format!("cxlvmm-lsa-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn a_failed_file_write_leaves_the_lsa_as_it_was() {
        let path = temp_path("readonly");
        std::fs::write(&path, [5u8; 64]).unwrap();
        let mut lsa = Lsa {
            data: vec![5; 64],
            // Read-only: every write through fails.
            file: Some((path.clone(), File::open(&path).unwrap())),
        };
        assert!(lsa.write(8, b"new").is_err());
        assert_eq!(lsa.read(8, 3), Some(&[5u8; 3][..]));
        assert_eq!(std::fs::read(&path).unwrap(), [5u8; 64]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn short_file_is_extended_long_file_refused() {
        let path = temp_path("size");
        std::fs::write(&path, [7u8; 10]).unwrap();
        let lsa = Lsa::new(64, Some(&path)).unwrap();
        assert_eq!(&lsa.as_bytes()[..10], &[7; 10]);
        assert!(lsa.as_bytes()[10..].iter().all(|&b| b == 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 64);
        drop(lsa);
        assert!(Lsa::new(32, Some(&path)).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
