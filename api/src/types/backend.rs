//! Host memory backends (QMP `object-add memory-backend-{memfd,file}`),
//! which the VMM binds to Dynamic Capacity extents by tag.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{default_true, is_false, validate_id, ExtentRef};

/// Where a backend's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Anonymous `memfd_create` memory; no path.
    Memfd,
    /// A file at `path`.
    File,
    /// A file created in the hugetlbfs mount directory `path`.
    Hugetlbfs,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Memfd => "memfd",
            BackendKind::File => "file",
            BackendKind::Hugetlbfs => "hugetlbfs",
        }
    }
}

/// `POST /memory-backends`: a backend to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MemoryBackendConfig {
    pub id: String,
    pub kind: BackendKind,
    /// The file (`file`) or the hugetlbfs mount directory (`hugetlbfs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Size in bytes.
    pub size: u64,
    /// Map shared (`MAP_SHARED`) rather than private.
    #[serde(default = "default_true")]
    pub share: bool,
    /// Populate the memory at creation.
    #[serde(default, skip_serializing_if = "is_false")]
    pub prealloc: bool,
    /// The tag that Dynamic Capacity extents name to use this backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
}

impl MemoryBackendConfig {
    /// Checks what can be checked without the VMM's state.
    pub fn validate(&self) -> Result<(), String> {
        validate_id("backend", &self.id)?;
        if self.size == 0 {
            return Err("size must not be zero".into());
        }
        match (self.kind, &self.path) {
            (BackendKind::Memfd, Some(_)) => Err("a memfd backend takes no path".into()),
            (BackendKind::File | BackendKind::Hugetlbfs, None) => {
                Err(format!("a {} backend needs a path", self.kind.as_str()))
            }
            (_, Some(p)) if !p.is_absolute() => {
                Err(format!("path '{}' must be absolute", p.display()))
            }
            _ => Ok(()),
        }
    }
}

/// The extent a backend is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BoundTo {
    /// The CXL device's id.
    pub device: String,
    pub extent: ExtentRef,
}

/// One entry of `GET /memory-backends` (and the answer to its `POST`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MemoryBackendInfo {
    pub id: String,
    pub kind: BackendKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub size: u64,
    pub share: bool,
    pub prealloc: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_to: Option<BoundTo>,
}

impl From<MemoryBackendConfig> for MemoryBackendInfo {
    /// A freshly created, unbound backend.
    fn from(c: MemoryBackendConfig) -> Self {
        MemoryBackendInfo {
            id: c.id,
            kind: c.kind,
            path: c.path,
            size: c.size,
            share: c.share,
            prealloc: c.prealloc,
            tag: c.tag,
            bound_to: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MemoryBackendConfig, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn defaults_and_names() {
        let c = parse(r#"{"id":"m0","kind":"memfd","size":4096}"#).unwrap();
        assert!(c.share && !c.prealloc && c.tag.is_none() && c.path.is_none());
        assert_eq!(c.validate(), Ok(()));
        let c = parse(
            r#"{"id":"h","kind":"hugetlbfs","path":"/dev/hugepages","size":2097152,
                "share":false,"prealloc":true,"tag":"5be1e4d0-3f2a-4c5e-9b1d-0a1b2c3d4e5f"}"#,
        )
        .unwrap();
        assert!(!c.share && c.prealloc && c.tag.is_some());
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn refusals() {
        assert!(parse(r#"{"id":"m","kind":"memfd","size":1,"colour":1}"#).is_err());
        assert!(parse(r#"{"id":"m","kind":"ram","size":1}"#).is_err());
        assert!(parse(r#"{"id":"m","kind":"memfd","size":"1G"}"#).is_err());
        assert!(parse(r#"{"id":"m","kind":"memfd","size":1,"tag":"nope"}"#).is_err());
        assert!(parse(r#"{"id":"m","kind":"memfd"}"#).is_err());
        let bad = [
            r#"{"id":"m","kind":"memfd","size":0}"#,
            r#"{"id":"m","kind":"memfd","size":1,"path":"/x"}"#,
            r#"{"id":"m","kind":"file","size":1}"#,
            r#"{"id":"m","kind":"file","size":1,"path":"rel"}"#,
            r#"{"id":"1m","kind":"memfd","size":1}"#,
        ];
        for s in bad {
            assert!(parse(s).unwrap().validate().is_err(), "{s}");
        }
    }

    #[test]
    fn info_from_config() {
        let c = parse(r#"{"id":"m0","kind":"memfd","size":4096}"#).unwrap();
        let i = MemoryBackendInfo::from(c);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"m0","kind":"memfd","size":4096,"share":true,"prealloc":false})
        );
    }
}
