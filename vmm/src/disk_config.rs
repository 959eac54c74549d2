//! `--disk path=IMG[,readonly=on][,id=ID]`: a virtio-blk device on a raw
//! image (a regular file or a block device).

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use crate::options::KeyValues;

/// Most disks (PCI0 device numbers 1..=30; 0 is the host bridge).
pub const MAX_DISKS: usize = 30;
/// Longest id (virtio 1.2, 5.2.6: VIRTIO_BLK_ID_BYTES).
pub const MAX_ID_LEN: usize = 20;

/// One checked `--disk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// The image.
    pub path: PathBuf,
    /// Read-only (VIRTIO_BLK_F_RO; opened O_RDONLY).
    pub readonly: bool,
    /// What VIRTIO_BLK_T_GET_ID answers (`/sys/block/vdX/serial`).
    pub id: String,
}

/// Parses the `index`th `--disk` value.
pub fn parse_disk(s: &str, index: usize) -> Result<DiskConfig, String> {
    let kv = KeyValues::parse("--disk", s, &["path", "readonly", "id"], Some("path"))?;
    let path = PathBuf::from(kv.required("path")?);
    let meta = std::fs::metadata(&path).map_err(|e| format!("--disk '{}': {e}", path.display()))?;
    let t = meta.file_type();
    if !t.is_file() && !t.is_block_device() {
        return Err(format!(
            "--disk '{}': not a regular file or a block device",
            path.display()
        ));
    }
    let id = kv
        .get("id")
        .map_or_else(|| format!("disk{index}"), str::to_string);
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "--disk: id '{id}' is longer than {MAX_ID_LEN} bytes"
        ));
    }
    Ok(DiskConfig {
        path,
        readonly: kv.bool("readonly")?.unwrap_or(false),
        id,
    })
}

/// Parses every `--disk` and checks them together (count, unique ids).
pub fn parse_disks(values: &[String]) -> Result<Vec<DiskConfig>, String> {
    if values.len() > MAX_DISKS {
        return Err(format!("--disk: at most {MAX_DISKS} disks"));
    }
    let disks = values
        .iter()
        .enumerate()
        .map(|(i, s)| parse_disk(s, i))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, d) in disks.iter().enumerate() {
        if disks[..i].iter().any(|o| o.id == d.id) {
            return Err(format!("--disk: id '{}' given twice", d.id));
        }
    }
    Ok(disks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> (tempdir::Dir, String) {
        let d = tempdir::Dir::new();
        let p = d.0.join("img");
        std::fs::write(&p, [0u8; 4096]).unwrap();
        let s = p.display().to_string();
        (d, s)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "cxlvmm-disk-cfg-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn good_values() {
        let (_d, img) = image();
        let c = parse_disk(&format!("path={img},readonly=on,id=root"), 0).unwrap();
        assert_eq!((c.readonly, c.id.as_str()), (true, "root"));
        let c = parse_disk(&img, 3).unwrap();
        assert_eq!((c.readonly, c.id.as_str()), (false, "disk3"));
        assert_eq!(c.path, PathBuf::from(&img));
        let both = parse_disks(&[img.clone(), format!("path={img},id=b")]).unwrap();
        assert_eq!(both[0].id, "disk0");
    }

    #[test]
    fn bad_values() {
        let (d, img) = image();
        let e = parse_disk("path=/nonexistent/img", 0).unwrap_err();
        assert!(e.contains("/nonexistent/img"), "{e}");
        let e = parse_disk(&d.0.display().to_string(), 0).unwrap_err();
        assert!(e.contains("not a regular file or a block device"), "{e}");
        let e = parse_disk(&format!("path={img},cache=none"), 0).unwrap_err();
        assert!(e.contains("unknown key 'cache'"), "{e}");
        assert!(parse_disk(&format!("path={img},readonly=maybe"), 0).is_err());
        assert!(parse_disk("readonly=on", 0)
            .unwrap_err()
            .contains("'path' is required"));
        let long = format!("path={img},id=abcdefghijklmnopqrstu");
        assert!(parse_disk(&long, 0).unwrap_err().contains("longer than 20"));
        let twice = parse_disks(&[format!("{img},id=a"), format!("{img},id=a")]);
        assert!(twice.unwrap_err().contains("given twice"));
        let many: Vec<String> = (0..31).map(|i| format!("{img},id=d{i}")).collect();
        assert!(parse_disks(&many).unwrap_err().contains("at most 30"));
    }
}
