//! PNG plots (plotters bitmap backend; text through ab_glyph with an embedded DejaVu Sans,
//! so no fontconfig/freetype is needed).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::faults::FaultResult;
use crate::tlb::TlbSeries;
use crate::util::MIB;

/// Register the embedded font as "sans-serif" (plotters with ab_glyph has no system fonts).
/// Criterion's own plots need it too, so the benches call this first.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// ns/access vs working set (MiB, log x) for every backing.
pub fn tlb_plot(series: &[TlbSeries], path: &Path, title: &str) -> PlotResult {
    register_fonts();
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (p.ws as f64 / MIB as f64, p.ns)))
        .collect();
    if pts.is_empty() {
        return Err("no TLB points to plot".into());
    }
    let xmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max);
    let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d((xmin * 0.8..xmax * 1.25).log_scale(), 0.0..ymax * 1.1 + 1.0)?;
    chart
        .configure_mesh()
        .x_desc("working set (MiB, log scale)")
        .y_desc("ns per dependent load")
        .x_label_formatter(&|v| {
            if *v >= 1000.0 {
                format!("{:.0}G", v / 1024.0)
            } else {
                format!("{v:.0}M")
            }
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        let data: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|p| (p.ws as f64 / MIB as f64, p.ns))
            .collect();
        chart
            .draw_series(LineSeries::new(data.clone(), c.stroke_width(2)))?
            .label(s.backing.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        chart.draw_series(data.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Fault-latency CDFs: warm (solid) and cold (thin) per backing, latency on a log x axis.
pub fn fault_cdf_plot(results: &[FaultResult], path: &Path, title: &str) -> PlotResult {
    register_fonts();
    let all: Vec<f64> = results
        .iter()
        .flat_map(|r| {
            r.warm_cdf
                .iter()
                .chain(r.cold_cdf.iter())
                .map(|p| p.0 / 1000.0)
        })
        .filter(|v| *v > 0.0)
        .collect();
    if all.is_empty() {
        return Err("no fault latencies to plot".into());
    }
    let xmin = all.iter().copied().fold(f64::INFINITY, f64::min);
    let xmax = all.iter().copied().fold(0.0, f64::max);
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin * 0.8..xmax * 1.25).log_scale(), 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("first-touch fault latency (µs, log scale)")
        .y_desc("fraction of pages ≤ latency")
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, r) in results.iter().enumerate() {
        let c = color(i);
        let warm: Vec<(f64, f64)> = r.warm_cdf.iter().map(|&(x, y)| (x / 1000.0, y)).collect();
        let cold: Vec<(f64, f64)> = r.cold_cdf.iter().map(|&(x, y)| (x / 1000.0, y)).collect();
        if !warm.is_empty() {
            chart
                .draw_series(LineSeries::new(warm, c.stroke_width(3)))?
                .label(format!("{} warm", r.backing))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
        }
        if !cold.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(cold, 6, 4, c.stroke_width(1)))?
                .label(format!("{} cold", r.backing))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(1))
                });
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}

/// lmbench-style chains: page-chain / packed-chain time ratio vs page count (log x).
pub fn chain_plot(series: &[TlbSeries], path: &Path, title: &str) -> PlotResult {
    register_fonts();
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.chains.iter().map(|c| (c.pages as f64, c.ratio())))
        .filter(|p| p.1.is_finite())
        .collect();
    if pts.is_empty() {
        return Err("no chain points to plot".into());
    }
    let xmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max);
    let ymax = pts.iter().map(|p| p.1).fold(1.5, f64::max);
    let root = BitMapBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin * 0.8..xmax * 1.25).log_scale(), 0.0..ymax * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("pointers (one per 4 KiB page), log scale")
        .y_desc("time ratio: per-page chain / packed chain")
        .label_style(("sans-serif", 15))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let c = color(i);
        let data: Vec<(f64, f64)> = s
            .chains
            .iter()
            .map(|p| (p.pages as f64, p.ratio()))
            .collect();
        chart
            .draw_series(LineSeries::new(data, c.stroke_width(2)))?
            .label(s.backing.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;
    Ok(())
}
