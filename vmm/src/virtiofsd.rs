//! `--share DIR`: cxlvmm runs virtiofsd on DIR itself, at start-up before
//! any other thread or seccomp filter exists, and serves the share as an
//! `--fs` device on virtiofsd's socket.
//!
//! Each virtiofsd gets a private directory (mode 0700, under `$TMPDIR` or
//! /tmp) holding its socket, its pid file and its log (standard error; only
//! errors are logged). It runs in a process group of its own (a Ctrl-C at the
//! terminal is cxlvmm's to handle) and gets SIGTERM if cxlvmm dies
//! (PR_SET_PDEATHSIG). Sandbox: as the share says (see
//! [`crate::fs_config::Sandbox`]: by default `namespace` as root, `chroot`
//! as root on an initramfs, `none` as another user).
//!
//! At exit, after the devices are gone (virtiofsd then sees its frontend
//! leave and ends by itself), each virtiofsd gets SIGTERM, then SIGKILL if it
//! has not ended within [`STOP_GRACE`]; what it logged is passed on as
//! warnings, and its directory is removed.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fs_config::{FsConfig, FsSetup, ShareConfig};

/// How long virtiofsd may take to create its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long it may take to end after SIGTERM.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// File names in the private directory.
const SOCKET: &str = "virtiofsd.sock";
const LOG: &str = "virtiofsd.log";

/// A running virtiofsd serving one share.
pub struct Virtiofsd {
    child: Child,
    dir: PathBuf,
    log: File,
    share: ShareConfig,
    /// Pass what it logged on as warnings when it is stopped (not when its
    /// failure to start already said so).
    report: bool,
}

impl Virtiofsd {
    /// Starts `bin` on `share` and waits (at most [`START_TIMEOUT`]) for its
    /// socket.
    pub fn start(bin: &Path, share: &ShareConfig) -> Result<Self, String> {
        let what = |e: String| format!("--share '{}': {e}", share.dir.display());
        let dir = private_dir().map_err(|e| what(format!("private directory: {e}")))?;
        let log = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(dir.join(LOG))
            .map_err(|e| what(format!("{}: {e}", dir.join(LOG).display())));
        let log = match log {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e);
            }
        };
        let stderr = log.try_clone().map_err(|e| what(format!("log: {e}")))?;
        let socket = dir.join(SOCKET);
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--socket-path={}", socket.display()))
            .arg(format!("--shared-dir={}", share.dir.display()))
            .arg("--cache=auto")
            .arg(format!("--sandbox={}", share.sandbox.as_str()))
            .arg("--log-level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .process_group(0);
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                cleanup(&dir);
                return Err(what(format!("cannot run '{}': {e}", bin.display())));
            }
        };
        let mut me = Self {
            child,
            dir,
            log,
            share: share.clone(),
            report: false,
        };
        me.wait_for_socket(&socket).map_err(what)?;
        me.report = true;
        log::info!(
            "--share '{}': virtiofsd (pid {}) serves it as '{}' on {}",
            share.dir.display(),
            me.child.id(),
            share.tag,
            socket.display()
        );
        Ok(me)
    }

    fn wait_for_socket(&mut self, socket: &Path) -> Result<(), String> {
        let t = Instant::now();
        loop {
            if socket.exists() {
                return Ok(());
            }
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(format!(
                        "virtiofsd ended ({status}) before its socket appeared{}",
                        self.last_message()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    ))
                }
                Ok(None) => {}
                Err(e) => return Err(format!("virtiofsd: {e}")),
            }
            if t.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "virtiofsd created no socket within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `--fs` device this share is.
    pub fn fs_config(&self, queue_size: u16) -> FsConfig {
        FsConfig {
            tag: self.share.tag.clone(),
            socket: self.dir.join(SOCKET),
            queue_size,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything virtiofsd wrote to its log so far.
    fn messages(&mut self) -> String {
        let mut s = String::new();
        if self.log.seek(SeekFrom::Start(0)).is_ok() {
            let _ = (&self.log).take(64 << 10).read_to_string(&mut s);
        }
        s
    }

    fn last_message(&mut self) -> Option<String> {
        self.messages()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }

    /// Ends virtiofsd: SIGTERM, and SIGKILL after [`STOP_GRACE`].
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        log::warn!(
            "--share '{}': virtiofsd (pid {pid}) did not end on SIGTERM; killed",
            self.share.dir.display()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Virtiofsd {
    fn drop(&mut self) {
        self.stop();
        if self.report {
            for line in self.messages().lines().filter(|l| !l.trim().is_empty()) {
                log::warn!("virtiofsd ('{}'): {}", self.share.tag, line.trim());
            }
        }
        cleanup(&self.dir);
    }
}

/// Starts a virtiofsd for every share of `setup` (in order); on an error
/// those already started are stopped.
pub fn start_all(setup: &FsSetup) -> Result<Vec<Virtiofsd>, String> {
    let Some(bin) = &setup.virtiofsd else {
        return Ok(Vec::new());
    };
    setup
        .shares
        .iter()
        .map(|s| Virtiofsd::start(bin, s))
        .collect()
}

/// A new directory only we can enter, under $TMPDIR (or /tmp).
fn private_dir() -> std::io::Result<PathBuf> {
    let base = std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let template = base.join("cxlvmm-share.XXXXXX");
    let mut bytes = CString::new(template.as_os_str().as_bytes())
        .map_err(std::io::Error::other)?
        .into_bytes_with_nul();
    // SAFETY: a NUL-terminated, writable template; mkdtemp creates the
    // directory (mode 0700) and writes its name into it.
    let p = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if p.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    bytes.pop();
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
    // The socket path must fit in sockaddr_un (108 bytes with the NUL).
    if dir.join(SOCKET).as_os_str().len() >= 108 {
        let _ = std::fs::remove_dir(&dir);
        return Err(std::io::Error::other(format!(
            "'{}' is too long for a socket path (set TMPDIR to a shorter directory)",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Removes what virtiofsd and cxlvmm put in `dir`, then `dir`.
fn cleanup(dir: &Path) {
    for name in [SOCKET, &format!("{SOCKET}.pid"), LOG] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        log::warn!("cannot remove '{}': {e}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in virtiofsd: a shell script that does what the test says
    /// with the arguments it is given.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("fake-virtiofsd");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn tmp() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "cxlvmm-vfsd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn share(dir: &Path) -> ShareConfig {
        ShareConfig {
            dir: dir.to_path_buf(),
            tag: "share".into(),
            sandbox: crate::fs_config::Sandbox::None,
        }
    }

    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    #[test]
    fn runs_with_the_arguments_and_stops_at_drop() {
        let d = tmp();
        // Records its arguments, creates the socket file, waits for SIGTERM.
        let args = d.join("args");
        let bin = script(
            &d,
            &format!(
                "echo \"$@\" > {}\nfor a; do case $a in --socket-path=*) : > \"${{a#*=}}\";; esac; done\nexec sleep 60",
                args.display()
            ),
        );
        let v = Virtiofsd::start(&bin, &share(&d)).unwrap();
        let fs = v.fs_config(512);
        assert_eq!((fs.tag.as_str(), fs.queue_size), ("share", 512));
        assert!(fs.socket.exists());
        let got = std::fs::read_to_string(&args).unwrap();
        assert!(
            got.contains(&format!("--socket-path={}", fs.socket.display())),
            "{got}"
        );
        assert!(
            got.contains(&format!("--shared-dir={}", d.display())),
            "{got}"
        );
        assert!(got.contains("--cache=auto"), "{got}");
        assert!(got.contains("--sandbox=none"), "{got}");
        let private = fs.socket.parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let pid = v.pid();
        assert!(alive(pid));
        drop(v);
        assert!(!alive(pid), "virtiofsd still running after drop");
        assert!(!private.exists(), "private directory left behind");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn failures_at_start_are_one_line() {
        let d = tmp();
        // Ends at once with a message: the message is in the error.
        let bin = script(&d, "echo 'Error: shared dir is gone' >&2\nexit 1");
        let e = Virtiofsd::start(&bin, &share(&d)).err().unwrap();
        assert!(e.contains("before its socket appeared"), "{e}");
        assert!(e.contains("shared dir is gone"), "{e}");
        assert!(e.starts_with("--share '"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        // Not executable.
        let e = Virtiofsd::start(&d.join("none"), &share(&d)).err().unwrap();
        assert!(e.contains("cannot run"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_virtiofsd_ignoring_sigterm_is_killed() {
        let d = tmp();
        let bin = script(
            &d,
            "trap '' TERM\nfor a; do case $a in --socket-path=*) : > \"${a#*=}\";; esac; done\nwhile :; do sleep 1; done",
        );
        let v = Virtiofsd::start(&bin, &share(&d)).unwrap();
        let pid = v.pid();
        let t = Instant::now();
        drop(v);
        assert!(!alive(pid));
        assert!(t.elapsed() >= STOP_GRACE);
        let _ = std::fs::remove_dir_all(&d);
    }
}
