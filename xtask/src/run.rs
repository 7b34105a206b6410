//! Runs the benches with their output sent to known directories.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The benches, in the order they run, each with its package: those of `benches/` (the root
/// package) and the fleet's (`fleet/benches/`, with worker processes).
pub const BENCHES: [(&str, &str); 8] = [
    ("cacheaside", "paths"),
    ("cacheaside", "local_tier"),
    ("cacheaside", "codec"),
    ("cacheaside", "stampede"),
    ("cacheaside", "degraded"),
    ("cacheaside", "many_keys"),
    ("cacheaside", "node_loss"),
    ("cacheaside-fleet", "fleet"),
];

/// Where one run's output goes: criterion's estimates, and the figures the benches count
/// themselves (loader calls, per-call latencies).
pub struct OutputDirs {
    pub criterion: PathBuf,
    pub figures: PathBuf,
    /// Instruction counts of `hit-instructions`, kept across bench runs.
    pub callgrind: PathBuf,
}

impl OutputDirs {
    /// `<target>/cacheaside-bench`, under `CARGO_TARGET_DIR` when set.
    pub fn new(root: &Path) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let figures = target.join("cacheaside-bench");
        OutputDirs {
            criterion: figures.join("criterion"),
            figures,
            callgrind: target.join("cacheaside-callgrind"),
        }
    }
}

/// `cargo bench` of each bench in turn, after clearing the previous run's output so that a bench
/// that fails leaves a gap in the report rather than an old number. Returns the benches that
/// failed; the others still report.
pub fn run_benches(root: &Path, output: &OutputDirs) -> Result<Vec<String>, String> {
    if output.figures.exists() {
        std::fs::remove_dir_all(&output.figures)
            .map_err(|e| format!("cannot clear {}: {e}", output.figures.display()))?;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut failed = Vec::new();
    let mut load = vec![load_average()];
    for (package, bench) in BENCHES {
        let mut command = Command::new(&cargo);
        command
            .current_dir(root)
            .args(["bench", "-p", package, "--bench", bench])
            // The codec bench measures every codec of `codec = "…"`: those behind features too.
            .args(if bench == "codec" {
                &["--features", "bincode,postcard,json"][..]
            } else {
                &[]
            })
            .env("CRITERION_HOME", &output.criterion)
            .env("CACHEASIDE_BENCH_OUT", &output.figures);
        eprintln!("running cargo bench -p {package} --bench {bench}");
        let status = command
            .status()
            .map_err(|e| format!("cannot run cargo bench: {e}"))?;
        if !status.success() {
            eprintln!("bench {bench} failed ({status})");
            failed.push(bench.to_owned());
        }
        load.push(load_average());
    }
    // Other work on the machine moves every figure: the report shows how busy it was.
    let load: Vec<f64> = load.into_iter().flatten().collect();
    std::fs::create_dir_all(&output.figures)
        .and_then(|()| {
            std::fs::write(
                output.figures.join("load.json"),
                serde_json::json!({
                    "load_average_1min": load,
                    "finished_unix_seconds": unix_seconds(),
                })
                .to_string(),
            )
        })
        .map_err(|e| format!("cannot save the load average: {e}"))?;
    Ok(failed)
}

/// The one-minute load average, where the system reports one.
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
