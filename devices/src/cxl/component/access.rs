//! Splitting guest accesses of any width and alignment into dword accesses.
//!
//! Register models here are dword based. A guest access of `len` bytes at
//! `offset` touches one or more aligned dwords; each is read whole, or written
//! with a *bit* mask saying which bytes the guest actually wrote, so RW fields
//! merge (`old & !mask | new & mask`) and RW1C fields only clear the bits in
//! written bytes.

/// Reads `data.len()` bytes at `offset` through `read32(aligned_offset)`.
/// Never panics; offsets that would wrap read as zero.
pub(crate) fn read_bytes(offset: u64, data: &mut [u8], mut read32: impl FnMut(u64) -> u32) {
    let mut cached: Option<(u64, [u8; 4])> = None;
    for (i, out) in data.iter_mut().enumerate() {
        let Some(addr) = offset.checked_add(i as u64) else {
            *out = 0;
            continue;
        };
        let dword = addr & !3;
        let bytes = match cached {
            Some((d, b)) if d == dword => b,
            _ => {
                let b = read32(dword).to_le_bytes();
                cached = Some((dword, b));
                b
            }
        };
        *out = bytes.get((addr & 3) as usize).copied().unwrap_or(0);
    }
}

/// Writes `data` at `offset` as a series of `write32(aligned_offset, value,
/// bit_mask)` calls, one per touched dword, in ascending order. Bytes not
/// written by the guest are zero in `value` and clear in `bit_mask`.
pub(crate) fn write_bytes(offset: u64, data: &[u8], mut write32: impl FnMut(u64, u32, u32)) {
    let mut current: Option<(u64, u32, u32)> = None;
    for (i, &byte) in data.iter().enumerate() {
        let Some(addr) = offset.checked_add(i as u64) else {
            break;
        };
        let dword = addr & !3;
        let shift = (addr & 3) * 8;
        match current {
            Some((d, ref mut value, ref mut mask)) if d == dword => {
                *value |= u32::from(byte) << shift;
                *mask |= 0xff << shift;
            }
            _ => {
                if let Some((d, value, mask)) = current.take() {
                    write32(d, value, mask);
                }
                current = Some((dword, u32::from(byte) << shift, 0xff << shift));
            }
        }
    }
    if let Some((d, value, mask)) = current {
        write32(d, value, mask);
    }
}

/// Merges a masked write into a register: bits in `writable & mask` take the
/// new value, all others keep `old`.
pub(crate) fn merge(old: u32, value: u32, mask: u32, writable: u32) -> u32 {
    let m = mask & writable;
    (old & !m) | (value & m)
}

/// Applies a write to an RW1C register: bits set in `value & mask & w1c` clear.
pub(crate) fn write_one_to_clear(old: u32, value: u32, mask: u32, w1c: u32) -> u32 {
    old & !(value & mask & w1c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_assemble_bytes_across_dwords() {
        let regs = |off: u64| (off as u32) << 8 | 0x11;
        let mut buf = [0u8; 6];
        read_bytes(2, &mut buf, regs);
        // dword 0 = 0x00000011, dword 4 = 0x00000411
        assert_eq!(buf, [0, 0, 0x11, 0x04, 0, 0]);
        let mut edge = [0xaau8; 4];
        read_bytes(u64::MAX - 1, &mut edge, |_| 0xffff_ffff);
        assert_eq!(edge, [0xff, 0xff, 0, 0]);
    }

    #[test]
    fn writes_split_with_byte_masks() {
        let mut calls = Vec::new();
        write_bytes(3, &[1, 2, 3], |o, v, m| calls.push((o, v, m)));
        assert_eq!(
            calls,
            vec![(0, 0x0100_0000, 0xff00_0000), (4, 0x0000_0302, 0x0000_ffff)]
        );
        calls.clear();
        write_bytes(u64::MAX, &[1, 2], |o, v, m| calls.push((o, v, m)));
        assert_eq!(calls, vec![(!3, 0x0100_0000, 0xff00_0000)]);
    }

    #[test]
    fn merge_and_w1c() {
        assert_eq!(
            merge(0xffff_0000, 0x1234_5678, 0x0000_ffff, 0x0000_0ff0),
            0xffff_0670
        );
        assert_eq!(write_one_to_clear(0b1111, 0b0101, 0xff, 0b0111), 0b1010);
    }
}
