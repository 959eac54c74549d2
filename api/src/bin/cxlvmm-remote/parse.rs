//! Sizes and extents on the command line.

use api::RequestedExtent;

/// A byte count: decimal or `0x` hex, with an optional K, M, G or T
/// (binary) suffix.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let err =
        || format!("invalid size '{s}': expected a number with an optional K, M, G or T suffix");
    let t = s.trim();
    let (num, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n = match num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None if num.bytes().all(|b| b.is_ascii_digit()) => num.parse(),
        None => return Err(err()),
    }
    .map_err(|_| err())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// `OFFSET:LEN`, both sizes.
pub fn parse_extent(s: &str) -> Result<RequestedExtent, String> {
    let (offset, len) = s
        .split_once(':')
        .ok_or_else(|| format!("invalid extent '{s}': expected OFFSET:LEN"))?;
    Ok(RequestedExtent {
        offset: parse_size(offset)?,
        len: parse_size(len)?,
    })
}
