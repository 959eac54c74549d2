//! The whole machine on real KVM, booting a hand-made bzImage: the Linux
//! 64-bit boot protocol (entry point, boot_params, command line, e820, RSDP),
//! the serial console, ACPI poweroff and reset, and triple faults.

use std::path::{Path, PathBuf};

use vmm::launcher::{launch, Outcome};

use crate::harness::bzimage;

/// out dx(=0x3f8), al
const PUTC: [u8; 5] = [0x66, 0xba, 0xf8, 0x03, 0xee];

/// How the program ends.
enum End {
    /// SLP_TYP=5 | SLP_EN to PM1a_CNT (16-bit out to 0x604).
    Poweroff,
    /// The reset value to the FADT reset register (0x3c0).
    Reset,
}

/// Prints the e820 entry count (as a digit), the first byte of the command
/// line, the first byte the RSDP address points at, and the first byte of
/// the initramfs; then powers off or resets through ACPI.
fn report_then(end: End) -> Vec<u8> {
    let mut c = vec![];
    c.extend([0x0f, 0xb6, 0x86, 0xe8, 0x01, 0x00, 0x00]); // movzx eax, byte [rsi+0x1e8]
    c.extend([0x04, 0x30]); // add al, '0'
    c.extend(PUTC);
    c.extend([0x8b, 0x9e, 0x28, 0x02, 0x00, 0x00]); // mov ebx, [rsi+0x228] cmd_line_ptr
    c.extend([0x0f, 0xb6, 0x03]); // movzx eax, byte [rbx]
    c.extend(PUTC);
    c.extend([0x48, 0x8b, 0x46, 0x70]); // mov rax, [rsi+0x70] acpi_rsdp_addr
    c.extend([0x0f, 0xb6, 0x00]); // movzx eax, byte [rax]
    c.extend(PUTC);
    c.extend([0x8b, 0x9e, 0x18, 0x02, 0x00, 0x00]); // mov ebx, [rsi+0x218] ramdisk_image
    c.extend([0x0f, 0xb6, 0x03]); // movzx eax, byte [rbx] (first initramfs byte)
    c.extend(PUTC);
    match end {
        End::Poweroff => {
            c.extend([0x66, 0xba, 0x04, 0x06]); // mov dx, 0x604 (PM1a_CNT)
            c.extend([0x66, 0xb8, 0x00, 0x34]); // mov ax, (5 << 10) | (1 << 13)
            c.extend([0x66, 0xef]); // out dx, ax
        }
        End::Reset => {
            c.extend([0x66, 0xba, 0xc0, 0x03]); // mov dx, 0x3c0
            c.extend([0xb0, 0x01]); // mov al, 1
            c.push(0xee); // out dx, al
        }
    }
    c.extend([0xeb, 0xfe]); // jmp $
    c
}

pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("cxlvmm-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    pub(crate) fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn run(kernel: &Path, extra: &[&str], console: &Path) -> Outcome {
    let serial = format!("file:{}", console.display());
    let mut argv = vec![
        "cxlvmm",
        "--kernel",
        kernel.to_str().unwrap(),
        "--serial",
        &serial,
    ];
    argv.extend_from_slice(extra);
    // The VMM thread's seccomp filter (on by default) stays with the thread
    // that ran the machine: give each run a thread of its own.
    let argv: Vec<String> = argv.into_iter().map(String::from).collect();
    std::thread::spawn(move || launch(argv)).join().unwrap()
}

#[test]
fn boots_bzimage_and_powers_off() {
    let s = Scratch::new("boot");
    let kernel = s.file("bzImage", &bzimage(&report_then(End::Poweroff)));
    let initrd = s.file("initrd", b"Zinitramfs");
    let console = s.0.join("console");
    let out = run(
        &kernel,
        &[
            "--initramfs",
            initrd.to_str().unwrap(),
            "--cmdline",
            "quiet x=1",
            "--cpus",
            "2",
        ],
        &console,
    );
    assert_eq!(
        out,
        Outcome {
            code: 0,
            message: None
        }
    );
    // 4 e820 entries below 3 GiB, 'q' from "quiet", 'R' from "RSD PTR ",
    // 'Z' from the initramfs.
    assert_eq!(std::fs::read(&console).unwrap(), b"4qRZ");
}

#[test]
fn reset_also_exits_cleanly() {
    let s = Scratch::new("reset");
    let kernel = s.file("bzImage", &bzimage(&report_then(End::Reset)));
    let console = s.0.join("console");
    let out = run(&kernel, &["--memory", "4G"], &console);
    assert_eq!(out.code, 0, "{out:?}");
    // RAM above 4 GiB adds an e820 entry; no initramfs reads byte 0.
    assert_eq!(&std::fs::read(&console).unwrap()[..3], b"5cR");
}

#[test]
fn triple_fault_is_a_distinct_failure() {
    let s = Scratch::new("triple");
    // A load from an address the boot page tables do not map: #PF with the
    // empty boot IDT -> #DF -> triple fault.
    let mut code = vec![0x48, 0xa1]; // mov rax, [moffs64]
    code.extend(0x80_0000_0000u64.to_le_bytes());
    code.extend([0xeb, 0xfe]);
    let kernel = s.file("bzImage", &bzimage(&code));
    let out = run(&kernel, &[], &s.0.join("console"));
    assert_eq!(out.code, vmm::exit::EXIT_TRIPLE_FAULT, "{out:?}");
    assert!(out.message.unwrap().contains("triple fault"));
}

#[test]
fn user_errors_are_one_line() {
    let s = Scratch::new("errors");
    let kernel = s.file("bzImage", &bzimage(&[0xf4]));
    let k = kernel.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cxlvmm"], "--kernel"),
        (vec!["cxlvmm", "--kernel", "/nonexistent"], "no such file"),
        (
            vec!["cxlvmm", "--kernel", k, "--memory", "lots"],
            "invalid size",
        ),
        (vec!["cxlvmm", "--kernel", k, "--cpus", "1000"], "--cpus"),
        (vec!["cxlvmm", "--kernel", k, "--bogus"], "--bogus"),
        (
            vec!["cxlvmm", "--kernel", k, "--seccomp", "strict"],
            "invalid seccomp mode 'strict': expected off, log or on",
        ),
    ];
    for (argv, want) in cases {
        let out = launch(argv.clone());
        assert_eq!(out.code, vmm::launcher::EXIT_USAGE, "{argv:?}");
        let msg = out.message.unwrap();
        assert!(msg.contains(want), "{argv:?}: {msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
    // Not a bzImage: a VMM error, still one line.
    let junk = s.file("junk", &[0u8; 4096]);
    let out = launch(["cxlvmm", "--kernel", junk.to_str().unwrap()]);
    assert_eq!(out.code, vmm::exit::EXIT_VMM_ERROR);
    assert!(out.message.unwrap().contains("not a bzImage"));
}

#[test]
fn dump_acpi_writes_every_table() {
    let s = Scratch::new("dump");
    let dir = s.0.join("tables");
    let out = launch([
        "cxlvmm",
        "--dump-acpi",
        dir.to_str().unwrap(),
        "--cpus",
        "3",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    for sig in ["RSDP", "XSDT", "FACS", "FACP", "DSDT", "APIC", "MCFG"] {
        let b = std::fs::read(dir.join(format!("{sig}.dat"))).unwrap();
        if sig != "RSDP" && sig != "FACS" {
            assert_eq!(&b[..4], sig.as_bytes());
            assert_eq!(
                b.iter().fold(0u8, |a, x| a.wrapping_add(*x)),
                0,
                "{sig} checksum"
            );
        }
    }
}

/// mov ebx, addr; movzx eax, byte [rbx]; out 0x3f8, al (a disp32 operand
/// would be sign-extended above 2 GiB).
fn print_byte_at(c: &mut Vec<u8>, addr: u32) {
    c.push(0xbb);
    c.extend(addr.to_le_bytes());
    c.extend([0x0f, 0xb6, 0x03]);
    c.extend(PUTC);
}

#[test]
fn cxl_devices_answer_on_ecam() {
    let s = Scratch::new("cxl");
    let ecam = |bus: u32, reg: u32| 0xe000_0000 + (bus << 20) + reg;
    let mut code = vec![];
    // Class code base byte (offset 0x0b) of the CXL root port (bus 0x80,
    // 00.0), of the Type 3 device below it (bus 0x81), and of an absent
    // function (bus 0x81, device 1): 06, 05, ff.
    print_byte_at(&mut code, ecam(0x80, 0x0b));
    print_byte_at(&mut code, ecam(0x81, 0x0b));
    print_byte_at(&mut code, ecam(0x81, (1 << 15) + 0x0b));
    code.extend([
        0x66, 0xba, 0x04, 0x06, 0x66, 0xb8, 0x00, 0x34, 0x66, 0xef, 0xeb, 0xfe,
    ]);
    let kernel = s.file("bzImage", &bzimage(&code));
    let console = s.0.join("console");
    let out = run(&kernel, &["--cxl", "256M,serial=42"], &console);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(std::fs::read(&console).unwrap(), [0x06, 0x05, 0xff]);
}
