//! Repository tasks.
//!
//! `cargo run -p xtask -- bench-report` runs the benchmarks of `benches/` and `fleet/benches/` and
//! writes `BENCHMARKS.md` and the plots in `docs/benchmarks/`; `--skip-run` rebuilds the report
//! from the last run's output. `hit-instructions` counts instructions per hit under callgrind, for
//! the next report. `layers` prints which top-level modules of the runtime and macro crates import
//! which, and the import cycles among them.

mod instructions;
mod layers;
mod machine;
mod plot;
mod report;
mod results;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo run -p xtask -- bench-report [--skip-run] | hit-instructions | layers\n\
  bench-report      run the benches (about 10 minutes), then write BENCHMARKS.md and docs/benchmarks/*.svg\n\
  --skip-run        write the report from the output of the last run instead\n\
  hit-instructions  count instructions per hit under valgrind's callgrind (needs valgrind), for the report\n\
  layers            print the import graph of the runtime and macro crates and its cycles";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let output = run::OutputDirs::new(&root);
    let done = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["bench-report"] => bench_report(&root, &output, false),
        ["bench-report", "--skip-run"] => bench_report(&root, &output, true),
        ["hit-instructions"] => instructions::count(&root, &output),
        ["layers"] => layers::report(&root),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn bench_report(root: &Path, output: &run::OutputDirs, skip_run: bool) -> Result<(), String> {
    let failed = if skip_run {
        Vec::new()
    } else {
        run::run_benches(root, output)?
    };
    let results = results::Results::new(output);
    let plots_dir = root.join("docs").join("benchmarks");
    std::fs::create_dir_all(&plots_dir)
        .map_err(|e| format!("cannot create {}: {e}", plots_dir.display()))?;
    let plots = plot::write_all(&results, &plots_dir)?;
    let notes = std::fs::read_to_string(plots_dir.join("notes.md")).ok();
    let mut machine = machine::describe();
    // The date of the measurements, also when the report is rewritten later with --skip-run.
    if let Some(seconds) = results
        .figures("load")
        .and_then(|load| load.get("finished_unix_seconds")?.as_u64())
    {
        machine.date = machine::utc_date_time(seconds);
    }
    let markdown = report::render(&results, &machine, &plots, &failed, notes.as_deref());
    let path = root.join("BENCHMARKS.md");
    std::fs::write(&path, markdown).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}
