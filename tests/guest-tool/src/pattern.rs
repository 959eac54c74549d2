//! The test pattern: the 64-bit word at region offset `off` is
//! `seed ^ off ^ 0x5a5a_5a5a_0000_0000`, so any word found anywhere tells
//! where it was meant to be.

/// The word at region offset `off` (8-byte aligned) for `seed`.
pub fn word(seed: u64, off: u64) -> u64 {
    seed ^ off ^ 0x5a5a_5a5a_0000_0000
}

/// Parses a seed given as decimal or 0x-hex.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("'{s}' is not a number"))
}

/// Where region offset `off` lands for `ways`-way modulo interleave of
/// `granularity` bytes: (device position, device offset).
pub fn interleave(off: u64, ways: u64, granularity: u64) -> (u64, u64) {
    let chunk = off / granularity;
    (
        chunk % ways,
        (chunk / ways) * granularity + off % granularity,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_math() {
        assert_eq!(interleave(0, 2, 256), (0, 0));
        assert_eq!(interleave(256, 2, 256), (1, 0));
        assert_eq!(interleave(512 + 8, 2, 256), (0, 264));
        assert_eq!(interleave(4095, 1, 4096), (0, 4095));
    }

    #[test]
    fn words_differ_by_offset() {
        assert_ne!(word(1, 0), word(1, 8));
        assert_eq!(word(7, 16) ^ word(7, 24), 16 ^ 24);
    }
}
