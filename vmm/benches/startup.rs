//! Start-up: from spawning `cxlvmm` to its first KVM_RUN, with a 256 MiB
//! guest, without and with a CXL device (`--cxl 256M`).
//!
//! Each sample spawns the release binary with `-v` and reads its stderr
//! until the line vCPU 0 logs just before its first KVM_RUN; the sample is
//! the wall time from spawn to that line (exec, dynamic linking, VM and
//! memslot set-up, devices, ACPI, kernel load, vCPUs), then the VMM is
//! killed. Needs /dev/kvm and a Linux bzImage: `CXLVMM_KERNEL`, or the one
//! scripts/fetch-guest.sh caches under .cache/guest/; without them the
//! benchmark says so and measures nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

const BIN: &str = env!("CARGO_BIN_EXE_cxlvmm");
/// Pause before each start, outside the timed part.
const SETTLE: Duration = Duration::from_millis(200);

/// A bzImage: `CXLVMM_KERNEL`, else the newest cached guest kernel.
fn kernel() -> Option<PathBuf> {
    if let Some(k) = std::env::var_os("CXLVMM_KERNEL") {
        return Some(PathBuf::from(k));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cache = std::env::var_os("CXLVMM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cache"));
    let mut found = Vec::new();
    let guest = std::fs::read_dir(cache.join("guest")).ok()?;
    for suite in guest.flatten() {
        for ver in std::fs::read_dir(suite.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let boot = ver.path().join("boot");
            for f in std::fs::read_dir(&boot).into_iter().flatten().flatten() {
                if f.file_name().to_string_lossy().starts_with("vmlinuz-") {
                    found.push(f.path());
                }
            }
        }
    }
    found.sort();
    found.pop()
}

/// One start: spawn to the first-KVM_RUN line.
fn start_once(kernel: &Path, extra: &[&str]) -> Duration {
    let t = Instant::now();
    let mut child = Command::new(BIN)
        .args(["--kernel"])
        .arg(kernel)
        .args(["--memory", "256M", "--serial", "null", "-v"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cxlvmm");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = None;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains("first KVM_RUN") {
            seen = Some(t.elapsed());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen.expect("cxlvmm never reached its first KVM_RUN")
}

fn startup(c: &mut Criterion) {
    let Some(kernel) = kernel().filter(|k| k.is_file()) else {
        eprintln!("startup: no kernel (set CXLVMM_KERNEL or run scripts/fetch-guest.sh); nothing measured");
        return;
    };
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        eprintln!("startup: /dev/kvm cannot be opened; nothing measured");
        return;
    }
    let mut g = c.benchmark_group("startup");
    // One start per sample (Flat), 40 of them: the median is what a user
    // sees start after start.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(40);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    for (name, extra) in [
        ("ram_256m", &[][..]),
        ("ram_256m_cxl_256m", &["--cxl", "256M"][..]),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        // The previous VMM's teardown (its VM and memory
                        // going back to the host) finishes in the kernel
                        // after it exits; it is not this start's cost.
                        std::thread::sleep(SETTLE);
                        start_once(&kernel, extra)
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
