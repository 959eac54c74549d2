//! Host memory taken away behind the VMM's back (a backend file truncated)
//! ends the VM with a message and exit status 5, whether the guest touches
//! it through a memslot or the VMM touches it itself. Each case runs in a
//! child process (this test binary again, told so by an environment
//! variable), since it ends the process.

use std::process::Command;
use std::sync::Arc;

use arch::layout::CXL_FMW_START;
use devices::cxl::fabric::GuestMemoryMapper;
use devices::memory::{BackendConfig, BackendKind, HostMemory};
use vmm::exit::EXIT_GUEST_MEMORY;

use crate::harness::{Asm, TestVm};

const CHILD: &str = "CXLVMM_SIGBUS_CHILD";
const SIZE: u64 = 2 << 20;

/// A shared file backend whose file is then cut to nothing.
fn truncated_backend(dir: &std::path::Path) -> Arc<HostMemory> {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("mem");
    let b = Arc::new(
        HostMemory::new(BackendConfig {
            id: "gone".into(),
            kind: BackendKind::File,
            path: Some(path.clone()),
            size: SIZE,
            share: true,
            prealloc: false,
            tag: None,
        })
        .unwrap(),
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    b
}

/// In the child: the case, then the exit status the VMM would give.
fn child(case: &str) -> ! {
    vmm::sigbus::install().unwrap();
    let dir = std::env::temp_dir().join(format!("cxlvmm-sigbus-{}", std::process::id()));
    let code = match case {
        "vcpu" => {
            // mov [WINDOW + 0x10], rax through a memslot over the backend.
            let prog = Asm::default()
                .mov_rbx(CXL_FMW_START + 0x10)
                .mov_rax(0x5a)
                .store_rbx_rax()
                .mov_rax(0)
                .load_rax_rbx()
                .finish();
            let mut t = TestVm::new(&prog);
            t.map_high_gib(CXL_FMW_START);
            let b = truncated_backend(&dir);
            GuestMemoryMapper::map(t.memory.as_ref(), CXL_FMW_START, &b, 0, SIZE).unwrap();
            match t.run(100) {
                Ok(v) => {
                    eprintln!("the store went through ({v:#x})");
                    0
                }
                Err(reason) => {
                    eprintln!("cxlvmm: {reason}");
                    reason.exit_code()
                }
            }
        }
        _ => {
            // The VMM's own access (the emulated path, media writes).
            let b = truncated_backend(&dir);
            let r = b.write(0x1000, &[1, 2, 3]);
            eprintln!("the write returned {r:?}");
            0
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(code)
}

fn run_child(test: &str, case: &str) -> (i32, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_guest_store_to_a_truncated_backend_ends_the_vm_with_status_5() {
    if let Ok(case) = std::env::var(CHILD) {
        child(&case);
    }
    let (code, stderr) = run_child(
        "sigbus::a_guest_store_to_a_truncated_backend_ends_the_vm_with_status_5",
        "vcpu",
    );
    assert_eq!(code, EXIT_GUEST_MEMORY, "{stderr}");
    // KVM reports it (EFAULT, or SIGBUS on the vCPU thread): either way one
    // line that says guest memory is gone.
    assert!(
        stderr.contains("cxlvmm: guest memory lost")
            || stderr.contains("cxlvmm: SIGBUS: guest memory"),
        "{stderr}"
    );
    eprintln!("child said: {stderr}");
}

#[test]
fn a_vmm_access_to_a_truncated_backend_ends_the_vm_with_status_5() {
    if let Ok(case) = std::env::var(CHILD) {
        child(&case);
    }
    let (code, stderr) = run_child(
        "sigbus::a_vmm_access_to_a_truncated_backend_ends_the_vm_with_status_5",
        "vmm",
    );
    assert_eq!(code, EXIT_GUEST_MEMORY, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("cxlvmm: SIGBUS: guest memory at host address 0x"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("(offset 0x1000 of the 0x200000-byte backend"),
        "{line}"
    );
    assert!(!stderr.contains("the write returned"), "{stderr}");
}
