//! Shared directories: `--fs tag=TAG,socket=PATH[,queue-size=N]` (a
//! virtio-fs device whose queues a running vhost-user-fs backend serves),
//! `--share DIR[,tag=TAG][,sandbox=namespace|chroot|none]` (cxlvmm starts
//! virtiofsd on DIR itself) and
//! `--virtiofsd PATH` (which virtiofsd).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use devices::virtio::fs::{check_queue_size, check_tag, DEFAULT_QUEUE_SIZE};

use crate::options::KeyValues;

/// The environment variable naming the virtiofsd binary.
pub const VIRTIOFSD_ENV: &str = "CXLVMM_VIRTIOFSD";
/// Where Debian's package installs virtiofsd (not on PATH).
pub const VIRTIOFSD_LIBEXEC: &str = "/usr/libexec/virtiofsd";

/// One checked `--fs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsConfig {
    /// The tag the guest mounts (`mount -t virtiofs TAG DIR`).
    pub tag: String,
    /// The backend's vhost-user socket.
    pub socket: PathBuf,
    /// Size of each queue.
    pub queue_size: u16,
}

/// How virtiofsd isolates itself (its `--sandbox`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sandbox {
    /// Mount, pid and network namespaces, pivot_root into the directory
    /// (needs root, and a root file system that is not the initramfs).
    Namespace,
    /// chroot into the directory (needs root).
    Chroot,
    /// None (any user).
    None,
}

impl Sandbox {
    /// Parses `namespace`, `chroot` or `none`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "namespace" => Ok(Self::Namespace),
            "chroot" => Ok(Self::Chroot),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "--share: sandbox '{s}': expected namespace, chroot or none"
            )),
        }
    }

    /// The value virtiofsd takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "namespace",
            Self::Chroot => "chroot",
            Self::None => "none",
        }
    }

    /// What fits this process: `none` when not root (namespaces and chroot
    /// need privileges), `chroot` when `/` is the initramfs (pivot_root
    /// cannot leave it), `namespace` otherwise.
    pub fn default_for(root: bool, on_initramfs: bool) -> Self {
        match (root, on_initramfs) {
            (false, _) => Self::None,
            (true, true) => Self::Chroot,
            (true, false) => Self::Namespace,
        }
    }
}

/// True when `/` is the kernel's initial rootfs (an initramfs never
/// switched away from), judging by the mount table `mounts` (the last
/// mount on `/` wins).
pub fn root_is_initramfs(mounts: &str) -> bool {
    mounts
        .lines()
        .rev()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (src, at) = (f.next()?, f.next()?);
            (at == "/").then_some(src)
        })
        .is_some_and(|src| src == "rootfs")
}

/// One checked `--share`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareConfig {
    /// The host directory.
    pub dir: PathBuf,
    /// The tag the guest mounts.
    pub tag: String,
    /// virtiofsd's sandbox.
    pub sandbox: Sandbox,
}

/// Every shared directory of the VM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FsSetup {
    /// `--fs`, in order.
    pub fs: Vec<FsConfig>,
    /// `--share`, in order (their devices follow the `--fs` ones).
    pub shares: Vec<ShareConfig>,
    /// The virtiofsd binary, found when there are shares.
    pub virtiofsd: Option<PathBuf>,
}

impl FsSetup {
    /// How many virtio-fs devices the VM gets.
    pub fn devices(&self) -> usize {
        self.fs.len() + self.shares.len()
    }

    /// True when there is a vhost-user backend (guest RAM must be shared).
    pub fn any(&self) -> bool {
        self.devices() > 0
    }
}

/// Parses one `--fs` value.
pub fn parse_fs(s: &str) -> Result<FsConfig, String> {
    let kv = KeyValues::parse("--fs", s, &["tag", "socket", "queue-size"], None)?;
    let tag = kv.required("tag")?.to_string();
    check_tag(&tag).map_err(|e| format!("--fs: {e}"))?;
    let socket = PathBuf::from(kv.required("socket")?);
    let meta =
        std::fs::metadata(&socket).map_err(|e| format!("--fs '{}': {e}", socket.display()))?;
    if !meta.file_type().is_socket() {
        return Err(format!("--fs '{}': not a unix socket", socket.display()));
    }
    let queue_size = match kv.int("queue-size")? {
        None => DEFAULT_QUEUE_SIZE,
        Some(n) => {
            let n = u16::try_from(n).map_err(|_| format!("--fs: queue size {n} is too large"))?;
            check_queue_size(n).map_err(|e| format!("--fs: {e}"))?;
            n
        }
    };
    Ok(FsConfig {
        tag,
        socket,
        queue_size,
    })
}

/// Parses the `index`th `--share` value (default tag `share`, then
/// `share1`, `share2`, ... by position).
pub fn parse_share(s: &str, index: usize) -> Result<ShareConfig, String> {
    let kv = KeyValues::parse("--share", s, &["dir", "tag", "sandbox"], Some("dir"))?;
    let dir = PathBuf::from(kv.required("dir")?);
    let meta = std::fs::metadata(&dir).map_err(|e| format!("--share '{}': {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("--share '{}': not a directory", dir.display()));
    }
    let tag = match kv.get("tag") {
        Some(t) => t.to_string(),
        None if index == 0 => "share".into(),
        None => format!("share{index}"),
    };
    check_tag(&tag).map_err(|e| format!("--share: {e}"))?;
    let sandbox = match kv.get("sandbox") {
        Some(v) => Sandbox::parse(v)?,
        None => {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
            Sandbox::default_for(root, root_is_initramfs(&mounts))
        }
    };
    Ok(ShareConfig { dir, tag, sandbox })
}

/// The virtiofsd to run: `--virtiofsd`, else `$CXLVMM_VIRTIOFSD`, else
/// `virtiofsd` on PATH, else Debian's `/usr/libexec/virtiofsd`.
pub fn find_virtiofsd(
    flag: Option<&Path>,
    env: Option<&str>,
    path_var: Option<&str>,
) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(p) = flag {
        return if executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(format!(
                "--virtiofsd '{}': not an executable file",
                p.display()
            ))
        };
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "{VIRTIOFSD_ENV}='{}': not an executable file",
                p.display()
            ))
        };
    }
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("virtiofsd"))
        .chain(std::iter::once(PathBuf::from(VIRTIOFSD_LIBEXEC)))
        .find(|p| executable(p));
    on_path.ok_or_else(|| {
        format!(
            "--share needs virtiofsd: none on PATH or at {VIRTIOFSD_LIBEXEC}; give --virtiofsd PATH or set {VIRTIOFSD_ENV} (scripts/fetch-virtiofsd.sh fetches Debian's)"
        )
    })
}

/// Parses every `--fs` and `--share` and checks them together: tags are
/// unique, and virtiofsd is found when there is a share.
pub fn parse_fs_setup(
    fs: &[String],
    shares: &[String],
    virtiofsd: Option<&Path>,
) -> Result<FsSetup, String> {
    let fs = fs
        .iter()
        .map(|s| parse_fs(s))
        .collect::<Result<Vec<_>, _>>()?;
    let shares = shares
        .iter()
        .enumerate()
        .map(|(i, s)| parse_share(s, i))
        .collect::<Result<Vec<_>, _>>()?;
    let tags: Vec<&str> = fs
        .iter()
        .map(|f| f.tag.as_str())
        .chain(shares.iter().map(|s| s.tag.as_str()))
        .collect();
    for (i, t) in tags.iter().enumerate() {
        if tags[..i].contains(t) {
            return Err(format!("--fs/--share: tag '{t}' given twice"));
        }
    }
    let virtiofsd = if shares.is_empty() {
        if let Some(p) = virtiofsd {
            return Err(format!(
                "--virtiofsd '{}': there is no --share to run it for",
                p.display()
            ));
        }
        None
    } else {
        let env = std::env::var(VIRTIOFSD_ENV).ok();
        let path = std::env::var("PATH").ok();
        Some(find_virtiofsd(virtiofsd, env.as_deref(), path.as_deref())?)
    };
    Ok(FsSetup {
        fs,
        shares,
        virtiofsd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    struct Dir(PathBuf);
    impl Dir {
        fn new() -> Self {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "cxlvmm-fs-cfg-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
        fn s(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn executable(d: &Dir, name: &str) -> PathBuf {
        let p = d.0.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn fs_values() {
        let d = Dir::new();
        let _l = UnixListener::bind(d.0.join("vfs.sock")).unwrap();
        let sock = d.s("vfs.sock");
        let c = parse_fs(&format!("tag=src,socket={sock}")).unwrap();
        assert_eq!((c.tag.as_str(), c.queue_size), ("src", DEFAULT_QUEUE_SIZE));
        assert_eq!(c.socket, PathBuf::from(&sock));
        let c = parse_fs(&format!("socket={sock},tag=t,queue-size=128")).unwrap();
        assert_eq!(c.queue_size, 128);
        // Refusals, each naming what is wrong.
        std::fs::write(d.0.join("file"), "").unwrap();
        for (v, want) in [
            (format!("socket={sock}"), "'tag' is required"),
            ("tag=a".to_string(), "'socket' is required"),
            (format!("tag=a,socket={}", d.s("none")), "No such file"),
            (format!("tag=a,socket={}", d.s("file")), "not a unix socket"),
            (
                format!("tag={},socket={sock}", "x".repeat(37)),
                "1 to 36 bytes",
            ),
            (
                format!("tag=a,socket={sock},queue-size=100"),
                "power of two",
            ),
            (format!("tag=a,socket={sock},queue-size=65536"), "too large"),
            (
                format!("tag=a,socket={sock},queue-size=big"),
                "not a number",
            ),
            (
                format!("tag=a,socket={sock},cache=auto"),
                "unknown key 'cache'",
            ),
        ] {
            let e = parse_fs(&v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
            assert!(e.starts_with("--fs"), "{e}");
        }
    }

    #[test]
    fn share_values_and_default_tags() {
        let d = Dir::new();
        let dir = d.0.display().to_string();
        let bin = executable(&d, "virtiofsd");
        let s = parse_fs_setup(
            &[],
            &[dir.clone(), format!("{dir},tag=src"), format!("dir={dir}")],
            Some(&bin),
        )
        .unwrap();
        let tags: Vec<&str> = s.shares.iter().map(|s| s.tag.as_str()).collect();
        assert_eq!(tags, ["share", "src", "share2"]);
        assert_eq!(s.virtiofsd.as_deref(), Some(bin.as_path()));
        assert_eq!(s.devices(), 3);
        std::fs::write(d.0.join("file"), "").unwrap();
        let e = parse_share(&d.s("file"), 0).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
        let e = parse_share(&d.s("missing"), 0).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        let s = parse_share(&format!("{dir},sandbox=chroot"), 0).unwrap();
        assert_eq!(s.sandbox, Sandbox::Chroot);
        let e = parse_share(&format!("{dir},sandbox=jail"), 0).unwrap_err();
        assert!(e.contains("namespace, chroot or none"), "{e}");
        // Tags are unique across --fs and --share.
        let _l = UnixListener::bind(d.0.join("s")).unwrap();
        let e = parse_fs_setup(
            &[format!("tag=share,socket={}", d.s("s"))],
            std::slice::from_ref(&dir),
            Some(&bin),
        )
        .unwrap_err();
        assert!(e.contains("tag 'share' given twice"), "{e}");
        // --virtiofsd without a share is a mistake.
        let e = parse_fs_setup(&[], &[], Some(&bin)).unwrap_err();
        assert!(e.contains("no --share"), "{e}");
    }

    #[test]
    fn sandbox_defaults() {
        assert_eq!(Sandbox::default_for(false, false), Sandbox::None);
        assert_eq!(Sandbox::default_for(false, true), Sandbox::None);
        assert_eq!(Sandbox::default_for(true, true), Sandbox::Chroot);
        assert_eq!(Sandbox::default_for(true, false), Sandbox::Namespace);
        // An initramfs that is still /, and one switched away from.
        let initramfs = "rootfs / rootfs rw,size=2009000k 0 0\nproc /proc proc rw 0 0\n";
        assert!(root_is_initramfs(initramfs));
        let switched = "rootfs / rootfs rw 0 0\n/dev/vda / ext4 rw 0 0\n";
        assert!(!root_is_initramfs(switched));
        assert!(!root_is_initramfs("/dev/sda1 / ext4 rw 0 0\n"));
        assert!(!root_is_initramfs(""));
    }

    #[test]
    fn virtiofsd_lookup_order() {
        let d = Dir::new();
        let a = executable(&d, "a");
        let on_path = Dir::new();
        let found = executable(&on_path, "virtiofsd");
        let path = on_path.0.display().to_string();
        // The flag wins, then the environment, then PATH.
        assert_eq!(
            find_virtiofsd(Some(&a), Some("/x"), Some(&path)).unwrap(),
            a
        );
        let a_s = a.display().to_string();
        assert_eq!(find_virtiofsd(None, Some(&a_s), Some(&path)).unwrap(), a);
        assert_eq!(find_virtiofsd(None, None, Some(&path)).unwrap(), found);
        // Not executable, or missing: one line saying which.
        std::fs::write(d.0.join("plain"), "").unwrap();
        let e = find_virtiofsd(Some(&d.0.join("plain")), None, None).unwrap_err();
        assert!(
            e.contains("--virtiofsd") && e.contains("not an executable"),
            "{e}"
        );
        let e = find_virtiofsd(None, Some("/nonexistent/vfsd"), None).unwrap_err();
        assert!(e.contains(VIRTIOFSD_ENV), "{e}");
        if !Path::new(VIRTIOFSD_LIBEXEC).exists() {
            let e = find_virtiofsd(None, None, Some(&d.0.display().to_string())).unwrap_err();
            assert!(e.contains("fetch-virtiofsd.sh"), "{e}");
        }
    }
}
