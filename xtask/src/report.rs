//! BENCHMARKS.md: the command that reproduces it, when and where it was measured, the table of
//! ratios, details per bench, the plots and the hand-written notes.

mod fleet;

use std::fmt::Write as _;

use serde_json::Value;

use crate::machine::Machine;
use crate::plot::Plot;
use crate::results::{number, numbers, Estimate, Ratio, Results};

/// The one command that reproduces the report.
pub const COMMAND: &str = "cargo run -p xtask -- bench-report";

/// Calls that took at least this share of the operation timeout are counted as having paid it.
const PAID_TIMEOUT_SHARE: f64 = 0.8;

pub fn render(
    results: &Results,
    machine: &Machine,
    plots: &[Plot],
    failed: &[String],
    notes: Option<&str>,
) -> String {
    let mut out = String::new();
    header(&mut out, machine, failed);
    load(&mut out, results, machine.cores);
    summary(&mut out, results);
    details(&mut out, results);
    if !plots.is_empty() {
        out.push_str("\n## Plots\n");
        for plot in plots {
            let _ = write!(out, "\n![{}](docs/benchmarks/{})\n", plot.title, plot.file);
        }
    }
    if let Some(notes) = notes {
        out.push_str("\n## Notes\n\n");
        out.push_str(notes.trim());
        out.push('\n');
    }
    out
}

fn header(out: &mut String, machine: &Machine, failed: &[String]) {
    let cluster = match std::env::var("AEROSPIKE_HOSTS") {
        Ok(hosts) if !hosts.trim().is_empty() => {
            format!("the Aerospike cluster at `{hosts}` (`AEROSPIKE_HOSTS`)")
        }
        _ => "the in-process testkit server on loopback".to_owned(),
    };
    let _ = write!(
        out,
        "# Benchmarks\n\n\
         Reproduce with one command (about ten minutes on two cores):\n\n\
         ```sh\n{COMMAND}\n```\n\n\
         It runs the benches of `benches/` (`paths`, `local_tier`, `codec`, `stampede`, `degraded`, `many_keys`, `node_loss`) and \
         `fleet/benches/` (`fleet`: worker processes against one server) and \
         rewrites this file and the plots in `docs/benchmarks/`; add `--skip-run` to rewrite them from \
         the last run's output. Set `AEROSPIKE_HOSTS` to measure against a real cluster instead of the \
         in-process testkit server (but for `fleet`, which counts the testkit server's commands).\n\n\
         Generated {date} on {cpu}, {cores} cores, {os}, {rustc}, against {cluster}.\n\n\
         **Read these as ratios, not absolute numbers.** Each ratio compares two measurements taken in \
         the same run, seconds apart, on the same cluster. The machine is shared and noisy: other builds \
         may run at the same time, and the 95% ranges show how much that moved the result. Against the \
         in-process server a cache read costs tens of microseconds, far less than a networked cluster, \
         so fixed per-call overheads weigh more here than they would in production.\n",
        date = machine.date,
        cpu = machine.cpu,
        cores = machine.cores,
        os = machine.os,
        rustc = machine.rustc,
    );
    if !failed.is_empty() {
        let _ = write!(
            out,
            "\n**Benches that failed in this run (their rows say \"not measured\"):** {}\n",
            failed.join(", ")
        );
    }
}

/// How busy the machine was while the benches ran, and a warning when it was overloaded.
fn load(out: &mut String, results: &Results, cores: usize) {
    let samples = results
        .figures("load")
        .map(|f| crate::results::numbers(&f, "/load_average_1min"))
        .unwrap_or_default();
    if samples.is_empty() {
        return;
    }
    let listed: Vec<String> = samples.iter().map(|l| format!("{l:.2}")).collect();
    let _ = write!(
        out,
        "\nOne-minute load average before the first bench and after each: {} ({cores} cores; the \
         benches themselves account for up to about 1).\n",
        listed.join(", ")
    );
    // The benches keep up to about one core busy themselves; beyond that, other work competes.
    let peak = samples.iter().copied().fold(0.0_f64, f64::max);
    if peak > cores as f64 + 1.0 {
        let _ = write!(
            out,
            "\n**Warning: the machine was overloaded during this run (load {peak:.2} on {cores} \
             cores). Every ratio below is unreliable, the interleaved ones included; rerun on a \
             quiet machine.**\n"
        );
    }
}

/// One row of the summary table.
struct Row {
    figure: &'static str,
    ours: String,
    baseline: String,
    /// The median ratio of interleaved blocks of calls, where measured.
    paired: String,
    ratio: String,
    target: &'static str,
    met: Option<bool>,
    max_ratio: Option<f64>,
}

impl Row {
    /// A row comparing two criterion estimates, `ours / baseline`, against a maximum ratio.
    fn timed(
        figure: &'static str,
        ours: Option<Estimate>,
        baseline: Option<Estimate>,
        target: &'static str,
        max_ratio: Option<f64>,
    ) -> Row {
        let ratio = ours.zip(baseline).map(|(o, b)| o.ratio_to(&b));
        Row {
            figure,
            ours: ours.map_or_else(not_measured, |e| duration(e.typical_ns)),
            baseline: baseline.map_or_else(not_measured, |e| duration(e.typical_ns)),
            paired: "—".to_owned(),
            ratio: ratio.map_or_else(not_measured, format_ratio),
            target,
            met: ratio.zip(max_ratio).map(|(r, max)| r.value <= max),
            max_ratio,
        }
    }

    /// Adds the interleaved measurement at `pointer` of `figures`; being robust to a machine
    /// whose load changes during the run, it decides whether the target is met.
    fn with_paired(mut self, figures: Option<&Value>, pointer: &str) -> Row {
        let field = |name: &str| figures.and_then(|f| number(f, &format!("{pointer}/{name}")));
        if let (Some(median), Some(q1), Some(q3)) = (field("median"), field("q1"), field("q3")) {
            self.paired = format!("{median:.3} ({q1:.3}–{q3:.3})");
            if let Some(max) = self.max_ratio {
                self.met = Some(median <= max);
            }
        }
        self
    }

    /// A row of counts or descriptions: no ratio of criterion estimates.
    /// A row for a bench that did not run, saying why.
    fn skipped(figure: &'static str, reason: &str) -> Row {
        Row::plain(
            figure,
            format!("skipped: {reason}"),
            "—".to_owned(),
            "—".to_owned(),
        )
    }

    fn plain(figure: &'static str, ours: String, baseline: String, ratio: String) -> Row {
        Row {
            figure,
            ours,
            baseline,
            paired: "—".to_owned(),
            ratio,
            target: "—",
            met: None,
            max_ratio: None,
        }
    }
}

/// A local-tier hit against a raw moka get of the same value: met when the interleaved ratio is
/// at most 1.5 and the hit takes less than a microsecond.
fn local_tier_rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("local_tier");
    let raw = results.estimate("local_tier/raw_moka_get");
    [
        (
            "4. Local tier hit vs a raw moka get (default key)",
            "local_tier/cache_aside_default_key",
            "/ratio_default_key",
        ),
        (
            "4. Local tier hit vs a raw moka get (`key = id`)",
            "local_tier/cache_aside_key_id",
            "/ratio_integer_key",
        ),
    ]
    .into_iter()
    .map(|(figure, id, pointer)| {
        let ours = results.estimate(id);
        let mut row = Row::timed(figure, ours, raw, "≤ 1.5, < 1 µs", Some(1.5))
            .with_paired(figures.as_ref(), pointer);
        if let (Some(met), Some(ours)) = (row.met, ours) {
            row.met = Some(met && ours.typical_ns < 1_000.0);
        }
        row
    })
    .collect()
}

fn summary(out: &mut String, results: &Results) {
    let (hit, miss) = (results.figures("hit"), results.figures("miss"));
    let paths = [
        PathFigure::new(
            "hit/cache_aside",
            "1. Hit path, per call (default key)",
            Some(1.03),
        ),
        PathFigure::new(
            "hit/cache_aside_key_expr",
            "1. Hit path, per call (`key = id`)",
            Some(1.03),
        ),
        PathFigure::new(
            "hit/handwritten_via_runtime_hop",
            "1. Diagnostic: hand-written with the runtime hop",
            None,
        ),
        PathFigure::new(
            "miss/cache_aside",
            "2. Miss path, per call (default key)",
            Some(1.05),
        ),
        PathFigure::new(
            "miss/cache_aside_key_expr",
            "2. Miss path, per call (`key = id`)",
            Some(1.05),
        ),
        PathFigure::new(
            "miss/handwritten_via_runtime_hop",
            "2. Diagnostic: hand-written with the runtime hop",
            None,
        ),
    ];
    let mut rows: Vec<Row> = paths
        .into_iter()
        .map(|path| {
            let (group, variant) = path.id.split_once('/').unwrap_or((path.id, ""));
            let figures = if group == "hit" {
                hit.as_ref()
            } else {
                miss.as_ref()
            };
            Row::timed(
                path.figure,
                results.estimate(path.id),
                results.estimate(&format!("{group}/handwritten")),
                path.target,
                path.max_ratio,
            )
            .with_paired(figures, &format!("/paired/{variant}"))
        })
        .collect();
    rows.push(instructions_row(results));
    rows.extend(stampede_rows(results));
    rows.extend(local_tier_rows(results));
    rows.extend(degraded_rows(results));
    rows.extend(codec_rows(results));
    rows.push(throughput_row(results));
    rows.extend(many_keys_rows(results));
    rows.extend(node_loss_rows(results));
    rows.extend(fleet::rows(results));

    out.push_str(
        "\n## Summary\n\n\
         Ratios are `#[cache_aside]` / baseline; below 1 is faster (for throughput, above 1 is more \
         operations per second). Times are criterion's estimate per iteration (the slope of time over \
         iterations). *Ratio, criterion* divides two criterion estimates, measured one after the \
         other; its range spans both 95% confidence intervals. *Ratio, interleaved* is the median \
         (and quartiles) of 120 ratios of blocks of 25 calls of each side run back to back, which a \
         machine whose load changes during the run moves far less; where both exist, it decides \
         whether the target is met.\n\n\
         | figure | `#[cache_aside]` | baseline | ratio, interleaved | ratio, criterion | target | met |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.figure, row.ours, row.baseline, row.paired, row.ratio, row.target, met
        );
    }
    out.push_str(
        "\nBaselines: the hand-written recipe (get → decode; on a miss load → put with a TTL; same \
         client, same codec, default client policies) for 1–3 and 5; for 6, the first column is \
         MessagePack with named fields (the codec `cacheaside` uses) and the baseline positional \
         MessagePack; raw client gets without decoding for 7. For 8, each task calls in a loop over \
         its own stretch of 20,000 cached keys, in windows of a fixed time, the three sides \
         (raw get, hand-written recipe, `#[cache_aside]`) interleaved round by round; the columns \
         are median ops/s and the interleaved ratio is the median (and quartiles) of the rounds' \
         ops/s ratios, above 1 is faster. For 9, one batch loader call for 100 cached ids against \
         100 single calls of the same entries, and against a hand-written batch read (times; below \
         1 is faster). For 10, 32 tasks call in a loop over 2,000 cached keys of a three-node cluster \
         (the testkit's, in the same process; replication factor 2) for 10 s, then one node is killed \
         for 15 s, then restarted for 15 s; the rows compare the phase with the node down to the \
         phase before. The diagnostic rows put the runtime hop \
         `cacheaside`'s client used to make (every operation spawned on its background runtime; \
         calls now poll operations in place) into the hand-written recipe, in the `#[cache_aside]` \
         column. For 4, the baseline is a `moka::sync::Cache<u64, User>` get of the same value. ",
    );
    out.push_str(fleet::BASELINES);
    out.push('\n');
}

/// A hit or miss bench compared with the hand-written recipe.
struct PathFigure {
    id: &'static str,
    figure: &'static str,
    target: &'static str,
    max_ratio: Option<f64>,
}

impl PathFigure {
    fn new(id: &'static str, figure: &'static str, max_ratio: Option<f64>) -> Self {
        let target = match max_ratio {
            Some(ratio) if ratio <= 1.03 => "≤ 1.03",
            Some(_) => "≤ 1.05",
            None => "—",
        };
        PathFigure {
            id,
            figure,
            target,
            max_ratio,
        }
    }
}

/// Instructions per hit from callgrind, if `hit-instructions` was run.
fn instructions_row(results: &Results) -> Row {
    let figures = results.instructions();
    let per_hit = |side: &str| {
        figures
            .as_ref()
            .and_then(|f| number(f, &format!("/{side}/per_hit")))
    };
    let (ours, theirs) = (per_hit("cache_aside"), per_hit("handwritten"));
    let not_run = || "not counted (run `cargo run -p xtask -- hit-instructions`)".to_owned();
    Row::plain(
        "1. Hit path, instructions per call (callgrind)",
        ours.map_or_else(not_run, count),
        theirs.map_or_else(not_run, count),
        ours.zip(theirs)
            .map_or_else(not_measured, |(o, t)| format!("{:.3}", o / t)),
    )
}

fn stampede_rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("stampede");
    let field = |side: &str, pointer: &str| {
        figures
            .as_ref()
            .and_then(|f| number(f, &format!("/{side}{pointer}")))
    };
    let ours_loads = field("cache_aside", "/loads_per_round/median");
    let their_loads = field("handwritten", "/loads_per_round/median");
    let ours_p99 = field("cache_aside", "/caller_latency_ns/p99");
    let their_p99 = field("handwritten", "/caller_latency_ns/p99");
    vec![
        Row {
            figure: "3. Stampede: loader calls for 1,000 callers of a cold key (median round)",
            ours: ours_loads.map_or_else(not_measured, count),
            baseline: their_loads.map_or_else(not_measured, count),
            ratio: ours_loads
                .zip(their_loads)
                .map_or_else(not_measured, |(o, t)| format!("{:.3}", o / t)),
            target: "ours 1",
            paired: "—".to_owned(),
            max_ratio: None,
            met: ours_loads.map(|loads| loads <= 1.0),
        },
        Row {
            figure: "3. Stampede: p99 latency of a caller",
            ours: ours_p99.map_or_else(not_measured, duration),
            baseline: their_p99.map_or_else(not_measured, duration),
            ratio: ours_p99
                .zip(their_p99)
                .map_or_else(not_measured, |(o, t)| format!("{:.3}", o / t)),
            target: "—",
            paired: "—".to_owned(),
            max_ratio: None,
            met: None,
        },
    ]
}

/// Added latency per call (the call minus the loader alone) under a stalled or stopped server.
fn degraded_rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("degraded");
    let skipped = figures
        .as_ref()
        .and_then(|f| f.get("skipped"))
        .and_then(Value::as_str);
    if let Some(reason) = skipped {
        return vec![Row::skipped("5. Degraded cache", reason)];
    }
    let stalled_loader = results.estimate("degraded_stalled/loader_only");
    let stopped_loader = results.estimate("degraded_stopped/loader_only");
    let added = |call: Option<f64>, loader: Option<Estimate>| {
        call.zip(loader).map(|(c, l)| (c - l.typical_ns).max(0.0))
    };
    let before = figures.as_ref().and_then(paid_timeouts);
    let their_stalled = figures
        .as_ref()
        .map(|f| mean(&crate::results::numbers(f, "/stalled/handwritten_ns")))
        .filter(|m| *m > 0.0);
    let after = results
        .estimate("degraded_stalled/cache_aside_breaker_open")
        .map(|e| e.typical_ns);
    let stopped_ours = results
        .estimate("degraded_stopped/cache_aside")
        .map(|e| e.typical_ns);
    let stopped_theirs = results
        .estimate("degraded_stopped/handwritten")
        .map(|e| e.typical_ns);
    vec![
        Row {
            figure: "5. Server stalled: added latency per call before the breaker opens",
            ours: before.map_or_else(not_measured, |(calls, typical_ns)| {
                format!(
                    "{} for each of the first {calls} calls",
                    duration(typical_ns)
                )
            }),
            baseline: added(their_stalled, stalled_loader).map_or_else(not_measured, |ns| {
                format!("{} for every call", duration(ns))
            }),
            ratio: "—".to_owned(),
            target: "bounded",
            paired: "—".to_owned(),
            max_ratio: None,
            met: None,
        },
        Row {
            figure: "5. Server stalled: added latency per call after the breaker opens",
            ours: added(after, stalled_loader).map_or_else(not_measured, duration),
            baseline: added(their_stalled, stalled_loader).map_or_else(not_measured, duration),
            ratio: "—".to_owned(),
            target: "≈ 0",
            paired: "—".to_owned(),
            max_ratio: None,
            met: None,
        },
        Row {
            figure: "5. Server stopped: calls slower than 1 ms after the stop",
            ours: figures
                .as_ref()
                .map_or_else(not_measured, |f| slow_calls(f, "/stopped/cache_aside_ns")),
            baseline: figures
                .as_ref()
                .map_or_else(not_measured, |f| slow_calls(f, "/stopped/handwritten_ns")),
            ratio: "—".to_owned(),
            target: "bounded",
            paired: "—".to_owned(),
            max_ratio: None,
            met: None,
        },
        Row {
            figure: "5. Server stopped: added latency per call, steady state",
            ours: added(stopped_ours, stopped_loader).map_or_else(not_measured, duration),
            baseline: added(stopped_theirs, stopped_loader).map_or_else(not_measured, duration),
            ratio: "—".to_owned(),
            target: "≈ 0",
            paired: "—".to_owned(),
            max_ratio: None,
            met: None,
        },
    ]
}

/// The calls of a sequence that took over 1 ms: how many, and their latencies.
fn slow_calls(degraded: &Value, pointer: &str) -> String {
    let slow: Vec<String> = crate::results::numbers(degraded, pointer)
        .into_iter()
        .filter(|ns| *ns > 1e6)
        .map(duration)
        .collect();
    match slow.len() {
        0 => "none".to_owned(),
        n => format!("{n}: {}", slow.join(", ")),
    }
}

/// `(calls, mean latency)` of the calls after the stall began that paid the operation timeout.
fn paid_timeouts(degraded: &Value) -> Option<(usize, f64)> {
    let timeout_ns = number(degraded, "/operation_timeout_ms")? * 1e6;
    let paid: Vec<f64> = crate::results::numbers(degraded, "/stalled/cache_aside_ns")
        .into_iter()
        .filter(|ns| *ns >= timeout_ns * PAID_TIMEOUT_SHARE)
        .collect();
    Some((paid.len(), mean(&paid)))
}

fn codec_rows(results: &Results) -> Vec<Row> {
    let cases = [
        (
            "6. Codec: encode a small struct (named / positional)",
            "codec_small/encode",
        ),
        (
            "6. Codec: decode a small struct (named / positional)",
            "codec_small/decode",
        ),
        (
            "6. Codec: encode 200 records (named / positional)",
            "codec_list/encode",
        ),
        (
            "6. Codec: decode 200 records (named / positional)",
            "codec_list/decode",
        ),
    ];
    cases
        .into_iter()
        .map(|(figure, id)| {
            Row::timed(
                figure,
                results.estimate(&format!("{id}/msgpack_named")),
                results.estimate(&format!("{id}/msgpack_positional")),
                "—",
                None,
            )
        })
        .collect()
}

fn throughput_row(results: &Results) -> Row {
    let elements = throughput_elements(results);
    let ours = results.estimate("throughput/cache_aside");
    let raw = results.estimate("throughput/raw_client");
    let rate = |e: Estimate| format!("{} ops/s", count(elements / (e.typical_ns * 1e-9)));
    // Operations per second are inverse to time, so the time ratio inverts.
    let ratio = ours.zip(raw).map(|(o, r)| {
        let time = o.ratio_to(&r);
        Ratio {
            value: 1.0 / time.value,
            low: 1.0 / time.high,
            high: 1.0 / time.low,
        }
    });
    // The interleaved figures are time ratios; operations per second are their inverses, so
    // the quartiles swap.
    let figures = results.figures("throughput");
    let time_ratio = |name: &str| {
        figures
            .as_ref()
            .and_then(|f| number(f, &format!("/paired_time_ratio/{name}")))
            .filter(|ratio| *ratio > 0.0)
    };
    let paired = match (time_ratio("median"), time_ratio("q1"), time_ratio("q3")) {
        (Some(median), Some(q1), Some(q3)) => {
            format!("{:.3} ({:.3}–{:.3})", 1.0 / median, 1.0 / q3, 1.0 / q1)
        }
        _ => "—".to_owned(),
    };
    Row {
        paired,
        ..Row::plain(
            "7. Throughput: 64 tasks doing gets of cached keys",
            ours.map_or_else(not_measured, rate),
            raw.map_or_else(not_measured, rate),
            ratio.map_or_else(not_measured, format_ratio),
        )
    }
}

/// The concurrency levels of the many-keys bench, with their row names; 64 tasks carries the
/// target.
const MANY_KEYS_LEVELS: [(u64, &str); 4] = [
    (1, "8. Many keys: 1 task over 20,000 cached keys"),
    (8, "8. Many keys: 8 tasks over 20,000 cached keys"),
    (64, "8. Many keys: 64 tasks over 20,000 cached keys"),
    (256, "8. Many keys: 256 tasks over 20,000 cached keys"),
];
/// The least share of the hand-written recipe's throughput `#[cache_aside]` must reach with 64
/// tasks over many keys.
const MANY_KEYS_MIN_RATIO: f64 = 0.95;

/// The level of the many-keys bench with `tasks` tasks, if it ran.
fn many_keys_level(figures: &Value, tasks: u64) -> Option<&Value> {
    figures
        .pointer("/levels")?
        .as_array()?
        .iter()
        .find(|level| number(level, "/tasks") == Some(tasks as f64))
}

fn many_keys_rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("many_keys");
    let ops = |level: &Value, side: &str| {
        number(level, &format!("/{side}/median_ops"))
            .map_or_else(not_measured, |rate| format!("{} ops/s", count(rate)))
    };
    let mut rows: Vec<Row> = MANY_KEYS_LEVELS
        .iter()
        .map(|&(tasks, figure)| {
            let level = figures.as_ref().and_then(|f| many_keys_level(f, tasks));
            let Some(level) = level else {
                return Row::plain(figure, not_measured(), not_measured(), "—".to_owned());
            };
            let mut ratios = numbers(level, "/ratio_to_handwritten/rounds");
            ratios.sort_by(f64::total_cmp);
            let median = number(level, "/ratio_to_handwritten/median");
            let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
            let target = tasks == 64;
            Row {
                paired: match median {
                    Some(median) if !ratios.is_empty() => {
                        format!("{median:.3} ({:.3}–{:.3})", at(0.25), at(0.75))
                    }
                    _ => "—".to_owned(),
                },
                target: if target { "≥ 0.95" } else { "—" },
                met: median.filter(|_| target).map(|m| m >= MANY_KEYS_MIN_RATIO),
                ..Row::plain(
                    figure,
                    ops(level, "cache_aside"),
                    ops(level, "handwritten"),
                    "—".to_owned(),
                )
            }
        })
        .collect();
    for (figure, baseline, pointer) in [
        (
            "9. Batch loader, 100 cached ids, vs 100 single calls",
            "batch_100/cache_aside_single_calls",
            "/batch/against_single_calls",
        ),
        (
            "9. Batch loader, 100 cached ids, vs a hand-written batch read",
            "batch_100/handwritten_batch",
            "/batch/against_handwritten_batch",
        ),
    ] {
        rows.push(
            Row::timed(
                figure,
                results.estimate("batch_100/cache_aside_batch"),
                results.estimate(baseline),
                "—",
                None,
            )
            .with_paired(figures.as_ref(), pointer),
        );
    }
    rows
}

/// The most calls that may run the body while one node of three is down.
const NODE_LOSS_MAX_LOADS: f64 = 0.01;

/// The phases of the node-loss bench: before the kill, while the node is down, after its
/// restart.
fn node_loss_rows(results: &Results) -> Vec<Row> {
    let figures = results.figures("node_loss");
    if let Some(reason) = figures
        .as_ref()
        .and_then(|f| f.get("skipped"))
        .and_then(Value::as_str)
    {
        return vec![Row::skipped(
            "10. One node of three killed under load",
            reason,
        )];
    }
    let phase = |name: &str| {
        figures
            .as_ref()?
            .pointer("/phases")?
            .as_array()?
            .iter()
            .find(|phase| phase.pointer("/phase").and_then(Value::as_str) == Some(name))
    };
    let (before, down) = (phase("before"), phase("node down"));
    let field =
        |phase: Option<&Value>, name: &str| phase.and_then(|p| number(p, &format!("/{name}")));
    let share = |phase: Option<&Value>| {
        field(phase, "load_share").map_or_else(not_measured, |share| {
            format!(
                "{:.2}% of calls ({} loads, {} failed, {} breaker opens)",
                share * 100.0,
                count(field(phase, "loads").unwrap_or(0.0)),
                count(field(phase, "failed").unwrap_or(0.0)),
                count(field(phase, "breaker_opens").unwrap_or(0.0)),
            )
        })
    };
    let rate = |phase: Option<&Value>| {
        field(phase, "calls_per_second")
            .map_or_else(not_measured, |r| format!("{} calls/s", count(r)))
    };
    let held = field(down, "failed")
        .zip(field(down, "breaker_opens"))
        .zip(field(down, "load_share"))
        .map(|((failed, opens), share)| {
            failed == 0.0 && opens == 0.0 && share <= NODE_LOSS_MAX_LOADS
        });
    let kept = field(down, "calls_per_second")
        .zip(field(before, "calls_per_second"))
        .map(|(down, before)| down / before);
    vec![
        Row {
            target: "≤ 1% of calls, no failed call, no cluster-wide bypass",
            met: held,
            ..Row::plain(
                "10. One node of three killed under load: calls that ran the body while it was down",
                share(down),
                format!("before the kill: {}", share(before)),
                "—".to_owned(),
            )
        },
        Row::plain(
            "10. One node of three killed under load: throughput while it was down",
            rate(down),
            format!("before the kill: {}", rate(before)),
            kept.map_or_else(not_measured, |r| format!("{r:.2}")),
        ),
    ]
}

fn throughput_elements(results: &Results) -> f64 {
    results
        .figures("throughput")
        .and_then(|f| Some(number(&f, "/tasks")? * number(&f, "/gets_per_task")?))
        .unwrap_or(1.0)
}

fn details(out: &mut String, results: &Results) {
    out.push_str("\n## Details\n");
    let groups: [(&str, &[&str]); 9] = [
        (
            "hit",
            &["handwritten", "cache_aside", "cache_aside_key_expr"],
        ),
        (
            "miss",
            &["handwritten", "cache_aside", "cache_aside_key_expr"],
        ),
        ("throughput", &["raw_client", "handwritten", "cache_aside"]),
        ("many_keys", &["raw_client", "handwritten", "cache_aside"]),
        (
            "batch_100",
            &[
                "cache_aside_batch",
                "cache_aside_single_calls",
                "handwritten_batch",
            ],
        ),
        ("stampede", &["handwritten", "cache_aside"]),
        (
            "codec_small",
            &[
                "encode/msgpack_named",
                "encode/msgpack_positional",
                "decode/msgpack_named",
                "decode/msgpack_positional",
            ],
        ),
        (
            "codec_list",
            &[
                "encode/msgpack_named",
                "encode/msgpack_positional",
                "decode/msgpack_named",
                "decode/msgpack_positional",
            ],
        ),
        (
            "degraded",
            &[
                "degraded_stalled/loader_only",
                "degraded_stalled/cache_aside_breaker_open",
                "degraded_stopped/loader_only",
                "degraded_stopped/cache_aside",
                "degraded_stopped/handwritten",
            ],
        ),
    ];
    out.push_str(
        "\nCriterion's estimate of the time per iteration and its 95% confidence interval (an iteration is one \
         call; for `throughput`, 64 tasks × 16 gets; for `many_keys`, 64 tasks × 16 gets over 20,000 keys; \
         for `batch_100`, one batch of 100 ids or 100 single calls; for `stampede`, one round of 1,000 callers).\n\n\
         | bench | time | 95% interval |\n| --- | --- | --- |\n",
    );
    for (group, benches) in groups {
        for bench in benches {
            let id = if group == "degraded" {
                (*bench).to_owned()
            } else {
                format!("{group}/{bench}")
            };
            let (mean, interval) = results.estimate(&id).map_or_else(
                || (not_measured(), "—".to_owned()),
                |e| {
                    (
                        duration(e.typical_ns),
                        format!("{} – {}", duration(e.lower_ns), duration(e.upper_ns)),
                    )
                },
            );
            let _ = writeln!(out, "| `{id}` | {mean} | {interval} |");
        }
    }
    hit_distribution(out, results);
    codec_table(out, results);
    fleet::details(out, results);
    sanity_checks(out, results);
}

/// The codecs of `codec = "…"` as the runtime runs them (envelope, schema tag, bounds checks and
/// the decoding guard included), with the bytes each writes.
fn codec_table(out: &mut String, results: &Results) {
    let sizes = results.figures("codec");
    let bytes = |value: &str, codec: &str| {
        sizes
            .as_ref()
            .and_then(|s| {
                s.get("encoded_bytes")?
                    .get(format!("{value}/cacheaside_{codec}"))?
                    .as_f64()
            })
            .map_or_else(not_measured, count)
    };
    let time = |id: &str| {
        results
            .estimate(id)
            .map_or_else(not_measured, |e| duration(e.typical_ns))
    };
    out.push_str(
        "\nThe codecs of `codec = \"…\"`, as an entry is encoded and decoded (envelope, schema tag, \
         bounds checks and the decoding guard included; `bincode`, `postcard` and `json` are cargo \
         features, measured with all of them on). Bytes include the envelope:\n\n\
         | codec | encode small | decode small | bytes small | encode 200 records | decode 200 records | bytes 200 records |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for codec in ["msgpack", "bincode", "postcard", "json"] {
        let _ = writeln!(
            out,
            "| `{codec}` | {} | {} | {} | {} | {} | {} |",
            time(&format!("codec_small/encode/cacheaside_{codec}")),
            time(&format!("codec_small/decode/cacheaside_{codec}")),
            bytes("small", codec),
            time(&format!("codec_list/encode/cacheaside_{codec}")),
            time(&format!("codec_list/decode/cacheaside_{codec}")),
            bytes("list", codec),
        );
    }
}

fn hit_distribution(out: &mut String, results: &Results) {
    let Some(hit) = results.figures("hit") else {
        return;
    };
    out.push_str(
        "\nSingle hits timed one by one, the two sides interleaved:\n\n\
         | side | p50 | p90 | p99 | max |\n| --- | --- | --- | --- | --- |\n",
    );
    for (side, name) in [
        ("cache_aside", "`#[cache_aside]`"),
        ("handwritten", "hand-written"),
    ] {
        let cell = |q: &str| {
            number(&hit, &format!("/latency_ns/{side}/summary/{q}"))
                .map_or_else(not_measured, duration)
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            cell("p50"),
            cell("p90"),
            cell("p99"),
            cell("max")
        );
    }
}

/// Counts that show the benches measured what they claim (hits were hits, misses loaded).
fn sanity_checks(out: &mut String, results: &Results) {
    let mut lines = Vec::new();
    for (name, meaning) in [
        (
            "hit",
            "loads during the hit benches (0 = every call was a hit)",
        ),
        (
            "throughput",
            "loads during the throughput benches (0 = every call was a hit)",
        ),
        (
            "many_keys",
            "loads during the many-keys windows (0 = every call was a hit)",
        ),
        ("miss", "loads during the miss benches (one per call)"),
    ] {
        let Some(figures) = results.figures(name) else {
            continue;
        };
        let sides: Vec<String> = ["cache_aside", "cache_aside_key_expr", "handwritten"]
            .iter()
            .filter_map(|side| {
                let before = number(&figures, &format!("/loads_before/{side}"))?;
                let after = number(&figures, &format!("/loads_after/{side}"))?;
                Some(format!("{side} {}", count(after - before)))
            })
            .collect();
        lines.push(format!("- {meaning}: {}", sides.join(", ")));
    }
    if let Some(stampede) = results.figures("stampede") {
        let failed = |side: &str| number(&stampede, &format!("/{side}/failed_calls"));
        if let (Some(ours), Some(theirs)) = (failed("cache_aside"), failed("handwritten")) {
            lines.push(format!(
                "- failed calls in the stampede rounds: cache_aside {}, handwritten {}",
                count(ours),
                count(theirs)
            ));
        }
        if let Some(errors) = number(&stampede, "/cache_aside_counters/cache_errors") {
            lines.push(format!(
                "- cache errors `#[cache_aside]` counted in the stampede (timeouts included): {}",
                count(errors)
            ));
        }
    }
    if !lines.is_empty() {
        out.push_str("\nChecks:\n\n");
        out.push_str(&lines.join("\n"));
        out.push('\n');
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn not_measured() -> String {
    "not measured".to_owned()
}

fn format_ratio(ratio: Ratio) -> String {
    format!("{:.3} ({:.3}–{:.3})", ratio.value, ratio.low, ratio.high)
}

/// A count with thousands separators.
fn count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// A duration in the unit that keeps three significant digits readable.
fn duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::OutputDirs;

    fn machine() -> Machine {
        Machine {
            date: "2026-11-26 07:00 UTC".to_owned(),
            cpu: "Test CPU".to_owned(),
            cores: 2,
            os: "linux 6".to_owned(),
            rustc: "rustc 1.0".to_owned(),
        }
    }

    fn estimate(dir: &std::path::Path, id: &str, mean: f64) {
        let path = dir.join(id).join("new");
        std::fs::create_dir_all(&path).unwrap();
        let estimates = serde_json::json!({ "mean": {
            "point_estimate": mean,
            "confidence_interval": { "lower_bound": mean * 0.99, "upper_bound": mean * 1.01 }
        }});
        std::fs::write(path.join("estimates.json"), estimates.to_string()).unwrap();
    }

    #[test]
    fn formats_durations_and_counts() {
        assert_eq!(duration(812.4), "812 ns");
        assert_eq!(duration(58_312.0), "58.31 µs");
        assert_eq!(duration(51_200_000.0), "51.20 ms");
        assert_eq!(duration(2_010_000_000.0), "2.01 s");
        assert_eq!(count(1_000.0), "1,000");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1_234_567.0), "1,234,567");
        assert_eq!(count(0.0), "0");
    }

    #[test]
    fn a_run_without_output_still_renders_the_command_and_every_row() {
        let dir = std::env::temp_dir().join(format!("xtask-empty-{}", std::process::id()));
        let output = OutputDirs {
            criterion: dir.join("criterion"),
            figures: dir.clone(),
            callgrind: dir.join("callgrind"),
        };
        let text = render(&Results::new(&output), &machine(), &[], &[], None);
        assert!(text.contains(COMMAND));
        assert!(text.contains("2026-11-26 07:00 UTC") && text.contains("Test CPU"));
        assert!(text.contains("| 1. Hit path, per call (default key) | not measured |"));
        assert!(
            text.contains("| 4. Local tier hit vs a raw moka get (default key) | not measured |")
        );
        assert!(!text.contains("| yes |") && !text.contains("**no**"));
    }

    #[test]
    fn ratios_are_checked_against_their_targets() {
        let dir = std::env::temp_dir().join(format!("xtask-ratios-{}", std::process::id()));
        let criterion = dir.join("criterion");
        estimate(&criterion, "hit/handwritten", 100_000.0);
        estimate(&criterion, "hit/cache_aside", 102_000.0);
        estimate(&criterion, "hit/cache_aside_key_expr", 110_000.0);
        estimate(&criterion, "miss/handwritten", 200_000.0);
        estimate(&criterion, "miss/cache_aside", 220_000.0);
        let paired = serde_json::json!({ "paired": {
            "cache_aside_key_expr": { "median": 1.01, "q1": 0.98, "q3": 1.04 }
        }});
        std::fs::write(dir.join("hit.json"), paired.to_string()).unwrap();
        let load = serde_json::json!({ "load_average_1min": [1.0, 5.0, 2.0] });
        // Two cores: the benches' own load of about one is expected, 5 is not.
        std::fs::write(dir.join("load.json"), load.to_string()).unwrap();
        let output = OutputDirs {
            criterion,
            figures: dir.clone(),
            callgrind: dir.join("callgrind"),
        };
        let text = render(
            &Results::new(&output),
            &machine(),
            &[],
            &["degraded".to_owned()],
            Some("A note."),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let row = |figure: &str| {
            text.lines()
                .find(|line| line.starts_with(&format!("| {figure} |")))
                .unwrap_or_else(|| panic!("row {figure} in\n{text}"))
                .to_owned()
        };
        let hit = row("1. Hit path, per call (default key)");
        assert!(hit.contains("1.020") && hit.ends_with("| yes |"), "{hit}");
        let keyed = row("1. Hit path, per call (`key = id`)");
        assert!(
            keyed.contains("1.010 (0.980–1.040)") && keyed.ends_with("| yes |"),
            "the interleaved ratio decides over criterion's 1.1: {keyed}"
        );
        let miss = row("2. Miss path, per call (default key)");
        assert!(
            miss.contains("1.100") && miss.ends_with("| **no** |"),
            "{miss}"
        );
        assert!(text.contains("failed in this run") && text.contains("degraded"));
        assert!(text.contains("load 5.00 on 2 cores"), "overload warning");
        assert!(text.trim_end().ends_with("A note."));
    }
}
