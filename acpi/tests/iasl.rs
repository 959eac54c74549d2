//! Checks the tables with ACPICA: `iasl -d` decodes every table, iasl
//! recompiles the result, and `acpiexec` evaluates DSDT methods.
//!
//! The tools come from `CXLVMM_IASL` / `CXLVMM_ACPIEXEC`, else from the
//! wrappers `scripts/fetch-iasl.sh` installs in `.cache/bin/`. Without them
//! the test fails, unless `CXLVMM_SKIP_IASL=1`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use acpi::{build, AcpiConfig, AcpiTables, CxlWindow, HostBridge, HostBridgeKind};
use arch::layout;

const PCIE_UUID: &str = "(5b 4d db 33 f7 1f 1c 40 96 57 74 41 c0 3d d7 66)";
const CXL_UUID: &str = "(0b d5 f2 68 69 c4 8a 4d bd 3d 94 1a 10 3f d3 fc)";
const QTG_UUID: &str = "(a6 f9 65 f3 de a7 71 40 a6 6a b4 0c 0b 4f 8e 52)";
const OTHER_UUID: &str = "(00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff)";

/// iasl and acpiexec, or `None` if the test is to be skipped.
struct Tools {
    iasl: PathBuf,
    acpiexec: PathBuf,
}

fn find_tool(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/bin")
        .join(name)
}

fn tools() -> Option<Tools> {
    if std::env::var("CXLVMM_SKIP_IASL").as_deref() == Ok("1") {
        eprintln!("CXLVMM_SKIP_IASL=1: skipping the ACPICA checks");
        return None;
    }
    let t = Tools {
        iasl: find_tool("CXLVMM_IASL", "iasl"),
        acpiexec: find_tool("CXLVMM_ACPIEXEC", "acpiexec"),
    };
    for tool in [&t.iasl, &t.acpiexec] {
        assert!(
            tool.is_file(),
            "{} not found: run scripts/fetch-iasl.sh (or set CXLVMM_IASL and \
             CXLVMM_ACPIEXEC, or CXLVMM_SKIP_IASL=1 to skip)",
            tool.display()
        );
    }
    Some(t)
}

/// A fresh scratch directory for one configuration.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cxlvmm-acpi-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes every table as `<SIGNATURE>.dat`, as `--dump-acpi` does.
fn dump(tables: &AcpiTables, dir: &Path) {
    for t in &tables.tables {
        fs::write(dir.join(format!("{}.dat", t.signature)), &t.bytes).unwrap();
    }
}

/// Runs `tool args` in `dir`, asserting success; returns stdout and stderr.
fn run(tool: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{text}",
        tool.display()
    );
    text
}

/// Fails on any error, warning or complaint in ACPICA output.
fn assert_clean(what: &str, text: &str) {
    for line in text.lines() {
        let l = line.to_ascii_lowercase();
        let summary = l.contains("0 errors") && l.contains("0 warnings");
        let bad = ["error", "warning", "exception", "invalid", "incorrect"]
            .iter()
            .any(|w| l.contains(w));
        assert!(
            summary || !bad,
            "{what}: {line}\n--- full output ---\n{text}"
        );
    }
}

/// The RSDP as data table compiler source, checksums left for iasl to fill
/// in. (iasl 20250404 cannot decode a binary RSDP: it takes the
/// signature-less "RSD PTR " for a CDAT table.)
fn rsdp_source(b: &[u8]) -> String {
    let u64_at = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
    let u32_at = |off: usize| u32::from_le_bytes(b[off..off + 4].try_into().unwrap());
    format!(
        "[0008] Signature : \"{}\"\n\
         [0001] Checksum : 00\n\
         [0006] Oem ID : \"{}\"\n\
         [0001] Revision : {:02X}\n\
         [0004] RSDT Address : {:08X}\n\
         [0004] Length : {:08X}\n\
         [0008] XSDT Address : {:016X}\n\
         [0001] Extended Checksum : 00\n\
         [0003] Reserved : 000000\n",
        String::from_utf8_lossy(&b[0..8]),
        String::from_utf8_lossy(&b[9..15]),
        b[15],
        u32_at(16),
        u32_at(20),
        u64_at(24),
    )
}

/// Decompiles every table with `iasl -d` and recompiles the result; data
/// tables must come back byte for byte (`-z` keeps the creator fields), so
/// iasl agrees with every field, length and checksum. The RSDP is compiled
/// from its fields instead.
fn check_iasl(t: &Tools, tables: &AcpiTables, dir: &Path) {
    for blob in &tables.tables {
        let sig = &blob.signature;
        let dsl = format!("{sig}.dsl");
        if sig == "RSDP" {
            fs::write(dir.join(&dsl), rsdp_source(&blob.bytes)).unwrap();
        } else {
            let dat = format!("{sig}.dat");
            assert_clean(&format!("iasl -d {dat}"), &run(&t.iasl, &["-d", &dat], dir));
        }
        let out = run(&t.iasl, &["-z", &dsl], dir);
        assert!(out.contains("0 Errors, 0 Warnings"), "iasl {dsl}:\n{out}");
        assert_clean(&format!("iasl {dsl}"), &out);
        if sig != "DSDT" {
            // iasl re-encodes AML differently, so only data tables compare.
            let again = fs::read(dir.join(format!("{sig}.aml"))).unwrap();
            assert!(
                again == blob.bytes,
                "{sig} differs after the iasl round trip"
            );
        }
    }
}

/// The values of every `name : value` field (or decoded flag) in `iasl
/// -d`'s `<sig>.dsl`, in table order.
fn fields(dir: &Path, sig: &str, name: &str) -> Vec<String> {
    let dsl = fs::read_to_string(dir.join(format!("{sig}.dsl"))).unwrap();
    dsl.lines()
        .filter_map(|l| {
            let l = l.split_once("] ").map_or(l, |(_, rest)| rest);
            let (field, value) = l.split_once(" : ")?;
            (field.trim() == name).then(|| value.trim().to_string())
        })
        .collect()
}

/// acpiexec on one set of tables.
struct Exec<'a> {
    tools: &'a Tools,
    dir: &'a Path,
    /// Every table but RSDP and XSDT, which acpiexec builds itself; so
    /// ACPICA also parses our FADT (and sleeps through PM1a_CNT).
    files: Vec<String>,
}

impl<'a> Exec<'a> {
    fn new(tools: &'a Tools, tables: &AcpiTables, dir: &'a Path) -> Self {
        let files = tables
            .tables
            .iter()
            .filter(|t| t.signature != "RSDP" && t.signature != "XSDT")
            .map(|t| format!("{}.dat", t.signature))
            .collect();
        Self { tools, dir, files }
    }

    /// Runs one acpiexec batch command, asserting clean output.
    fn batch(&self, cmd: &str) -> String {
        let mut args = vec!["-b", cmd];
        args.extend(self.files.iter().map(String::as_str));
        let out = run(&self.tools.acpiexec, &args, self.dir);
        assert_clean(cmd, &out);
        out
    }

    /// Evaluates `path args`; returns the result lines.
    fn eval(&self, path: &str, args: &str) -> Vec<String> {
        let cmd = format!("evaluate {path} {args}");
        let out = self.batch(&cmd);
        let mut lines = out
            .lines()
            .skip_while(|l| !l.starts_with(&format!("Evaluation of {path} returned")))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .peekable();
        assert!(lines.peek().is_some(), "{cmd}: no result\n{out}");
        lines.collect()
    }

    /// `\_SB.<dev>._OSC (uuid, revision, count, caps)` returning the DWORDs.
    fn osc(&self, dev: &str, uuid: &str, rev: u32, caps_in: &[u32]) -> Vec<u32> {
        let args = format!("{uuid} {rev} {} {}", caps_in.len(), caps(caps_in));
        dwords(&self.eval(&format!("\\_SB.{dev}._OSC"), &args))
    }

    /// The decoded resource template `\_SB.<dev>._CRS` returns.
    fn crs(&self, dev: &str) -> Vec<Resource> {
        resources(&buffer(&self.eval(&format!("\\_SB.{dev}._CRS"), "")))
    }
}

/// The bytes of a buffer result.
fn buffer(lines: &[String]) -> Vec<u8> {
    assert!(lines[0].starts_with("[Buffer]"), "not a buffer: {lines:?}");
    lines
        .iter()
        .flat_map(|l| {
            let hex = l.split_once(": ").map_or("", |(_, rest)| rest);
            let hex = hex.split("//").next().unwrap_or("");
            hex.split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The DWORDs of an `_OSC` capabilities buffer result.
fn dwords(lines: &[String]) -> Vec<u32> {
    buffer(lines)
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// An `_OSC` capabilities buffer argument.
fn caps(dwords: &[u32]) -> String {
    let bytes: Vec<String> = dwords
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("({})", bytes.join(" "))
}

/// A resource descriptor we generate, decoded independently of the crate.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    /// Word/DWord/QWord address space: (resource type, min, max, length).
    Address(u8, u64, u64, u64),
    /// I/O port: (min, max, alignment, length).
    Io(u16, u16, u8, u8),
    /// 32-bit fixed memory: (base, length).
    Memory32Fixed(u32, u32),
    /// Extended interrupt: (flags, number).
    Interrupt(u8, u32),
}

/// Decodes a resource template (ACPI 6.5 6.4).
fn resources(b: &[u8]) -> Vec<Resource> {
    let le = |s: &[u8]| s.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x));
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let tag = b[i];
        if tag == 0x79 {
            assert_eq!(i + 2, b.len(), "end tag is last");
            return out;
        }
        if tag & 0x80 == 0 {
            let len = usize::from(tag & 7);
            let d = &b[i + 1..i + 1 + len];
            assert_eq!(tag >> 3, 0x8, "only I/O small descriptors expected");
            out.push(Resource::Io(
                le(&d[1..3]) as u16,
                le(&d[3..5]) as u16,
                d[5],
                d[6],
            ));
            i += 1 + len;
            continue;
        }
        let len = le(&b[i + 1..i + 3]) as usize;
        let d = &b[i + 3..i + 3 + len];
        out.push(match tag {
            0x86 => Resource::Memory32Fixed(le(&d[1..5]) as u32, le(&d[5..9]) as u32),
            0x89 => {
                assert_eq!(d[1], 1, "one interrupt");
                Resource::Interrupt(d[0], le(&d[2..6]) as u32)
            }
            0x88 | 0x87 | 0x8a => {
                let w = [(0x88, 2), (0x87, 4), (0x8a, 8)]
                    .iter()
                    .find(|(t, _)| *t == tag)
                    .unwrap()
                    .1;
                let field = |n: usize| le(&d[3 + n * w..3 + (n + 1) * w]);
                assert_eq!(d[1], 0x0c, "producer, positive decode, min/max fixed");
                assert_eq!(field(0), 0, "granularity");
                assert_eq!(field(3), 0, "translation");
                Resource::Address(d[0], field(1), field(2), field(4))
            }
            _ => panic!("unexpected descriptor {tag:#x}"),
        });
        i += 3 + len;
    }
}

fn cxl_config() -> AcpiConfig {
    let cxl = |uid: u32, buses: (u8, u8), mmio32: u64, mmio64: u64, chbs: u64| HostBridge {
        uid,
        bus_start: buses.0,
        bus_end: buses.1,
        io: None,
        mmio32: (mmio32, 0x100_0000),
        mmio64: (mmio64, 0x1_0000_0000),
        kind: HostBridgeKind::Cxl { chbs_base: chbs },
    };
    let mut pci0 = HostBridge::pci0();
    pci0.bus_end = 0x7f;
    pci0.mmio32.1 -= 0x200_0000;
    pci0.mmio64.1 -= 0x2_0000_0000;
    let end32 = pci0.mmio32.0 + pci0.mmio32.1;
    let end64 = pci0.mmio64.0 + pci0.mmio64.1;
    let window = |base: u64, ways: u32, targets: Vec<u32>, qtg_id: u16| CxlWindow {
        base,
        size: u64::from(ways) * 4 * layout::CXL_FMW_ALIGN,
        interleave_ways: ways,
        granularity_bytes: 4096,
        restrictions: CxlWindow::HOST_ONLY_COHERENT | CxlWindow::VOLATILE,
        qtg_id,
        targets,
    };
    AcpiConfig {
        cpus: 4,
        host_bridges: vec![
            pci0,
            cxl(1, (0x80, 0xbf), end32, end64, layout::CXL_CHBS_START),
            cxl(
                2,
                (0xc0, 0xff),
                end32 + 0x100_0000,
                end64 + 0x1_0000_0000,
                layout::CXL_CHBS_START + layout::CXL_CHBS_SIZE,
            ),
        ],
        cxl_windows: vec![
            window(layout::CXL_FMW_START, 1, vec![1], 0),
            window(layout::CXL_FMW_START + 0x10_0000_0000, 2, vec![1, 2], 3),
        ],
        ram: vec![
            (0, layout::MMIO32_START),
            (layout::RAM_64BIT_START, 0x4000_0000),
        ],
        ..AcpiConfig::new(4)
    }
}

#[test]
fn minimal_config() {
    let Some(t) = tools() else { return };
    let dir = scratch("minimal");
    let tables = build(&AcpiConfig::new(1), layout::ACPI_TABLES_START).unwrap();
    dump(&tables, &dir);
    check_iasl(&t, &tables, &dir);
    let x = Exec::new(&t, &tables, &dir);

    // Query for more than the platform grants: masked, not failed.
    assert_eq!(
        x.osc("PCI0", PCIE_UUID, 1, &[1, 0x1f, 0xbf]),
        [0x11, 0x1f, 0x1d]
    );
    // Request exactly what it grants, or less.
    assert_eq!(
        x.osc("PCI0", PCIE_UUID, 1, &[0, 0x1f, 0x1d]),
        [0, 0x1f, 0x1d]
    );
    assert_eq!(
        x.osc("PCI0", PCIE_UUID, 1, &[0, 0x1f, 0x14]),
        [0, 0x1f, 0x14]
    );
    let r = x.osc("PCI0", PCIE_UUID, 2, &[0, 0x1f, 0x1d]);
    assert_eq!(r[0], 0x08, "unrecognized revision");
    let r = x.osc("PCI0", OTHER_UUID, 1, &[0, 0x1f, 0x1d]);
    assert_eq!(r, [0x04, 0x1f, 0x1d], "unrecognized UUID, untouched");
    let r = x.osc("PCI0", CXL_UUID, 1, &[0, 0x1f, 0x1d, 0xf, 1]);
    assert_eq!(r[0], 0x04, "a PCIe host bridge does not know the CXL UUID");

    assert_eq!(
        x.crs("PCI0"),
        [
            Resource::Address(2, 0, 0xff, 0x100),
            Resource::Io(0xcf8, 0xcf8, 1, 8),
            Resource::Address(1, 0x1000, 0xffff, 0xf000),
            Resource::Address(0, 0xc000_0000, 0xdfff_ffff, 0x2000_0000),
            Resource::Address(0, 0x40_0000_0000, 0x4f_ffff_ffff, 0x10_0000_0000),
        ]
    );
    let ecam = Resource::Memory32Fixed(0xe000_0000, 0x1000_0000);
    assert_eq!(x.crs("MBRD"), [ecam]);
    let com1 = [
        Resource::Io(0x3f8, 0x3f8, 1, 8),
        Resource::Interrupt(0x03, 4),
    ];
    assert_eq!(x.crs("COM1"), com1);

    // S5 through the fixed-hardware PM1a control block.
    let s5 = x.eval("\\_S5", "");
    assert_eq!(s5[0], "[Package] Contains 4 Elements:");
    assert_eq!(s5[1], "[Integer] = 0000000000000005");
    let sleep = x.batch("sleep 5");
    assert!(sleep.contains("Sleep-A: 05"), "{sleep}");
    assert!(!sleep.contains("HwExtendedSleep"), "{sleep}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cxl_config_tables() {
    let Some(t) = tools() else { return };
    let dir = scratch("cxl");
    let tables = build(&cxl_config(), layout::ACPI_TABLES_START).unwrap();
    let sigs: Vec<&str> = tables.tables.iter().map(|b| b.signature.as_str()).collect();
    assert_eq!(
        sigs,
        ["RSDP", "XSDT", "FACS", "FACP", "DSDT", "APIC", "MCFG", "CEDT", "SRAT", "HMAT"]
    );
    dump(&tables, &dir);
    check_iasl(&t, &tables, &dir);

    // A generic port per CXL host bridge, in the domains after the two
    // windows' (Linux numbers those 1 and 2).
    let f = |sig, name| fields(&dir, sig, name);
    let types = f("SRAT", "Subtable Type");
    assert_eq!(types.iter().filter(|t| t.starts_with("00")).count(), 4);
    assert_eq!(types.iter().filter(|t| t.starts_with("01")).count(), 2);
    let ports: Vec<&String> = types.iter().filter(|t| t.starts_with("06")).collect();
    assert_eq!(ports, ["06 [Generic Port Affinity]"; 2]);
    assert_eq!(f("SRAT", "Device Handle Type"), ["00", "00"]);
    let domains = f("SRAT", "Proximity Domain");
    assert_eq!(domains[domains.len() - 2..], ["00000003", "00000004"]);
    assert_eq!(
        f("SRAT", "Device Handle"),
        [
            "41 43 50 49 30 30 31 36 01 00 00 00 00 00 00 00",
            "41 43 50 49 30 30 31 36 02 00 00 00 00 00 00 00",
        ]
    );
    assert_eq!(f("SRAT", "Enabled"), ["1"; 8]);

    // HMAT: RAM attached to the vCPUs, then read/write latency/bandwidth
    // from domain 0 to RAM and both generic ports.
    assert_eq!(f("HMAT", "Revision"), ["02"]);
    assert_eq!(
        f("HMAT", "Structure Type"),
        [
            "0000 [Memory Proximity Domain Attributes]",
            "0001 [System Locality Latency and Bandwidth Information]",
            "0001 [System Locality Latency and Bandwidth Information]",
            "0001 [System Locality Latency and Bandwidth Information]",
            "0001 [System Locality Latency and Bandwidth Information]",
        ]
    );
    assert_eq!(f("HMAT", "Memory Proximity Domain"), ["00000000"]);
    assert_eq!(f("HMAT", "Data Type"), ["01", "02", "04", "05"]);
    assert_eq!(
        f("HMAT", "Entry Base Unit"),
        [
            "00000000000003E8",
            "00000000000003E8",
            "0000000000000001",
            "0000000000000001"
        ]
    );
    assert_eq!(
        f("HMAT", "Target Proximity Domain List"),
        ["00000000", "00000003", "00000004"].repeat(4)
    );
    let latency = ["0050", "0064", "0064"]; // 80 ns, 100 ns
    let bandwidth = ["C800", "FA00", "FA00"]; // 51200 MB/s, 64000 MB/s
    assert_eq!(
        f("HMAT", "Entry"),
        [latency, latency, bandwidth, bandwidth].concat()
    );

    let x = Exec::new(&t, &tables, &dir);

    // CXL _OSC: PCIe controls masked to what is granted, CXL memory error
    // reporting granted when asked, support DWORDs untouched.
    let r = x.osc("CXL1", CXL_UUID, 1, &[1, 0x1f, 0xbf, 0xf, 1]);
    assert_eq!(r, [0x11, 0x1f, 0x1d, 0xf, 1]);
    let r = x.osc("CXL2", CXL_UUID, 1, &[0, 0x1f, 0x1d, 0x7, 1]);
    assert_eq!(r, [0, 0x1f, 0x1d, 0x7, 1]);
    let r = x.osc("CXL2", CXL_UUID, 1, &[0, 0x1f, 0x1d, 0x7, 0]);
    assert_eq!(r, [0, 0x1f, 0x1d, 0x7, 0], "not asked, not granted");
    let r = x.osc("CXL2", CXL_UUID, 1, &[0, 0x1f, 0x1d, 0x7, 3]);
    assert_eq!(r, [0x10, 0x1f, 0x1d, 0x7, 1], "unknown CXL control masked");
    // The PCIe UUID Linux falls back to when the CXL _OSC fails.
    assert_eq!(
        x.osc("CXL1", PCIE_UUID, 1, &[0, 0x1f, 0x1d]),
        [0, 0x1f, 0x1d]
    );
    assert_eq!(x.osc("CXL1", OTHER_UUID, 1, &[0, 0x1f, 0x1d])[0], 0x04);

    let hid = x.eval("\\_SB.CXL1._HID", "");
    assert_eq!(hid, ["[String] Length 08 = \"ACPI0016\""]);
    assert_eq!(
        x.eval("\\_SB.CXL2._UID", ""),
        ["[Integer] = 0000000000000002"]
    );
    assert_eq!(
        x.crs("CXL2"),
        [
            Resource::Address(2, 0xc0, 0xff, 0x40),
            Resource::Address(0, 0xdf00_0000, 0xdfff_ffff, 0x100_0000),
            Resource::Address(0, 0x4f_0000_0000, 0x4f_ffff_ffff, 0x1_0000_0000),
        ]
    );
    assert_eq!(x.crs("PCI0")[0], Resource::Address(2, 0, 0x7f, 0x80));

    let dsm = |args: &str| x.eval("\\_SB.CXLM._DSM", args);
    assert_eq!(buffer(&dsm(&format!("{QTG_UUID} 1 0 0"))), [0x03]);
    assert_eq!(
        dsm(&format!("{QTG_UUID} 1 1 [10 20 30 40]")),
        [
            "[Package] Contains 2 Elements:",
            "[Integer] = 0000000000000003",
            "[Package] Contains 2 Elements:",
            "[Integer] = 0000000000000000",
            "[Integer] = 0000000000000003",
        ]
    );
    assert_eq!(buffer(&dsm(&format!("{OTHER_UUID} 1 0 0"))), [0]);
    fs::remove_dir_all(&dir).unwrap();
}
