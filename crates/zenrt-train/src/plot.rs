//! Training curves as a PNG (plotters' bitmap backend; no text, so no system fonts are needed).
//!
//! Left panel: loss; right panel: accuracy (or the first metric). Training series in blue,
//! validation in red; horizontal grid lines at every tenth of the panel's range; the x axis is the
//! epoch (1 at the left edge, the last epoch at the right).

use crate::model::History;
use plotters::prelude::*;
use std::path::Path;
use zenrt_core::{Error, Result};

/// Draws `history`'s loss and `metric` curves into a `width × height` PNG at `path`.
pub fn plot_history(history: &History, metric: &str, path: &Path, width: u32, height: u32) -> Result<()> {
    let err = |e: String| Error::Invalid(format!("plot {}: {e}", path.display()));
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let panels = root.split_evenly((1, 2));
    let series = [("loss", "val_loss"), (metric, &format!("val_{metric}") as &str)];
    for (area, (train, val)) in panels.iter().zip(series) {
        let (t, v) = (history.series(train), history.series(val));
        draw_panel(area, &t, &v).map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(area: &Area, train: &[f64], val: &[f64]) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let all: Vec<f64> = train.iter().chain(val).copied().filter(|x| x.is_finite()).collect();
    if all.is_empty() {
        return Ok(());
    }
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
    let mut hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi <= lo {
        hi = lo + 1.0;
    }
    let n = train.len().max(val.len()).max(2);
    let mut chart = ChartBuilder::on(area).margin(12).build_cartesian_2d(1f64..n as f64, lo..hi * 1.02)?;
    for k in 0..=10 {
        let y = lo + (hi - lo) * k as f64 / 10.0;
        chart.draw_series(LineSeries::new([(1.0, y), (n as f64, y)], RGBColor(225, 225, 225)))?;
    }
    chart.draw_series(LineSeries::new([(1.0, lo), (1.0, hi)], BLACK))?;
    chart.draw_series(LineSeries::new([(1.0, lo), (n as f64, lo)], BLACK))?;
    let pts = |s: &[f64]| s.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect::<Vec<_>>();
    chart.draw_series(LineSeries::new(pts(train), BLUE.stroke_width(2)))?;
    chart.draw_series(LineSeries::new(pts(val), RED.stroke_width(2)))?;
    chart.draw_series(pts(train).into_iter().map(|p| Circle::new(p, 3, BLUE.filled())))?;
    chart.draw_series(pts(val).into_iter().map(|p| Circle::new(p, 3, RED.filled())))?;
    Ok(())
}
