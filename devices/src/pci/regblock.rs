//! A block of little-endian registers with per-bit guest write semantics.
//!
//! Every byte has a value, a write mask (bits the guest may change) and a
//! write-1-to-clear mask (bits a guest write of 1 clears, PCIe 6.0 7.4
//! "RW1C"). Bits in neither mask are read-only to the guest. The device
//! itself changes any bit with the `set_*` methods.
//!
//! Configuration space, capability bodies and the MSI-X table are all
//! register blocks. Out-of-range guest accesses never panic: reads return
//! all-ones, writes are dropped.

/// Bytes, write masks and write-1-to-clear masks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterBlock {
    data: Vec<u8>,
    wmask: Vec<u8>,
    w1c: Vec<u8>,
}

impl RegisterBlock {
    /// `len` read-only zero bytes.
    pub fn new(len: usize) -> Self {
        Self {
            data: vec![0; len],
            wmask: vec![0; len],
            w1c: vec![0; len],
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a zero-length block.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Guest read: bytes past the end read as 0xff.
    pub fn read(&self, offset: usize, data: &mut [u8]) {
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i)
                .and_then(|o| self.data.get(o))
                .copied()
                .unwrap_or(0xff);
        }
    }

    /// Guest write: only writable bits change, RW1C bits written as 1 clear,
    /// bytes past the end are dropped.
    pub fn write(&mut self, offset: usize, data: &[u8]) {
        for (i, &v) in data.iter().enumerate() {
            let Some(o) = offset.checked_add(i) else {
                return;
            };
            let (Some(old), Some(&w), Some(&c)) =
                (self.data.get_mut(o), self.wmask.get(o), self.w1c.get(o))
            else {
                return;
            };
            *old = ((*old & !w) | (v & w)) & !(v & c);
        }
    }

    /// Reads `width` (1..=8) bytes at `offset` as a little-endian value.
    pub fn get(&self, offset: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        let width = width.min(8);
        self.read(offset, &mut b[..width]);
        u64::from_le_bytes(b)
    }

    /// Byte at `offset` (0xff past the end).
    pub fn get_u8(&self, offset: usize) -> u8 {
        self.get(offset, 1) as u8
    }

    /// Word at `offset`.
    pub fn get_u16(&self, offset: usize) -> u16 {
        self.get(offset, 2) as u16
    }

    /// Dword at `offset`.
    pub fn get_u32(&self, offset: usize) -> u32 {
        self.get(offset, 4) as u32
    }

    /// Qword at `offset`.
    pub fn get_u64(&self, offset: usize) -> u64 {
        self.get(offset, 8)
    }

    fn put(buf: &mut [u8], offset: usize, value: u64, width: usize) {
        for (i, b) in value.to_le_bytes().iter().take(width).enumerate() {
            if let Some(slot) = offset.checked_add(i).and_then(|o| buf.get_mut(o)) {
                *slot = *b;
            }
        }
    }

    /// Device-side store of `width` bytes of `value`, ignoring the masks.
    /// Bytes past the end are dropped.
    pub fn set(&mut self, offset: usize, value: u64, width: usize) {
        Self::put(&mut self.data, offset, value, width);
    }

    /// Device-side byte store.
    pub fn set_u8(&mut self, offset: usize, value: u8) {
        self.set(offset, value.into(), 1);
    }

    /// Device-side word store.
    pub fn set_u16(&mut self, offset: usize, value: u16) {
        self.set(offset, value.into(), 2);
    }

    /// Device-side dword store.
    pub fn set_u32(&mut self, offset: usize, value: u32) {
        self.set(offset, value.into(), 4);
    }

    /// Device-side qword store.
    pub fn set_u64(&mut self, offset: usize, value: u64) {
        self.set(offset, value, 8);
    }

    /// Device-side copy of `bytes` to `offset`.
    pub fn set_bytes(&mut self, offset: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            if let Some(slot) = offset.checked_add(i).and_then(|o| self.data.get_mut(o)) {
                *slot = *b;
            }
        }
    }

    /// Makes the bits set in `mask` (`width` bytes at `offset`) guest-writable
    /// and every other bit there read-only.
    pub fn set_wmask(&mut self, offset: usize, mask: u64, width: usize) {
        Self::put(&mut self.wmask, offset, mask, width);
    }

    /// Byte write mask.
    pub fn set_wmask_u8(&mut self, offset: usize, mask: u8) {
        self.set_wmask(offset, mask.into(), 1);
    }

    /// Word write mask.
    pub fn set_wmask_u16(&mut self, offset: usize, mask: u16) {
        self.set_wmask(offset, mask.into(), 2);
    }

    /// Dword write mask.
    pub fn set_wmask_u32(&mut self, offset: usize, mask: u32) {
        self.set_wmask(offset, mask.into(), 4);
    }

    /// Makes the bits set in `mask` write-1-to-clear.
    pub fn set_w1c(&mut self, offset: usize, mask: u64, width: usize) {
        Self::put(&mut self.w1c, offset, mask, width);
    }

    /// Word RW1C mask.
    pub fn set_w1c_u16(&mut self, offset: usize, mask: u16) {
        self.set_w1c(offset, mask.into(), 2);
    }

    /// Dword RW1C mask.
    pub fn set_w1c_u32(&mut self, offset: usize, mask: u32) {
        self.set_w1c(offset, mask.into(), 4);
    }

    /// The write mask of `width` bytes at `offset` (0 past the end).
    pub fn wmask(&self, offset: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        for (i, slot) in b.iter_mut().take(width.min(8)).enumerate() {
            *slot = offset
                .checked_add(i)
                .and_then(|o| self.wmask.get(o))
                .copied()
                .unwrap_or(0);
        }
        u64::from_le_bytes(b)
    }

    /// The RW1C mask of `width` bytes at `offset` (0 past the end).
    pub fn w1c(&self, offset: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        for (i, slot) in b.iter_mut().take(width.min(8)).enumerate() {
            *slot = offset
                .checked_add(i)
                .and_then(|o| self.w1c.get(o))
                .copied()
                .unwrap_or(0);
        }
        u64::from_le_bytes(b)
    }

    /// Device-side copy of `other` (values and both masks) to `offset`.
    /// Returns false, copying nothing, if it does not fit.
    pub fn copy_from(&mut self, offset: usize, other: &RegisterBlock) -> bool {
        let Some(end) = offset.checked_add(other.len()) else {
            return false;
        };
        let (Some(d), Some(w), Some(c)) = (
            self.data.get_mut(offset..end),
            self.wmask.get_mut(offset..end),
            self.w1c.get_mut(offset..end),
        ) else {
            return false;
        };
        d.copy_from_slice(&other.data);
        w.copy_from_slice(&other.wmask);
        c.copy_from_slice(&other.w1c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_apply_per_bit() {
        let mut r = RegisterBlock::new(8);
        r.set_u32(0, 0xaaaa_5555);
        r.set_wmask_u32(0, 0x0000_ffff);
        r.set_w1c_u32(0, 0x00ff_0000);
        r.write(0, &0xffff_0000u32.to_le_bytes());
        // RW half zeroed, RW1C byte cleared, RO byte kept.
        assert_eq!(r.get_u32(0), 0xaa00_0000);
        r.set_u32(0, 0x00ff_0000);
        r.write(2, &[0x0f]);
        assert_eq!(r.get_u32(0), 0x00f0_0000);
    }

    #[test]
    fn out_of_range_is_safe() {
        let mut r = RegisterBlock::new(4);
        r.set_wmask_u32(0, u32::MAX);
        r.write(2, &[1, 2, 3, 4]);
        assert_eq!(r.get_u32(0), 0x0201_0000);
        assert_eq!(r.get_u32(2), 0xffff_0201);
        assert_eq!(r.get_u64(usize::MAX), u64::MAX);
        r.write(usize::MAX, &[1, 2]);
        r.set_u64(3, 0);
        assert_eq!(r.get_u32(0), 0x0001_0000);
        assert!(!r.copy_from(1, &RegisterBlock::new(4)));
        assert!(r.copy_from(0, &RegisterBlock::new(4)));
        assert_eq!(r.wmask(0, 4), 0);
    }
}
