//! The VM's host memory backends by id, created at start-up from the command
//! line or at run time through the API.
//!
//! A backend is in use while anything besides this registry holds it: a
//! device partition, a Dynamic Capacity extent (pending, accepted or release
//! pending), or a memslot. When the last of those lets go, it is free again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use devices::memory::{BackendConfig, HostMemory};
use uuid::Uuid;

/// Why a registry operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// No backend with that id or tag.
    NotFound(String),
    /// Id or tag taken, or the backend is in use.
    Conflict(String),
    /// The backend could not be created.
    Invalid(String),
}

/// Backends by id.
#[derive(Default)]
pub struct BackendRegistry {
    map: Mutex<BTreeMap<String, Arc<HostMemory>>>,
}

impl BackendRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<HostMemory>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a backend; id and tag must be new.
    pub fn create(&self, config: BackendConfig) -> Result<Arc<HostMemory>, RegistryError> {
        let mut map = self.lock();
        if map.contains_key(&config.id) {
            return Err(RegistryError::Conflict(format!(
                "memory backend '{}' already exists",
                config.id
            )));
        }
        if let Some(tag) = config.tag {
            if let Some(other) = map.values().find(|b| b.tag() == Some(tag)) {
                return Err(RegistryError::Conflict(format!(
                    "tag {tag} is already used by memory backend '{}'",
                    other.id()
                )));
            }
        }
        let mem =
            Arc::new(HostMemory::new(config).map_err(|e| RegistryError::Invalid(e.to_string()))?);
        map.insert(mem.id().to_string(), mem.clone());
        Ok(mem)
    }

    /// The backend `id`.
    pub fn get(&self, id: &str) -> Option<Arc<HostMemory>> {
        self.lock().get(id).cloned()
    }

    /// The backend tagged `tag`.
    pub fn by_tag(&self, tag: Uuid) -> Option<Arc<HostMemory>> {
        self.lock().values().find(|b| b.tag() == Some(tag)).cloned()
    }

    /// Every backend, by id.
    pub fn list(&self) -> Vec<Arc<HostMemory>> {
        self.lock().values().cloned().collect()
    }

    /// True if something besides the registry (and `held` references the
    /// caller holds itself) keeps `backend`.
    pub fn in_use(backend: &Arc<HostMemory>, held: usize) -> bool {
        Arc::strong_count(backend) > 1 + held
    }

    /// Deletes backend `id` if nothing uses it.
    pub fn remove(&self, id: &str) -> Result<(), RegistryError> {
        let mut map = self.lock();
        let b = map
            .get(id)
            .ok_or_else(|| RegistryError::NotFound(format!("no memory backend '{id}'")))?;
        if Self::in_use(b, 0) {
            return Err(RegistryError::Conflict(format!(
                "memory backend '{id}' is in use"
            )));
        }
        map.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::memory::BackendKind;

    fn cfg(id: &str, tag: Option<&str>) -> BackendConfig {
        BackendConfig {
            id: id.into(),
            kind: BackendKind::Memfd,
            size: 2 << 20,
            share: true,
            prealloc: false,
            tag: tag.map(|t| Uuid::parse_str(t).unwrap()),
        }
    }

    const T: &str = "5be13bce-ae34-4a77-b6c3-16df975fcf1a";

    #[test]
    fn ids_and_tags_unique() {
        let r = BackendRegistry::default();
        r.create(cfg("a", Some(T))).unwrap();
        assert!(matches!(
            r.create(cfg("a", None)),
            Err(RegistryError::Conflict(_))
        ));
        assert!(matches!(
            r.create(cfg("b", Some(T))),
            Err(RegistryError::Conflict(_))
        ));
        assert_eq!(r.by_tag(Uuid::parse_str(T).unwrap()).unwrap().id(), "a");
        let mut bad = cfg("c", None);
        bad.size = 3;
        assert!(matches!(r.create(bad), Err(RegistryError::Invalid(_))));
        assert_eq!(r.list().len(), 1);
    }

    #[test]
    fn in_use_backends_cannot_be_removed() {
        let r = BackendRegistry::default();
        let held = r.create(cfg("a", None)).unwrap();
        assert!(matches!(r.remove("a"), Err(RegistryError::Conflict(_))));
        drop(held);
        r.remove("a").unwrap();
        assert!(matches!(r.remove("a"), Err(RegistryError::NotFound(_))));
    }
}
