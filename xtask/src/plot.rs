//! SVG plots of the figures, drawn with plotters.

use std::path::Path;

use plotters::prelude::*;

use crate::results::{numbers, Results};

/// A plot written next to the report.
pub struct Plot {
    /// File name inside `docs/benchmarks/`.
    pub file: &'static str,
    pub title: &'static str,
}

/// Points of a cumulative distribution drawn per series; more add nothing visible.
const MAX_POINTS: usize = 400;

/// Writes every plot whose figures exist; returns those written.
pub fn write_all(results: &Results, dir: &Path) -> Result<Vec<Plot>, String> {
    let mut written = Vec::new();
    if let Some(hit) = results.figures("hit") {
        let ours = numbers(&hit, "/latency_ns/cache_aside/sorted");
        let theirs = numbers(&hit, "/latency_ns/handwritten/sorted");
        if !ours.is_empty() && !theirs.is_empty() {
            let plot = Plot {
                file: "hit_latency.svg",
                title: "Hit path: latency of single calls, #[cache_aside] vs hand-written",
            };
            latency_cdf(
                &dir.join(plot.file),
                plot.title,
                &[("#[cache_aside]", &ours), ("hand-written", &theirs)],
            )?;
            written.push(plot);
        }
    }
    if let Some(degraded) = results.figures("degraded") {
        let ours = numbers(&degraded, "/stalled/cache_aside_ns");
        if !ours.is_empty() {
            let plot = Plot {
                file: "degraded_stalled.svg",
                title: "Server stalled: latency of consecutive #[cache_aside] calls",
            };
            call_sequence(&dir.join(plot.file), plot.title, &ours)?;
            written.push(plot);
        }
    }
    Ok(written)
}

/// The cumulative distribution of `(name, sorted nanoseconds)` series, in microseconds, cut at
/// the 99.5th percentile of the slowest series so that a few outliers do not flatten the rest.
fn latency_cdf(path: &Path, title: &str, series: &[(&str, &[f64])]) -> Result<(), String> {
    let x_max = series
        .iter()
        .map(|(_, sorted)| percentile(sorted, 0.995) / 1000.0)
        .fold(0.0_f64, f64::max)
        * 1.05;
    let x_min = series
        .iter()
        .map(|(_, sorted)| sorted.first().copied().unwrap_or(0.0) / 1000.0)
        .fold(f64::INFINITY, f64::min)
        .min(x_max)
        * 0.95;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x_min..x_max, 0.0..100.0)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("latency of one call (µs)")
        .y_desc("calls at most this slow (%)")
        .draw()
        .map_err(drawing)?;
    for (index, (name, sorted)) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let count = sorted.len() as f64;
        let step = sorted.len().div_ceil(MAX_POINTS).max(1);
        let points = sorted
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || i + 1 == sorted.len())
            .map(|(i, ns)| ((ns / 1000.0).min(x_max), (i as f64 + 1.0) / count * 100.0));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(drawing)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)?;
    root.present().map_err(drawing)
}

/// Latency of call 1, 2, … in milliseconds.
fn call_sequence(path: &Path, title: &str, latencies_ns: &[f64]) -> Result<(), String> {
    let millis: Vec<f64> = latencies_ns.iter().map(|ns| ns / 1e6).collect();
    let y_max = millis.iter().copied().fold(1.0_f64, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(0.5..(millis.len() as f64 + 0.5), 0.0..y_max)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("call after the stall began")
        .y_desc("latency (ms)")
        .draw()
        .map_err(drawing)?;
    let color = Palette99::pick(0).to_rgba();
    chart
        .draw_series(millis.iter().enumerate().map(|(i, ms)| {
            let x = i as f64 + 1.0;
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, *ms)], color.filled())
        }))
        .map_err(drawing)?;
    root.present().map_err(drawing)
}

/// The `q`-quantile of sorted values (0 when empty).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let last = sorted.len() - 1;
    let index = ((last as f64) * q).round() as usize;
    sorted[index.min(last)]
}

fn drawing<E: std::fmt::Display>(error: E) -> String {
    format!("cannot draw a plot: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let values: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 0.5), 51.0);
        assert_eq!(percentile(&values, 1.0), 101.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn draws_an_svg_with_both_series() {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cdf.svg");
        let ours: Vec<f64> = (0..1000).map(|i| 50_000.0 + f64::from(i) * 10.0).collect();
        let theirs: Vec<f64> = (0..1000).map(|i| 52_000.0 + f64::from(i) * 10.0).collect();
        latency_cdf(&path, "test", &[("ours", &ours), ("theirs", &theirs)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(
            svg.contains("ours") && svg.contains("theirs"),
            "legend labels"
        );
        assert!(svg.matches("<polyline").count() >= 2, "one line per series");
    }
}
