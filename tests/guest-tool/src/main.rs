//! `cxl-guest`: the end-to-end tests' helper program.
//!
//! ```text
//! cxl-guest numa-write NODE LEN SEED [--hold]   write the pattern into LEN bytes bound to NUMA node NODE;
//!                                               print PHYS=<physical address of byte 0>
//! cxl-guest map-write PATH OFFSET LEN SEED [MAPLEN]
//!                                               write the pattern through a shared mapping of PATH
//!                                               (MAPLEN bytes mapped, default LEN: DAX needs 2 MiB)
//! cxl-guest map-check PATH OFFSET LEN SEED [MAPLEN]
//!                                               check it reads back
//! cxl-guest map-zero PATH OFFSET LEN [MAPLEN]   check every byte of it reads zero (a sanitized device)
//! cxl-guest file-check FILE FILE_OFFSET LEN SEED
//!                                               check FILE holds the pattern of region offsets 0..LEN at FILE_OFFSET
//! cxl-guest interleave-check GRANULARITY LEN SEED FILE0:OFF0 [FILE1:OFF1 ...]
//!                                               check the pattern of region offsets 0..LEN, split over the files by
//!                                               modulo interleave, in the files (each at its base offset)
//! cxl-guest map-bench PATH OFFSET LEN [MAPLEN]
//!                                               time 8-byte stores, then loads, over LEN bytes of a shared
//!                                               mapping of PATH (`ram`: anonymous memory); print MB/s
//! cxl-guest dcd-serve WINDOW SEED PLAN       drive the DCD device from user space (see dcd.rs):
//!                                               PLAN is accept/bare/decline/slow words for successive
//!                                               offers; CXL_GUEST_SERIAL=N picks the device by serial
//! cxl-guest mbox OPCODE [HEX]                run one mailbox command (input bytes in hex) on the CXL
//!                                               memory device no kernel driver holds (CXL_GUEST_SERIAL=N
//!                                               picks it); print `rc=0x0 out=HEX`, fail on a nonzero rc
//! cxl-guest bench LABEL TARGET OFFSET MAXLEN [BUDGET_MS [PASSES]]
//!                                               read/write/memcpy bandwidth of TARGET (`anon` for
//!                                               private RAM, or a file: /dev/mem, /dev/daxN.M) from
//!                                               OFFSET, at most MAXLEN bytes (see bench.rs); prints
//!                                               one `E2E-BENCH: kind=bw path=LABEL ...` line
//! cxl-guest qmp SOCKET COMMAND_JSON...        run QMP commands on QEMU's unix socket; prints each
//!                                               answer, fails on the first error
//! cxl-guest mapped LOG HPA                    `memslot` if cxlvmm's -v LOG shows a memslot mapped
//!                                               over HPA, else `trapped`
//! ```
//! Exit status 0 on success; errors and mismatches are one line on stderr.

mod bench;
mod dcd;
mod mem;
mod pattern;
mod qmp;

use std::io::{Read, Seek, SeekFrom};

use mem::Mapping;
use pattern::{interleave, parse_u64, word};

fn arg(args: &[String], i: usize, what: &str) -> Result<u64, String> {
    let s = args.get(i).ok_or_else(|| format!("missing {what}"))?;
    parse_u64(s).map_err(|e| format!("{what}: {e}"))
}

/// The optional MAPLEN argument at `i` (at least `len`), else `len`.
fn map_len(args: &[String], i: usize, len: usize) -> Result<usize, String> {
    match args.get(i) {
        Some(_) => Ok((arg(args, i, "MAPLEN")? as usize).max(len)),
        None => Ok(len),
    }
}

fn read_word(f: &mut std::fs::File, off: u64) -> Result<u64, String> {
    f.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    let mut b = [0u8; 8];
    f.read_exact(&mut b)
        .map_err(|e| format!("read at {off:#x}: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn run(args: &[String]) -> Result<(), String> {
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    match cmd {
        "numa-write" => {
            let node = arg(args, 2, "NODE")? as u32;
            let len = arg(args, 3, "LEN")? as usize;
            let seed = arg(args, 4, "SEED")?;
            let m = Mapping::on_node(node, len)?;
            for off in (0..len).step_by(8) {
                m.write_u64(off, word(seed, off as u64));
            }
            println!("PHYS={:#x}", m.phys(0)?);
            for off in (4096..len).step_by(4096) {
                println!("PHYS{off:#x}={:#x}", m.phys(off)?);
            }
            if args.iter().any(|a| a == "--hold") {
                println!("HOLDING");
                // SAFETY: pause(2) just sleeps until a signal.
                loop {
                    unsafe { libc::pause() };
                }
            }
            Ok(())
        }
        "map-write" | "map-check" => {
            let path = args.get(2).ok_or("missing PATH")?;
            let offset = arg(args, 3, "OFFSET")?;
            let len = arg(args, 4, "LEN")? as usize;
            let seed = arg(args, 5, "SEED")?;
            let map_len = map_len(args, 6, len)?;
            let m = Mapping::file(path, offset, map_len)?;
            for off in (0..len).step_by(8) {
                if cmd == "map-write" {
                    m.write_u64(off, word(seed, off as u64));
                } else {
                    let got = m.read_u64(off);
                    let want = word(seed, off as u64);
                    if got != want {
                        return Err(format!(
                            "{path}+{:#x}: {got:#x}, want {want:#x}",
                            offset + off as u64
                        ));
                    }
                }
            }
            println!("{cmd} ok: {len} bytes at {path}+{offset:#x}");
            Ok(())
        }
        "map-zero" => {
            let path = args.get(2).ok_or("missing PATH")?;
            let offset = arg(args, 3, "OFFSET")?;
            let len = arg(args, 4, "LEN")? as usize;
            let map_len = map_len(args, 5, len)?;
            let m = Mapping::file(path, offset, map_len)?;
            for off in (0..len).step_by(8) {
                let got = m.read_u64(off);
                if got != 0 {
                    return Err(format!(
                        "{path}+{:#x}: {got:#x}, want 0",
                        offset + off as u64
                    ));
                }
            }
            println!("map-zero ok: {len} bytes at {path}+{offset:#x}");
            Ok(())
        }
        "map-bench" => {
            let path = args.get(2).ok_or("missing PATH")?;
            let offset = arg(args, 3, "OFFSET")?;
            let len = arg(args, 4, "LEN")? as usize;
            let map_len = map_len(args, 5, len)?;
            let m = if path == "ram" {
                Mapping::on_node(0, map_len)?
            } else {
                Mapping::file(path, offset, map_len)?
            };
            let mb_s = |t: std::time::Duration| len as f64 / 1e6 / t.as_secs_f64().max(1e-9);
            // Fault every page in first: the figures are steady-state.
            for off in (0..len).step_by(4096) {
                m.write_u64(off, 0);
            }
            let t = std::time::Instant::now();
            for off in (0..len).step_by(8) {
                m.write_u64(off, off as u64);
            }
            let write = mb_s(t.elapsed());
            let t = std::time::Instant::now();
            let mut sum = 0u64;
            for off in (0..len).step_by(8) {
                sum = sum.wrapping_add(m.read_u64(off));
            }
            let read = mb_s(t.elapsed());
            println!("map-bench {path}: {len} bytes, write {write:.3} MB/s, read {read:.3} MB/s (sum {sum:#x})");
            Ok(())
        }
        "file-check" => {
            let path = args.get(2).ok_or("missing FILE")?;
            let base = arg(args, 3, "FILE_OFFSET")?;
            let len = arg(args, 4, "LEN")?;
            let seed = arg(args, 5, "SEED")?;
            let mut f = std::fs::File::open(path).map_err(|e| format!("open {path}: {e}"))?;
            for off in (0..len).step_by(8) {
                let got = read_word(&mut f, base + off)?;
                if got != word(seed, off) {
                    return Err(format!(
                        "{path}+{:#x}: {got:#x}, want {:#x}",
                        base + off,
                        word(seed, off)
                    ));
                }
            }
            println!("file-check ok: {len} bytes at {path}+{base:#x}");
            Ok(())
        }
        "interleave-check" => {
            let gran = arg(args, 2, "GRANULARITY")?;
            let len = arg(args, 3, "LEN")?;
            let seed = arg(args, 4, "SEED")?;
            let mut files = Vec::new();
            for spec in args.iter().skip(5) {
                let (p, o) = spec.split_once(':').ok_or("FILE:OFFSET expected")?;
                let f = std::fs::File::open(p).map_err(|e| format!("open {p}: {e}"))?;
                files.push((p.to_string(), f, parse_u64(o)?));
            }
            let ways = files.len() as u64;
            if ways == 0 || gran == 0 {
                return Err("need files and a granularity".into());
            }
            let mut per_file = vec![0u64; files.len()];
            for off in (0..len).step_by(8) {
                let (pos, dev_off) = interleave(off, ways, gran);
                let (p, f, base) = &mut files[pos as usize];
                let got = read_word(f, *base + dev_off)?;
                if got != word(seed, off) {
                    return Err(format!(
                        "region offset {off:#x} -> {p}+{:#x}: {got:#x}, want {:#x}",
                        *base + dev_off,
                        word(seed, off)
                    ));
                }
                per_file[pos as usize] += 8;
            }
            println!("interleave-check ok: {len} bytes, per file {per_file:?}");
            Ok(())
        }
        "dcd-serve" => {
            let window = arg(args, 2, "WINDOW")?;
            let seed = arg(args, 3, "SEED")?;
            let plan = args.get(4).map(String::as_str).unwrap_or("");
            dcd::serve(window, seed, plan)
        }
        "mbox" => {
            let opcode =
                u16::try_from(arg(args, 2, "OPCODE")?).map_err(|_| "OPCODE: over 0xffff")?;
            let hex = args.get(3).map(String::as_str).unwrap_or("");
            if !hex.len().is_multiple_of(2) {
                return Err(format!("HEX: odd number of digits in '{hex}'"));
            }
            let input = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| format!("HEX '{hex}': {e}"))?;
            let dev = dcd::Device::find()?;
            match dev.mbox(opcode, &input) {
                Ok(out) => {
                    let out: String = out.iter().map(|b| format!("{b:02x}")).collect();
                    println!("rc=0x0 out={out}");
                    Ok(())
                }
                Err(rc) => Err(format!(
                    "{}: opcode {opcode:#06x}: return code {rc:#x}",
                    dev.name()
                )),
            }
        }
        "bench" => {
            let label = args.get(2).ok_or("missing LABEL")?;
            let target = args.get(3).ok_or("missing TARGET")?;
            let offset = arg(args, 4, "OFFSET")?;
            let max = arg(args, 5, "MAXLEN")? as usize;
            let budget_ms = if args.len() > 6 {
                arg(args, 6, "BUDGET_MS")?
            } else {
                500
            };
            let passes = if args.len() > 7 {
                arg(args, 7, "PASSES")?
            } else {
                3
            } as usize;
            // DAX devices map in 2 MiB units.
            let map_len = max.next_multiple_of(2 << 20);
            let m = if target == "anon" {
                Mapping::anon(map_len)?
            } else {
                Mapping::file(target, offset, map_len)?
            };
            let r = bench::run(&m, max, budget_ms as f64 / 1000.0, passes);
            println!("{}", bench::line(label, &r));
            Ok(())
        }
        "qmp" => {
            let socket = args.get(2).ok_or("missing SOCKET")?;
            qmp::run(socket, &args[3..])
        }
        "mapped" => {
            let log = args.get(2).ok_or("missing LOG")?;
            let hpa = arg(args, 3, "HPA")?;
            let text = std::fs::read_to_string(log).map_err(|e| format!("{log}: {e}"))?;
            println!(
                "{}",
                if qmp::log_maps(&text, hpa) {
                    "memslot"
                } else {
                    "trapped"
                }
            );
            Ok(())
        }
        _ => Err(format!("unknown command '{cmd}' (see the source's header)")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = run(&args) {
        eprintln!("cxl-guest: {e}");
        std::process::exit(1);
    }
}
