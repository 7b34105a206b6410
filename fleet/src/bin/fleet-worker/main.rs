//! `fleet-worker`: one process of a test fleet.
//!
//! ```text
//! fleet-worker [--hosts <hosts>] [--id <n>]
//! ```
//!
//! Installs the cache configured by the `AEROSPIKE_*` and `CACHEASIDE_*` variables
//! (`cacheaside::Config::from_env`), for the cluster at `--hosts` when given, with timeouts
//! generous for a busy test machine unless the variables set them; prints a ready line; then
//! answers the commands of `cacheaside_fleet::protocol`, one line each, until `quit` or the end of
//! its stdin. `--id` (default 0) is its number in the fleet, in every row its bodies load. Logs
//! and start-up errors go to stderr.

mod functions;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cacheaside::Config;
use cacheaside_fleet::protocol::{Command, Got, Gots, Reply, Served, Stats, Timed};
use tokio::io::{AsyncBufReadExt, BufReader};

use functions::Function;

const USAGE: &str = "usage: fleet-worker [--hosts <hosts>] [--id <n>]";

/// The command line.
struct Options {
    hosts: Option<String>,
    id: u32,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options { hosts: None, id: 0 };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--hosts" => options.hosts = Some(value()?),
                "--id" => {
                    let id = value()?;
                    options.id = id
                        .parse()
                        .map_err(|_| format!("--id `{id}` is not a worker number"))?;
                }
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fleet-worker: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(serve(options)),
        Err(error) => {
            eprintln!("fleet-worker: cannot start a runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(options: Options) -> ExitCode {
    let worker = options.id;
    functions::set_worker(worker);
    if let Err(error) = install(options.hosts).await {
        eprintln!("fleet-worker {worker}: {error}");
        return ExitCode::FAILURE;
    }
    let ready = Reply::Ready {
        worker,
        pid: std::process::id(),
    };
    if !answer(&ready) {
        return ExitCode::FAILURE;
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            // The test closed our stdin (or died): nothing more to do.
            Ok(None) => return ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("fleet-worker {worker}: cannot read stdin: {error}");
                return ExitCode::FAILURE;
            }
        };
        let command = line.parse::<Command>();
        let quit = command == Ok(Command::Quit);
        let reply = match command {
            Ok(command) => execute(command).await.unwrap_or_else(Reply::Error),
            Err(error) => Reply::Error(error),
        };
        if !answer(&reply) {
            return ExitCode::FAILURE;
        }
        if quit {
            return ExitCode::SUCCESS;
        }
    }
}

/// Installs the cache from the `AEROSPIKE_*` and `CACHEASIDE_*` variables, with the hosts of
/// `--hosts` when given. Unless the variables say otherwise, operations may take 2 s and
/// connecting 5 s, as a busy machine needs (a write-back that timed out would cost another process
/// a load the test does not expect).
async fn install(hosts: Option<String>) -> Result<(), String> {
    let mut builder = Config::from_env()
        .map_err(|error| format!("invalid configuration in the environment: {error}"))?
        .to_builder();
    if let Some(hosts) = hosts {
        builder = builder.hosts(hosts);
    }
    if std::env::var_os("CACHEASIDE_OPERATION_TIMEOUT_MS").is_none() {
        builder = builder.operation_timeout(Duration::from_secs(2));
    }
    if std::env::var_os("CACHEASIDE_CONNECT_TIMEOUT_MS").is_none() {
        builder = builder.connect_timeout(Duration::from_secs(5));
    }
    let config = builder
        .build()
        .map_err(|error| format!("invalid configuration: {error}"))?;
    cacheaside::init(config)
        .await
        .map_err(|error| format!("cannot install the cache: {error}"))
}

/// Prints one reply line; false when stdout is gone (the test ended).
fn answer(reply: &Reply) -> bool {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{reply}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// Carries out one command; `Err` is answered as [`Reply::Error`].
async fn execute(command: Command) -> Result<Reply, String> {
    match command {
        Command::Get { function, id } => get(functions::find(&function)?, id).await,
        Command::Gets {
            function,
            id,
            callers,
        } => gets(functions::find(&function)?, id, callers).await,
        Command::Repeat {
            function,
            id,
            calls,
        } => {
            let function = functions::find(&function)?;
            timed(function, calls, (function.repeat)(id, calls)).await
        }
        Command::Sweep {
            function,
            first,
            calls,
        } => {
            let function = functions::find(&function)?;
            timed(function, calls, (function.sweep)(first, calls)).await
        }
        Command::Invalidate { function, id } => {
            let function = functions::find(&function)?;
            (function.invalidate)(id)
                .await
                .map(|()| Reply::Done)
                .map_err(|error| format!("{}_invalidate({id}): {error}", function.name))
        }
        Command::Source { id, version } => {
            functions::set_version(id, version);
            Ok(Reply::Done)
        }
        Command::SleepBody { ms } => {
            functions::set_body_millis(ms);
            Ok(Reply::Done)
        }
        Command::Stats { set } => Ok(Reply::Stats(Stats::from(cacheaside::stats().set(&set)))),
        Command::Quit => Ok(Reply::Done),
    }
}

/// One call, and where its value came from.
async fn get(function: &'static Function, id: u64) -> Result<Reply, String> {
    let before = cacheaside::stats().set(function.set);
    let runs = functions::runs(function.name);
    let started = Instant::now();
    let result = (function.get)(id).await;
    let micros = micros(started.elapsed());
    let after = cacheaside::stats().set(function.set);
    let value = result.map_err(|error| format!("{}({id}) returned Err({error})", function.name))?;
    let served = if after.local_hits > before.local_hits {
        Served::Local
    } else if after.hits > before.hits {
        Served::Cache
    } else if after.cache_errors > before.cache_errors || after.bypassed > before.bypassed {
        Served::BodyCacheFailed
    } else {
        Served::Body
    };
    Ok(Reply::Got(Got {
        value,
        served,
        ran: functions::runs(function.name) > runs,
        micros,
    }))
}

/// `callers` concurrent calls of one key.
async fn gets(function: &'static Function, id: u64, callers: usize) -> Result<Reply, String> {
    let runs = functions::runs(function.name);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..callers {
        calls.spawn(async move {
            let started = Instant::now();
            let result = (function.get)(id).await;
            (result, started.elapsed())
        });
    }
    let mut gots = Gots {
        callers,
        versions: Vec::new(),
        loaded_by: Vec::new(),
        errors: Vec::new(),
        ran: 0,
        slowest_micros: 0,
        micros: Vec::with_capacity(callers),
    };
    while let Some(call) = calls.join_next().await {
        let (result, took) = call.map_err(|error| format!("a caller task failed: {error}"))?;
        gots.slowest_micros = gots.slowest_micros.max(micros(took));
        gots.micros.push(micros(took));
        match result {
            Ok(row) => {
                gots.versions.push(row.version);
                gots.loaded_by.push(row.loaded_by);
            }
            Err(error) => gots.errors.push(error),
        }
    }
    gots.versions.sort_unstable();
    gots.versions.dedup();
    gots.loaded_by.sort_unstable();
    gots.loaded_by.dedup();
    gots.errors.sort_unstable();
    gots.errors.dedup();
    gots.micros.sort_unstable();
    gots.ran = functions::runs(function.name) - runs;
    Ok(Reply::Gots(gots))
}

/// `repeat` and `sweep`: `calls` calls made by `run`, one after another, timed together.
async fn timed(
    function: &'static Function,
    calls: u64,
    run: functions::Call<Result<(), String>>,
) -> Result<Reply, String> {
    let runs = functions::runs(function.name);
    let started = Instant::now();
    let result = run.await;
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    result.map_err(|error| format!("{} returned Err({error})", function.name))?;
    Ok(Reply::Timed(Timed {
        calls,
        nanos,
        ran: functions::runs(function.name) - runs,
    }))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
