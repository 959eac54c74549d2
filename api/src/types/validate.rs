//! The checks a request document passes when it is parsed, before it
//! reaches the VMM: object ids here, the documents' own in `backend.rs`
//! and `dc.rs`.

/// The checks a request document passes when it is parsed, before it
/// reaches the VMM (the domain checks the rest, against its state).
pub trait Validate {
    /// One clear message for the first thing wrong.
    fn validate(&self) -> Result<(), String>;
}

/// Longest object id (backend or device) the API accepts.
pub const MAX_ID_LEN: usize = 64;

/// Checks an object id the way QEMU checks QOM ids: a letter first, then
/// letters, digits, `-`, `.` or `_`.
pub fn validate_id(what: &str, id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !first_ok || !rest_ok || id.len() > MAX_ID_LEN {
        return Err(format!(
            "invalid {what} id '{id}': expected a letter followed by letters, digits, '-', '.' or '_' (at most {MAX_ID_LEN})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["mem0", "cxl-mem0", "a.b_c-1", "X"] {
            assert_eq!(validate_id("backend", ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in ["", "0mem", "-a", "a/b", "a b", "mém", long.as_str()] {
            assert!(validate_id("backend", bad).is_err(), "{bad}");
        }
    }
}
