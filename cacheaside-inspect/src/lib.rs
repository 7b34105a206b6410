//! `cacheaside-inspect`: shows what a cacheaside entry in Aerospike holds, for operators.
//!
//! ```text
//! $ cacheaside-inspect --namespace test users '::app::repo::get_user(42)'
//! namespace   test
//! set         users
//! key         "::app::repo::get_user(42)"
//! generation  1
//! ttl         3600 s
//! bins        data
//! size        19 bytes (header 3, payload 16)
//! format      1
//! codec       1, MessagePack (named fields)
//! schema tag  none
//! value
//! {
//!   "id": 42,
//!   "name": "alice"
//! }
//! ```
//!
//! `--json` prints the same as one JSON object on one line:
//!
//! ```text
//! {"namespace":"test","set":"users","key":"::app::repo::get_user(42)","found":true,"generation":1,
//!  "ttl_seconds":3600,"bins":["data"],"size":19,"envelope":{"format":1,"codec_id":1,
//!  "codec":"MessagePack (named fields)","schema_tag_hex":"","header_size":3,"payload_size":16},
//!  "value":{"id":42,"name":"alice"}}
//! ```
//!
//! Without a value, `problem` says why (and `value` is absent); a missing record gives
//! `"found":false`. The exit status tells the cases apart (see [`Status`]; `--help` lists them). The envelope is read by
//! [`cacheaside_runtime::inspect`], the code path of the cache itself; the value is shown as
//! JSON as described in [`json`]. The record is only read, never written or touched.
//!
//! `--sizes` measures the entries of a set instead, for capacity planning: the sizes of their bin
//! `data` and an estimate of what an entry costs in Aerospike ([`sizes`]):
//!
//! ```text
//! $ cacheaside-inspect --sizes --sample 100000 capacity_id
//! namespace   test
//! set         capacity_id
//! records     100000 (scan, at most 100000)
//! entries     100000 with a value, 0 without
//! data bin    min 1016, median 1018, p95 1020, max 1020, mean 1018.7 bytes
//! envelope    header 3 bytes, payload mean 1015.7 bytes
//! aerospike   at least 1083 bytes per entry and copy: 64 of primary index + 1019 of bin data, plus the server's record overhead
//! ```
//!
//! [`run`] is the whole program as a function, for tests and for embedding in other tools.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod json;
mod report;
pub mod sizes;

use std::io::Write;

use aerospike::expressions::{bin_type, bool_val, eq, int_val, ne, Expression};
use aerospike::{
    AuthMode, Bins, Client, ClientPolicy, Key, ParticleType, ReadPolicy, Record, ResultCode, Value,
};
use cacheaside_runtime::inspect::{self, DATA_BIN, INVALIDATED_BIN};

pub use args::{Command, Request, SizesRequest, USAGE};
pub use report::{render, Rendered};

/// How the program ends; [`Status::code`] is its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The value (or the help) was printed.
    Printed,
    /// The cluster could not be reached, or the read failed.
    Failed,
    /// The command line or the environment is not usable.
    Usage,
    /// There is no such record.
    NotFound,
    /// The record holds no readable value: an invalidation marker, other bins, bytes that do not
    /// decode.
    NoValue,
}

impl Status {
    /// The exit status: 0, 1, 2, 3 and 4 in the order of the variants.
    pub fn code(self) -> u8 {
        match self {
            Status::Printed => 0,
            Status::Failed => 1,
            Status::Usage => 2,
            Status::NotFound => 3,
            Status::NoValue => 4,
        }
    }
}

/// Runs the program: parses `args` (without the program name) with `env` for environment
/// variables, reads the record and prints the report on `out`, errors on `err`.
pub async fn run(
    args: impl IntoIterator<Item = String>,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Status {
    let request = match args::parse(args, env) {
        Ok(Command::Help) => {
            return print(out, err, USAGE, Status::Printed);
        }
        Ok(Command::Inspect(request)) => *request,
        Ok(Command::Sizes(request)) => {
            return match measure_sizes(&request).await {
                Ok(tally) => print(out, err, &sizes::render(&request, &tally), tally.status()),
                Err(message) => {
                    let _ = writeln!(err, "cacheaside-inspect: {message}");
                    Status::Failed
                }
            };
        }
        Err(message) => {
            let _ = writeln!(err, "cacheaside-inspect: {message}\n\n{USAGE}");
            return Status::Usage;
        }
    };
    match read(&request).await {
        Ok(record) => {
            let rendered = render(&request, record.as_ref());
            print(out, err, &rendered.text, rendered.status)
        }
        Err(message) => {
            let _ = writeln!(err, "cacheaside-inspect: {message}");
            Status::Failed
        }
    }
}

/// Reads the record without letting the client parse a value this tool does not expect.
///
/// The client parses lists and maps recursively, without a depth limit: a record whose bin `data`
/// holds a list nested 100,000 deep would crash the tool. So the server is asked for bin `data`
/// only when it holds bytes or nothing (the filter every read of the cache carries); otherwise
/// the bin's type is found with header-only reads filtered by type, and the report says what the
/// bin holds without reading it. Of bin `invalidated` only its presence is asked, and other bins
/// are not read.
pub(crate) async fn read_safely(
    client: &Client,
    key: &Key,
    millis: u32,
) -> aerospike::Result<Record> {
    let read = |filter: Expression| {
        let mut read = ReadPolicy::default();
        read.base_policy.total_timeout = millis;
        read.base_policy.socket_timeout = millis;
        read.base_policy.filter_expression = Some(filter);
        read
    };
    let data_is = |particle: ParticleType| eq(bin_type(DATA_BIN), int_val(particle as i64));
    let filtered_out = |e: &aerospike::Error| e.matches(&[ResultCode::FilteredOut]);
    match client
        .get(&read(inspect::data_filter()), key, Bins::from([DATA_BIN]))
        .await
    {
        Ok(mut record) => {
            if !record.bins.contains_key(DATA_BIN) {
                let marker = ne(
                    bin_type(INVALIDATED_BIN),
                    int_val(ParticleType::Null as i64),
                );
                match client.get(&read(marker), key, Bins::None).await {
                    // Only its presence matters: the report never shows a marker's value.
                    Ok(_) => {
                        record
                            .bins
                            .insert(INVALIDATED_BIN.to_owned(), Value::Int(1));
                    }
                    Err(e) if filtered_out(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(record)
        }
        Err(e) if filtered_out(&e) => {
            // An empty value of the bin's type stands for it: the report names the type only.
            let kinds = [
                (ParticleType::List, Value::List(Vec::new())),
                (ParticleType::Map, Value::HashMap(Default::default())),
                (ParticleType::String, Value::String(String::new())),
                (ParticleType::Integer, Value::Int(0)),
                (ParticleType::Float, Value::from(0.0)),
                (ParticleType::Bool, Value::Bool(false)),
                (ParticleType::GeoJson, Value::GeoJson(String::new())),
                (ParticleType::Hll, Value::Hll(Vec::new())),
            ];
            for (particle, stand_in) in kinds {
                match client.get(&read(data_is(particle)), key, Bins::None).await {
                    Ok(mut header) => {
                        header.bins.insert(DATA_BIN.to_owned(), stand_in);
                        return Ok(header);
                    }
                    Err(e) if filtered_out(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut header = client.get(&read(bool_val(true)), key, Bins::None).await?;
            // A type without a stand-in: the report says "another type".
            header.bins.insert(DATA_BIN.to_owned(), Value::Wildcard);
            Ok(header)
        }
        Err(e) => Err(e),
    }
}

fn print(out: &mut dyn Write, err: &mut dyn Write, text: &str, status: Status) -> Status {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(error) => {
            let _ = writeln!(err, "cacheaside-inspect: cannot write the output: {error}");
            Status::Failed
        }
    }
}

/// Reads the record of `request` (`None` when there is none), with all its bins.
///
/// # Errors
/// A message for the user when the cluster cannot be reached in time or the read fails.
pub async fn read(request: &Request) -> Result<Option<Record>, String> {
    let millis = millis(request.timeout);
    let client = connect(
        &request.hosts,
        request.timeout,
        request.credentials.as_ref(),
    )
    .await?;
    let key = Key::new(
        request.namespace.clone(),
        request.set.clone(),
        request.key.clone(),
    );
    let result = match key {
        Ok(key) => read_safely(&client, &key, millis).await.map_err(|e| {
            if e.matches(&[ResultCode::KeyNotFoundError]) {
                None
            } else {
                Some(format!("reading the record failed: {e}"))
            }
        }),
        Err(e) => Err(Some(format!("the key is not usable: {e}"))),
    };
    // Closing only stops the client's tasks; the read's answer is what matters.
    let _ = client.close().await;
    match result {
        Ok(record) => Ok(Some(record)),
        Err(None) => Ok(None),
        Err(Some(message)) => Err(message),
    }
}

/// Measures the entries of the set of `request` (`--sizes`): the KEYs given, or a scan.
///
/// # Errors
/// A message for the user when the cluster cannot be reached in time, or a read or the scan
/// fails.
pub async fn measure_sizes(request: &SizesRequest) -> Result<sizes::Tally, String> {
    let client = connect(
        &request.hosts,
        request.timeout,
        request.credentials.as_ref(),
    )
    .await?;
    let tally = sizes::measure(&client, request, millis(request.timeout)).await;
    let _ = client.close().await;
    tally
}

fn millis(timeout: std::time::Duration) -> u32 {
    u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)
}

/// A client for `hosts`, connected within `timeout`.
async fn connect(
    hosts: &str,
    timeout: std::time::Duration,
    credentials: Option<&(String, String)>,
) -> Result<Client, String> {
    let millis = millis(timeout);
    let policy = ClientPolicy {
        timeout: millis,
        auth_mode: match credentials {
            Some((user, password)) => AuthMode::Internal(user.clone(), password.clone()),
            None => AuthMode::None,
        },
        ..ClientPolicy::default()
    };
    // The client's own timeout covers each connection; this one covers all of start-up.
    tokio::time::timeout(timeout, Client::new(&policy, &hosts))
        .await
        .map_err(|_| format!("no connection to {hosts} within {millis} ms"))?
        .map_err(|e| format!("cannot connect to {hosts}: {e}"))
}
