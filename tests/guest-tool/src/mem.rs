//! Memory helpers: mapping files and devices, NUMA binding, physical
//! addresses from /proc/self/pagemap.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;

/// A shared mapping of `len` bytes of `path` at `offset`.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `path` (a file, /dev/mem or a DAX device) read-write, shared.
    pub fn file(path: &str, offset: u64, len: usize) -> Result<Self, String> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("open {path}: {e}"))?;
        // SAFETY: a fresh shared mapping; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "mmap {path} at {offset:#x}+{len:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Anonymous private memory (guest RAM), not touched yet.
    pub fn anon(len: usize) -> Result<Self, String> {
        // SAFETY: anonymous mapping; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        // Huge pages where the kernel has them, like the 2 MiB pages of a
        // device-DAX mapping (advice only: failure changes nothing).
        // SAFETY: advice on our own fresh mapping.
        unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Length of the mapping in bytes.
    pub fn size(&self) -> usize {
        self.len
    }

    /// The mapping as 8-byte words (for the bandwidth loops).
    pub fn words(&self) -> *mut u64 {
        self.ptr.cast()
    }

    /// Anonymous private memory bound to NUMA node `node`, every page touched.
    pub fn on_node(node: u32, len: usize) -> Result<Self, String> {
        // SAFETY: anonymous mapping; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let mask: u64 = 1u64 << node;
        const MPOL_BIND: i32 = 2;
        // SAFETY: mbind on our own mapping with a one-word node mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mbind,
                ptr,
                len,
                MPOL_BIND,
                &mask as *const u64,
                64u64,
                0u32,
            )
        };
        if r != 0 {
            return Err(format!(
                "mbind node {node}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let m = Self {
            ptr: ptr.cast(),
            len,
        };
        for off in (0..len).step_by(4096) {
            m.write_u64(off, 0);
        }
        Ok(m)
    }

    /// Stores a word (one 8-byte store, as the emulated path must see it).
    pub fn write_u64(&self, off: usize, v: u64) {
        assert!(off + 8 <= self.len);
        // SAFETY: in bounds (checked) and 8-byte aligned by every caller.
        unsafe { std::ptr::write_volatile(self.ptr.add(off).cast::<u64>(), v) }
    }

    /// Stores a 32-bit register (one 4-byte store: some devices take
    /// doorbells only as dwords).
    pub fn write_u32(&self, off: usize, v: u32) {
        assert!(off + 4 <= self.len && off & 3 == 0);
        // SAFETY: in bounds and aligned (checked).
        unsafe { std::ptr::write_volatile(self.ptr.add(off).cast::<u32>(), v) }
    }

    /// Loads a 32-bit register.
    pub fn read_u32(&self, off: usize) -> u32 {
        assert!(off + 4 <= self.len && off & 3 == 0);
        // SAFETY: as above.
        unsafe { std::ptr::read_volatile(self.ptr.add(off).cast::<u32>()) }
    }

    /// Loads a word.
    pub fn read_u64(&self, off: usize) -> u64 {
        assert!(off + 8 <= self.len);
        // SAFETY: as above.
        unsafe { std::ptr::read_volatile(self.ptr.add(off).cast::<u64>()) }
    }

    /// The physical address behind byte `off` (needs root).
    pub fn phys(&self, off: usize) -> Result<u64, String> {
        let va = self.ptr as u64 + off as u64;
        let mut f =
            std::fs::File::open("/proc/self/pagemap").map_err(|e| format!("open pagemap: {e}"))?;
        f.seek(SeekFrom::Start(va / 4096 * 8))
            .map_err(|e| format!("seek pagemap: {e}"))?;
        let mut b = [0u8; 8];
        f.read_exact(&mut b)
            .map_err(|e| format!("read pagemap: {e}"))?;
        let e = u64::from_le_bytes(b);
        if e & (1 << 63) == 0 {
            return Err("page not present".into());
        }
        let pfn = e & ((1 << 55) - 1);
        if pfn == 0 {
            return Err("pagemap hides the PFN (not root?)".into());
        }
        Ok(pfn * 4096 + va % 4096)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
