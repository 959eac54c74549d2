//! `cxlvmm --dump-acpi DIR` output, disassembled by trixie's iasl: every
//! table must come through with no errors or warnings (the acpi crate's own
//! tests go further: round trips and acpiexec evaluation).

use std::path::{Path, PathBuf};
use std::process::Command;

use vmm::launcher::launch;

fn iasl() -> Option<PathBuf> {
    if std::env::var("CXLVMM_SKIP_IASL").as_deref() == Ok("1") {
        eprintln!("CXLVMM_SKIP_IASL=1: not disassembling");
        return None;
    }
    let p = std::env::var_os("CXLVMM_IASL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/iasl"));
    assert!(
        p.is_file(),
        "{} not found: run scripts/fetch-iasl.sh (or set CXLVMM_IASL, or CXLVMM_SKIP_IASL=1)",
        p.display()
    );
    Some(p)
}

fn dump_and_disassemble(name: &str, args: &[&str]) {
    let dir = std::env::temp_dir().join(format!("cxlvmm-dump-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut argv = vec!["cxlvmm", "--dump-acpi", dir.to_str().unwrap()];
    argv.extend_from_slice(args);
    let out = launch(argv);
    assert_eq!(out.code, 0, "{out:?}");
    let mut tables: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    tables.sort();
    // RSDP: signature and both checksums (iasl cannot disassemble a bare RSDP).
    let rsdp = std::fs::read(dir.join("RSDP.dat")).unwrap();
    assert_eq!(&rsdp[..8], b"RSD PTR ");
    assert_eq!(rsdp[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    assert_eq!(rsdp.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    let Some(iasl) = iasl() else { return };
    for t in tables.iter().filter(|t| *t != "RSDP.dat") {
        let out = Command::new(&iasl)
            .args(["-d", t])
            .current_dir(&dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "iasl -d {t}:\n{text}");
        for line in text.lines() {
            let l = line.to_ascii_lowercase();
            let error = l.contains("error") && !l.contains("0 errors");
            assert!(
                !error && !l.contains("warning"),
                "iasl -d {t}: {line}\n{text}"
            );
        }
        assert!(dir.join(t.replace(".dat", ".dsl")).is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_machine_tables_disassemble_cleanly() {
    dump_and_disassemble("default", &["--cpus", "4", "--memory", "4G"]);
}

#[test]
fn cxl_machine_tables_disassemble_cleanly() {
    dump_and_disassemble(
        "cxl",
        &[
            "--cpus",
            "2",
            "--cxl",
            "512M",
            "--cxl-host-bridge",
            "id=hb1",
            "--cxl-root-port",
            "id=rp1,bus=hb1",
            "--cxl-root-port",
            "id=rp2,bus=hb1",
            "--cxl-type3",
            "id=dcd0,port=rp1,dc-regions=2,dc-regions-total-size=2G",
            "--memory-backend",
            "id=v1,size=256M",
            "--cxl-type3",
            "id=m1,port=rp2,volatile-memdev=v1",
            "--cxl-fmw",
            "targets=hb1,size=4G,granularity=4K",
            "--cxl-fmw",
            "targets=cxl-hb0:hb1,size=2G",
        ],
    );
}
