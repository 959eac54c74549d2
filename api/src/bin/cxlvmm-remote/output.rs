//! Human-readable output: aligned tables and `key value` lines.

use api::{
    ApiRequest, ApiResponse, CxlDeviceInfo, DcExtent, ExtentChange, ExtentEntry, FaultList,
    FaultRequest, MemoryBackendInfo, MemoryPath, VmInfo, VmState,
};

/// The text printed for `response` to `request`.
pub fn render(request: &ApiRequest, response: &ApiResponse) -> String {
    match response {
        ApiResponse::VmInfo(v) => vm_info(v),
        ApiResponse::Backends(list) => backends(list),
        ApiResponse::BackendCreated(b) => backends(std::slice::from_ref(b)),
        ApiResponse::Devices(list) => devices(list),
        ApiResponse::DcExtents(list) => dc_extents(&list.extents),
        ApiResponse::ReleaseStatus(s) => format!("{}\n", s.status.as_str()),
        ApiResponse::Extents(list) => extents(list),
        ApiResponse::FaultCreated(f) => match request {
            ApiRequest::FaultAdd { device, fault } => {
                format!("fault {} armed on {device}: {}\n", f.id, fault.name())
            }
            ApiRequest::DcFaultAdd { device, fault } => {
                format!("fault {} posted on {device}: {}\n", f.id, fault.name())
            }
            _ => format!("fault {}\n", f.id),
        },
        ApiResponse::Faults(list) => faults(list),
        ApiResponse::FaultsCleared(c) => format!("cleared {} fault(s)\n", c.cleared.len()),
        ApiResponse::Done => match request {
            ApiRequest::VmShutdown => "shutting down\n".into(),
            ApiRequest::BackendRemove { id } => format!("removed {id}\n"),
            ApiRequest::Inject { device, injection } => {
                format!("injected {} into {device}\n", injection.name())
            }
            _ => "done\n".into(),
        },
    }
}

fn faults(list: &FaultList) -> String {
    let mut rows: Vec<Vec<String>> = list
        .faults
        .iter()
        .map(|f| {
            let (opcode, detail) = match f.fault {
                FaultRequest::ReturnCode {
                    opcode,
                    return_code,
                    ..
                } => (Some(opcode), format!("return-code {return_code:#06x}")),
                FaultRequest::DoorbellStuck {
                    opcode, hold_ms, ..
                } => (
                    opcode,
                    format!("hold {} ms", hold_ms.unwrap_or(api::DEFAULT_FAULT_HOLD_MS)),
                ),
                FaultRequest::BackgroundHold { opcode, ms, .. } => {
                    (Some(opcode), format!("{ms} ms"))
                }
            };
            vec![
                f.id.to_string(),
                f.fault.name().into(),
                opcode.map_or("any".into(), |o| format!("{o:#06x}")),
                f.remaining.to_string(),
                detail,
            ]
        })
        .collect();
    rows.extend(list.dc_faults.iter().map(|f| {
        let extents: Vec<String> = f
            .extents
            .iter()
            .map(|e| format!("{}+{}", hex(e.dpa), size(e.len)))
            .collect();
        vec![
            f.id.to_string(),
            f.fault.name().into(),
            "-".into(),
            "-".into(),
            extents.join(" "),
        ]
    }));
    table(&["ID", "KIND", "OPCODE", "LEFT", "DETAIL"], rows)
}

fn vm_info(v: &VmInfo) -> String {
    let state = match v.state {
        VmState::Running => "running",
        VmState::ShuttingDown => "shutting-down",
    };
    table(
        &[],
        vec![
            vec!["state".into(), state.into()],
            vec!["cpus".into(), v.cpus.to_string()],
            vec!["memory".into(), size(v.memory)],
            vec!["devices".into(), v.devices.to_string()],
            vec!["version".into(), v.version.clone()],
        ],
    )
}

fn backends(list: &[MemoryBackendInfo]) -> String {
    let rows = list
        .iter()
        .map(|b| {
            vec![
                b.config.id.clone(),
                b.config.kind.as_str().into(),
                size(b.config.size),
                yes_no(b.config.share),
                yes_no(b.config.prealloc),
                opt(b.config.tag),
                b.bound_to.as_ref().map_or("-".into(), |t| {
                    format!(
                        "{} region {} {}+{}",
                        t.device,
                        t.extent.region,
                        hex(t.extent.offset),
                        size(t.extent.len)
                    )
                }),
                b.config
                    .path
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string()),
            ]
        })
        .collect();
    let head = [
        "ID", "KIND", "SIZE", "SHARE", "PREALLOC", "TAG", "BOUND-TO", "PATH",
    ];
    table(&head, rows)
}

fn devices(list: &[CxlDeviceInfo]) -> String {
    let mut out = String::new();
    for d in list {
        out.push_str(&format!(
            "{}  serial {}  static capacity {}\n",
            d.id,
            hex(d.serial),
            size(d.static_capacity)
        ));
        let rows = d
            .dc_regions
            .iter()
            .map(|r| {
                vec![
                    format!("  {}", r.index),
                    hex(r.base),
                    size(r.length),
                    size(r.block_size),
                    r.dsmad_handle.to_string(),
                    r.sanitize_on_release.map_or("-".into(), yes_no),
                ]
            })
            .collect();
        let head = ["  REGION", "BASE", "LENGTH", "BLOCK", "DSMAD", "SANITIZE"];
        out.push_str(&table(&head, rows));
        if let Some(l) = &d.dc_event_log {
            out.push_str(&format!(
                "  DC event log: {} of {} records ({} read by the guest){}\n",
                l.used,
                l.depth,
                l.read,
                if l.full {
                    ", FULL: adds are refused"
                } else {
                    ""
                }
            ));
        }
        for r in &d.hpa_ranges {
            let path = match r.path {
                MemoryPath::Direct => "direct",
                MemoryPath::Composed => "composed",
                MemoryPath::Trapped => "trapped",
            };
            out.push_str(&format!(
                "  HPA {}+{}  {path}{}\n",
                hex(r.hpa),
                size(r.len),
                r.reason
                    .as_ref()
                    .map_or(String::new(), |w| format!(" ({w})"))
            ));
        }
    }
    out
}

/// An extent's tag, if it has one.
fn tag(e: &DcExtent) -> String {
    opt((!e.tag.is_nil()).then_some(e.tag))
}

fn dc_extents(list: &[ExtentChange]) -> String {
    let rows = list
        .iter()
        .map(|c| {
            let e = &c.extent;
            vec![
                e.region.to_string(),
                hex(e.region_offset),
                size(e.len),
                hex(e.dpa),
                c.state.as_str().into(),
                tag(e),
            ]
        })
        .collect();
    table(&["REGION", "OFFSET", "LEN", "DPA", "STATE", "TAG"], rows)
}

fn extents(list: &[ExtentEntry]) -> String {
    let rows = list
        .iter()
        .map(|x| {
            let e = &x.info.extent;
            vec![
                e.region.to_string(),
                hex(e.region_offset),
                size(e.len),
                hex(e.dpa),
                x.hpa.map_or("-".into(), hex),
                api::ExtentStatus::from(x.info.state).as_str().into(),
                yes_no(x.mapped),
                x.backend.clone().unwrap_or_else(|| "-".into()),
                tag(e),
            ]
        })
        .collect();
    let head = [
        "REGION", "OFFSET", "LEN", "DPA", "HPA", "STATE", "MAPPED", "BACKEND", "TAG",
    ];
    table(&head, rows)
}

/// Left-aligned columns two spaces apart; no trailing blanks.
fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all: Vec<Vec<String>> = Vec::with_capacity(rows.len() + 1);
    if !head.is_empty() {
        all.push(head.iter().map(|h| h.to_string()).collect());
    }
    all.extend(rows);
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `256M` when a whole number of K/M/G/T, else bytes.
fn size(n: u64) -> String {
    for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n.trailing_zeros() >= shift {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0");
        assert_eq!(size(4096), "4K");
        assert_eq!(size(256 << 20), "256M");
        assert_eq!(size(3 << 40), "3T");
        assert_eq!(size(1000), "1000");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], vec![vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\n");
    }
}
