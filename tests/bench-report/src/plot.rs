//! The SVG plots (plotters, SVG backend): bandwidth per path and VMM on a
//! log scale (the paths differ by five orders of magnitude), the Dynamic
//! Capacity response times, and adding N extents.

use std::path::Path;

use plotters::prelude::*;

use crate::results::{Results, OPS, PATHS, VMMS};

const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];
const HOST: RGBColor = RGBColor(90, 90, 90);

fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

fn short(path: &str) -> &str {
    match path {
        "interleave_4k" => "il 4K",
        "interleave_256" => "il 256",
        p => p,
    }
}

/// A log axis range covering `values` (positive ones), with a margin.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.1, 10.0);
    }
    (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().floor() + 1.0),
    )
}

/// bandwidth.svg: one panel per operation, a bar per VMM and path, the
/// The bar of VMM `k` (of two, side by side) in group `i`, from the
/// axis floor `lo` up to `v`.
fn bar(i: usize, k: usize, v: f64, lo: f64) -> Rectangle<(f64, f64)> {
    let x0 = i as f64 - 0.4 + 0.4 * k as f64;
    Rectangle::new([(x0, lo), (x0 + 0.38, v.max(lo))], COLORS[k].filled())
}

/// VMM `k`'s colour swatch in a legend at `(x, y)`.
fn legend_box(k: usize, x: i32, y: i32) -> Rectangle<(i32, i32)> {
    Rectangle::new([(x, y - 5), (x + 12, y + 5)], COLORS[k].filled())
}

/// host's figure as a line.
pub fn bandwidth(r: &Results, file: &Path) -> Result<(), String> {
    let root = SVGBackend::new(file, (1200, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let all = r
        .bandwidth_mb_s
        .values()
        .flat_map(|m| m.values())
        .flat_map(|b| [b.read, b.write, b.memcpy])
        .chain(
            r.host_bandwidth_mb_s
                .iter()
                .flat_map(|b| [b.read, b.write, b.memcpy]),
        );
    let (lo, hi) = log_range(all);
    let panels = root.split_evenly((1, 3));
    for (panel, op) in panels.iter().zip(OPS) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{op} (MB/s, log scale)"), ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(PATHS.len() as f64 - 0.5), (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(PATHS.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    PATHS
                        .get(i as usize)
                        .map(|p| short(p))
                        .unwrap_or("")
                        .to_string()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| crate::table::mb(*y))
            .draw()
            .map_err(err)?;
        for (k, vmm) in VMMS.iter().enumerate() {
            let bars: Vec<_> = PATHS
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let v = r.bw(vmm, p, op)?;
                    Some(bar(i, k, v, lo))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(*vmm)
                .legend(move |(x, y)| legend_box(k, x, y));
        }
        if let Some(h) = r.host_bandwidth_mb_s.and_then(|b| b.get(op)) {
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, h), (PATHS.len() as f64 - 0.5, h)],
                    HOST.stroke_width(2),
                ))
                .map_err(err)?
                .label("host")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], HOST.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// dc_ops.svg: Add DC Response / Release DC respond times per VMM.
pub fn dc_ops(r: &Results, file: &Path) -> Result<(), String> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for o in r.dc_ops.values().flatten() {
        let k = (o.op.clone(), o.size.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let root = SVGBackend::new(file, (800, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (lo, hi) = log_range(
        r.dc_ops
            .values()
            .flatten()
            .filter_map(|o| o.respond_us.map(|v| v.max(1) as f64)),
    );
    let n = keys.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Add DC Response / Release DC, guest's mailbox time (us, log scale)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo..hi).log_scale())
        .map_err(err)?;
    let labels: Vec<String> = keys.iter().map(|(o, s)| format!("{o} {s}")).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    for (k, vmm) in VMMS.iter().enumerate() {
        let bars: Vec<_> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, (op, size))| {
                let o = r
                    .dc_ops
                    .get(*vmm)?
                    .iter()
                    .find(|o| &o.op == op && &o.size == size)?;
                let v = o.respond_us? as f64;
                Some(bar(i, k, v, lo))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(*vmm)
            .legend(move |(x, y)| legend_box(k, x, y));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// dc_add_n.svg: adding N extents end to end, ms against N.
pub fn dc_add_n(r: &Results, file: &Path) -> Result<(), String> {
    let root = SVGBackend::new(file, (800, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (nlo, nhi) = log_range(r.dc_add_n.values().flatten().map(|d| d.n as f64));
    let (lo, hi) = log_range(
        r.dc_add_n
            .values()
            .flatten()
            .map(|d| d.e2e_ms.max(1) as f64),
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Adding N extents end to end (ms, log-log; cxlvmm: one request, QEMU: one per extent)",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((nlo..nhi).log_scale(), (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("N")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    for (k, vmm) in VMMS.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = r
            .dc_add_n
            .get(*vmm)
            .map(|v| {
                v.iter()
                    .map(|d| (d.n as f64, d.e2e_ms.max(1) as f64))
                    .collect()
            })
            .unwrap_or_default();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let c = COLORS[k];
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(*vmm)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 12, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Draws every plot into `dir`; returns the files written.
pub fn all(r: &Results, dir: &Path) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let mut draw = |name: &str, f: fn(&Results, &Path) -> Result<(), String>| {
        let p = dir.join(name);
        f(r, &p).map(|_| written.push(p.display().to_string()))
    };
    draw("bandwidth.svg", bandwidth)?;
    if !r.dc_ops.is_empty() {
        draw("dc_ops.svg", dc_ops)?;
    }
    if !r.dc_add_n.is_empty() {
        draw("dc_add_n.svg", dc_add_n)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ranges() {
        assert_eq!(log_range([0.017, 450.0].into_iter()), (0.01, 1000.0));
        assert_eq!(log_range([0.0].into_iter()), (0.1, 10.0));
    }

    #[test]
    fn draws_svgs() {
        let log = "\
E2E-BENCH: vmm=host kind=bw path=ram bytes=1 passes=1 read=900 write=800 memcpy=700
E2E-BENCH: vmm=cxlvmm kind=bw path=ram bytes=1 passes=1 read=500 write=400 memcpy=300
E2E-BENCH: vmm=qemu kind=bw path=dc bytes=1 passes=1 read=0.04 write=0.05 memcpy=0.03
E2E-BENCH: vmm=cxlvmm kind=dc op=add size=2M respond_us=1200 e2e_ms=350
E2E-BENCH: vmm=cxlvmm kind=dcn n=1 requests=1 e2e_ms=300
E2E-BENCH: vmm=cxlvmm kind=dcn n=16 requests=16 e2e_ms=8000
";
        let r = Results::from_log(log);
        let dir = std::env::temp_dir().join(format!("bench-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = all(&r, &dir).unwrap();
        assert_eq!(files.len(), 3);
        let svg = std::fs::read_to_string(dir.join("bandwidth.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("memcpy (MB/s, log scale)"));
        assert!(svg.contains("<rect"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
