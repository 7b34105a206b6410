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
        let plots = [
            (
                "stalled",
                Plot {
                    file: "degraded_stalled.svg",
                    title: "Server stalled: latency of consecutive calls",
                },
            ),
            (
                "stopped",
                Plot {
                    file: "degraded_stopped.svg",
                    title: "Server stopped: latency of consecutive calls",
                },
            ),
        ];
        for (fault, plot) in plots {
            let ours = numbers(&degraded, &format!("/{fault}/cache_aside_ns"));
            let theirs = numbers(&degraded, &format!("/{fault}/handwritten_ns"));
            if !ours.is_empty() {
                call_sequence(
                    &dir.join(plot.file),
                    plot.title,
                    &[("#[cache_aside]", &ours), ("hand-written", &theirs)],
                )?;
                written.push(plot);
            }
        }
    }
    if let Some(many_keys) = results.figures("many_keys") {
        let levels = many_keys
            .pointer("/levels")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let series = |side: &str| -> Vec<(f64, f64)> {
            levels
                .iter()
                .filter_map(|level| {
                    let tasks = crate::results::number(level, "/tasks")?;
                    let ops = crate::results::number(level, &format!("/{side}/median_ops"))?;
                    Some((tasks, ops))
                })
                .collect()
        };
        let sides = [
            ("raw get", series("raw_client")),
            ("hand-written", series("handwritten")),
            ("#[cache_aside]", series("cache_aside")),
        ];
        if sides.iter().all(|(_, points)| points.len() >= 2) {
            let plot = Plot {
                file: "many_keys.svg",
                title: "Hits over 20,000 keys: throughput against concurrent tasks",
            };
            ops_against_tasks(&dir.join(plot.file), plot.title, &sides)?;
            written.push(plot);
        }
    }
    Ok(written)
}

/// Operations per second against the number of tasks (logarithmic), one line per side.
fn ops_against_tasks(
    path: &Path,
    title: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let points = series.iter().flat_map(|(_, points)| points.iter());
    let x_max = points.clone().map(|(x, _)| *x).fold(1.0_f64, f64::max) * 1.5;
    let y_max = points.map(|(_, y)| *y).fold(1.0_f64, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d((0.7..x_max).log_scale(), 0.0..y_max)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("concurrent tasks (log scale)")
        .y_desc("calls per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{:.0}k", y / 1000.0))
        .draw()
        .map_err(drawing)?;
    for (index, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(drawing)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&point| Circle::new(point, 4, color.filled())),
            )
            .map_err(drawing)?;
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

/// Latency of call 1, 2, … after the fault began, per side, on a logarithmic scale in
/// milliseconds: timeouts, bypassed calls and the hand-written recipe's seconds all stay visible.
fn call_sequence(path: &Path, title: &str, series: &[(&str, &[f64])]) -> Result<(), String> {
    const FLOOR_MS: f64 = 0.000_5;
    let calls = series.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let y_max = series
        .iter()
        .flat_map(|(_, s)| s.iter())
        .map(|ns| ns / 1e6)
        .fold(1.0_f64, f64::max)
        * 2.0;
    let root = SVGBackend::new(path, (900, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.5..(calls as f64 + 0.5), (FLOOR_MS..y_max).log_scale())
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(calls)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|ms| format!("{ms} ms"))
        .x_desc("call after the fault began")
        .y_desc("latency (log scale)")
        .draw()
        .map_err(drawing)?;
    let width = 0.8 / series.len().max(1) as f64;
    for (index, (name, latencies)) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let offset = -0.4 + width * index as f64;
        chart
            .draw_series(latencies.iter().enumerate().map(|(i, ns)| {
                let left = i as f64 + 1.0 + offset;
                let top = (ns / 1e6).max(FLOOR_MS);
                Rectangle::new(
                    [(left, FLOOR_MS), (left + width * 0.9, top)],
                    color.filled(),
                )
            }))
            .map_err(drawing)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
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
