//! Host memory backends (QMP `object-add memory-backend-{memfd,file}`),
//! which the VMM binds to Dynamic Capacity extents by tag.
//!
//! A backend's document is the device model's own `BackendConfig`; this
//! module adds what the API reports with it and the checks a request
//! passes before it reaches the VMM.

use serde::{Deserialize, Serialize};

pub use devices::memory::{BackendConfig, BackendKind};

use super::dc::ExtentRef;
use super::validate::{validate_id, Validate};

/// What can be checked without the VMM's state: the id, a size, and a path
/// that goes with the kind and is absolute (the VMM's working directory
/// means nothing to a client).
impl Validate for BackendConfig {
    fn validate(&self) -> Result<(), String> {
        validate_id("backend", &self.id)?;
        if self.size == 0 {
            return Err("size must not be zero".into());
        }
        self.check_path()?;
        match &self.path {
            Some(p) if !p.is_absolute() => Err(format!("path '{}' must be absolute", p.display())),
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

/// One entry of `GET /memory-backends` (and the answer to its `POST`): the
/// backend's configuration and what it backs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MemoryBackendInfo {
    #[serde(flatten)]
    pub config: BackendConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_to: Option<BoundTo>,
}

impl From<BackendConfig> for MemoryBackendInfo {
    /// A freshly created, unbound backend.
    fn from(config: BackendConfig) -> Self {
        MemoryBackendInfo {
            config,
            bound_to: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<BackendConfig, serde_json::Error> {
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
        let v = serde_json::to_string(&i).unwrap();
        assert_eq!(
            v,
            r#"{"id":"m0","kind":"memfd","size":4096,"share":true,"prealloc":false}"#
        );
        // Clients tolerate fields a newer VMM adds.
        let i: MemoryBackendInfo = serde_json::from_str(
            r#"{"id":"m0","kind":"memfd","size":4096,"share":true,"prealloc":false,"colour":1}"#,
        )
        .unwrap();
        assert_eq!(i.config.id, "m0");
    }
}
