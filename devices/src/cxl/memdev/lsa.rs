//! The Label Storage Area and the Get/Set LSA commands (CXL 3.1
//! 8.2.9.9.2.3, 8.2.9.9.2.4).
//!
//! The LSA is a byte buffer. With a backing file it is loaded from the file
//! at creation (a missing or short file reads as zeros and is extended), and
//! every Set LSA writes through to the file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::payload::Input;
use super::{RetCode, PAYLOAD_SIZE};
use crate::cxl::memdev::Memdev;

/// Size of the Get LSA input payload.
pub const GET_LSA_INPUT_SIZE: usize = 8;
/// Size of the Set LSA input payload before the data.
pub const SET_LSA_HEADER_SIZE: usize = 8;

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

// CXL 3.1 8.2.9.9.2.3 Get LSA (Opcode 4102h)
/// Get LSA: Offset and Length in; that many LSA bytes out. Invalid Input
/// if the range leaves the LSA or exceeds the payload size.
pub fn get_lsa(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_len(GET_LSA_INPUT_SIZE)?;
    let offset = input.u32(0).ok_or(RetCode::InvalidPayloadLength)?;
    let length = input.u32(4).ok_or(RetCode::InvalidPayloadLength)?;
    let offset = usize::try_from(offset).map_err(|_| RetCode::InvalidInput)?;
    let length = usize::try_from(length).map_err(|_| RetCode::InvalidInput)?;
    if length > PAYLOAD_SIZE {
        return Err(RetCode::InvalidInput);
    }
    memdev
        .lsa()
        .read(offset, length)
        .map(<[u8]>::to_vec)
        .ok_or(RetCode::InvalidInput)
}

// CXL 3.1 8.2.9.9.2.4 Set LSA (Opcode 4103h)
/// Set LSA: Offset, 4 reserved bytes, then the data; no output. Invalid
/// Input if the data would leave the LSA; Internal Error if the backing
/// file write fails.
pub fn set_lsa(memdev: &mut Memdev, input: Input) -> Result<Vec<u8>, RetCode> {
    input.expect_min_len(SET_LSA_HEADER_SIZE)?;
    let offset = input.u32(0).ok_or(RetCode::InvalidPayloadLength)?;
    let offset = usize::try_from(offset).map_err(|_| RetCode::InvalidInput)?;
    let data = input.tail(SET_LSA_HEADER_SIZE);
    match memdev.lsa_mut().write(offset, data) {
        Ok(true) => Ok(Vec::new()),
        Ok(false) => Err(RetCode::InvalidInput),
        Err(e) => {
            crate::error_limited!("cxl: LSA write-through failed: {e}");
            Err(RetCode::InternalError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxl::mailbox::Opcode;
    use crate::cxl::memdev::tests::{test_config, test_memdev};
    use crate::cxl::memdev::Memdev;

    const GET: u16 = Opcode::GetLsa as u16;
    const SET: u16 = Opcode::SetLsa as u16;

    fn get_in(offset: u32, len: u32) -> Vec<u8> {
        let mut p = offset.to_le_bytes().to_vec();
        p.extend_from_slice(&len.to_le_bytes());
        p
    }

    fn set_in(offset: u32, data: &[u8]) -> Vec<u8> {
        let mut p = offset.to_le_bytes().to_vec();
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(data);
        p
    }

    fn temp_path(name: &str) -> PathBuf {
        let mut p = std::env::temp_dir();
        p.push(format!("cxlvmm-lsa-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn set_then_get() {
        let mut m = test_memdev();
        assert_eq!(
            m.execute(SET, &set_in(100, b"label")),
            (RetCode::Success, vec![])
        );
        assert_eq!(
            m.execute(GET, &get_in(100, 5)),
            (RetCode::Success, b"label".to_vec())
        );
        assert_eq!(
            m.execute(GET, &get_in(98, 4)),
            (RetCode::Success, vec![0, 0, b'l', b'a'])
        );
        // Up to the last byte, and empty reads/writes.
        assert_eq!(m.execute(SET, &set_in(4095, &[9])).0, RetCode::Success);
        assert_eq!(
            m.execute(GET, &get_in(4095, 1)),
            (RetCode::Success, vec![9])
        );
        assert_eq!(m.execute(GET, &get_in(4096, 0)), (RetCode::Success, vec![]));
        assert_eq!(m.execute(SET, &set_in(4096, &[])).0, RetCode::Success);
    }

    #[test]
    fn full_payload_set_and_get() {
        let mut m = test_memdev();
        let data: Vec<u8> = (0..(PAYLOAD_SIZE - 8)).map(|i| i as u8).collect();
        assert_eq!(m.execute(SET, &set_in(8, &data)).0, RetCode::Success);
        let (rc, out) = m.execute(GET, &get_in(8, 2040));
        assert_eq!(rc, RetCode::Success);
        assert_eq!(out, data);
        assert_eq!(m.execute(GET, &get_in(0, 2048)).1.len(), 2048);
    }

    #[test]
    fn out_of_range() {
        let mut m = test_memdev();
        assert_eq!(m.execute(GET, &get_in(4096, 1)).0, RetCode::InvalidInput);
        assert_eq!(m.execute(GET, &get_in(4000, 97)).0, RetCode::InvalidInput);
        assert_eq!(
            m.execute(GET, &get_in(u32::MAX, 2)).0,
            RetCode::InvalidInput
        );
        assert_eq!(m.execute(GET, &get_in(0, 2049)).0, RetCode::InvalidInput);
        assert_eq!(
            m.execute(SET, &set_in(4095, &[1, 2])).0,
            RetCode::InvalidInput
        );
        assert_eq!(
            m.execute(SET, &set_in(u32::MAX, &[1])).0,
            RetCode::InvalidInput
        );
        assert!(m.lsa().as_bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn malformed() {
        let mut m = test_memdev();
        assert_eq!(m.execute(GET, &[0; 7]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(GET, &[0; 9]).0, RetCode::InvalidPayloadLength);
        assert_eq!(m.execute(SET, &[0; 7]).0, RetCode::InvalidPayloadLength);
    }

    #[test]
    fn zero_sized_lsa() {
        let mut c = test_config();
        c.lsa_size = 0;
        let mut m = Memdev::new(c).unwrap();
        assert_eq!(m.execute(GET, &get_in(0, 0)), (RetCode::Success, vec![]));
        assert_eq!(m.execute(GET, &get_in(0, 1)).0, RetCode::InvalidInput);
        assert_eq!(m.execute(SET, &set_in(0, &[1])).0, RetCode::InvalidInput);
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
    fn file_backed_write_through_and_reload() {
        let path = temp_path("wt");
        let mut c = test_config();
        c.lsa_file = Some(path.clone());
        {
            let mut m = Memdev::new(c.clone()).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
            assert_eq!(m.execute(SET, &set_in(10, b"persist")).0, RetCode::Success);
            let on_disk = std::fs::read(&path).unwrap();
            assert_eq!(&on_disk[10..17], b"persist");
            m.lsa_mut().flush().unwrap();
        }
        let mut m = Memdev::new(c).unwrap();
        assert_eq!(m.execute(GET, &get_in(10, 7)).1, b"persist".to_vec());
        // load() picks up outside changes.
        let mut raw = std::fs::read(&path).unwrap();
        raw[0] = 0xEE;
        std::fs::write(&path, &raw).unwrap();
        m.lsa_mut().load().unwrap();
        assert_eq!(m.lsa().as_bytes()[0], 0xEE);
        assert_eq!(m.lsa().path(), Some(path.as_path()));
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
