//! The lines between a test and its workers: a [`Command`] per line on the worker's stdin, a
//! [`Reply`] as one JSON object per line on its stdout.
//!
//! | command | does | reply |
//! | --- | --- | --- |
//! | `get <function> <id>` | calls the function once | [`Reply::Got`] |
//! | `gets <function> <id> <callers>` | calls it from `callers` tasks at once | [`Reply::Gots`] |
//! | `repeat <function> <id> <calls>` | calls it `calls` times in a row, the same `id` | [`Reply::Timed`] |
//! | `sweep <function> <first> <calls>` | calls it `calls` times in a row, ids `first`, `first + 1`, … | [`Reply::Timed`] |
//! | `invalidate <function> <id>` | calls its `<fn>_invalidate` | [`Reply::Done`], or [`Reply::Error`] with the error |
//! | `source <id> <version>` | sets the version the bodies return for `id` (1 until set) | [`Reply::Done`] |
//! | `sleep-body <ms>` | makes every body take `ms` milliseconds (0 at start) | [`Reply::Done`] |
//! | `stats <set>` | reads `cacheaside::stats()` of the set | [`Reply::Stats`] |
//! | `quit` | answers, then exits | [`Reply::Done`] |
//!
//! A worker first prints [`Reply::Ready`] once its cache is installed. A line it cannot parse,
//! an unknown function and a function returning `Err` are answered with [`Reply::Error`]; the
//! worker goes on reading. It exits on `quit` and when its stdin closes.
//!
//! Each worker holds its own copy of the source (the versions `source` sets), as the processes of
//! a real fleet each read one database: a test that changes the source sends `source` to every
//! worker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The commands a worker understands, one line each, as listed in the [module](self) table.
pub const COMMANDS: &str = "get <function> <id> | gets <function> <id> <callers> | \
                            repeat <function> <id> <calls> | sweep <function> <first> <calls> | \
                            invalidate <function> <id> | source <id> <version> | \
                            sleep-body <ms> | stats <set> | quit";

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `get <function> <id>`: one call.
    Get {
        /// The function's name in the worker.
        function: String,
        /// Its argument.
        id: u64,
    },
    /// `gets <function> <id> <callers>`: `callers` concurrent calls of the same key.
    Gets {
        /// The function's name in the worker.
        function: String,
        /// Its argument.
        id: u64,
        /// How many tasks call it at once (at least 1).
        callers: usize,
    },
    /// `repeat <function> <id> <calls>`: `calls` calls of the same key, one after another, timed
    /// together (for the cost of a hit).
    Repeat {
        /// The function's name in the worker.
        function: String,
        /// Its argument.
        id: u64,
        /// How many calls (at least 1).
        calls: u64,
    },
    /// `sweep <function> <first> <calls>`: `calls` calls, one after another, of the ids `first`,
    /// `first + 1`, …, timed together (for the cost of a miss, on keys never read before).
    Sweep {
        /// The function's name in the worker.
        function: String,
        /// The first call's argument.
        first: u64,
        /// How many calls (at least 1).
        calls: u64,
    },
    /// `invalidate <function> <id>`: the function's `<fn>_invalidate` companion.
    Invalidate {
        /// The function's name in the worker.
        function: String,
        /// Its argument.
        id: u64,
    },
    /// `source <id> <version>`: the version the bodies return for `id` from now on.
    Source {
        /// The row.
        id: u64,
        /// Its new version.
        version: u64,
    },
    /// `sleep-body <ms>`: how long every body takes from now on.
    SleepBody {
        /// Milliseconds; 0 for no wait.
        ms: u64,
    },
    /// `stats <set>`: the set's counters.
    Stats {
        /// The set name, as in the function's attribute.
        set: String,
    },
    /// `quit`: answer, then exit.
    Quit,
}

impl Command {
    /// `get <function> <id>`.
    pub fn get(function: &str, id: u64) -> Command {
        let function = function.to_owned();
        Command::Get { function, id }
    }

    /// `gets <function> <id> <callers>`.
    pub fn gets(function: &str, id: u64, callers: usize) -> Command {
        let function = function.to_owned();
        Command::Gets {
            function,
            id,
            callers,
        }
    }

    /// `repeat <function> <id> <calls>`.
    pub fn repeat(function: &str, id: u64, calls: u64) -> Command {
        let function = function.to_owned();
        Command::Repeat {
            function,
            id,
            calls,
        }
    }

    /// `sweep <function> <first> <calls>`.
    pub fn sweep(function: &str, first: u64, calls: u64) -> Command {
        let function = function.to_owned();
        Command::Sweep {
            function,
            first,
            calls,
        }
    }

    /// `invalidate <function> <id>`.
    pub fn invalidate(function: &str, id: u64) -> Command {
        let function = function.to_owned();
        Command::Invalidate { function, id }
    }

    /// `stats <set>`.
    pub fn stats(set: &str) -> Command {
        let set = set.to_owned();
        Command::Stats { set }
    }
}

impl FromStr for Command {
    type Err = String;

    fn from_str(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&name, args)) = words.split_first() else {
            return Err(format!("an empty line; commands: {COMMANDS}"));
        };
        let expect = |count: usize, shape: &str| {
            if args.len() == count {
                Ok(())
            } else {
                Err(format!("`{name}` takes {shape}, got `{}`", line.trim()))
            }
        };
        match name {
            "get" | "invalidate" => {
                expect(2, "<function> <id>")?;
                let function = args[0].to_owned();
                let id = number(args[1], "id")?;
                Ok(if name == "get" {
                    Command::Get { function, id }
                } else {
                    Command::Invalidate { function, id }
                })
            }
            "gets" => {
                expect(3, "<function> <id> <callers>")?;
                let callers = number(args[2], "callers")?;
                if callers == 0 {
                    return Err("`gets` needs at least 1 caller".to_owned());
                }
                Ok(Command::Gets {
                    function: args[0].to_owned(),
                    id: number(args[1], "id")?,
                    callers,
                })
            }
            "repeat" | "sweep" => {
                expect(
                    3,
                    if name == "repeat" {
                        "<function> <id> <calls>"
                    } else {
                        "<function> <first> <calls>"
                    },
                )?;
                let function = args[0].to_owned();
                let id = number(args[1], "id")?;
                let calls = number(args[2], "calls")?;
                if calls == 0 {
                    return Err(format!("`{name}` needs at least 1 call"));
                }
                Ok(if name == "repeat" {
                    Command::Repeat {
                        function,
                        id,
                        calls,
                    }
                } else {
                    Command::Sweep {
                        function,
                        first: id,
                        calls,
                    }
                })
            }
            "source" => {
                expect(2, "<id> <version>")?;
                Ok(Command::Source {
                    id: number(args[0], "id")?,
                    version: number(args[1], "version")?,
                })
            }
            "sleep-body" => {
                expect(1, "<ms>")?;
                Ok(Command::SleepBody {
                    ms: number(args[0], "ms")?,
                })
            }
            "stats" => {
                expect(1, "<set>")?;
                Ok(Command::Stats {
                    set: args[0].to_owned(),
                })
            }
            "quit" => {
                expect(0, "no arguments")?;
                Ok(Command::Quit)
            }
            other => Err(format!("unknown command `{other}`; commands: {COMMANDS}")),
        }
    }
}

/// Parses a decimal argument, naming it when it is not one.
fn number<T: FromStr>(word: &str, what: &str) -> Result<T, String> {
    word.parse()
        .map_err(|_| format!("{what} `{word}` is not a non-negative integer in range"))
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Get { function, id } => write!(f, "get {function} {id}"),
            Command::Gets {
                function,
                id,
                callers,
            } => write!(f, "gets {function} {id} {callers}"),
            Command::Repeat {
                function,
                id,
                calls,
            } => write!(f, "repeat {function} {id} {calls}"),
            Command::Sweep {
                function,
                first,
                calls,
            } => write!(f, "sweep {function} {first} {calls}"),
            Command::Invalidate { function, id } => write!(f, "invalidate {function} {id}"),
            Command::Source { id, version } => write!(f, "source {id} {version}"),
            Command::SleepBody { ms } => write!(f, "sleep-body {ms}"),
            Command::Stats { set } => write!(f, "stats {set}"),
            Command::Quit => f.write_str("quit"),
        }
    }
}

/// One reply line (JSON, externally tagged: `{"got":{…}}`, `"done"`, `{"error":"…"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The worker's first line: its cache is installed and it reads commands.
    Ready {
        /// The worker's number in its fleet (`--id`).
        worker: u32,
        /// Its process id.
        pid: u32,
    },
    /// The answer to `get`.
    Got(Got),
    /// The answer to `gets`.
    Gots(Gots),
    /// The answer to `repeat` and `sweep`.
    Timed(Timed),
    /// The answer to `stats`.
    Stats(Stats),
    /// The command was carried out.
    Done,
    /// The command failed or could not be parsed; the worker goes on reading.
    Error(String),
}

/// The value every worker function returns: a row of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Row {
    /// The argument the function was called with.
    pub id: u64,
    /// The row's version in the source of the worker whose body loaded it.
    pub version: u64,
    /// The worker whose body loaded it (`--id`).
    pub loaded_by: u32,
}

/// Where a `get` found its value, told from the set's counters around the call (exact while
/// nothing else runs in the worker; a background refresh or retry may blur it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// The function's local tier (`local(…)`).
    Local,
    /// The cache entry in Aerospike.
    Cache,
    /// The body ran after the cache was read and had no usable entry: a real miss.
    Body,
    /// The body ran because the cache could not be read (an error, a timeout, or a bypass while
    /// the cluster was failing): the call says nothing about what the cache holds.
    BodyCacheFailed,
}

/// The answer to `get <function> <id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Got {
    /// What the call returned.
    pub value: Row,
    /// Where the value came from.
    pub served: Served,
    /// Whether the function's body ran in this worker during the call.
    pub ran: bool,
    /// How long the call took, in microseconds.
    pub micros: u64,
}

/// The answer to `gets <function> <id> <callers>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gots {
    /// How many calls were made.
    pub callers: usize,
    /// The versions the calls returned, ascending, each once.
    pub versions: Vec<u64>,
    /// The workers whose bodies loaded the values returned, ascending, each once.
    pub loaded_by: Vec<u32>,
    /// The errors calls returned, each once.
    pub errors: Vec<String>,
    /// How many times the body ran in this worker during the command.
    pub ran: u64,
    /// The slowest call, in microseconds.
    pub slowest_micros: u64,
    /// Every call's time in microseconds, ascending.
    pub micros: Vec<u64>,
}

/// The answer to `repeat` and `sweep`: calls made one after another, timed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    /// How many calls were made.
    pub calls: u64,
    /// How long they took together, in nanoseconds.
    pub nanos: u64,
    /// How many times the body ran in this worker during the command.
    pub ran: u64,
}

impl Timed {
    /// The mean time of one call, in nanoseconds.
    pub fn nanos_per_call(&self) -> f64 {
        self.nanos as f64 / self.calls.max(1) as f64
    }
}

/// The answer to `stats <set>`: the worker's [`cacheaside::SetStats`] of the set, the fields the
/// fleet tests read (add one here and in the `From` below).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// [`SetStats::hits`](cacheaside::SetStats::hits).
    pub hits: u64,
    /// [`SetStats::misses`](cacheaside::SetStats::misses).
    pub misses: u64,
    /// [`SetStats::loads`](cacheaside::SetStats::loads).
    pub loads: u64,
    /// [`SetStats::local_hits`](cacheaside::SetStats::local_hits).
    pub local_hits: u64,
    /// [`SetStats::coalesced`](cacheaside::SetStats::coalesced).
    pub coalesced: u64,
    /// [`SetStats::writes`](cacheaside::SetStats::writes).
    pub writes: u64,
    /// [`SetStats::cache_errors`](cacheaside::SetStats::cache_errors).
    pub cache_errors: u64,
    /// [`SetStats::bypassed`](cacheaside::SetStats::bypassed).
    pub bypassed: u64,
    /// [`SetStats::stale_served`](cacheaside::SetStats::stale_served).
    pub stale_served: u64,
    /// [`SetStats::stale_writes_prevented`](cacheaside::SetStats::stale_writes_prevented).
    pub stale_writes_prevented: u64,
    /// [`SetStats::invalidations_kept`](cacheaside::SetStats::invalidations_kept).
    pub invalidations_kept: u64,
    /// [`SetStats::invalidations_recovered`](cacheaside::SetStats::invalidations_recovered).
    pub invalidations_recovered: u64,
    /// [`SetStats::pending_invalidations`](cacheaside::SetStats::pending_invalidations).
    pub pending_invalidations: u64,
    /// [`SetStats::remote_changes`](cacheaside::SetStats::remote_changes).
    pub remote_changes: u64,
    /// [`SetStats::lease_waits`](cacheaside::SetStats::lease_waits).
    pub lease_waits: u64,
}

impl From<cacheaside::SetStats> for Stats {
    fn from(stats: cacheaside::SetStats) -> Stats {
        Stats {
            hits: stats.hits,
            misses: stats.misses,
            loads: stats.loads,
            local_hits: stats.local_hits,
            coalesced: stats.coalesced,
            writes: stats.writes,
            cache_errors: stats.cache_errors,
            bypassed: stats.bypassed,
            stale_served: stats.stale_served,
            stale_writes_prevented: stats.stale_writes_prevented,
            invalidations_kept: stats.invalidations_kept,
            invalidations_recovered: stats.invalidations_recovered,
            pending_invalidations: stats.pending_invalidations,
            remote_changes: stats.remote_changes,
            lease_waits: stats.lease_waits,
        }
    }
}

impl Reply {
    /// The [`Got`] of a [`Reply::Got`]; any other reply as the error.
    pub fn into_got(self) -> Result<Got, Reply> {
        match self {
            Reply::Got(got) => Ok(got),
            other => Err(other),
        }
    }

    /// The [`Gots`] of a [`Reply::Gots`]; any other reply as the error.
    pub fn into_gots(self) -> Result<Gots, Reply> {
        match self {
            Reply::Gots(gots) => Ok(gots),
            other => Err(other),
        }
    }

    /// The [`Timed`] of a [`Reply::Timed`]; any other reply as the error.
    pub fn into_timed(self) -> Result<Timed, Reply> {
        match self {
            Reply::Timed(timed) => Ok(timed),
            other => Err(other),
        }
    }

    /// The [`Stats`] of a [`Reply::Stats`]; any other reply as the error.
    pub fn into_stats(self) -> Result<Stats, Reply> {
        match self {
            Reply::Stats(stats) => Ok(stats),
            other => Err(other),
        }
    }

    /// `Ok` for [`Reply::Done`]; any other reply as the error.
    pub fn into_done(self) -> Result<(), Reply> {
        match self {
            Reply::Done => Ok(()),
            other => Err(other),
        }
    }
}

impl fmt::Display for Reply {
    /// The reply line, without its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(line) => f.write_str(&line),
            Err(_) => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_back_what_they_print() {
        let commands = [
            Command::Get {
                function: "row".into(),
                id: 7,
            },
            Command::Gets {
                function: "cold".into(),
                id: 1,
                callers: 50,
            },
            Command::repeat("local_row", 7, 10_000),
            Command::sweep("cold", 100, 25),
            Command::Invalidate {
                function: "row".into(),
                id: 7,
            },
            Command::Source { id: 7, version: 2 },
            Command::SleepBody { ms: 300 },
            Command::Stats {
                set: "fleet_rows".into(),
            },
            Command::Quit,
        ];
        for command in commands {
            assert_eq!(command.to_string().parse(), Ok(command));
        }
    }

    #[test]
    fn bad_lines_are_errors_that_say_why() {
        let error = |line: &str| line.parse::<Command>().unwrap_err();
        assert!(error("").contains("empty"));
        assert!(error("frobnicate 1").contains("unknown command `frobnicate`"));
        assert!(error("get row").contains("`get` takes <function> <id>"));
        assert!(error("get row x").contains("id `x`"));
        assert!(error("get row -1").contains("id `-1`"));
        assert!(error("gets cold 1 0").contains("at least 1"));
        assert!(error("repeat row 1 0").contains("`repeat` needs at least 1 call"));
        assert!(error("sweep cold 1").contains("`sweep` takes <function> <first> <calls>"));
        assert!(error("quit now").contains("no arguments"));
    }

    #[test]
    fn replies_are_one_json_line() {
        let reply = Reply::Error("no\nnewline".into());
        let line = reply.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
        assert_eq!(Reply::Done.to_string(), "\"done\"");
    }
}
