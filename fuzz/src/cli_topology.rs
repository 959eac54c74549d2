//! The `cli_topology` target: an argument vector (the input split at NUL
//! and newline bytes, any bytes in between, as argv carries them) through
//! what `vmm::launcher::launch` does before it starts anything: clap's
//! parse, then `Args::into_config` with every topology check.
//!
//! Must hold: the result is a configuration or one error, and the checks'
//! errors are one line. For a configuration accepted, the later stages that
//! need no KVM must not fail on it either: the platform plan and the ACPI
//! tables (what `--dump-acpi` writes) are built, and, when every backend is
//! an unpreallocated memfd and no LSA file is named (nothing touches the
//! host), the whole CXL hierarchy is built on fake buses as the device
//! manager would (`CxlDevices::new`). A refusal there is a check the
//! command line misses (the VM would fail later, after creating KVM state,
//! with exit status 1 instead of 2), so it counts as a finding.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use clap::Parser;
use devices::interrupt::{MsiAllocator, MsiGroup, RecordingMsiGroup};
use devices::memory::BackendKind;
use devices::pci::PciSegment;
use devices::Bus;
use vmm::cli::Args;
use vmm::config::VmConfig;
use vmm::cxl_devices::CxlDevices;
use vmm::platform::Platform;

use devices::cxl::test_rig::RecordingMapper;

/// Most bytes of memfd backends a configuration may ask for to be built
/// (they are sparse, but the mappings still take address space).
const MAX_BUILD_BYTES: u64 = 64 << 30;

/// The argument vector in `data`: program name, then each NUL- or
/// newline-separated piece.
pub fn argv(data: &[u8]) -> Vec<&OsStr> {
    std::iter::once(OsStr::new("cxlvmm"))
        .chain(data.split(|&b| b == 0 || b == b'\n').map(OsStr::from_bytes))
        .collect()
}

/// How far an input got.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// clap refused it (or it asked for help or the version).
    Usage,
    /// `into_config` refused it with this line.
    Refused(String),
    /// Accepted; ACPI tables built; the CXL devices built too (true) or
    /// skipped because the configuration touches the host (false).
    Accepted(bool),
}

struct RecordingMsi;

impl MsiAllocator for RecordingMsi {
    fn allocate(&self, vectors: usize) -> io::Result<Arc<dyn MsiGroup>> {
        Ok(Arc::new(RecordingMsiGroup::new(vectors)))
    }
}

/// True if building the devices of `cfg` creates or touches nothing on
/// the host beyond a few sparse memfds.
fn buildable(cfg: &VmConfig) -> bool {
    let c = &cfg.cxl;
    let memfd_only = c
        .backends
        .iter()
        .all(|b| matches!(b.kind, BackendKind::Memfd) && !b.prealloc);
    let total = c
        .backends
        .iter()
        .fold(0u64, |t, b| t.saturating_add(b.size));
    memfd_only && total <= MAX_BUILD_BYTES && c.devices.iter().all(|d| d.lsa_file.is_none())
}

/// Builds the CXL hierarchy of `cfg` as the device manager does, on fake
/// buses; the error the VMM would stop with, if any.
fn build_devices(cfg: &VmConfig, platform: &Platform) -> Result<(), String> {
    let mmio = Arc::new(Bus::new());
    let io = Arc::new(Bus::new());
    let segment = Arc::new(Mutex::new(PciSegment::new(0, mmio.clone(), io)));
    CxlDevices::new(
        platform,
        &cfg.cxl,
        &segment,
        &mmio,
        RecordingMapper::new(),
        &RecordingMsi,
    )
    .map(drop)
}

/// Runs one input; panics on a broken rule.
pub fn run(data: &[u8]) -> Outcome {
    let args = match Args::try_parse_from(argv(data)) {
        Ok(a) => a,
        Err(e) => {
            // What launch() prints: must render.
            let _ = e.to_string();
            return Outcome::Usage;
        }
    };
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.contains('\n'), "a multi-line error: {e:?}");
            assert!(!e.is_empty(), "an empty error");
            return Outcome::Refused(e);
        }
    };
    let platform = Platform::new(&cfg).unwrap_or_else(|e| panic!("accepted, not planned: {e}"));
    vmm::machine::acpi_tables(&platform)
        .unwrap_or_else(|e| panic!("accepted, no ACPI tables: {e}"));
    if !buildable(&cfg) {
        return Outcome::Accepted(false);
    }
    if let Err(e) = build_devices(&cfg, &platform) {
        panic!("the command line accepted a topology the devices refuse: {e}");
    }
    Outcome::Accepted(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<u8> {
        v.join("\0").into_bytes()
    }

    #[test]
    fn splits_at_nul_and_newline() {
        let a = argv(b"--cpus\n2\0--memory\0\x001G");
        assert_eq!(a, ["cxlvmm", "--cpus", "2", "--memory", "", "1G"]);
    }

    #[test]
    fn readme_topologies_are_accepted_and_built() {
        let dc = args(&[
            "--dump-acpi",
            "/nonexistent",
            "--cxl-host-bridge",
            "id=hb0",
            "--cxl-root-port",
            "id=rp0,bus=hb0",
            "--cxl-type3",
            "id=dcd0,port=rp0,dc-regions=2,dc-regions-total-size=4G",
            "--cxl-fmw",
            "targets=hb0,size=4G",
        ]);
        assert_eq!(run(&dc), Outcome::Accepted(true));
        let short = args(&["--dump-acpi", "d", "--cxl", "1G,serial=0x1234"]);
        assert_eq!(run(&short), Outcome::Accepted(true));
        let file = args(&["--dump-acpi", "d", "--cxl", "1G,memdev=file:/x"]);
        assert_eq!(run(&file), Outcome::Accepted(false), "not built: a file");
    }

    /// The seed corpus (fuzz/seeds/cli_topology) holds valid command lines
    /// of every form, so the fuzzer starts from accepted topologies.
    #[test]
    fn seeds_are_accepted() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/cli_topology");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let got = run(&std::fs::read(&path).unwrap());
            match path.file_name().unwrap().to_str().unwrap() {
                "plain" => {
                    assert!(matches!(got, Outcome::Refused(ref e) if e.contains("--kernel")))
                }
                "short-file" => assert_eq!(got, Outcome::Accepted(false)),
                name => assert_eq!(got, Outcome::Accepted(true), "{name}"),
            }
            n += 1;
        }
        assert!(n >= 7);
    }

    #[test]
    fn mistakes_give_one_line() {
        assert_eq!(run(b"--bogus"), Outcome::Usage);
        let dup = args(&[
            "--dump-acpi",
            "d",
            "--cxl-host-bridge",
            "id=a",
            "--cxl-host-bridge",
            "id=a",
        ]);
        assert!(matches!(run(&dup), Outcome::Refused(e) if e.contains("defined twice")));
        let raw = b"--dump-acpi\0d\0--cxl\0\xff\xfe";
        assert_eq!(run(raw), Outcome::Usage, "not UTF-8");
    }

    /// Found by this target: a backend of 256 bytes passed the command
    /// line and was refused only when the devices were built.
    #[test]
    fn backend_size_off_the_page_is_refused_on_the_command_line() {
        let small = args(&[
            "--dump-acpi",
            "d",
            "--memory-backend",
            "id=b,size=256",
            "--cxl-host-bridge",
            "id=hb0",
            "--cxl-root-port",
            "id=rp0,bus=hb0",
            "--cxl-type3",
            "id=m0,port=rp0,volatile-memdev=b",
            "--cxl-fmw",
            "targets=hb0,size=256M",
        ]);
        assert!(
            matches!(run(&small), Outcome::Refused(ref e) if e.contains("size 0x100 must be")),
            "{:?}",
            run(&small)
        );
    }
}
