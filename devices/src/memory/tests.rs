//! Backend creation rules, sanitizing, and what a refused backend leaves
//! behind.

use super::backend::*;
use super::file::{open_file, FileId};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A backend's kind with its path.
type Source = (BackendKind, Option<PathBuf>);

const MEMFD: Source = (BackendKind::Memfd, None);

fn at_file(path: impl Into<PathBuf>) -> Source {
    (BackendKind::File, Some(path.into()))
}

fn at_hugetlbfs(dir: impl Into<PathBuf>) -> Source {
    (BackendKind::Hugetlbfs, Some(dir.into()))
}

fn cfg((kind, path): Source, size: u64, share: bool) -> BackendConfig {
    BackendConfig {
        id: "t".into(),
        kind,
        path,
        size,
        share,
        prealloc: false,
        tag: None,
    }
}

#[test]
fn memfd_read_write_zero() {
    let m = HostMemory::new(cfg(MEMFD, 1 << 20, true)).unwrap();
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
    let m = HostMemory::new(cfg(at_file(path.clone()), 64 << 10, true)).unwrap();
    m.write(0x1234, &[0xab, 0xcd]).unwrap();
    m.sync().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 64 << 10);
    assert_eq!(&bytes[0x1234..0x1236], &[0xab, 0xcd]);
    drop(m);
    // A private mapping leaves the file alone.
    let p = HostMemory::new(cfg(at_file(path.clone()), 64 << 10, false)).unwrap();
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
    let m = HostMemory::new(cfg(at_hugetlbfs(dir.clone()), 4 << 20, true)).unwrap();
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
        HostMemory::new(cfg(at_hugetlbfs(dir), 3 << 20, true)),
        Err(BackendError::BadSize { align, .. }) if align == 2 << 20
    ));
}

#[test]
fn refused_file_backends_leave_the_file_system_as_it_was() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let new = dir.join("new");
    // Refused before the host is touched: nothing is created.
    assert!(HostMemory::new(cfg(at_file(new.clone()), 1000, true)).is_err());
    let too_big = cfg(at_file(new.clone()), MAX_SIZE + 4096, true);
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
    let mut c = cfg(MEMFD, size, true);
    c.prealloc = true;
    let err = HostMemory::new(c).unwrap_err();
    assert!(matches!(err, BackendError::NoMemory { .. }), "{err}");
    assert!(err.to_string().contains("available memory"), "{err}");
}

#[test]
fn bad_size_and_bad_hugetlbfs() {
    assert!(matches!(
        HostMemory::new(cfg(MEMFD, 100, true)),
        Err(BackendError::BadSize { .. })
    ));
    assert!(matches!(
        HostMemory::new(cfg(MEMFD, 0, true)),
        Err(BackendError::BadSize { .. })
    ));
    let err = HostMemory::new(cfg(at_hugetlbfs("/tmp"), 2 << 20, true)).unwrap_err();
    assert!(err.to_string().contains("not a hugetlbfs mount"), "{err}");
}

/// A file system (a small tmpfs) mounted on a fresh directory (tests run
/// as root), gone when dropped. None (and a note) where mounting is not
/// allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn new(name: &str, size: &str) -> Option<Self> {
        Self::mount(name, "tmpfs", &format!("size={size}"))
    }

    fn mount(name: &str, fstype: &str, options: &str) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("cxlvmm-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(dir.to_str()?);
        let opts = c(options);
        // SAFETY: valid C strings; mounts a tmpfs on our own directory.
        let r = unsafe {
            libc::mount(
                c(fstype).as_ptr(),
                target.as_ptr(),
                c(fstype).as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if r != 0 {
            eprintln!(
                "cannot mount a tmpfs ({}): not exercised",
                std::io::Error::last_os_error()
            );
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: unmounting the tmpfs we mounted.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn file(path: &Path, size: u64, share: bool, prealloc: bool) -> Result<HostMemory, BackendError> {
    let mut c = cfg(at_file(path.to_path_buf()), size, share);
    c.prealloc = prealloc;
    HostMemory::new(c)
}

#[test]
fn a_file_system_without_the_space_refuses_the_backend() {
    let Some(fs) = Tmpfs::new("nospace", "4M") else {
        return;
    };
    let path = fs.path("big");
    for prealloc in [false, true] {
        let err = file(&path, 64 << 20, true, prealloc).unwrap_err();
        let BackendError::NoSpace {
            free: Some(free),
            size,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(*size, 64 << 20);
        assert!(*free <= 4 << 20, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("{free} bytes free")), "{msg}");
        assert!(msg.contains("big"), "{msg}");
        // The file it created is gone again, and so is its space.
        assert!(!path.exists());
    }
    // What fits is reserved: every block is allocated at creation.
    let m = file(&path, 2 << 20, true, false).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 2 << 20);
    assert!(meta.blocks() * 512 >= 2 << 20, "{} blocks", meta.blocks());
    // A second one no longer fits in what is left.
    let err = file(&fs.path("second"), 4 << 20, true, false).unwrap_err();
    assert!(matches!(err, BackendError::NoSpace { .. }), "{err}");
    drop(m);
}

#[test]
fn existing_files_are_used_only_when_large_enough() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-existing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Non-empty and shorter than the size: refused, and left as it was.
    let short = dir.join("short");
    std::fs::write(&short, [9u8; 8192]).unwrap();
    for share in [true, false] {
        let err = file(&short, 2 << 20, share, false).unwrap_err();
        assert!(
            matches!(err, BackendError::FileTooSmall { len: 8192, size, .. } if size == 2 << 20),
            "{err}"
        );
        assert!(err.to_string().contains("8192 bytes"), "{err}");
        assert_eq!(std::fs::read(&short).unwrap(), [9u8; 8192]);
    }
    // Through a symlink, the same.
    let link = dir.join("link");
    std::os::unix::fs::symlink(&short, &link).unwrap();
    assert!(matches!(
        file(&link, 2 << 20, true, false),
        Err(BackendError::FileTooSmall { .. })
    ));
    assert_eq!(std::fs::metadata(&short).unwrap().len(), 8192);
    // Empty: sized.
    let empty = dir.join("empty");
    std::fs::write(&empty, []).unwrap();
    let m = file(&empty, 1 << 20, true, false).unwrap();
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 1 << 20);
    assert_eq!(m.created_file(), None);
    drop(m);
    // Larger: its first SIZE bytes, the rest untouched.
    let large = dir.join("large");
    std::fs::write(&large, [5u8; 3 * 4096]).unwrap();
    let m = file(&large, 4096, true, false).unwrap();
    let mut b = [0u8; 1];
    m.read(4095, &mut b).unwrap();
    assert_eq!(b, [5]);
    drop(m);
    assert_eq!(std::fs::read(&large).unwrap(), [5u8; 3 * 4096]);
    // A device is not a file (and is left alone).
    let err = file(Path::new("/dev/null"), 4096, true, false).unwrap_err();
    assert!(matches!(err, BackendError::NotAFile { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_files_the_backend_created_are_removed() {
    let dir = std::env::temp_dir().join(format!("cxlvmm-created-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let new = dir.join("new");
    let m = file(&new, 64 << 10, true, false).unwrap();
    assert_eq!(m.created_file(), Some(new.as_path()));
    assert_eq!(m.file_id(), FileId::of_path(&new));
    assert!(m.remove_created_file().unwrap());
    assert!(!new.exists());
    drop(m);
    let old = dir.join("old");
    std::fs::write(&old, []).unwrap();
    let m = file(&old, 64 << 10, true, false).unwrap();
    assert!(!m.remove_created_file().unwrap());
    assert!(old.exists());
    // A created file replaced behind the backend's back is not its own.
    let again = dir.join("again");
    let m = file(&again, 64 << 10, true, false).unwrap();
    std::fs::remove_file(&again).unwrap();
    std::fs::write(&again, b"someone else's").unwrap();
    assert!(!m.remove_created_file().unwrap());
    assert_eq!(std::fs::read(&again).unwrap(), b"someone else's");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Pages of `m` resident in this process (mincore).
fn resident(m: &HostMemory) -> usize {
    let pages = (m.size() / 4096) as usize;
    let mut vec = vec![0u8; pages];
    // SAFETY: our own mapping and a vector of one byte per page.
    let r = unsafe {
        libc::mincore(
            m.host_addr() as *mut libc::c_void,
            m.size() as usize,
            vec.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    vec.iter().filter(|b| **b & 1 != 0).count()
}

#[test]
fn sanitizing_a_private_backend_drops_its_pages() {
    let size = 32u64 << 20;
    // Untouched: sanitizing costs nothing (it used to write every page).
    let m = HostMemory::new(cfg(MEMFD, size, false)).unwrap();
    m.zero().unwrap();
    assert_eq!(resident(&m), 0);
    // Touched everywhere: afterwards it reads zeros and holds nothing.
    for off in (0..size).step_by(4096) {
        m.write(off, &[0xa5]).unwrap();
    }
    assert_eq!(resident(&m), (size / 4096) as usize);
    m.zero().unwrap();
    assert_eq!(resident(&m), 0);
    let mut b = [1u8; 1];
    m.read(size - 4096, &mut b).unwrap();
    assert_eq!(b, [0]);
    // Still usable where it was (the memslot address does not move).
    let addr = m.host_addr();
    m.write(4096, b"x").unwrap();
    assert_eq!(m.host_addr(), addr);

    // A private file mapping would revert to the file's data: it reads
    // zeros instead, and the file keeps its data.
    let dir = std::env::temp_dir().join(format!("cxlvmm-privzero-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("data");
    std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
    let p = file(&path, 1 << 20, false, false).unwrap();
    let mut b = [0u8; 2];
    p.read(0, &mut b).unwrap();
    assert_eq!(b, [7, 7]);
    p.write(0, &[1, 2]).unwrap();
    p.zero().unwrap();
    assert_eq!(resident(&p), 0);
    p.read(0, &mut b).unwrap();
    assert_eq!(b, [0, 0]);
    p.read((1 << 20) - 2, &mut b).unwrap();
    assert_eq!(b, [0, 0]);
    drop(p);
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 1 << 20]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sanitizing_a_shared_file_keeps_its_space_reserved() {
    let Some(fs) = Tmpfs::new("sanitize", "4M") else {
        return;
    };
    let path = fs.path("m");
    let m = file(&path, 2 << 20, true, false).unwrap();
    m.write(4096, &[3; 16]).unwrap();
    m.zero().unwrap();
    let mut b = [1u8; 16];
    m.read(4096, &mut b).unwrap();
    assert_eq!(b, [0; 16]);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.blocks() * 512 >= 2 << 20, "{} blocks", meta.blocks());
}

#[test]
fn hugetlbfs_needs_free_huge_pages() {
    let pool = "/sys/kernel/mm/hugepages/hugepages-2048kB";
    let Some(free) = std::fs::read_to_string(format!("{pool}/free_hugepages"))
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
    else {
        eprintln!("no 2 MiB huge page pool: not exercised");
        return;
    };
    let Some(fs) = Tmpfs::mount("hugetlbfs", "hugetlbfs", "pagesize=2M") else {
        return;
    };
    // One page more than the pool has free, with or without prealloc.
    let size = (free + 1) * (2 << 20);
    for (share, prealloc) in [(true, false), (true, true), (false, false)] {
        let mut c = cfg(at_hugetlbfs(fs.0.clone()), size, share);
        c.prealloc = prealloc;
        let err = HostMemory::new(c).unwrap_err();
        assert!(
            matches!(err, BackendError::NoHugePages { needed, .. } if needed == free + 1),
            "{err}"
        );
        assert!(err.to_string().contains("free huge pages"), "{err}");
    }
    assert_eq!(std::fs::read_dir(&fs.0).unwrap().count(), 0);
}

#[test]
fn sanitizing_part_of_a_private_backend_drops_only_that_part() {
    let m = HostMemory::new(cfg(MEMFD, 4 << 20, false)).unwrap();
    for off in (0..4u64 << 20).step_by(4096) {
        m.write(off, &[0x77]).unwrap();
    }
    // The middle 2 MiB (an extent of a dc-memdev backend).
    m.zero_range(1 << 20, 2 << 20).unwrap();
    assert_eq!(resident(&m), 512);
    let mut b = [0u8; 1];
    for (off, want) in [
        (0, 0x77),
        ((1 << 20) - 4096, 0x77),
        (1 << 20, 0),
        ((3 << 20) - 4096, 0),
        (3 << 20, 0x77),
    ] {
        m.read(off, &mut b).unwrap();
        assert_eq!(b, [want], "at {off:#x}");
    }
    // Not whole pages: written.
    m.write(8, &[0x77; 12]).unwrap();
    m.zero_range(10, 5).unwrap();
    let mut c = [0u8; 12];
    m.read(8, &mut c).unwrap();
    assert_eq!(c, [0x77, 0x77, 0, 0, 0, 0, 0, 0x77, 0x77, 0x77, 0x77, 0x77]);
}

#[test]
fn kind_and_path_must_go_together() {
    for (kind, path) in [
        (BackendKind::File, None),
        (BackendKind::Hugetlbfs, None),
        (BackendKind::Memfd, Some(PathBuf::from("/tmp/x"))),
    ] {
        let err = HostMemory::new(cfg((kind, path), 4096, true)).unwrap_err();
        assert!(matches!(err, BackendError::BadPath { .. }), "{err}");
    }
}
