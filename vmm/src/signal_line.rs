//! A message line built in place for a signal handler: no allocation, no
//! locks, only a fixed buffer (what does not fit is cut), so the SIGBUS and
//! SIGSYS handlers can format their one line and write(2) it.

/// A line assembled on the stack.
pub struct Line {
    buf: [u8; 320],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            buf: [0; 320],
            len: 0,
        }
    }

    /// Appends `bytes` (as much as fits).
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    /// Appends `v` in hexadecimal with a `0x` prefix.
    pub fn hex(&mut self, v: u64) -> &mut Self {
        self.push(b"0x");
        let digits = b"0123456789abcdef";
        let mut started = false;
        for shift in (0..16).rev() {
            let d = ((v >> (shift * 4)) & 0xf) as usize;
            if d != 0 || started || shift == 0 {
                started = true;
                self.push(&digits[d..=d]);
            }
        }
        self
    }

    /// Appends `v` in decimal.
    pub fn dec(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.push(b"-");
        }
        let mut u = v.unsigned_abs();
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 || i == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// The line so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes the line to stderr (async-signal-safe; a failed write is
    /// ignored: there is nothing useful left to do with it).
    pub fn write_stderr(&self) {
        // SAFETY: write(2) on fd 2 from a buffer this line owns.
        unsafe { libc::write(libc::STDERR_FILENO, self.buf.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_cut() {
        let mut l = Line::new();
        l.hex(0)
            .push(b" ")
            .hex(0x7f00_0000_2010)
            .push(b" ")
            .dec(-42)
            .push(b" ")
            .dec(i64::MIN);
        assert_eq!(l.bytes(), b"0x0 0x7f0000002010 -42 -9223372036854775808");
        let mut long = Line::new();
        for _ in 0..100 {
            long.push(b"0123456789");
        }
        assert_eq!(long.bytes().len(), 320);
    }
}
