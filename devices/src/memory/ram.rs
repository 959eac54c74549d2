//! Guest RAM as shared memory: one memfd per RAM range, mapped shared, so
//! a vhost-user backend (another process) can map the same pages from the
//! descriptors. Anonymous private RAM (vm-memory's default) is used when
//! no such backend needs it: shmem pages get no transparent huge pages by
//! default.

use std::fs::File;
use std::os::fd::FromRawFd;

use vm_memory::{FileOffset, GuestAddress, GuestMemoryMmap};

/// RAM for `ranges` (guest address, length), each range on its own memfd
/// (named `cxlvmm-ram-N`, close-on-exec), mapped shared.
pub fn shared_guest_ram(ranges: &[(GuestAddress, usize)]) -> std::io::Result<GuestMemoryMmap> {
    let mut with_files = Vec::with_capacity(ranges.len());
    for (i, &(addr, len)) in ranges.iter().enumerate() {
        let name =
            std::ffi::CString::new(format!("cxlvmm-ram-{i}")).map_err(std::io::Error::other)?;
        // SAFETY: a valid C string; the result is checked and then owned.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(len as u64)?;
        with_files.push((addr, len, Some(FileOffset::new(file, 0))));
    }
    GuestMemoryMmap::from_ranges_with_files(&with_files)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion};

    #[test]
    fn ranges_are_shared_files() {
        let m = shared_guest_ram(&[
            (GuestAddress(0), 0x10_0000),
            (GuestAddress(0x100_0000), 0x2000),
        ])
        .unwrap();
        let regions: Vec<_> = m.iter().collect();
        assert_eq!(regions.len(), 2);
        for r in &regions {
            let f = r.file_offset().expect("a file behind every range");
            assert_eq!(f.start(), 0);
            assert_eq!(f.file().metadata().unwrap().len(), r.len());
        }
        // A store through the guest view is in the file.
        m.write_obj(0x1234_5678u32, GuestAddress(0x100_0010))
            .unwrap();
        let mut b = [0u8; 4];
        use std::os::unix::fs::FileExt;
        regions[1]
            .file_offset()
            .unwrap()
            .file()
            .read_exact_at(&mut b, 0x10)
            .unwrap();
        assert_eq!(u32::from_le_bytes(b), 0x1234_5678);
    }
}
