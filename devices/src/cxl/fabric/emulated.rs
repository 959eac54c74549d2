//! The trapped path: every guest access to a window that no memslot covers
//! exits to the window's MMIO device and is routed here, access by access.

use super::CxlMemoryPath;

impl CxlMemoryPath {
    /// Emulated read at `hpa` (the window's MMIO exit).
    pub fn read(&self, hpa: u64, data: &mut [u8]) {
        let mut s = self.lock();
        let mut done = 0;
        while done < data.len() {
            let Some(addr) = hpa.checked_add(done as u64) else {
                data[done..].fill(0xff);
                break;
            };
            // Granularity is at least 256 bytes: a piece never crosses a
            // 256-byte boundary, so it stays on one device.
            let n = chunk(addr, data.len() - done);
            let piece = &mut data[done..done + n];
            let hit = s
                .route(addr)
                .and_then(|(r, _, _)| s.backing(r.endpoint, r.dpa))
                .map(|(m, off)| (m.backend.clone(), off, m.len - (off - m.offset)));
            match hit {
                Some((backend, off, left)) if left >= n as u64 => {
                    if backend.read(off, piece).is_err() {
                        piece.fill(0xff);
                    }
                    s.stats.emulated += 1;
                }
                _ => {
                    piece.fill(0xff);
                    s.stats.unrouted += 1;
                }
            }
            done += n;
        }
    }

    /// Emulated write at `hpa`.
    pub fn write(&self, hpa: u64, data: &[u8]) {
        let mut s = self.lock();
        let mut done = 0;
        while done < data.len() {
            let Some(addr) = hpa.checked_add(done as u64) else {
                break;
            };
            let n = chunk(addr, data.len() - done);
            let piece = &data[done..done + n];
            let hit = s
                .route(addr)
                .and_then(|(r, _, _)| s.backing(r.endpoint, r.dpa))
                .map(|(m, off)| (m.backend.clone(), off, m.len - (off - m.offset)));
            match hit {
                Some((backend, off, left)) if left >= n as u64 => {
                    let _ = backend.write(off, piece);
                    s.stats.emulated += 1;
                }
                _ => s.stats.unrouted += 1,
            }
            done += n;
        }
    }
}

/// How many bytes from `addr` stay within its 256-byte chunk (at most `left`).
fn chunk(addr: u64, left: usize) -> usize {
    let room = 256 - (addr % 256) as usize;
    room.min(left)
}
