//! results.md: the markdown tables.

use std::fmt::Write;

use crate::results::{Results, OPS, PATHS, VMMS};

/// A bandwidth figure: 3 significant digits, whatever the magnitude.
pub fn mb(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else if v > 0.0 {
        // 0.0123 -> 0.0123
        let digits = (-v.log10()).ceil() as usize + 2;
        format!("{v:.digits$}")
    } else {
        "0".into()
    }
}

/// A ratio: `12x`, `1.03x`, `0.5x`, or `—` when either side is missing.
pub fn ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{:.0}x", r),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) if r >= 0.01 => format!("{r:.2}x"),
        Some(r) => format!("{r:.1e}x"),
        None => "—".into(),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map(mb).unwrap_or_else(|| "—".into())
}

fn mode_cell(r: &Results, vmm: &str, path: &str) -> String {
    r.mode(vmm, path).unwrap_or("—").to_string()
}

/// The headline sentence: DC extent against RAM and against QEMU.
pub fn headline(r: &Results) -> String {
    let dc_ram = r.ratio(("cxlvmm", "dc"), ("cxlvmm", "ram"), "memcpy");
    let dc_qemu = r.ratio(("cxlvmm", "dc"), ("qemu", "dc"), "memcpy");
    let st_qemu = r.ratio(("cxlvmm", "static"), ("qemu", "static"), "memcpy");
    let il4k = r.ratio(("cxlvmm", "interleave_4k"), ("cxlvmm", "ram"), "memcpy");
    format!(
        "memcpy: cxlvmm's DC extent runs at {} of guest RAM and {} QEMU's; static CXL memory {} QEMU's; \
         the 4 KiB interleave at {} of guest RAM ({}).",
        ratio(dc_ram),
        ratio(dc_qemu),
        ratio(st_qemu),
        ratio(il4k),
        r.mode("cxlvmm", "interleave_4k").unwrap_or("path unknown"),
    )
}

/// The whole results.md.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "# cxlvmm vs QEMU: CXL memory seen from inside the guest\n"
    );
    let _ = writeln!(
        s,
        "Run: {} on {}; {} s in all. MB/s are 10^6 bytes/s, the median of the timed passes, \
         8-byte loads/stores (memcpy: word copies, bytes copied). Ratios within one run are what count.\n",
        if m.mode.is_empty() { "?" } else { &m.mode },
        if m.host.is_empty() { "?" } else { &m.host },
        m.run_seconds
    );
    let _ = writeln!(s, "{}\n", headline(r));
    let _ = writeln!(s, "## Bandwidth (MB/s)\n");
    let _ = writeln!(
        s,
        "| path | op | cxlvmm | QEMU | cxlvmm/QEMU | cxlvmm vs its RAM | cxlvmm path | QEMU path |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|---|---|");
    for p in PATHS {
        for op in OPS {
            let c = r.bw("cxlvmm", p, op);
            let q = r.bw("qemu", p, op);
            let _ = writeln!(
                s,
                "| {p} | {op} | {} | {} | {} | {} | {} | {} |",
                cell(c),
                cell(q),
                ratio(r.ratio(("cxlvmm", p), ("qemu", p), op)),
                ratio(r.ratio(("cxlvmm", p), ("cxlvmm", "ram"), op)),
                mode_cell(r, "cxlvmm", p),
                mode_cell(r, "qemu", p),
            );
        }
    }
    if let Some(h) = r.host_bandwidth_mb_s {
        let _ = writeln!(
            s,
            "\nThe host the VMMs ran on (L1 when nested), the physical limit: memcpy {} MB/s \
             (read {}, write {}).",
            mb(h.memcpy),
            mb(h.read),
            mb(h.write)
        );
    } else if let Some(h) = r.host_memcpy_mb_s {
        let _ = writeln!(s, "\nHost memcpy (the physical limit): {} MB/s.", mb(h));
    }
    if !r.bytes.is_empty() {
        let _ = writeln!(s, "\nBuffer per path (scaled to its speed), bytes:");
        for vmm in VMMS {
            if let Some(b) = r.bytes.get(vmm) {
                let list: Vec<String> = PATHS
                    .iter()
                    .filter_map(|p| b.get(*p).map(|n| format!("{p} {n}")))
                    .collect();
                let _ = writeln!(s, "- {vmm}: {}", list.join(", "));
            }
        }
    }

    if !r.dc_ops.is_empty() {
        let _ = writeln!(s, "\n## Dynamic Capacity: Add DC Response and Release DC\n");
        let _ = writeln!(
            s,
            "`respond` is the guest driver's mailbox command, doorbell to completion (in cxlvmm the memslot \
             is installed or removed, and a tagged backend bound or freed, before the doorbell clears); \
             `end to end` is the host's request until the guest's answer shows on its console. \
             Repeated measurements: the median, and the range in parentheses.\n"
        );
        let _ = writeln!(
            s,
            "| operation | size | cxlvmm respond (us) | cxlvmm end to end (ms) | QEMU respond (us) | QEMU end to end (ms) | cxlvmm backend free after |"
        );
        let _ = writeln!(s, "|---|---|--:|--:|--:|--:|---|");
        let mut keys: Vec<(String, String)> = Vec::new();
        for ops in r.dc_ops.values() {
            for o in ops {
                let k = (o.op.clone(), o.size.clone());
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        for (op, size) in keys {
            let find = |vmm: &str| {
                r.dc_ops
                    .get(vmm)
                    .and_then(|v| v.iter().find(|o| o.op == op && o.size == size))
            };
            let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".into());
            let us = |o: Option<&crate::results::DcOp>| match o {
                Some(o) => match (o.respond_us, o.respond_us_range) {
                    (Some(m), Some((lo, hi))) => format!("{m} ({lo}–{hi})"),
                    (v, _) => n(v),
                },
                None => "—".into(),
            };
            let c = find("cxlvmm");
            let q = find("qemu");
            let free = match c.and_then(|o| o.backend_free) {
                Some(true) => "yes",
                Some(false) => "no",
                None => "",
            };
            let _ = writeln!(
                s,
                "| {op} | {size} | {} | {} | {} | {} | {free} |",
                us(c),
                n(c.and_then(|o| o.e2e_ms)),
                us(q),
                n(q.and_then(|o| o.e2e_ms)),
            );
        }
    }

    if !r.dc_add_n.is_empty() {
        let _ = writeln!(s, "\n## Adding N extents end to end\n");
        let _ = writeln!(
            s,
            "N extents of 2 MiB, from the first request until the guest has accepted them all. The requests columns say how many it took: cxlvmm offers the N of one API request as one More chain; QEMU is asked once per extent over QMP, each waited for.\n"
        );
        let _ = writeln!(
            s,
            "| N | cxlvmm (ms) | cxlvmm requests | QEMU (ms) | QEMU requests |"
        );
        let _ = writeln!(s, "|--:|--:|--:|--:|--:|");
        let mut ns: Vec<u64> = r.dc_add_n.values().flatten().map(|d| d.n).collect();
        ns.sort_unstable();
        ns.dedup();
        for n in ns {
            let get = |vmm: &str| {
                r.dc_add_n
                    .get(vmm)
                    .and_then(|v| v.iter().find(|d| d.n == n))
            };
            let ms = |d: Option<&crate::results::DcAddN>| {
                d.map(|d| d.e2e_ms.to_string())
                    .unwrap_or_else(|| "—".into())
            };
            let rq = |d: Option<&crate::results::DcAddN>| {
                d.map(|d| d.requests.to_string())
                    .unwrap_or_else(|| "—".into())
            };
            let _ = writeln!(
                s,
                "| {n} | {} | {} | {} | {} |",
                ms(get("cxlvmm")),
                rq(get("cxlvmm")),
                ms(get("qemu")),
                rq(get("qemu"))
            );
        }
    }

    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Results;

    const LOG: &str = "\
E2E-BENCH: vmm=host kind=bw path=ram bytes=1 passes=1 read=900 write=800 memcpy=700
E2E-BENCH: vmm=cxlvmm kind=bw path=ram bytes=1 passes=1 read=500 write=400 memcpy=300
E2E-BENCH: vmm=cxlvmm kind=bw path=dc bytes=1 passes=1 read=450 write=410 memcpy=270
E2E-BENCH: vmm=cxlvmm kind=bw path=interleave_256 bytes=1 passes=1 read=0.02 write=0.02 memcpy=0.0123
E2E-BENCH: vmm=cxlvmm kind=path path=dc mode=memslot
E2E-BENCH: vmm=cxlvmm kind=path path=interleave_256 mode=trapped
E2E-BENCH: vmm=qemu kind=bw path=dc bytes=1 passes=1 read=0.04 write=0.05 memcpy=0.03
E2E-BENCH: vmm=qemu kind=path path=dc mode=emulated
E2E-BENCH: vmm=cxlvmm kind=dc op=add size=2M respond_us=1200 e2e_ms=350
E2E-BENCH: vmm=qemu kind=dc op=add size=2M respond_us=800 e2e_ms=300
E2E-BENCH: vmm=cxlvmm kind=dc op=release size=2M respond_us=900 e2e_ms=300 backend_free=yes
E2E-BENCH: vmm=cxlvmm kind=dc op=release size=2M respond_us=700 e2e_ms=200 backend_free=yes
E2E-BENCH: vmm=cxlvmm kind=dcn n=16 requests=16 e2e_ms=8000
E2E-BENCH: vmm=qemu kind=dcn n=16 requests=16 e2e_ms=9000
";

    #[test]
    fn numbers_format() {
        assert_eq!(mb(1234.56), "1235");
        assert_eq!(mb(12.345), "12.3");
        assert_eq!(mb(1.2345), "1.23");
        assert_eq!(mb(0.0123), "0.0123");
        assert_eq!(mb(0.5), "0.500");
        assert_eq!(ratio(Some(9000.0)), "9000x");
        assert_eq!(ratio(Some(0.9)), "0.90x");
        assert_eq!(ratio(Some(0.000041)), "4.1e-5x");
        assert_eq!(ratio(None), "—");
    }

    #[test]
    fn bandwidth_rows_with_ratios_and_paths() {
        let md = render(&Results::from_log(LOG));
        assert!(
            md.contains("| dc | memcpy | 270 | 0.0300 | 9000x | 0.90x | memslot | emulated |"),
            "{md}"
        );
        assert!(md.contains("| interleave_256 | memcpy | 0.0123 | — | — | 4.1e-5x | trapped | — |"));
        assert!(md.contains("| static | read | — | — | — | — | — | — |"));
        assert!(md.contains("physical limit: memcpy 700 MB/s"));
        assert!(md.contains("DC extent runs at 0.90x of guest RAM and 9000x QEMU's"));
    }

    #[test]
    fn dc_tables() {
        let md = render(&Results::from_log(LOG));
        assert!(
            md.contains("| add | 2M | 1200 | 350 | 800 | 300 |  |"),
            "{md}"
        );
        assert!(
            md.contains("| release | 2M | 700 (700–900) | 200 | — | — | yes |"),
            "{md}"
        );
        assert!(md.contains("| 16 | 8000 | 16 | 9000 | 16 |"));
        assert!(md.contains("- qemu static: no result"));
    }
}
