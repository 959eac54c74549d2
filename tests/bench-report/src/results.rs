//! The benchmark's results: parsed from the `E2E-BENCH:` lines that
//! `resources/scenarios/bench/host.sh` prints, stored as results.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The memory paths, in table order.
pub const PATHS: [&str; 5] = ["ram", "static", "dc", "interleave_4k", "interleave_256"];
/// The VMMs compared, in table order.
pub const VMMS: [&str; 2] = ["cxlvmm", "qemu"];
/// The operations measured on each path.
pub const OPS: [&str; 3] = ["read", "write", "memcpy"];

/// Read, write and memcpy bandwidth of one path, MB/s (10^6 bytes/s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub read: f64,
    pub write: f64,
    pub memcpy: f64,
}

impl Bandwidth {
    /// The figure for `op` (one of OPS).
    pub fn get(&self, op: &str) -> Option<f64> {
        match op {
            "read" => Some(self.read),
            "write" => Some(self.write),
            "memcpy" => Some(self.memcpy),
            _ => None,
        }
    }
}

/// One timed Dynamic Capacity operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DcOp {
    /// `add` (offer to Add DC Response done) or `release`.
    pub op: String,
    /// Extent size as given (`2M`, `1G`).
    pub size: String,
    /// How long the guest's Add DC Response / Release DC mailbox command
    /// took, doorbell to completion (in cxlvmm this includes installing or
    /// removing the memslot, which happens on the vCPU thread before the
    /// doorbell clears).
    pub respond_us: Option<u64>,
    /// Host request to the guest's answer seen on the console.
    pub e2e_ms: Option<u64>,
    /// After a release: whether the extent's own backend was free again
    /// (every time, when repeated).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub backend_free: Option<bool>,
    /// How many times it was measured: `respond_us` and `e2e_ms` are then
    /// medians, and `respond_us_range` the lowest and highest.
    #[serde(default = "one")]
    pub samples: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub respond_us_range: Option<(u64, u64)>,
}

fn one() -> u64 {
    1
}

/// The median of `v` (the lower middle one for an even count).
fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Folds repeated measurements of the same operation and size into one.
fn fold_repeats(ops: Vec<DcOp>) -> Vec<DcOp> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for o in &ops {
        let k = (o.op.clone(), o.size.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(op, size)| {
            let same: Vec<&DcOp> = ops
                .iter()
                .filter(|o| o.op == op && o.size == size)
                .collect();
            let respond: Vec<u64> = same.iter().filter_map(|o| o.respond_us).collect();
            let frees: Vec<bool> = same.iter().filter_map(|o| o.backend_free).collect();
            DcOp {
                respond_us_range: (respond.len() > 1).then(|| {
                    (
                        respond.iter().copied().min().unwrap_or(0),
                        respond.iter().copied().max().unwrap_or(0),
                    )
                }),
                respond_us: median(respond),
                e2e_ms: median(same.iter().filter_map(|o| o.e2e_ms).collect()),
                backend_free: (!frees.is_empty()).then(|| frees.iter().all(|f| *f)),
                samples: same.len() as u64,
                op,
                size,
            }
        })
        .collect()
}

/// Adding N extents end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DcAddN {
    pub n: u64,
    /// API or QMP requests it took.
    pub requests: u64,
    pub e2e_ms: u64,
}

/// Where and how the run was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `nested` or `direct`.
    pub mode: String,
    /// The machine the script ran on.
    pub host: String,
    /// Wall time of the run (boots included), seconds.
    pub run_seconds: u64,
}

/// Everything a run measured (results.json).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// VMM -> path -> bandwidth. A path a VMM could not run is absent, and
    /// `notes` says why.
    pub bandwidth_mb_s: BTreeMap<String, BTreeMap<String, Bandwidth>>,
    /// The (L1) host's own memcpy: the physical limit.
    pub host_memcpy_mb_s: Option<f64>,
    #[serde(default)]
    pub host_bandwidth_mb_s: Option<Bandwidth>,
    /// VMM -> path -> bytes the buffer had (scaled to the path's speed).
    #[serde(default)]
    pub bytes: BTreeMap<String, BTreeMap<String, u64>>,
    /// VMM -> path -> `memslot`, `trapped` (cxlvmm's emulated decode) or
    /// `emulated` (QEMU's I/O memory region).
    #[serde(default)]
    pub memory_path: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub dc_ops: BTreeMap<String, Vec<DcOp>>,
    #[serde(default)]
    pub dc_add_n: BTreeMap<String, Vec<DcAddN>>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub machine: Machine,
}

/// key=value fields of one line.
fn fields(s: &str) -> BTreeMap<&str, &str> {
    s.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn num<T: std::str::FromStr>(f: &BTreeMap<&str, &str>, k: &str) -> Option<T> {
    f.get(k).and_then(|v| v.parse().ok())
}

impl Results {
    /// Parses a console log: every `E2E-BENCH: vmm=V kind=K ...` line.
    /// Lines it does not understand are skipped; paths missing for a VMM
    /// that ran get a note.
    pub fn from_log(log: &str) -> Self {
        let mut r = Results::default();
        let mut ran: Vec<String> = Vec::new();
        for line in log.lines() {
            let Some(rest) = line.split("E2E-BENCH: ").nth(1) else {
                continue;
            };
            let f = fields(rest);
            let (Some(&vmm), Some(&kind)) = (f.get("vmm"), f.get("kind")) else {
                continue;
            };
            if vmm != "host" && !ran.iter().any(|v| v == vmm) {
                ran.push(vmm.to_string());
            }
            let path = f.get("path").copied().unwrap_or("");
            match kind {
                "bw" => {
                    let (Some(read), Some(write), Some(memcpy)) =
                        (num(&f, "read"), num(&f, "write"), num(&f, "memcpy"))
                    else {
                        continue;
                    };
                    let bw = Bandwidth {
                        read,
                        write,
                        memcpy,
                    };
                    if vmm == "host" {
                        r.host_memcpy_mb_s = Some(memcpy);
                        r.host_bandwidth_mb_s = Some(bw);
                        continue;
                    }
                    r.bandwidth_mb_s
                        .entry(vmm.into())
                        .or_default()
                        .insert(path.into(), bw);
                    if let Some(b) = num(&f, "bytes") {
                        r.bytes
                            .entry(vmm.into())
                            .or_default()
                            .insert(path.into(), b);
                    }
                }
                "path" => {
                    if let Some(m) = f.get("mode") {
                        r.memory_path
                            .entry(vmm.into())
                            .or_default()
                            .insert(path.into(), m.to_string());
                    }
                }
                "dc" => r.dc_ops.entry(vmm.into()).or_default().push(DcOp {
                    op: f.get("op").unwrap_or(&"?").to_string(),
                    size: f.get("size").unwrap_or(&"?").to_string(),
                    respond_us: num(&f, "respond_us"),
                    e2e_ms: num(&f, "e2e_ms"),
                    backend_free: f.get("backend_free").map(|v| *v == "yes"),
                    samples: 1,
                    respond_us_range: None,
                }),
                "dcn" => {
                    if let (Some(n), Some(requests), Some(e2e_ms)) =
                        (num(&f, "n"), num(&f, "requests"), num(&f, "e2e_ms"))
                    {
                        r.dc_add_n.entry(vmm.into()).or_default().push(DcAddN {
                            n,
                            requests,
                            e2e_ms,
                        });
                    }
                }
                "note" => {
                    // The text runs to the end of the line, spaces as '_'.
                    let text = rest
                        .split_once("text=")
                        .map(|(_, t)| t.replace('_', " "))
                        .unwrap_or_default();
                    r.notes.push(format!("{vmm} {path}: {}", text.trim()));
                }
                _ => {}
            }
        }
        for ops in r.dc_ops.values_mut() {
            *ops = fold_repeats(std::mem::take(ops));
        }
        for vmm in &ran {
            for p in PATHS {
                let has = r.bandwidth_mb_s.get(vmm).is_some_and(|m| m.contains_key(p));
                let noted = r
                    .notes
                    .iter()
                    .any(|n| n.starts_with(&format!("{vmm} {p}:")));
                if !has && !noted {
                    r.notes
                        .push(format!("{vmm} {p}: no result (see the console log)"));
                }
            }
        }
        r
    }

    /// Bandwidth of `vmm` on `path` for `op`.
    pub fn bw(&self, vmm: &str, path: &str, op: &str) -> Option<f64> {
        self.bandwidth_mb_s.get(vmm)?.get(path)?.get(op)
    }

    /// The memory path `vmm` took for `path`.
    pub fn mode(&self, vmm: &str, path: &str) -> Option<&str> {
        self.memory_path.get(vmm)?.get(path).map(String::as_str)
    }

    /// `a`'s bandwidth over `b`'s for `op` ((VMM, path) pairs).
    pub fn ratio(&self, a: (&str, &str), b: (&str, &str), op: &str) -> Option<f64> {
        let x = self.bw(a.0, a.1, op)?;
        let y = self.bw(b.0, b.1, op)?;
        (y > 0.0).then_some(x / y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const LOG: &str = "\
E2E-L1: booted
E2E-BENCH: vmm=host kind=bw path=ram bytes=1048576 passes=1 read=900.0 write=800.0 memcpy=700.0
E2E-BENCH: vmm=cxlvmm kind=bw path=ram bytes=1048576 passes=1 read=500.0 write=400.0 memcpy=300.0
E2E-BENCH: vmm=cxlvmm kind=bw path=dc bytes=1048576 passes=1 read=450.0 write=410.0 memcpy=290.0
E2E-BENCH: vmm=cxlvmm kind=bw path=interleave_256 bytes=8192 passes=1 read=0.02 write=0.02 memcpy=0.01
E2E-BENCH: vmm=cxlvmm kind=note path=static text=region_not_created:_no_space
E2E-BENCH: vmm=cxlvmm kind=path path=dc mode=memslot
E2E-BENCH: vmm=cxlvmm kind=path path=interleave_256 mode=trapped
E2E-BENCH: vmm=cxlvmm kind=dc op=add size=2M respond_us=1200 e2e_ms=350
E2E-BENCH: vmm=cxlvmm kind=dc op=release size=2M respond_us=900 e2e_ms=300 backend_free=yes
E2E-BENCH: vmm=cxlvmm kind=dc op=add size=2M respond_us=1000 e2e_ms=330
E2E-BENCH: vmm=cxlvmm kind=dc op=add size=2M respond_us=5000 e2e_ms=900
E2E-BENCH: vmm=cxlvmm kind=dcn n=16 requests=16 e2e_ms=8000
E2E-BENCH: vmm=qemu kind=bw path=dc bytes=8192 passes=1 read=0.04 write=0.05 memcpy=0.03
E2E-BENCH: vmm=qemu kind=path path=dc mode=emulated
E2E-BENCH: vmm=qemu kind=bw path=ram bytes=1048576 passes=1 read=bad write=1 memcpy=1
";

    #[test]
    fn parses_every_kind() {
        let r = Results::from_log(LOG);
        assert_eq!(r.host_memcpy_mb_s, Some(700.0));
        assert_eq!(r.bw("cxlvmm", "dc", "read"), Some(450.0));
        assert_eq!(r.bw("qemu", "dc", "memcpy"), Some(0.03));
        assert_eq!(r.bytes["cxlvmm"]["interleave_256"], 8192);
        assert_eq!(r.mode("cxlvmm", "interleave_256"), Some("trapped"));
        assert_eq!(r.mode("qemu", "dc"), Some("emulated"));
        // Three adds fold into one: medians and the range.
        assert_eq!(r.dc_ops["cxlvmm"].len(), 2);
        let add = &r.dc_ops["cxlvmm"][0];
        assert_eq!(add.samples, 3);
        assert_eq!(add.respond_us, Some(1200));
        assert_eq!(add.e2e_ms, Some(350));
        assert_eq!(add.respond_us_range, Some((1000, 5000)));
        let release = &r.dc_ops["cxlvmm"][1];
        assert_eq!(release.backend_free, Some(true));
        assert_eq!(release.samples, 1);
        assert_eq!(release.respond_us_range, None);
        assert_eq!(
            r.dc_add_n["cxlvmm"],
            vec![DcAddN {
                n: 16,
                requests: 16,
                e2e_ms: 8000
            }]
        );
        // A malformed line is skipped, not half-read.
        assert_eq!(r.bw("qemu", "ram", "write"), None);
    }

    #[test]
    fn absent_paths_have_notes() {
        let r = Results::from_log(LOG);
        assert!(r
            .notes
            .contains(&"cxlvmm static: region not created: no space".to_string()));
        assert!(r
            .notes
            .contains(&"cxlvmm interleave_4k: no result (see the console log)".to_string()));
        assert!(r
            .notes
            .contains(&"qemu ram: no result (see the console log)".to_string()));
        assert!(!r.notes.iter().any(|n| n.starts_with("cxlvmm dc:")));
    }

    #[test]
    fn json_round_trip_and_required_shape() {
        let r = Results::from_log(LOG);
        let s = serde_json::to_string_pretty(&r).unwrap();
        let back: Results = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["bandwidth_mb_s"]["cxlvmm"]["dc"]["memcpy"], 290.0);
        assert_eq!(v["host_memcpy_mb_s"], 700.0);
    }

    #[test]
    fn minimal_json_reads() {
        let s = r#"{"bandwidth_mb_s": {"cxlvmm": {"ram": {"read": 1, "write": 2, "memcpy": 3}},
                    "qemu": {}}, "host_memcpy_mb_s": 9}"#;
        let r: Results = serde_json::from_str(s).unwrap();
        assert_eq!(r.bw("cxlvmm", "ram", "memcpy"), Some(3.0));
        assert_eq!(r.host_memcpy_mb_s, Some(9.0));
        assert!(r.notes.is_empty());
    }

    #[test]
    fn ratios() {
        let r = Results::from_log(LOG);
        let q = r.ratio(("cxlvmm", "dc"), ("qemu", "dc"), "read").unwrap();
        assert!((q - 11250.0).abs() < 1e-6);
        assert_eq!(
            r.ratio(("cxlvmm", "static"), ("qemu", "static"), "read"),
            None
        );
    }
}
