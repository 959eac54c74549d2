//! One host virtual range composed of pieces of several backends: what an
//! interleaved CXL region looks like from the host when its granules are at
//! least a page. The range is reserved whole (`PROT_NONE`), then each piece
//! is mapped over it `MAP_SHARED | MAP_FIXED` from its backend's file at the
//! right offset, so the same page-cache pages back the composed range, the
//! backend's own mapping and the file.
//!
//! Building it either succeeds whole or unmaps everything it mapped; dropping
//! it unmaps the whole range. Whoever installs it as a memslot must remove
//! the memslot first.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::Arc;

use super::HostMemory;

/// Mappings kept free for the rest of the process (thread stacks, the
/// allocator, other backends) when sizing a composition against
/// `vm.max_map_count`.
pub const MAP_COUNT_MARGIN: u64 = 4096;

/// `len` bytes at offset `at` of a composed range come from `backend` at
/// `offset`.
#[derive(Clone, Debug)]
pub struct ComposedPiece {
    /// Offset in the composed range.
    pub at: u64,
    /// Length in bytes.
    pub len: u64,
    /// The backend.
    pub backend: Arc<HostMemory>,
    /// Offset into the backend.
    pub offset: u64,
}

impl ComposedPiece {
    /// Same place, same length, same memory.
    pub fn same_as(&self, other: &ComposedPiece) -> bool {
        self.at == other.at
            && self.len == other.len
            && self.offset == other.offset
            && Arc::ptr_eq(&self.backend, &other.backend)
    }
}

/// A composed host virtual range.
#[derive(Debug)]
pub struct ComposedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the range is owned by this struct for its whole life and only
// handed to KVM; nothing here dereferences it.
unsafe impl Send for ComposedMapping {}
// SAFETY: see above.
unsafe impl Sync for ComposedMapping {}

fn os_err(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

impl ComposedMapping {
    /// Reserves `len` bytes and maps every piece into them. The pieces must
    /// be page aligned, lie inside `len` and inside their backends, and the
    /// backends must be shared mappings of a file
    /// ([`HostMemory::shared_fd`]). On any failure nothing stays mapped.
    pub fn new(len: u64, pieces: &[ComposedPiece]) -> Result<Self, String> {
        const PAGE: u64 = 4096;
        let size = usize::try_from(len).map_err(|_| format!("length {len:#x} too large"))?;
        if len == 0 || !len.is_multiple_of(PAGE) {
            return Err(format!("length {len:#x} is not a whole number of pages"));
        }
        for p in pieces {
            let page = p.backend.page_size().max(PAGE);
            let inside = p.at.checked_add(p.len).is_some_and(|e| e <= len)
                && p.offset
                    .checked_add(p.len)
                    .is_some_and(|e| e <= p.backend.size());
            if !inside
                || p.len == 0
                || !p.at.is_multiple_of(page)
                || !p.len.is_multiple_of(page)
                || !p.offset.is_multiple_of(page)
            {
                return Err(format!(
                    "piece {:#x}+{:#x} of backend '{}' at {:#x} is misaligned or outside",
                    p.at,
                    p.len,
                    p.backend.id(),
                    p.offset
                ));
            }
        }
        // SAFETY: a fresh anonymous reservation; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_err("reserving the range"));
        }
        let Some(ptr) = NonNull::new(base.cast::<u8>()) else {
            return Err("reserving the range: null mapping".into());
        };
        // From here on, dropping `me` unmaps the whole range.
        let me = Self { ptr, len: size };
        for p in pieces {
            let Some(fd) = p.backend.shared_fd() else {
                return Err(format!(
                    "backend '{}' is not a shared mapping of a file",
                    p.backend.id()
                ));
            };
            let offset = libc::off_t::try_from(p.offset)
                .map_err(|_| format!("offset {:#x} too large", p.offset))?;
            // SAFETY: `at..at+len` lies inside our reservation (checked
            // above), so MAP_FIXED replaces only pages this struct owns.
            let r = unsafe {
                libc::mmap(
                    me.ptr.as_ptr().add(p.at as usize).cast(),
                    p.len as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd.as_raw_fd(),
                    offset,
                )
            };
            if r == libc::MAP_FAILED {
                return Err(os_err(&format!(
                    "mapping backend '{}' {:#x}+{:#x}",
                    p.backend.id(),
                    p.offset,
                    p.len
                )));
            }
        }
        Ok(me)
    }

    /// Host virtual address of byte 0.
    pub fn host_addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Never empty (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for ComposedMapping {
    fn drop(&mut self) {
        // SAFETY: the whole range was reserved in `new` and is unmapped
        // exactly once, pieces and all.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// How many more mappings this process may create before reaching
/// `vm.max_map_count`, less [`MAP_COUNT_MARGIN`]. The two proc files are
/// opened once, when the VMM starts, and read again at each question: the
/// question comes from a vCPU thread, whose seccomp filter opens no files.
#[derive(Debug)]
pub struct MapBudget {
    /// `/proc/sys/vm/max_map_count`.
    limit: File,
    /// `/proc/self/maps` (this process, whichever thread reads it).
    maps: File,
}

impl MapBudget {
    /// Opens the files it reads.
    pub fn open() -> std::io::Result<Self> {
        Ok(Self {
            limit: File::open("/proc/sys/vm/max_map_count")?,
            maps: File::open("/proc/self/maps")?,
        })
    }

    /// Mappings left; `None` if the limit or the process's mappings cannot
    /// be read.
    pub fn available(&self) -> Option<u64> {
        let mut text = Vec::new();
        let limit: u64 = {
            each_chunk(&self.limit, |c| text.extend_from_slice(c))?;
            std::str::from_utf8(&text).ok()?.trim().parse().ok()?
        };
        let mut used = 0u64;
        each_chunk(&self.maps, |c| {
            used += c.iter().filter(|b| **b == b'\n').count() as u64
        })?;
        Some(limit.saturating_sub(used).saturating_sub(MAP_COUNT_MARGIN))
    }
}

/// Reads `f` from its start (pread: no shared file offset) to its end in
/// chunks; `None` on a read error.
fn each_chunk(f: &File, mut chunk: impl FnMut(&[u8])) -> Option<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = 0u64;
    loop {
        match f.read_at(&mut buf, at) {
            Ok(0) => return Some(()),
            Ok(n) => {
                chunk(&buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{BackendConfig, BackendKind};

    fn backend(size: u64, share: bool) -> Arc<HostMemory> {
        Arc::new(
            HostMemory::new(BackendConfig {
                id: "c".into(),
                kind: BackendKind::Memfd,
                path: None,
                size,
                share,
                prealloc: false,
                tag: None,
            })
            .unwrap(),
        )
    }

    fn piece(at: u64, len: u64, backend: &Arc<HostMemory>, offset: u64) -> ComposedPiece {
        ComposedPiece {
            at,
            len,
            backend: backend.clone(),
            offset,
        }
    }

    #[test]
    fn composed_range_shares_pages_with_the_backends() {
        let (a, b) = (backend(64 << 10, true), backend(64 << 10, true));
        // Pages alternate a0 b0 a1 b1.
        let pieces = [
            piece(0, 4096, &a, 0),
            piece(4096, 4096, &b, 0),
            piece(8192, 4096, &a, 4096),
            piece(12288, 4096, &b, 4096),
        ];
        let m = ComposedMapping::new(16384, &pieces).unwrap();
        assert_eq!(m.len(), 16384);
        let base = m.host_addr() as *mut u8;
        for page in 0..4u64 {
            // SAFETY: inside the composed range, which is mapped read-write.
            unsafe {
                std::ptr::write_volatile(base.add((page * 4096 + 8) as usize), page as u8 + 1)
            };
        }
        let byte = |m: &Arc<HostMemory>, off| {
            let mut x = [0u8];
            m.read(off, &mut x).unwrap();
            x[0]
        };
        assert_eq!(
            [byte(&a, 8), byte(&b, 8), byte(&a, 4104), byte(&b, 4104)],
            [1, 2, 3, 4]
        );
        // And the other way round.
        b.write(4096 + 100, &[0x5a]).unwrap();
        // SAFETY: as above.
        assert_eq!(
            unsafe { std::ptr::read_volatile(base.add(12288 + 100)) },
            0x5a
        );
    }

    #[test]
    fn bad_pieces_and_private_backends_are_refused_whole() {
        let a = backend(16 << 10, true);
        let private = backend(16 << 10, false);
        for bad in [
            vec![piece(0, 4096, &a, 16 << 10)], // outside the backend
            vec![piece(8192, 8192, &a, 0)],     // outside the range
            vec![piece(0, 2048, &a, 0)],        // not a page
            vec![piece(0, 4096, &a, 100)],      // misaligned offset
        ] {
            assert!(ComposedMapping::new(8192, &bad).is_err(), "{bad:?}");
        }
        assert!(ComposedMapping::new(0, &[]).is_err());
        let err = ComposedMapping::new(
            8192,
            &[piece(0, 4096, &a, 0), piece(4096, 4096, &private, 0)],
        )
        .unwrap_err();
        assert!(err.contains("not a shared mapping"), "{err}");
    }

    #[test]
    fn budget_is_below_the_limit() {
        let limit: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let budget = MapBudget::open().unwrap();
        let b = budget.available().unwrap();
        assert!(b + MAP_COUNT_MARGIN < limit, "{b} of {limit}");
        // Read again from the same descriptors: more mappings, less budget.
        let extra: Vec<_> = (0..8).map(|_| backend(4096, true)).collect();
        let after = budget.available().unwrap();
        assert!(after < b, "{after} after 8 more mappings, {b} before");
        drop(extra);
    }
}
