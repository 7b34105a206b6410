//! The rows and details of the fleet bench (`fleet/benches/fleet.rs`, figures in `fleet.json`):
//! what the backplane and `lease` cost, each against the same processes without them.

use std::fmt::Write as _;

use serde_json::Value;

use super::{count, duration, not_measured, Row};
use crate::results::{number, Results};

/// The acceptance bound of the cold-key rounds with `lease`: the slowest caller waits less than
/// the body's time plus this.
const LEASE_EXTRA_MS: f64 = 700.0;

/// `median (q1–q3)` of a summary the bench wrote (`{median, q1, q3, …}`) at `pointer`.
fn spread(figures: &Value, pointer: &str, digits: usize) -> Option<String> {
    let field = |name: &str| number(figures, &format!("{pointer}/{name}"));
    let (median, q1, q3) = (field("median")?, field("q1")?, field("q3")?);
    Some(format!("{median:.digits$} ({q1:.digits$}–{q3:.digits$})"))
}

/// `ours / baseline` of two medians.
fn ratio_of(ours: Option<f64>, baseline: Option<f64>) -> String {
    match (ours, baseline) {
        (Some(ours), Some(baseline)) if baseline > 0.0 => format!("{:.3}", ours / baseline),
        _ => "—".to_owned(),
    }
}

/// A rate or count with one decimal and its unit (`/s`, ` per change`).
fn per(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(not_measured, |value| format!("{value:.1}{unit}"))
}

/// A row of two sides' median times per call (`<group>/<side>_ns_per_call`) and the median (and
/// quartiles) of their interleaved ratios (`<group>/ratio`).
fn interleaved(
    figures: Option<&Value>,
    figure: &'static str,
    group: &str,
    (ours, baseline): (&str, &str),
) -> Row {
    let time = |side: &str| {
        figures
            .and_then(|f| number(f, &format!("{group}/{side}_ns_per_call/median")))
            .map_or_else(not_measured, duration)
    };
    Row {
        paired: figures
            .and_then(|f| spread(f, &format!("{group}/ratio"), 3))
            .unwrap_or_else(|| "—".to_owned()),
        ..Row::plain(figure, time(ours), time(baseline), "—".to_owned())
    }
}

/// A row of two counts or rates and their ratio (none when the baseline is 0).
fn counted(figure: &'static str, ours: Option<f64>, baseline: Option<f64>, unit: &str) -> Row {
    Row::plain(
        figure,
        per(ours, unit),
        per(baseline, unit),
        ratio_of(ours, baseline),
    )
}

pub(super) fn rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("fleet");
    let f = figures.as_ref();
    let at = |pointer: &str| f.and_then(|f| number(f, pointer));
    let mut rows = Vec::new();

    // 11. The backplane.
    rows.push(interleaved(
        f,
        "11. Backplane on (100 ms) vs off: local-tier hit, per call",
        "/hit",
        ("on", "off"),
    ));
    let scenario =
        |name: &str, field: &str| at(&format!("/traffic/scenarios/{name}/{field}/median"));
    let off_per_change = scenario("load_off", "writer_per_change");
    for (figure, ours, baseline, unit) in [
        (
            "11. Backplane: data commands per second of an idle process with one local-tier set",
            scenario("idle_on", "listener_per_second"),
            scenario("idle_off", "listener_per_second"),
            "/s",
        ),
        (
            "11. Backplane: the writer's data commands per change (100 changes/s, one listener)",
            scenario("load_on", "writer_per_change"),
            off_per_change,
            " per change",
        ),
        (
            "11. Backplane: the writer's data commands per change, nobody listening",
            scenario("load_unheard", "writer_per_change"),
            off_per_change,
            " per change",
        ),
        (
            "11. Backplane: the listener's data commands per second under 100 changes/s",
            scenario("load_on", "listener_per_second"),
            scenario("load_off", "listener_per_second"),
            "/s",
        ),
    ] {
        rows.push(counted(figure, ours, baseline, unit));
    }

    // 12. The lease on the miss path.
    rows.push(interleaved(
        f,
        "12. Lease: miss path, per call (a new key each call, one process)",
        "/lease_miss",
        ("leased", "plain"),
    ));
    rows.push(counted(
        "12. Lease: data commands per miss",
        at("/lease_miss/commands/leased/per_miss"),
        at("/lease_miss/commands/cold/per_miss"),
        " per miss",
    ));

    // 13. A cold key in four processes.
    let cold =
        |side: &str, field: &str, which: &str| at(&format!("/cold_key/{side}/{field}/{which}"));
    let runs = |side: &str| {
        let (median, low, high) = (
            cold(side, "body_runs", "median")?,
            cold(side, "body_runs", "min")?,
            cold(side, "body_runs", "max")?,
        );
        Some(format!(
            "{} ({}–{})",
            count(median),
            count(low),
            count(high)
        ))
    };
    let body_ms = at("/cold_key/body_ms");
    let leased_max = cold("leased", "max_ms", "max");
    rows.push(Row {
        target: "lease: 1",
        met: cold("leased", "body_runs", "max").map(|runs| runs <= 1.0),
        ..Row::plain(
            "13. Cold key, 4 processes × 50 callers, body 500 ms: body runs per round (median, min–max)",
            runs("leased").unwrap_or_else(not_measured),
            runs("plain").unwrap_or_else(not_measured),
            ratio_of(
                cold("leased", "body_runs", "median"),
                cold("plain", "body_runs", "median"),
            ),
        )
    });
    let ms = |value: Option<f64>| value.map_or_else(not_measured, |ms| duration(ms * 1e6));
    rows.push(Row::plain(
        "13. Cold key: p99 caller latency (median round)",
        ms(cold("leased", "p99_ms", "median")),
        ms(cold("plain", "p99_ms", "median")),
        ratio_of(
            cold("leased", "p99_ms", "median"),
            cold("plain", "p99_ms", "median"),
        ),
    ));
    rows.push(Row {
        target: "lease: < body + 700 ms",
        met: leased_max
            .zip(body_ms)
            .map(|(max, body)| max < body + LEASE_EXTRA_MS),
        ..Row::plain(
            "13. Cold key: slowest caller (slowest round)",
            ms(leased_max),
            ms(cold("plain", "max_ms", "max")),
            ratio_of(leased_max, cold("plain", "max_ms", "max")),
        )
    });
    rows
}

/// The explanation of rows 11–13, for the paragraph below the summary.
pub(super) const BASELINES: &str = "For 11–13 (`fleet/benches/fleet.rs`), the processes are \
    `fleet-worker`s against an in-process testkit server, a fresh one per measurement; the \
    first column is with the feature and the baseline the same processes without it: the \
    backplane off (`CACHEASIDE_BACKPLANE_INTERVAL_MS=0`), or the same function without `lease`. For the hit, \
    two workers (on and off) run at once and time blocks of 20,000 local-tier hits in turn; for \
    the miss, one worker times blocks of 25 misses of each function in turn; the interleaved \
    ratio is the median (and quartiles) of the 120 pairs' ratios. Data commands are the server's, \
    info requests (the clients' tending) left out; the listener sends the reads and batch reads, \
    the writer the writes and operates. Each traffic figure is the median of three runs of 4 s; \
    the cold-key rows are eight rounds per side, alternating, a fresh key each.";

/// The details: traffic per scenario and kind of command, and the cold-key rounds.
pub(super) fn details(out: &mut String, results: &Results) {
    let Some(figures) = results.figures("fleet") else {
        return;
    };
    let scenarios = [
        ("idle_off", "idle, backplane off", "1"),
        ("idle_on", "idle, backplane on", "1"),
        ("load_off", "100 changes/s, backplane off", "2"),
        ("load_on", "100 changes/s, backplane on", "2"),
        ("load_unheard", "100 changes/s, nobody listening", "1"),
    ];
    out.push_str(
        "\nThe fleet bench's server traffic, per second (median of its runs; each run on a fresh \
         server, the first polls and connections over before it starts):\n\n\
         | scenario | processes | changes/s | reads | batch reads (keys) | writes | operates | \
         data commands | info |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (name, label, processes) in scenarios {
        let runs = figures
            .pointer(&format!("/traffic/scenarios/{name}/runs"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if runs.is_empty() {
            continue;
        }
        let rate = |kind: &str| {
            let mut rates: Vec<f64> = runs
                .iter()
                .filter_map(|run| {
                    if kind == "data" {
                        return number(run, "/data_commands_per_second");
                    }
                    Some(number(run, &format!("/commands/{kind}"))? / number(run, "/seconds")?)
                })
                .collect();
            rates.sort_by(f64::total_cmp);
            rates.get(rates.len() / 2).copied()
        };
        let cell = |kind: &str| rate(kind).map_or_else(not_measured, |r| format!("{r:.1}"));
        let changes = number(
            &figures,
            &format!("/traffic/scenarios/{name}/changes_per_second/median"),
        );
        let _ = writeln!(
            out,
            "| {label} | {processes} | {} | {} | {} ({}) | {} | {} | {} | {} |",
            changes.map_or_else(not_measured, |c| format!("{c:.1}")),
            cell("reads"),
            cell("batch_reads"),
            cell("batch_keys"),
            cell("writes"),
            cell("operates"),
            cell("data"),
            cell("info"),
        );
    }
    out.push_str(
        "\nThe fleet bench's cold-key rounds (4 processes × 50 callers of one key, body 500 ms), \
         median (min–max) over the rounds:\n\n\
         | side | body runs | p50 | p99 | slowest | data commands | failed callers |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (side, label) in [("leased", "`lease`"), ("plain", "no lease")] {
        let cell = |field: &str, unit: fn(f64) -> String| {
            let at = |which: &str| number(&figures, &format!("/cold_key/{side}/{field}/{which}"));
            match (at("median"), at("min"), at("max")) {
                (Some(median), Some(min), Some(max)) => {
                    format!("{} ({}–{})", unit(median), unit(min), unit(max))
                }
                _ => not_measured(),
            }
        };
        let ms = |ms: f64| duration(ms * 1e6);
        let failed = number(&figures, &format!("/cold_key/{side}/failed_callers"));
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            cell("body_runs", count),
            cell("p50_ms", ms),
            cell("p99_ms", ms),
            cell("max_ms", ms),
            cell("data_commands", count),
            failed.map_or_else(not_measured, count),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::OutputDirs;

    fn summary(median: f64, min: f64, max: f64) -> Value {
        serde_json::json!({ "median": median, "q1": median, "q3": median, "min": min, "max": max })
    }

    #[test]
    fn the_fleet_figures_become_rows_and_details() {
        let dir = std::env::temp_dir().join(format!("xtask-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = serde_json::json!({
            "seconds": 4.0,
            "commands": { "reads": 40, "batch_reads": 40, "batch_keys": 400, "writes": 400,
                          "operates": 800, "info": 60 },
            "data_commands_per_second": 320.0,
        });
        let scenario = |listener: f64, writer: f64, changes: f64| {
            serde_json::json!({
                "runs": [run],
                "listener_per_second": summary(listener, listener, listener),
                "writer_per_change": summary(writer, writer, writer),
                "changes_per_second": summary(changes, changes, changes),
            })
        };
        let figures = serde_json::json!({
            "hit": {
                "on_ns_per_call": summary(141.0, 130.0, 390.0),
                "off_ns_per_call": summary(146.0, 130.0, 375.0),
                "ratio": { "median": 1.0001, "q1": 0.978, "q3": 1.033 },
            },
            "traffic": { "scenarios": {
                "idle_on": scenario(9.7, 0.0, 0.0),
                "idle_off": scenario(0.0, 0.0, 0.0),
                "load_on": scenario(19.5, 3.0, 100.0),
                "load_off": scenario(0.0, 1.0, 100.0),
                "load_unheard": scenario(0.0, 2.0, 100.0),
            }},
            "lease_miss": {
                "leased_ns_per_call": summary(96_870.0, 0.0, 0.0),
                "plain_ns_per_call": summary(67_031.0, 0.0, 0.0),
                "ratio": { "median": 1.555, "q1": 1.439, "q3": 1.638 },
                "commands": { "leased": { "per_miss": 3.0 }, "cold": { "per_miss": 2.0 } },
            },
            "cold_key": {
                "body_ms": 500,
                "leased": {
                    "body_runs": summary(1.0, 1.0, 1.0),
                    "p50_ms": summary(521.2, 520.0, 525.6),
                    "p99_ms": summary(521.5, 520.7, 526.3),
                    "max_ms": summary(521.6, 520.9, 1_300.0),
                    "data_commands": summary(37.0, 36.0, 39.0),
                    "failed_callers": 0,
                },
                "plain": {
                    "body_runs": summary(4.0, 4.0, 4.0),
                    "p50_ms": summary(502.1, 501.3, 502.9),
                    "p99_ms": summary(502.5, 501.8, 503.3),
                    "max_ms": summary(503.0, 502.3, 503.9),
                    "data_commands": summary(8.0, 8.0, 8.0),
                    "failed_callers": 0,
                },
            },
        });
        std::fs::write(dir.join("fleet.json"), figures.to_string()).unwrap();
        let output = OutputDirs {
            criterion: dir.join("criterion"),
            figures: dir.clone(),
            callgrind: dir.join("callgrind"),
        };
        let results = Results::new(&output);
        let mut out = String::new();
        let rows = rows(&results);
        details(&mut out, &results);
        std::fs::remove_dir_all(&dir).unwrap();
        let find = |start: &str| {
            rows.iter()
                .find(|row| row.figure.starts_with(start))
                .unwrap_or_else(|| panic!("a row {start}"))
        };
        let hit = find("11. Backplane on (100 ms) vs off");
        assert_eq!(
            (hit.ours.as_str(), hit.baseline.as_str()),
            ("141 ns", "146 ns")
        );
        assert_eq!(hit.paired, "1.000 (0.978–1.033)");
        assert_eq!(
            find("11. Backplane: data commands per second").ours,
            "9.7/s"
        );
        let writer = find("11. Backplane: the writer's data commands per change (");
        assert_eq!(
            (writer.ours.as_str(), writer.ratio.as_str()),
            ("3.0 per change", "3.000")
        );
        assert_eq!(find("12. Lease: miss path").paired, "1.555 (1.439–1.638)");
        let runs = find("13. Cold key, 4 processes");
        assert_eq!((runs.ours.as_str(), runs.met), ("1 (1–1)", Some(true)));
        let slowest = find("13. Cold key: slowest caller");
        assert_eq!(
            slowest.met,
            Some(false),
            "1.3 s is over the body plus 700 ms"
        );
        assert!(out.contains("| 100 changes/s, backplane on | 2 | 100.0 | 10.0 | 10.0 (100.0) | 100.0 | 200.0 | 320.0 | 15.0 |"), "{out}");
        assert!(
            out.contains("| `lease` | 1 (1–1) | 521.20 ms (520.00 ms–525.60 ms) |"),
            "{out}"
        );
    }

    #[test]
    fn without_the_fleet_bench_its_rows_say_not_measured() {
        let dir = std::env::temp_dir().join(format!("xtask-no-fleet-{}", std::process::id()));
        let output = OutputDirs {
            criterion: dir.join("criterion"),
            figures: dir.clone(),
            callgrind: dir.join("callgrind"),
        };
        let results = Results::new(&output);
        let rows = rows(&results);
        assert_eq!(rows.len(), 10);
        assert!(rows
            .iter()
            .all(|row| row.ours == "not measured" && row.met.is_none()));
        let mut out = String::new();
        details(&mut out, &results);
        assert!(out.is_empty());
    }
}
