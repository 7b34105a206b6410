//! Instructions per hit, counted by callgrind: the `paths` bench in its hit-loop mode against a
//! testkit server in another process (so the server's work is not counted), run twice per side
//! with different hit counts; the difference divided by the extra hits leaves start-up out.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::run::OutputDirs;

/// Hits of the shorter and the longer run.
const HITS: [u64; 2] = [1_000, 11_000];
/// The sides the `paths` bench can loop over.
const VARIANTS: [&str; 2] = ["cache_aside", "handwritten"];

/// Counts instructions per hit of each side and saves them for the report.
pub fn count(root: &Path, output: &OutputDirs) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(&cargo).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "cacheaside-testkit",
        "--bin",
        "aerospike-testkit",
    ]))?;
    let bench = paths_bench_executable(&cargo, root)?;
    let testkit = target_dir(root).join("release").join("aerospike-testkit");
    let server = TestkitProcess::start(&testkit)?;

    let mut figures = serde_json::Map::new();
    for variant in VARIANTS {
        let mut collected = Vec::new();
        for hits in HITS {
            collected.push(instructions(&bench, &server.hosts(), variant, hits)?);
        }
        let per_hit = (collected[1] - collected[0]) as f64 / (HITS[1] - HITS[0]) as f64;
        eprintln!("{variant}: {per_hit:.0} instructions per hit");
        figures.insert(
            variant.to_owned(),
            serde_json::json!({ "per_hit": per_hit }),
        );
    }
    drop(server);
    std::fs::create_dir_all(&output.callgrind)
        .map_err(|e| format!("cannot create {}: {e}", output.callgrind.display()))?;
    let path = output.callgrind.join("instructions.json");
    std::fs::write(&path, serde_json::Value::Object(figures).to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed ({status})"))
    }
}

/// Builds the `paths` bench and returns its executable, from cargo's JSON messages.
fn paths_bench_executable(cargo: &std::ffi::OsStr, root: &Path) -> Result<PathBuf, String> {
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "bench",
            "-p",
            "cacheaside",
            "--bench",
            "paths",
            "--no-run",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot build the paths bench: {e}"))?;
    if !output.status.success() {
        return Err("building the paths bench failed".to_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message.pointer("/target/name").and_then(|n| n.as_str()) == Some("paths"))
        .find_map(|message| message.get("executable")?.as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo reported no executable for the paths bench".to_owned())
}

/// Instructions callgrind counted for a whole run of `hits` hits of `variant`.
fn instructions(bench: &Path, hosts: &str, variant: &str, hits: u64) -> Result<u64, String> {
    let out_file = std::env::temp_dir().join(format!("callgrind.{variant}.{hits}.out"));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(bench)
        .env("AEROSPIKE_HOSTS", hosts)
        .env("CACHEASIDE_HIT_LOOP", hits.to_string())
        .env("CACHEASIDE_HIT_VARIANT", variant)
        .output()
        .map_err(|e| format!("cannot run valgrind (is it installed?): {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("the hit loop under callgrind failed:\n{stderr}"));
    }
    eprintln!(
        "{variant}, {hits} hits: callgrind profile in {}",
        out_file.display()
    );
    collected(&stderr)
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
}

/// The `Collected : N` total of callgrind's summary.
fn collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().replace(',', "").parse().ok()
    })
}

/// The testkit server binary, ended when dropped.
struct TestkitProcess {
    child: Child,
    port: u16,
}

impl TestkitProcess {
    fn start(binary: &Path) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        let mut child = Command::new(binary)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        // It prints a line once listening; waiting for a connection is the portable check.
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(TestkitProcess { child, port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut printed = String::new();
        if let Some(stdout) = child.stdout.as_mut() {
            let _ = stdout.read_to_string(&mut printed);
        }
        Err(format!(
            "the testkit server did not listen on port {port}: {printed}"
        ))
    }

    fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for TestkitProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrinds_total() {
        let stderr = "==1== Events    : Ir\n==1== Collected : 53888270\n==1==\n==1== I   refs:      53,888,270\n";
        assert_eq!(collected(stderr), Some(53_888_270));
        assert_eq!(collected("no summary"), None);
    }
}
