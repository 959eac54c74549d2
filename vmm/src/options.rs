//! `key=value,key=value` option strings, as the topology flags take them.

use std::collections::BTreeMap;

use crate::size::parse_size;

/// Parsed `key=value` pairs of one flag, checked against the keys it allows.
#[derive(Debug)]
pub struct KeyValues {
    flag: &'static str,
    values: BTreeMap<String, String>,
}

impl KeyValues {
    /// Parses `s` for `flag`; every key must be in `allowed`, none repeated.
    /// A leading bare value (no `=`) is stored under `positional`, if given.
    pub fn parse(
        flag: &'static str,
        s: &str,
        allowed: &[&str],
        positional: Option<&str>,
    ) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        for (i, part) in s.split(',').enumerate() {
            let (k, v) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None => match positional {
                    Some(p) if i == 0 => (p, part.trim()),
                    _ => return Err(format!("{flag}: '{part}' is not key=value")),
                },
            };
            if !allowed.contains(&k) {
                return Err(format!(
                    "{flag}: unknown key '{k}' (expected one of: {})",
                    allowed.join(", ")
                ));
            }
            if v.is_empty() {
                return Err(format!("{flag}: '{k}' has no value"));
            }
            if values.insert(k.to_string(), v.to_string()).is_some() {
                return Err(format!("{flag}: '{k}' given twice"));
            }
        }
        Ok(Self { flag, values })
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The value of `key`, which must be given.
    pub fn required(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("{}: '{key}' is required", self.flag))
    }

    /// A size (`256M`, `1G`, bytes).
    pub fn size(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key)
            .map(|v| parse_size(v).map_err(|e| format!("{}: {key}: {e}", self.flag)))
            .transpose()
    }

    /// An integer, decimal or 0x-hex.
    pub fn int(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key)
            .map(|v| {
                let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(h) => u64::from_str_radix(h, 16),
                    None => v.parse(),
                };
                r.map_err(|_| format!("{}: {key}: '{v}' is not a number", self.flag))
            })
            .transpose()
    }

    /// `on`/`off` (also `true`/`false`, `yes`/`no`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        self.get(key)
            .map(|v| match v {
                "on" | "true" | "yes" => Ok(true),
                "off" | "false" | "no" => Ok(false),
                _ => Err(format!("{}: {key}: '{v}' is not on or off", self.flag)),
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_types_values() {
        let kv = KeyValues::parse(
            "--x",
            "id=a,size=256M,n=0x10,share=on",
            &["id", "size", "n", "share"],
            None,
        )
        .unwrap();
        assert_eq!(kv.get("id"), Some("a"));
        assert_eq!(kv.size("size").unwrap(), Some(256 << 20));
        assert_eq!(kv.int("n").unwrap(), Some(16));
        assert_eq!(kv.bool("share").unwrap(), Some(true));
        assert_eq!(kv.get("missing"), None);
        assert!(kv
            .required("missing")
            .unwrap_err()
            .contains("'missing' is required"));
    }

    #[test]
    fn positional_first_value() {
        let kv =
            KeyValues::parse("--cxl", "1G,serial=5", &["size", "serial"], Some("size")).unwrap();
        assert_eq!(kv.size("size").unwrap(), Some(1 << 30));
        assert!(KeyValues::parse("--cxl", "a=1,1G", &["a", "size"], Some("size")).is_err());
    }

    #[test]
    fn errors_are_clear() {
        let e = KeyValues::parse("--x", "bogus=1", &["id"], None).unwrap_err();
        assert!(e.contains("unknown key 'bogus'"), "{e}");
        assert!(KeyValues::parse("--x", "id=a,id=b", &["id"], None).is_err());
        assert!(KeyValues::parse("--x", "id=", &["id"], None).is_err());
        assert!(KeyValues::parse("--x", "id", &["id"], None).is_err());
        let kv = KeyValues::parse("--x", "n=abc,s=huge,b=maybe", &["n", "s", "b"], None).unwrap();
        assert!(kv.int("n").is_err());
        assert!(kv.size("s").is_err());
        assert!(kv.bool("b").is_err());
    }
}
