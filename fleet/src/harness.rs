//! The test side: a [`Fleet`] of worker processes and the [`Worker`] handles that drive them.
//!
//! Every wait is bounded ([`REPLY_TIMEOUT`]) and every failure of a worker (it exited, did not
//! answer in time, or printed a line that is not a reply) panics with the worker's number and the
//! command: a test cannot go on without its answer. Workers are killed when their handle is
//! dropped, so a failing test leaves no process behind; a worker also exits when the test process
//! dies, as its stdin closes.

use std::collections::VecDeque;
use std::fmt::Display;
use std::ops::{Index, IndexMut};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{self, Child, ChildStdin, ChildStdout};

use crate::protocol::{Command, Got, Gots, Reply, Stats, Timed};

/// The longest a worker may take to start or to answer one command: generous, since a loaded
/// test machine may stall a process for seconds; only a hung worker takes this long.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Worker processes started from one binary against one cluster, numbered from 0.
pub struct Fleet {
    workers: Vec<Worker>,
}

impl Fleet {
    /// Starts `count` workers of `binary` (the `fleet-worker` binary: in an integration test of
    /// this crate, `env!("CARGO_BIN_EXE_fleet-worker")`) against the cluster at `hosts`, and waits
    /// until each has installed its cache. They start concurrently, each with the default
    /// configuration but for generous timeouts: the `AEROSPIKE_*` and `CACHEASIDE_*` variables
    /// of the test process are not passed on.
    pub async fn start(binary: impl AsRef<Path>, count: usize, hosts: &str) -> Fleet {
        Fleet::start_with_env(binary, count, hosts, &[]).await
    }

    /// [`start`](Self::start), with these configuration variables set in every worker (such as
    /// `("CACHEASIDE_OPERATION_TIMEOUT_MS", "500")`).
    pub async fn start_with_env(
        binary: impl AsRef<Path>,
        count: usize,
        hosts: &str,
        env: &[(&str, &str)],
    ) -> Fleet {
        let mut workers: Vec<Worker> = (0..count)
            .map(|index| Worker::spawn(binary.as_ref(), index, hosts, env))
            .collect();
        for worker in &mut workers {
            worker.wait_ready().await;
        }
        Fleet { workers }
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether the fleet has no worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The workers, in order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Worker> {
        self.workers.iter_mut()
    }

    /// Sends `command` to every worker at once (each gets the line before any answer is read),
    /// then collects the replies in worker order.
    pub async fn send_all(&mut self, command: impl Display) -> Vec<Reply> {
        let all: Vec<usize> = (0..self.len()).collect();
        self.send_to(&all, command).await
    }

    /// Sends `command` to the workers numbered in `workers` at once, then collects their replies
    /// in that order.
    ///
    /// # Panics
    /// If a number is not a worker's or is given twice, and as [`Worker::send`].
    pub async fn send_to(&mut self, workers: &[usize], command: impl Display) -> Vec<Reply> {
        let line = command.to_string();
        for (position, &index) in workers.iter().enumerate() {
            assert!(
                index < self.len(),
                "no worker {index} in a fleet of {}",
                self.len()
            );
            assert!(
                !workers[..position].contains(&index),
                "worker {index} named twice"
            );
        }
        for &index in workers {
            self.workers[index].write(&line).await;
        }
        let mut replies = Vec::with_capacity(workers.len());
        for &index in workers {
            replies.push(self.workers[index].read().await);
        }
        replies
    }

    /// `get <function> <id>` on every worker at once.
    pub async fn get_all(&mut self, function: &str, id: u64) -> Vec<Got> {
        self.call_all(Command::get(function, id), Reply::into_got)
            .await
    }

    /// `gets <function> <id> <callers>` on every worker at once: `callers` concurrent calls in
    /// each.
    pub async fn gets_all(&mut self, function: &str, id: u64, callers: usize) -> Vec<Gots> {
        self.call_all(Command::gets(function, id, callers), Reply::into_gots)
            .await
    }

    /// `source <id> <version>` on every worker: the source changes fleet-wide.
    pub async fn set_source(&mut self, id: u64, version: u64) {
        self.call_all(Command::Source { id, version }, Reply::into_done)
            .await;
    }

    /// `sleep-body <ms>` on every worker.
    pub async fn sleep_body(&mut self, ms: u64) {
        self.call_all(Command::SleepBody { ms }, Reply::into_done)
            .await;
    }

    /// `stats <set>` of every worker.
    pub async fn stats_all(&mut self, set: &str) -> Vec<Stats> {
        self.call_all(Command::stats(set), Reply::into_stats).await
    }

    /// Sends `command` to every worker at once and takes the expected reply from each.
    ///
    /// # Panics
    /// As [`Worker::send`], and if a reply is not the expected one.
    pub async fn call_all<T>(
        &mut self,
        command: Command,
        expected: fn(Reply) -> Result<T, Reply>,
    ) -> Vec<T> {
        let line = command.to_string();
        let replies = self.send_all(&line).await;
        replies
            .into_iter()
            .zip(&self.workers)
            .map(|(reply, worker)| worker.expect(reply, &line, expected))
            .collect()
    }

    /// Asks every worker to quit and waits (bounded) for each to exit; a worker that does not is
    /// killed. Dropping the fleet kills them all at once instead.
    pub async fn quit(self) {
        for mut worker in self.workers {
            worker.quit().await;
        }
    }
}

impl Index<usize> for Fleet {
    type Output = Worker;

    fn index(&self, index: usize) -> &Worker {
        &self.workers[index]
    }
}

impl IndexMut<usize> for Fleet {
    fn index_mut(&mut self, index: usize) -> &mut Worker {
        &mut self.workers[index]
    }
}

/// One worker process: lines to its stdin, replies from its stdout; its stderr is the test's.
pub struct Worker {
    index: usize,
    pid: u32,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// The commands written and not yet answered, oldest first.
    unanswered: VecDeque<String>,
}

impl Worker {
    /// Starts worker number `index` of `binary` against the cluster at `hosts`, with the
    /// configuration variables `env` only, without waiting for it to be ready ([`Fleet::start`]
    /// waits).
    ///
    /// # Panics
    /// If the process cannot be started.
    fn spawn(binary: &Path, index: usize, hosts: &str, env: &[(&str, &str)]) -> Worker {
        let mut command = process::Command::new(binary);
        for (name, _) in std::env::vars_os() {
            let text = name.to_str().unwrap_or_default();
            if text.starts_with("AEROSPIKE_") || text.starts_with("CACHEASIDE_") {
                command.env_remove(&name);
            }
        }
        let mut child = command
            .envs(env.iter().copied())
            .arg("--hosts")
            .arg(hosts)
            .arg("--id")
            .arg(index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| {
                panic!("worker {index}: cannot start {}: {error}", binary.display())
            });
        let (Some(stdin), Some(stdout), Some(pid)) =
            (child.stdin.take(), child.stdout.take(), child.id())
        else {
            panic!("worker {index}: started without pipes or a process id");
        };
        Worker {
            index,
            pid,
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            unanswered: VecDeque::from(["(start)".to_owned()]),
        }
    }

    async fn wait_ready(&mut self) {
        match self.read().await {
            Reply::Ready { worker, .. } if worker as usize == self.index => {}
            other => panic!(
                "worker {}: its first line is {other:?}, not ready",
                self.index
            ),
        }
    }

    /// The worker's number in its fleet.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends one command line (a [`Command`] or text such as `"get row 7"`) and waits for its
    /// reply. A command the worker refuses or that fails is a [`Reply::Error`], not a panic.
    ///
    /// # Panics
    /// If the worker exits, does not answer within [`REPLY_TIMEOUT`], or answers with a line
    /// that is not a reply.
    pub async fn send(&mut self, command: impl Display) -> Reply {
        self.write(&command.to_string()).await;
        self.read().await
    }

    /// Writes one command line without waiting for its reply: [`read`](Self::read) it later.
    /// Writing to several workers before reading any reply runs the commands concurrently.
    ///
    /// # Panics
    /// If the line holds a newline, or the worker has exited.
    pub async fn write(&mut self, command: &str) {
        assert!(
            !command.contains('\n'),
            "worker {}: one command per line, got {command:?}",
            self.index
        );
        let line = format!("{command}\n");
        if let Err(error) = self.stdin.write_all(line.as_bytes()).await {
            let exit = self.exit_status().await;
            panic!(
                "worker {}: cannot send `{command}` ({error}); {exit}",
                self.index
            );
        }
        if let Err(error) = self.stdin.flush().await {
            panic!("worker {}: cannot send `{command}` ({error})", self.index);
        }
        self.unanswered.push_back(command.to_owned());
    }

    /// Reads the reply to the oldest command written and not yet answered.
    ///
    /// # Panics
    /// As [`send`](Self::send), and if no command waits for a reply.
    pub async fn read(&mut self) -> Reply {
        let Some(command) = self.unanswered.pop_front() else {
            panic!("worker {}: read without a command sent", self.index);
        };
        let line = match tokio::time::timeout(REPLY_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let exit = self.exit_status().await;
                panic!(
                    "worker {}: closed its stdout before answering `{command}`; {exit}",
                    self.index
                )
            }
            Ok(Err(error)) => panic!(
                "worker {}: cannot read the answer to `{command}`: {error}",
                self.index
            ),
            Err(_) => panic!(
                "worker {}: no answer to `{command}` within {REPLY_TIMEOUT:?}",
                self.index
            ),
        };
        serde_json::from_str(&line).unwrap_or_else(|error| {
            panic!(
                "worker {}: answered `{command}` with {line:?}, not a reply line ({error})",
                self.index
            )
        })
    }

    /// `get <function> <id>`.
    ///
    /// # Panics
    /// As [`send`](Self::send), and if the reply is not [`Reply::Got`] (an unknown function, or
    /// the function returned `Err`).
    pub async fn get(&mut self, function: &str, id: u64) -> Got {
        self.call(Command::get(function, id), Reply::into_got).await
    }

    /// `gets <function> <id> <callers>`: `callers` concurrent calls in this worker.
    ///
    /// # Panics
    /// As [`get`](Self::get).
    pub async fn gets(&mut self, function: &str, id: u64, callers: usize) -> Gots {
        self.call(Command::gets(function, id, callers), Reply::into_gots)
            .await
    }

    /// `repeat <function> <id> <calls>`: `calls` calls of one key in a row, timed together.
    ///
    /// # Panics
    /// As [`get`](Self::get).
    pub async fn repeat(&mut self, function: &str, id: u64, calls: u64) -> Timed {
        self.call(Command::repeat(function, id, calls), Reply::into_timed)
            .await
    }

    /// `sweep <function> <first> <calls>`: `calls` calls in a row of the ids from `first` on,
    /// timed together.
    ///
    /// # Panics
    /// As [`get`](Self::get).
    pub async fn sweep(&mut self, function: &str, first: u64, calls: u64) -> Timed {
        self.call(Command::sweep(function, first, calls), Reply::into_timed)
            .await
    }

    /// `invalidate <function> <id>`: `Err` with the error the companion returned.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    pub async fn invalidate(&mut self, function: &str, id: u64) -> Result<(), String> {
        self.call(Command::invalidate(function, id), |reply| match reply {
            Reply::Done => Ok(Ok(())),
            Reply::Error(error) => Ok(Err(error)),
            other => Err(other),
        })
        .await
    }

    /// `stats <set>`.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    pub async fn stats(&mut self, set: &str) -> Stats {
        self.call(Command::stats(set), Reply::into_stats).await
    }

    /// `source <id> <version>` in this worker only.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    pub async fn set_source(&mut self, id: u64, version: u64) {
        self.call(Command::Source { id, version }, Reply::into_done)
            .await;
    }

    /// `sleep-body <ms>` in this worker only.
    ///
    /// # Panics
    /// As [`send`](Self::send).
    pub async fn sleep_body(&mut self, ms: u64) {
        self.call(Command::SleepBody { ms }, Reply::into_done).await;
    }

    /// Sends `command` and takes the expected reply.
    ///
    /// # Panics
    /// As [`send`](Self::send), and if the reply is not the expected one.
    pub async fn call<T>(
        &mut self,
        command: Command,
        expected: fn(Reply) -> Result<T, Reply>,
    ) -> T {
        let line = command.to_string();
        let reply = self.send(&line).await;
        self.expect(reply, &line, expected)
    }

    /// Sends `quit` and waits (bounded) for the process to exit; kills it if it does not.
    async fn quit(&mut self) {
        // A worker that is already gone has nothing to quit.
        if self.stdin.write_all(b"quit\n").await.is_ok() && self.stdin.flush().await.is_ok() {
            let _ = tokio::time::timeout(REPLY_TIMEOUT, self.child.wait()).await;
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// How the process ended, for a panic message (it has closed its pipes, so it is exiting).
    async fn exit_status(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => format!("it exited with {status} (its stderr is above)"),
            Ok(Err(error)) => format!("its exit status cannot be read: {error}"),
            Err(_) => "it is still running".to_owned(),
        }
    }

    fn expect<T>(&self, reply: Reply, command: &str, expected: fn(Reply) -> Result<T, Reply>) -> T {
        expected(reply).unwrap_or_else(|other| {
            panic!("worker {}: answered `{command}` with {other:?}", self.index)
        })
    }
}
