//! Size strings on the command line: `4096`, `64K`, `512M`, `2G`, `1T`.

/// Parses a byte count with an optional binary suffix (K, M, G, T; an
/// optional trailing `B` or `iB` is accepted). A bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let err =
        || format!("invalid size '{s}': expected a number with an optional K, M, G or T suffix");
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(err()),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
    }

    #[test]
    fn bad_sizes() {
        for s in [
            "",
            "M",
            "12Q",
            "-1M",
            "1.5G",
            "abc",
            "1 G x",
            "99999999999T",
        ] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }
}
