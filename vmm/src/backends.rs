//! The VM's host memory backends by id, created at start-up from the command
//! line or at run time through the API.
//!
//! A backend is in use while anything besides this registry holds it: a
//! device partition, a Dynamic Capacity extent (pending, accepted or release
//! pending), or a memslot. When the last of those lets go, it is free again.
//!
//! One file backs at most one backend (two would alias one memory under
//! two extents): a file is known by its device and inode, whatever path or
//! symlink names it. Deleting a backend removes the file it created; a file
//! that existed before is left as it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use devices::memory::{BackendConfig, BackendKind, FileId, HostMemory};
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
        if let (BackendKind::File, Some(path)) = (config.kind, &config.path) {
            let id = FileId::of_path(path);
            if let Some(other) = map.values().find(|b| id.is_some() && b.file_id() == id) {
                return Err(RegistryError::Conflict(format!(
                    "{} is already the file of memory backend '{}'",
                    path.display(),
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
        if let Some(b) = map.remove(id) {
            if let Err(e) = b.remove_created_file() {
                log::warn!("memory backend '{id}': removing its file: {e}");
            }
        }
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
            path: None,
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

    fn file_cfg(id: &str, path: &std::path::Path) -> BackendConfig {
        BackendConfig {
            kind: BackendKind::File,
            path: Some(path.to_path_buf()),
            ..cfg(id, None)
        }
    }

    #[test]
    fn one_file_backs_one_backend() {
        let dir = std::env::temp_dir().join(format!("cxlvmm-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let r = BackendRegistry::default();
        r.create(file_cfg("a", &path)).unwrap();
        for other in [&path, &link, &dir.join(".").join("m")] {
            let err = r.create(file_cfg("b", other)).unwrap_err();
            assert!(
                matches!(&err, RegistryError::Conflict(m) if m.contains("memory backend 'a'")),
                "{err:?}"
            );
        }
        // Deleting the backend removes the file it created; then the path
        // is free for a new backend.
        r.remove("a").unwrap();
        assert!(!path.exists());
        // A dangling symlink does not create its target (O_EXCL).
        assert!(matches!(
            r.create(file_cfg("b", &link)),
            Err(RegistryError::Invalid(_))
        ));
        assert!(!path.exists());
        std::fs::write(&path, []).unwrap();
        r.create(file_cfg("b", &link)).unwrap();
        r.remove("b").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 << 20);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn deleting_leaves_a_file_that_existed() {
        let dir = std::env::temp_dir().join(format!("cxlvmm-registry-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old");
        std::fs::write(&path, vec![4u8; 2 << 20]).unwrap();
        let r = BackendRegistry::default();
        r.create(file_cfg("a", &path)).unwrap();
        r.remove("a").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![4u8; 2 << 20]);
        std::fs::remove_dir_all(&dir).unwrap();
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
