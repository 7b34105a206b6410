//! The command line and the environment: which record to read, where, and how to print it.

use std::time::Duration;

use aerospike::Value;

/// The usage text, printed by `--help` and after a usage error.
pub const USAGE: &str = "\
Usage: cacheaside-inspect [OPTIONS] <SET> <KEY>
       cacheaside-inspect --sizes [OPTIONS] <SET> [KEY...]

Reads one cacheaside entry and prints its envelope (format, codec, schema tag, size), the
record's TTL and generation, and the value as JSON.

With --sizes, measures the entries of a set instead: the sizes of their bin `data` (min,
median, p95, max, mean), the envelope's header and an estimate of what an entry costs in
Aerospike, for capacity planning. It reads the KEYs given, or without any scans the set (a
server feature: a real cluster, not the test server) up to --sample records.

Arguments:
  <SET>                 the set of the entry (the attribute's `set`)
  <KEY>                 the user key; a string unless --int or --hex is given. Default keys look
                        like ::app::repo::get_user(42,\"alice\"): quote them for the shell

Options:
  --int                 KEY is an integer key (i64)
  --hex                 KEY is a bytes key, written in hex (e.g. 00ff10)
  --namespace <NS>      the namespace [env: AEROSPIKE_NAMESPACE, default: test]
  --hosts <HOSTS>       seed hosts, host:port separated by ',' [env: AEROSPIKE_HOSTS,
                        default: 127.0.0.1:3000]
  --timeout-ms <MS>     time allowed to connect, and then to read [default: 2000]
  --json                print one JSON object instead of text
  --sizes               measure the entries of <SET> (see above); --int and --hex apply to
                        every KEY
  --sample <N>          with --sizes and no KEY, scan at most N records [default: 1000]
  -h, --help            print this help

Environment:
  AEROSPIKE_USER, AEROSPIKE_PASSWORD   credentials, for clusters with security on

Exit status:
  0  the value was printed (--sizes: at least one entry was measured)
  1  the cluster could not be reached or the read failed
  2  usage error
  3  no such record (--sizes: none of the records was found, or the set is empty)
  4  the record holds no readable value (invalidation marker, other bins, bytes that do not decode;
     --sizes: records were found but none holds an envelope)
";

/// Seed hosts when neither `--hosts` nor `AEROSPIKE_HOSTS` names any.
const DEFAULT_HOSTS: &str = "127.0.0.1:3000";
/// Namespace when neither `--namespace` nor `AEROSPIKE_NAMESPACE` names one.
const DEFAULT_NAMESPACE: &str = "test";
/// Time for connecting, and then for the read.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Records a `--sizes` scan reads when `--sample` does not say.
const DEFAULT_SAMPLE: u64 = 1_000;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print the usage text.
    Help,
    /// Read and print one record.
    Inspect(Box<Request>),
    /// Measure the entries of a set (`--sizes`).
    Sizes(Box<SizesRequest>),
}

/// The entries of a set to measure, and how (`--sizes`).
#[derive(Debug, Clone, PartialEq)]
pub struct SizesRequest {
    /// Seed hosts, as the `aerospike` client takes them.
    pub hosts: String,
    /// The set's namespace.
    pub namespace: String,
    /// The set.
    pub set: String,
    /// The user keys of the records to read; empty: scan the set.
    pub keys: Vec<Value>,
    /// The most records a scan reads.
    pub sample: u64,
    /// Time for connecting, and then for the reads (or the scan).
    pub timeout: Duration,
    /// User and password, when the environment gives both.
    pub credentials: Option<(String, String)>,
    /// One JSON object instead of text.
    pub json: bool,
}

/// One record to read, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Seed hosts, as the `aerospike` client takes them.
    pub hosts: String,
    /// The record's namespace.
    pub namespace: String,
    /// The record's set.
    pub set: String,
    /// The user key.
    pub key: Value,
    /// Time for connecting, and then for the read.
    pub timeout: Duration,
    /// User and password, when the environment gives both.
    pub credentials: Option<(String, String)>,
    /// One JSON object instead of text.
    pub json: bool,
}

/// How KEY is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Str,
    Int,
    Hex,
}

/// Parses the arguments (without the program name); `env` looks up environment variables.
///
/// # Errors
/// A message for the user when the arguments or the environment are not usable.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut key_type = KeyType::Str;
    let mut hosts = None;
    let mut namespace = None;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut json = false;
    let mut sizes = false;
    let mut sample = None;
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--int" => key_type = set_key_type(key_type, KeyType::Int)?,
            "--hex" => key_type = set_key_type(key_type, KeyType::Hex)?,
            "--json" => json = true,
            "--sizes" => sizes = true,
            "--sample" => sample = Some(parse_sample(&value_of(&arg, args.next())?)?),
            "--hosts" => hosts = Some(value_of(&arg, args.next())?),
            "--namespace" => namespace = Some(value_of(&arg, args.next())?),
            "--timeout-ms" => timeout = parse_timeout(&value_of(&arg, args.next())?)?,
            // Everything after `--` is positional, so a key may start with `-`.
            "--" => positional.extend(args.by_ref()),
            // A negative number is an integer key, not an option.
            option
                if option.starts_with('-')
                    && option.len() > 1
                    && option.parse::<i64>().is_err() =>
            {
                return Err(format!("unknown option `{option}`"))
            }
            _ => positional.push(arg),
        }
    }
    let hosts = hosts
        .or_else(|| non_empty(env("AEROSPIKE_HOSTS")))
        .unwrap_or_else(|| DEFAULT_HOSTS.to_owned());
    let namespace = namespace
        .or_else(|| non_empty(env("AEROSPIKE_NAMESPACE")))
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    if sizes {
        let mut positional = positional.into_iter();
        let set = positional
            .next()
            .ok_or_else(|| "--sizes expects <SET> and then any KEYs".to_owned())?;
        if set.is_empty() {
            return Err("<SET> is empty".to_owned());
        }
        let keys = positional
            .map(|key| parse_key(&key, key_type))
            .collect::<Result<Vec<_>, _>>()?;
        if sample.is_some() && !keys.is_empty() {
            return Err("--sample applies to a scan: give KEYs or --sample, not both".to_owned());
        }
        return Ok(Command::Sizes(Box::new(SizesRequest {
            hosts,
            namespace,
            set,
            keys,
            sample: sample.unwrap_or(DEFAULT_SAMPLE),
            timeout,
            credentials: credentials(env)?,
            json,
        })));
    }
    if sample.is_some() {
        return Err("--sample needs --sizes".to_owned());
    }
    let [set, key] = <[String; 2]>::try_from(positional).map_err(|found| {
        format!(
            "expected two arguments, <SET> and <KEY>, found {}",
            found.len()
        )
    })?;
    if set.is_empty() {
        return Err("<SET> is empty".to_owned());
    }
    Ok(Command::Inspect(Box::new(Request {
        hosts,
        namespace,
        set,
        key: parse_key(&key, key_type)?,
        timeout,
        credentials: credentials(env)?,
        json,
    })))
}

fn set_key_type(current: KeyType, new: KeyType) -> Result<KeyType, String> {
    if current != KeyType::Str && current != new {
        return Err("--int and --hex exclude each other".to_owned());
    }
    Ok(new)
}

fn value_of(option: &str, value: Option<String>) -> Result<String, String> {
    value.ok_or_else(|| format!("{option} needs a value"))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_timeout(value: &str) -> Result<Duration, String> {
    match value.parse::<u32>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(u64::from(ms))),
        _ => Err(format!(
            "--timeout-ms must be a positive number of milliseconds, not `{value}`"
        )),
    }
}

fn parse_sample(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "--sample must be a positive number of records, not `{value}`"
        )),
    }
}

fn parse_key(key: &str, key_type: KeyType) -> Result<Value, String> {
    match key_type {
        KeyType::Str => Ok(Value::String(key.to_owned())),
        KeyType::Int => key
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("--int: `{key}` is not an integer in i64 range")),
        KeyType::Hex => parse_hex(key).map(Value::Blob),
    }
}

/// Bytes from hex digits (either case, an optional `0x`, an even count).
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return Err(format!("--hex: `{text}` has an odd number of hex digits"));
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = core::str::from_utf8(pair).ok();
            pair.and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("--hex: `{text}` is not hex"))
        })
        .collect()
}

/// Both of `AEROSPIKE_USER` and `AEROSPIKE_PASSWORD`, or neither.
fn credentials(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(String, String)>, String> {
    match (
        non_empty(env("AEROSPIKE_USER")),
        non_empty(env("AEROSPIKE_PASSWORD")),
    ) {
        (Some(user), Some(password)) => Ok(Some((user, password))),
        (None, None) => Ok(None),
        (Some(_), None) => Err("AEROSPIKE_USER is set but AEROSPIKE_PASSWORD is not".to_owned()),
        (None, Some(_)) => Err("AEROSPIKE_PASSWORD is set but AEROSPIKE_USER is not".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn request(list: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Request {
        match parse(args(list), env) {
            Ok(Command::Inspect(request)) => *request,
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_without_options_or_environment() {
        let request = request(&["users", "app::get_user(42)"], &no_env);
        assert_eq!(request.hosts, "127.0.0.1:3000");
        assert_eq!(request.namespace, "test");
        assert_eq!(request.set, "users");
        assert_eq!(request.key, Value::String("app::get_user(42)".to_owned()));
        assert_eq!(request.timeout, Duration::from_millis(2_000));
        assert_eq!(request.credentials, None);
        assert!(!request.json);
    }

    #[test]
    fn options_win_over_the_environment() {
        let env = |name: &str| match name {
            "AEROSPIKE_HOSTS" => Some("10.0.0.1:3000".to_owned()),
            "AEROSPIKE_NAMESPACE" => Some("cache".to_owned()),
            _ => None,
        };
        let from_env = request(&["s", "k"], &env);
        assert_eq!(from_env.hosts, "10.0.0.1:3000");
        assert_eq!(from_env.namespace, "cache");
        let from_options = request(
            &["--hosts", "h:1", "s", "--namespace", "ns", "k", "--json"],
            &env,
        );
        assert_eq!(from_options.hosts, "h:1");
        assert_eq!(from_options.namespace, "ns");
        assert!(from_options.json);
    }

    #[test]
    fn integer_and_hex_keys() {
        assert_eq!(request(&["--int", "s", "-7"], &no_env).key, Value::Int(-7));
        assert_eq!(
            request(&["s", "--hex", "00fF10"], &no_env).key,
            Value::Blob(vec![0, 0xff, 0x10])
        );
        assert_eq!(
            request(&["--hex", "s", "0x0a"], &no_env).key,
            Value::Blob(vec![10])
        );
        assert_eq!(
            request(&["--hex", "s", ""], &no_env).key,
            Value::Blob(vec![])
        );
        assert_eq!(
            request(&["s", "--", "--help"], &no_env).key,
            Value::String("--help".to_owned())
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let error = |list: &[&str]| parse(args(list), &no_env).unwrap_err();
        assert_eq!(
            error(&["s"]),
            "expected two arguments, <SET> and <KEY>, found 1"
        );
        assert_eq!(error(&["--bogus", "s", "k"]), "unknown option `--bogus`");
        assert_eq!(error(&["s", "k", "--hosts"]), "--hosts needs a value");
        assert_eq!(
            error(&["--int", "s", "9223372036854775808"]),
            "--int: `9223372036854775808` is not an integer in i64 range"
        );
        assert_eq!(
            error(&["--hex", "s", "abc"]),
            "--hex: `abc` has an odd number of hex digits"
        );
        assert_eq!(error(&["--hex", "s", "zz"]), "--hex: `zz` is not hex");
        assert_eq!(error(&["--hex", "s", "é"]), "--hex: `é` is not hex");
        assert_eq!(
            error(&["--int", "--hex", "s", "1"]),
            "--int and --hex exclude each other"
        );
        assert_eq!(
            error(&["--timeout-ms", "0", "s", "k"]),
            "--timeout-ms must be a positive number of milliseconds, not `0`"
        );
        assert_eq!(error(&["", "k"]), "<SET> is empty");
    }

    fn sizes(list: &[&str]) -> SizesRequest {
        match parse(args(list), &no_env) {
            Ok(Command::Sizes(request)) => *request,
            other => panic!("{list:?} gave {other:?}"),
        }
    }

    #[test]
    fn sizes_take_a_set_and_any_keys() {
        let scan = sizes(&["--sizes", "users"]);
        assert_eq!(scan.set, "users");
        assert!(scan.keys.is_empty());
        assert_eq!(scan.sample, 1_000);
        assert_eq!(scan.namespace, "test");
        assert!(!scan.json);
        assert_eq!(sizes(&["users", "--sizes", "--sample", "50"]).sample, 50);
        let keys = sizes(&["--sizes", "--int", "--json", "counts", "1", "-2"]);
        assert_eq!(keys.keys, vec![Value::Int(1), Value::Int(-2)]);
        assert!(keys.json);
        assert_eq!(
            sizes(&["--sizes", "s", "a", "b"]).keys,
            vec![Value::String("a".to_owned()), Value::String("b".to_owned())]
        );
        // Without --sizes, `sizes` is a set name like any other.
        assert_eq!(request(&["sizes", "users"], &no_env).set, "sizes");
    }

    #[test]
    fn sizes_mistakes_are_explained() {
        let error = |list: &[&str]| parse(args(list), &no_env).unwrap_err();
        assert_eq!(
            error(&["--sizes"]),
            "--sizes expects <SET> and then any KEYs"
        );
        assert_eq!(error(&["--sizes", ""]), "<SET> is empty");
        assert_eq!(
            error(&["--sample", "5", "s", "k"]),
            "--sample needs --sizes"
        );
        assert_eq!(
            error(&["--sizes", "--sample", "0", "s"]),
            "--sample must be a positive number of records, not `0`"
        );
        assert_eq!(
            error(&["--sizes", "--sample", "5", "s", "k"]),
            "--sample applies to a scan: give KEYs or --sample, not both"
        );
        assert_eq!(
            error(&["--sizes", "--int", "s", "x"]),
            "--int: `x` is not an integer in i64 range"
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(args(&["s", "--help"]), &no_env), Ok(Command::Help));
        assert_eq!(parse(args(&["-h"]), &no_env), Ok(Command::Help));
    }

    #[test]
    fn credentials_come_in_pairs() {
        let both = |name: &str| match name {
            "AEROSPIKE_USER" => Some("ops".to_owned()),
            "AEROSPIKE_PASSWORD" => Some("secret".to_owned()),
            _ => None,
        };
        assert_eq!(
            request(&["s", "k"], &both).credentials,
            Some(("ops".to_owned(), "secret".to_owned()))
        );
        let user_only = |name: &str| (name == "AEROSPIKE_USER").then(|| "ops".to_owned());
        assert_eq!(
            parse(args(&["s", "k"]), &user_only).unwrap_err(),
            "AEROSPIKE_USER is set but AEROSPIKE_PASSWORD is not"
        );
    }
}
