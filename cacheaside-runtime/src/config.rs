//! Configuration: from the environment, or built in code.

use core::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aerospike::ToHosts;

use crate::codec::Codec;
use crate::names::{name_problem, NameKind};
use crate::set_policy::{self, Part, SetName, SetPolicies, SetPolicy};
use crate::tls::{self, TlsProblem, TlsSettings};
use crate::{Error, ErrorKind, Ttl};

const DEFAULT_HOSTS: &str = "127.0.0.1:3000";
const DEFAULT_NAMESPACE: &str = "test";
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_millis(50);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Four times a second: a node's death is followed within a quarter second of the cluster
/// re-forming, for one small info request per node each time. The client refuses less.
const DEFAULT_TEND_INTERVAL: Duration = Duration::from_millis(250);
const MIN_TEND_INTERVAL: Duration = Duration::from_millis(250);
const DEFAULT_SINGLE_FLIGHT_WAIT: Duration = Duration::from_secs(10);
const DEFAULT_INVALIDATION_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_BACKPLANE_INTERVAL: Duration = Duration::from_millis(100);
/// Aerospike's default `max-record-size`.
const DEFAULT_MAX_RECORD_SIZE: usize = 1024 * 1024;
/// Aerospike's limit on namespace names.
const MAX_NAMESPACE_LEN: usize = 31;

/// One setting, named as an environment variable and as a builder method, so that an error
/// names what the user actually wrote.
#[derive(Clone, Copy)]
struct Setting {
    env: &'static str,
    builder: &'static str,
}

const HOSTS: Setting = Setting {
    env: "AEROSPIKE_HOSTS",
    builder: "hosts",
};
const NAMESPACE: Setting = Setting {
    env: "AEROSPIKE_NAMESPACE",
    builder: "namespace",
};
const USER: Setting = Setting {
    env: "AEROSPIKE_USER",
    builder: "credentials",
};
const PASSWORD: Setting = Setting {
    env: "AEROSPIKE_PASSWORD",
    builder: "credentials",
};
const DISABLED: Setting = Setting {
    env: "CACHEASIDE_DISABLED",
    builder: "disabled",
};
const OPERATION_TIMEOUT: Setting = Setting {
    env: "CACHEASIDE_OPERATION_TIMEOUT_MS",
    builder: "operation_timeout",
};
const CONNECT_TIMEOUT: Setting = Setting {
    env: "CACHEASIDE_CONNECT_TIMEOUT_MS",
    builder: "connect_timeout",
};
const RECONNECT_INTERVAL: Setting = Setting {
    env: "CACHEASIDE_RECONNECT_INTERVAL_MS",
    builder: "reconnect_interval",
};
const TEND_INTERVAL: Setting = Setting {
    env: "CACHEASIDE_TEND_INTERVAL_MS",
    builder: "tend_interval",
};
const SINGLE_FLIGHT_WAIT: Setting = Setting {
    env: "CACHEASIDE_SINGLE_FLIGHT_WAIT_MS",
    builder: "single_flight_wait",
};
const BACKPLANE_INTERVAL: Setting = Setting {
    env: "CACHEASIDE_BACKPLANE_INTERVAL_MS",
    builder: "backplane_interval",
};
const INVALIDATION_WINDOW: Setting = Setting {
    env: "CACHEASIDE_INVALIDATION_WINDOW_MS",
    builder: "invalidation_window",
};
const MAX_RECORD_SIZE: Setting = Setting {
    env: "CACHEASIDE_MAX_RECORD_SIZE",
    builder: "max_record_size",
};
const TLS: Setting = Setting {
    env: "AEROSPIKE_TLS",
    builder: "tls",
};
const TLS_CA_FILE: Setting = Setting {
    env: "AEROSPIKE_TLS_CA_FILE",
    builder: "tls_ca_file",
};
const TLS_NAME: Setting = Setting {
    env: "AEROSPIKE_TLS_NAME",
    builder: "tls_name",
};
const CLIENT_PER_RUNTIME: Setting = Setting {
    env: "CACHEASIDE_CLIENT_PER_RUNTIME_AFTER",
    builder: "client_per_runtime",
};
/// Cached calls a thread of a runtime makes before that runtime gets a client of its own.
const DEFAULT_CLIENT_PER_RUNTIME: u32 = 1_000;
const CLUSTER_NAME: Setting = Setting {
    env: "AEROSPIKE_CLUSTER_NAME",
    builder: "cluster_name",
};

/// Where a value came from, for error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Env,
    Builder,
}

impl Setting {
    fn name(self, source: Source) -> &'static str {
        match source {
            Source::Env => self.env,
            Source::Builder => self.builder,
        }
    }
}

fn invalid(setting: Setting, source: Source, problem: impl fmt::Display) -> Error {
    let name = setting.name(source);
    Error::new(ErrorKind::Config, format!("invalid {name}: {problem}"))
}

/// The cache's configuration. Build it with [`Config::from_env`] or [`Config::builder`], then
/// install it with [`init`](crate::init).
///
/// | environment variable | builder | default | meaning |
/// | --- | --- | --- | --- |
/// | `AEROSPIKE_HOSTS` | [`hosts`](ConfigBuilder::hosts) | `127.0.0.1:3000` | seed hosts, `host:port` separated by `,` |
/// | `AEROSPIKE_NAMESPACE` | [`namespace`](ConfigBuilder::namespace) | `test` | namespace of functions that name none |
/// | `AEROSPIKE_USER`, `AEROSPIKE_PASSWORD` | [`credentials`](ConfigBuilder::credentials) | none | internal authentication; both or neither |
/// | `CACHEASIDE_DISABLED` | [`disabled`](ConfigBuilder::disabled) | `0` | `1`/`true`: every call runs its body, the cache is never touched |
/// | `CACHEASIDE_OPERATION_TIMEOUT_MS` | [`operation_timeout`](ConfigBuilder::operation_timeout) | `50` | total time one cache read, write or delete may take |
/// | `CACHEASIDE_CONNECT_TIMEOUT_MS` | [`connect_timeout`](ConfigBuilder::connect_timeout) | `1000` | how long one connection attempt, and [`init`](crate::init), may take |
/// | `CACHEASIDE_RECONNECT_INTERVAL_MS` | [`reconnect_interval`](ConfigBuilder::reconnect_interval) | `1000` | pause between connection attempts while disconnected, and of the cache after five timeouts in a row |
/// | `CACHEASIDE_TEND_INTERVAL_MS` | [`tend_interval`](ConfigBuilder::tend_interval) | `250` | how often the client refreshes its view of the cluster (nodes, partition map); at least 250 |
/// | `CACHEASIDE_BACKPLANE_INTERVAL_MS` | [`backplane_interval`](ConfigBuilder::backplane_interval) | `100` | how often a process with local tiers learns of other processes' changes; `0` turns the backplane off |
/// | (none) | [`send_key`](ConfigBuilder::send_key) | `false` | store the user key in the record as well as its digest |
/// | `CACHEASIDE_SINGLE_FLIGHT_WAIT_MS` | [`single_flight_wait`](ConfigBuilder::single_flight_wait) | `10000` | how long a call waits for a concurrent call of the same key to load, before it loads itself |
/// | `CACHEASIDE_INVALIDATION_WINDOW_MS` | [`invalidation_window`](ConfigBuilder::invalidation_window) | `60000` | how long an invalidation refuses the write-back of loads that began before it (whole seconds); make it longer than the slowest load |
/// | (none) | [`write_without_ttl_when_forbidden`](ConfigBuilder::write_without_ttl_when_forbidden) | `false` | in a namespace that forbids TTLs (`nsup-period 0`), write entries that never expire instead of not caching |
/// | `CACHEASIDE_MAX_RECORD_SIZE` | [`max_record_size`](ConfigBuilder::max_record_size) | `1048576` | the largest record written, in bytes (the namespace's smaller `max-record-size` applies too): larger values are returned but not cached |
/// | `AEROSPIKE_TLS` | [`tls`](ConfigBuilder::tls) | `false` (`true` with a CA file) | `1`/`true`: connect over TLS, trusting the platform's root certificates unless a CA file is given (`tls` feature) |
/// | `AEROSPIKE_TLS_CA_FILE` | [`tls_ca_file`](ConfigBuilder::tls_ca_file) | none | connect over TLS, trusting the CA certificates in this PEM file (and not the platform's) (`tls` feature) |
/// | `AEROSPIKE_TLS_NAME` | [`tls_name`](ConfigBuilder::tls_name) | each host's name | the name in the servers' certificates, for hosts that give none (`host:tls-name:port`) |
/// | `CACHEASIDE_CLIENT_PER_RUNTIME_AFTER` | [`client_per_runtime`](ConfigBuilder::client_per_runtime) | `1000` | cached calls after which a multi-thread tokio runtime gets a client of its own, whose I/O runs on it; `off`: never |
/// | `AEROSPIKE_CLUSTER_NAME` | [`cluster_name`](ConfigBuilder::cluster_name) | none | connect only to nodes of the cluster with this name |
/// | `CACHEASIDE_SET_<SET>_TIMEOUT_MS` | [`set_policy`](ConfigBuilder::set_policy) | none | the operation timeout of one set's functions |
/// | `CACHEASIDE_SET_<SET>_MAX_TTL_SECS` | [`set_policy`](ConfigBuilder::set_policy) | none | the longest TTL one set's entries are written with |
/// | `CACHEASIDE_SET_<SET>_CODEC` | [`set_policy`](ConfigBuilder::set_policy) | each function's `codec` | how one set's values are encoded: `msgpack`, or with the feature of the same name `bincode`, `postcard`, `json` ([`Codec`]); takes precedence over the attributes' `codec` |
///
/// In the per-set variables, `<SET>` is the set name in upper case with every character other
/// than a letter or digit written as `_` (set `user-sessions`: `CACHEASIDE_SET_USER_SESSIONS_TIMEOUT_MS`).
/// A set's [`set_policy`](ConfigBuilder::set_policy) in code replaces its variables.
///
/// ```
/// use std::time::Duration;
/// use cacheaside_runtime::Config;
///
/// let config = Config::builder()
///     .hosts("127.0.0.1:3000")
///     .namespace("cache")
///     .operation_timeout(Duration::from_millis(20))
///     .build()
///     .unwrap();
/// assert_eq!(config.namespace(), "cache");
/// ```
#[derive(Clone)]
pub struct Config {
    hosts: String,
    namespace: String,
    credentials: Option<(String, String)>,
    disabled: bool,
    operation_timeout: Duration,
    connect_timeout: Duration,
    reconnect_interval: Duration,
    tend_interval: Duration,
    backplane_interval: Duration,
    send_key: bool,
    single_flight_wait: Duration,
    invalidation_window: Duration,
    write_without_ttl_when_forbidden: bool,
    max_record_size: usize,
    tls: TlsSettings,
    cluster_name: Option<String>,
    client_per_runtime: Option<u32>,
    set_policies: SetPolicies,
}

impl fmt::Debug for Config {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hosts", &self.hosts)
            .field("namespace", &self.namespace)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("disabled", &self.disabled)
            .field("operation_timeout", &self.operation_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_interval", &self.reconnect_interval)
            .field("tend_interval", &self.tend_interval)
            .field("backplane_interval", &self.backplane_interval)
            .field("send_key", &self.send_key)
            .field("single_flight_wait", &self.single_flight_wait)
            .field("invalidation_window", &self.invalidation_window)
            .field(
                "write_without_ttl_when_forbidden",
                &self.write_without_ttl_when_forbidden,
            )
            .field("max_record_size", &self.max_record_size)
            .field("tls", &self.tls.requested())
            .field("tls_ca_file", &self.tls.ca_file)
            .field("tls_name", &self.tls.name)
            .field("cluster_name", &self.cluster_name)
            .field("client_per_runtime", &self.client_per_runtime)
            .field("set_policies", &self.set_policies)
            .finish()
    }
}

impl Default for Config {
    /// The defaults of the table above, without reading the environment.
    fn default() -> Self {
        Config {
            hosts: DEFAULT_HOSTS.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            credentials: None,
            disabled: false,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            reconnect_interval: DEFAULT_RECONNECT_INTERVAL,
            tend_interval: DEFAULT_TEND_INTERVAL,
            backplane_interval: DEFAULT_BACKPLANE_INTERVAL,
            send_key: false,
            single_flight_wait: DEFAULT_SINGLE_FLIGHT_WAIT,
            invalidation_window: DEFAULT_INVALIDATION_WINDOW,
            write_without_ttl_when_forbidden: false,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            tls: TlsSettings::none(),
            cluster_name: None,
            client_per_runtime: Some(DEFAULT_CLIENT_PER_RUNTIME),
            set_policies: SetPolicies::default(),
        }
    }
}

impl Config {
    /// Reads the environment variables of the table above; unset variables take their defaults.
    /// A variable set to an empty value (or only spaces) counts as unset, as compose files and CI
    /// templates often leave them.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`] error naming the first invalid variable.
    pub fn from_env() -> Result<Config, Error> {
        let set_variables = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| name.starts_with(set_policy::ENV_PREFIX));
        Self::from_lookup(|name| std::env::var(name).ok(), set_variables)
    }

    /// A builder starting from the defaults (not from the environment).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// A builder starting from this configuration, e.g. to adjust one read from the environment.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            config: self.clone(),
        }
    }

    /// Reads the variables through `lookup`; `set_variables` names the variables that begin with
    /// `CACHEASIDE_SET_`.
    pub(crate) fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        set_variables: impl Iterator<Item = String>,
    ) -> Result<Config, Error> {
        let source = Source::Env;
        // Set but empty means unset, for every variable.
        let lookup = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut config = Config::default();
        if let Some(hosts) = lookup(HOSTS.env) {
            config.hosts = hosts;
        }
        if let Some(namespace) = lookup(NAMESPACE.env) {
            config.namespace = namespace;
        }
        let user = lookup(USER.env);
        let password = lookup(PASSWORD.env);
        config.credentials = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    PASSWORD,
                    source,
                    "AEROSPIKE_USER is set but the password is not",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    USER,
                    source,
                    "AEROSPIKE_PASSWORD is set but the user is not",
                ))
            }
        };
        if let Some(disabled) = lookup(DISABLED.env) {
            config.disabled = match disabled.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "" | "0" | "false" | "no" | "off" => false,
                _ => return Err(invalid(DISABLED, source, "expected 1/true or 0/false")),
            };
        }
        for (setting, target) in [
            (OPERATION_TIMEOUT, &mut config.operation_timeout),
            (CONNECT_TIMEOUT, &mut config.connect_timeout),
            (RECONNECT_INTERVAL, &mut config.reconnect_interval),
            (TEND_INTERVAL, &mut config.tend_interval),
            (BACKPLANE_INTERVAL, &mut config.backplane_interval),
            (SINGLE_FLIGHT_WAIT, &mut config.single_flight_wait),
            (INVALIDATION_WINDOW, &mut config.invalidation_window),
        ] {
            if let Some(millis) = lookup(setting.env) {
                let millis: u64 = millis.trim().parse().map_err(|_| {
                    invalid(setting, source, "expected a whole number of milliseconds")
                })?;
                *target = Duration::from_millis(millis);
            }
        }
        if let Some(bytes) = lookup(MAX_RECORD_SIZE.env) {
            config.max_record_size = bytes
                .trim()
                .parse()
                .map_err(|_| invalid(MAX_RECORD_SIZE, source, "expected a number of bytes"))?;
        }
        let non_empty = |setting: Setting| lookup(setting.env);
        if let Some(tls) = non_empty(TLS) {
            config.tls.enabled = Some(match tls.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(invalid(
                        TLS,
                        source,
                        format_args!(
                            "expected 1/true (connect over TLS) or 0/false, not {:?}",
                            tls.trim()
                        ),
                    ))
                }
            });
        }
        config.tls.ca_file = non_empty(TLS_CA_FILE).map(PathBuf::from);
        config.tls.name = non_empty(TLS_NAME).map(|name| name.trim().to_owned());
        config.cluster_name = non_empty(CLUSTER_NAME).map(|name| name.trim().to_owned());
        if let Some(after) = non_empty(CLIENT_PER_RUNTIME) {
            config.client_per_runtime = match after.trim().to_ascii_lowercase().as_str() {
                "off" | "never" | "no" | "false" => None,
                number => Some(number.parse().map_err(|_| {
                    invalid(
                        CLIENT_PER_RUNTIME,
                        source,
                        "expected a number of operations, or off",
                    )
                })?),
            };
        }
        let mut set_variables: Vec<String> = set_variables.collect();
        // Sorted, so that the first invalid variable is always the same one.
        set_variables.sort();
        for variable in &set_variables {
            if let Some(value) = lookup(variable) {
                read_set_variable(&mut config.set_policies, variable, &value)?;
            }
        }
        config.validate(source)
    }

    fn validate(self, source: Source) -> Result<Config, Error> {
        let hosts = self.hosts.to_hosts().map_err(|e| {
            invalid(
                HOSTS,
                source,
                format_args!("expected host:port[,host:port…] ({e})"),
            )
        })?;
        if hosts.is_empty() {
            return Err(invalid(HOSTS, source, "no host given"));
        }
        if self.namespace.is_empty() || self.namespace.len() > MAX_NAMESPACE_LEN {
            return Err(invalid(
                NAMESPACE,
                source,
                format_args!("a namespace has 1 to {MAX_NAMESPACE_LEN} bytes"),
            ));
        }
        for (setting, duration) in [
            (OPERATION_TIMEOUT, self.operation_timeout),
            (CONNECT_TIMEOUT, self.connect_timeout),
            (RECONNECT_INTERVAL, self.reconnect_interval),
            (TEND_INTERVAL, self.tend_interval),
            (SINGLE_FLIGHT_WAIT, self.single_flight_wait),
        ] {
            if duration.is_zero() || duration.as_millis() > u128::from(u32::MAX) {
                return Err(invalid(
                    setting,
                    source,
                    "must be at least 1 ms and below 2^32 ms",
                ));
            }
        }
        if self.backplane_interval.as_millis() > u128::from(u32::MAX) {
            return Err(invalid(
                BACKPLANE_INTERVAL,
                source,
                "must be below 2^32 ms (0 turns the backplane off)",
            ));
        }
        if self.tend_interval < MIN_TEND_INTERVAL {
            return Err(invalid(
                TEND_INTERVAL,
                source,
                format_args!(
                    "must be at least {} ms (the client refuses less)",
                    MIN_TEND_INTERVAL.as_millis()
                ),
            ));
        }
        if self.invalidation_window < Duration::from_secs(1)
            || self.invalidation_window.as_secs() > u64::from(u32::MAX)
        {
            return Err(invalid(
                INVALIDATION_WINDOW,
                source,
                "must be at least 1 s and below 2^32 s (it is a record TTL)",
            ));
        }
        if self.max_record_size == 0 {
            return Err(invalid(MAX_RECORD_SIZE, source, "must be at least 1 byte"));
        }
        if let Some(name) = &self.cluster_name {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(invalid(
                    CLUSTER_NAME,
                    source,
                    "a cluster name is not empty and has no spaces",
                ));
            }
        }
        for (name, policy) in self.set_policies.iter() {
            if let SetName::Exact(set) = name {
                if let Some(problem) = name_problem(NameKind::Set, set) {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("invalid set_policy({set:?}): {problem}"),
                    ));
                }
            }
            if let Some((part, problem)) = policy.problem() {
                return Err(set_policy_error(name, part, &problem));
            }
        }
        let mut config = self;
        // The setting that asked for TLS, for a build without the feature.
        let given = if config.tls.ca_file.is_some() {
            TLS_CA_FILE
        } else if config.tls.enabled.is_some() {
            TLS
        } else {
            TLS_NAME
        };
        tls::prepare(&mut config.tls).map_err(|problem| tls_error(problem, given, source))?;
        Ok(config)
    }

    /// Seed hosts, `host:port` separated by `,`.
    pub fn hosts(&self) -> &str {
        &self.hosts
    }

    /// Namespace of functions whose attribute names none.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The user name, when authentication is configured.
    pub fn user(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }

    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Whether the cache is bypassed.
    pub fn disabled(&self) -> bool {
        self.disabled
    }

    /// Total time one cache read, write or delete may take.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    /// How long one connection attempt may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Pause between background connection attempts.
    pub fn reconnect_interval(&self) -> Duration {
        self.reconnect_interval
    }

    /// How often the client refreshes its view of the cluster.
    pub fn tend_interval(&self) -> Duration {
        self.tend_interval
    }

    /// How often a process with local tiers polls for other processes' changes (zero: the
    /// backplane is off).
    pub fn backplane_interval(&self) -> Duration {
        self.backplane_interval
    }

    /// Whether records store the user key.
    pub fn send_key(&self) -> bool {
        self.send_key
    }

    /// How long a call waits for a concurrent call of the same key to load.
    pub fn single_flight_wait(&self) -> Duration {
        self.single_flight_wait
    }

    /// After how many cached calls a multi-thread runtime gets a client of its own; `None`: never.
    pub fn client_per_runtime(&self) -> Option<u32> {
        self.client_per_runtime
    }

    /// How long an invalidation refuses write-backs of loads that began before it.
    pub fn invalidation_window(&self) -> Duration {
        self.invalidation_window
    }

    /// Whether a namespace that forbids TTLs gets entries that never expire.
    pub fn write_without_ttl_when_forbidden(&self) -> bool {
        self.write_without_ttl_when_forbidden
    }

    /// The largest record written, in bytes.
    pub fn max_record_size(&self) -> usize {
        self.max_record_size
    }

    /// Whether connections use TLS (`AEROSPIKE_TLS=true`, or a CA file).
    pub fn tls_enabled(&self) -> bool {
        self.tls.requested()
    }

    /// The CA file trusted for TLS; `None` when connections are plain TCP or trust the
    /// platform's root certificates.
    pub fn tls_ca_file(&self) -> Option<&Path> {
        self.tls.ca_file.as_deref()
    }

    /// The name expected in the servers' certificates, when configured.
    pub fn tls_name(&self) -> Option<&str> {
        self.tls.name.as_deref()
    }

    pub(crate) fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The cluster name nodes must report, when configured.
    pub fn cluster_name(&self) -> Option<&str> {
        self.cluster_name.as_deref()
    }

    /// The overrides of `set`, if any: from [`ConfigBuilder::set_policy`], else from the
    /// environment. A scan of the overridden sets only; free when there are none.
    pub fn policy_for(&self, set: &str) -> Option<&SetPolicy> {
        self.set_policies.get(set)
    }

    /// The operation timeout of `set`'s functions: its override, else the configured one.
    pub fn operation_timeout_for(&self, set: &str) -> Duration {
        self.policy_for(set)
            .and_then(SetPolicy::operation_timeout_override)
            .unwrap_or(self.operation_timeout)
    }

    /// The codec of a function of `set` whose attribute says `attribute`: the set's codec when
    /// its policy names one (the operator's choice wins), else the attribute's.
    pub(crate) fn codec_for(&self, set: &str, attribute: Codec) -> Codec {
        self.policy_for(set)
            .and_then(SetPolicy::codec_override)
            .unwrap_or(attribute)
    }

    /// `ttl` shortened to `set`'s TTL cap (unchanged when the set has none).
    pub(crate) fn cap_ttl(&self, set: &str, ttl: Ttl) -> Ttl {
        match self.policy_for(set) {
            Some(policy) => policy.cap(ttl),
            None => ttl,
        }
    }

    /// Every set with overrides and its policy, for building per-set client policies once.
    pub(crate) fn set_policies(&self) -> &SetPolicies {
        &self.set_policies
    }
}

/// Reads one `CACHEASIDE_SET_<SET>_…` variable into `policies`.
fn read_set_variable(policies: &mut SetPolicies, variable: &str, value: &str) -> Result<(), Error> {
    let named =
        |problem: &str| Error::new(ErrorKind::Config, format!("invalid {variable}: {problem}"));
    let rest = &variable[set_policy::ENV_PREFIX.len()..];
    let (set, part) = if let Some(set) = rest.strip_suffix(set_policy::ENV_TIMEOUT) {
        (set, Part::Timeout)
    } else if let Some(set) = rest.strip_suffix(set_policy::ENV_MAX_TTL) {
        (set, Part::MaxTtl)
    } else if let Some(set) = rest.strip_suffix(set_policy::ENV_CODEC) {
        (set, Part::Codec)
    } else {
        return Err(named(
            "per-set variables are CACHEASIDE_SET_<SET>_TIMEOUT_MS, \
             CACHEASIDE_SET_<SET>_MAX_TTL_SECS and CACHEASIDE_SET_<SET>_CODEC",
        ));
    };
    if set.is_empty() || set_policy::env_name(set) != set {
        return Err(named(
            "<SET> is the set name in upper case, with `_` for every character other than a \
             letter or digit",
        ));
    }
    let number = |unit: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| named(&format!("expected a whole number of {unit}")))
    };
    let policy = policies.entry(SetName::Env(set.to_owned()));
    let updated = match part {
        Part::Timeout => policy.operation_timeout(Duration::from_millis(number("milliseconds")?)),
        Part::MaxTtl => policy.max_ttl(Duration::from_secs(number("seconds")?)),
        Part::Codec => {
            let codec: Codec = value
                .parse()
                .map_err(|error: Error| named(&error.to_string()))?;
            policy.codec(codec)
        }
    };
    if let Some((_, problem)) = updated.problem().filter(|(wrong, _)| *wrong == part) {
        return Err(named(&problem));
    }
    *policy = updated;
    Ok(())
}

/// The error of an invalid override, named as it was given.
fn set_policy_error(name: &SetName, part: Part, problem: &str) -> Error {
    let setting = match name {
        SetName::Exact(set) => {
            let method = match part {
                Part::Timeout => "operation_timeout",
                Part::MaxTtl => "max_ttl",
                Part::Codec => "codec",
            };
            format!("set_policy({set:?}) {method}")
        }
        SetName::Env(set) => {
            let suffix = match part {
                Part::Timeout => set_policy::ENV_TIMEOUT,
                Part::MaxTtl => set_policy::ENV_MAX_TTL,
                Part::Codec => set_policy::ENV_CODEC,
            };
            format!("{}{set}{suffix}", set_policy::ENV_PREFIX)
        }
    };
    Error::new(ErrorKind::Config, format!("invalid {setting}: {problem}"))
}

/// The error of unusable TLS settings, naming the setting as it was given (`given`: the CA file
/// when set, else `AEROSPIKE_TLS` when set, else the name).
fn tls_error(problem: TlsProblem, given: Setting, source: Source) -> Error {
    let flag = |on: bool| match source {
        Source::Env => format!("{}={on}", TLS.env),
        Source::Builder => format!("{}({on})", TLS.builder),
    };
    let off_with = |other: Setting| {
        Error::new(
            ErrorKind::Config,
            format!(
                "{} turns TLS off, but {} is set: drop {1} to connect without TLS, or use {} to \
                 connect over TLS",
                flag(false),
                other.name(source),
                flag(true)
            ),
        )
    };
    match problem {
        TlsProblem::NoFeature => Error::new(
            ErrorKind::Config,
            format!(
                "{} is set but cacheaside was built without its `tls` feature: enable \
                 `features = [\"tls\"]` on the cacheaside dependency",
                given.name(source)
            ),
        ),
        TlsProblem::OffWithCaFile => off_with(TLS_CA_FILE),
        TlsProblem::OffWithName => off_with(TLS_NAME),
        TlsProblem::NameWithoutTls => invalid(
            TLS_NAME,
            source,
            format_args!(
                "set, but TLS is not turned on: use {} to trust the platform's root \
                 certificates, or set {}, the PEM file of the CA certificates that signed the \
                 cluster's certificates",
                flag(true),
                TLS_CA_FILE.name(source)
            ),
        ),
        TlsProblem::CaFile(problem) => invalid(TLS_CA_FILE, source, problem),
        TlsProblem::SystemRoots(problem) => invalid(
            TLS,
            source,
            format_args!(
                "{problem}: install the system's CA certificates (the ca-certificates \
                 package), point SSL_CERT_FILE at a PEM bundle, or set {} to the CA file of \
                 the cluster",
                TLS_CA_FILE.name(source)
            ),
        ),
        TlsProblem::Name => invalid(
            TLS_NAME,
            source,
            "expected the DNS name (or IP address) in the servers' certificates",
        ),
    }
}

/// Builds a [`Config`] in code; see [`Config`] for the settings and defaults.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Seed hosts, `host:port` separated by `,`.
    pub fn hosts(mut self, hosts: impl Into<String>) -> Self {
        self.config.hosts = hosts.into();
        self
    }

    /// Namespace of functions whose attribute names none.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = namespace.into();
        self
    }

    /// Internal authentication with a user and password.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.credentials = Some((user.into(), password.into()));
        self
    }

    /// `true`: every call runs its body and the cache is never touched.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.config.disabled = disabled;
        self
    }

    /// Total time one cache read, write or delete may take (default 50 ms).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.config.operation_timeout = timeout;
        self
    }

    /// How long one connection attempt, and [`init`](crate::init), may take (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Pause between background connection attempts while disconnected, and how long calls
    /// bypass the cache after five operation timeouts in a row (default 1 s).
    pub fn reconnect_interval(mut self, interval: Duration) -> Self {
        self.config.reconnect_interval = interval;
        self
    }

    /// How often the client refreshes its view of the cluster: its nodes and the partition map
    /// (default 250 ms, the least the client accepts). When a node dies, the keys it held are
    /// served by their replicas again at the first refresh after the cluster re-forms; each
    /// refresh costs one small info request per node.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = cacheaside_runtime::Config::builder()
    ///     .tend_interval(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.tend_interval(), Duration::from_secs(1));
    /// assert!(cacheaside_runtime::Config::builder()
    ///     .tend_interval(Duration::from_millis(100))
    ///     .build()
    ///     .is_err());
    /// ```
    pub fn tend_interval(mut self, interval: Duration) -> Self {
        self.config.tend_interval = interval;
        self
    }

    /// How often a process whose functions have a local tier (`local(…)`) asks the cluster
    /// whether another process changed one of their sets' entries (default 100 ms): a put,
    /// evict, invalidation or refresh anywhere in the fleet drops the key from every process's
    /// local tier within about this interval. Each poll is one small read per such set; each
    /// change costs its writer two small writes (a counter and a notice), or one read of a
    /// missing record when no process listens. While a process cannot poll, its local tiers
    /// answer nothing (calls read Aerospike). `Duration::ZERO` turns the backplane off in this
    /// process: its local copies then live up to their local TTL after a change elsewhere. Use
    /// one setting for the whole fleet. See the guide's chapter on local tiers.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = cacheaside_runtime::Config::builder()
    ///     .backplane_interval(Duration::from_millis(50))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.backplane_interval(), Duration::from_millis(50));
    /// ```
    pub fn backplane_interval(mut self, interval: Duration) -> Self {
        self.config.backplane_interval = interval;
        self
    }

    /// Store the user key in each record, not only its digest (default `false`).
    pub fn send_key(mut self, send_key: bool) -> Self {
        self.config.send_key = send_key;
        self
    }

    /// How long a call waits for a concurrent call of the same key (in this process) to read and
    /// load, before it loads itself (default 10 s). Concurrent calls of one key share one load;
    /// this only bounds the wait when that load hangs.
    pub fn single_flight_wait(mut self, wait: Duration) -> Self {
        self.config.single_flight_wait = wait;
        self
    }

    /// Gives each multi-thread tokio runtime that keeps calling the cache a client of its own,
    /// once one of its threads has made `after` cached calls (default `Some(1000)`; `None`:
    /// never, every operation uses the shared client).
    ///
    /// The shared client lives on the cache's background runtime, so that sync functions, other
    /// executors and short-lived runtimes can all use it. An async call on another runtime pays
    /// for that on every operation: the answer wakes a background thread that hands the call
    /// over to its runtime. Under concurrency that costs about a third of the throughput of hits
    /// (64 tasks over 20,000 keys, see `BENCHMARKS.md`). A runtime's own client has its
    /// connections and tend task on that runtime, and its operations run in place, as those of
    /// a hand-written client do. It opens its own connections to every node (the pool of the
    /// shared client stays), and goes away with its runtime. Current-thread runtimes, sync
    /// callers and tasks of the background runtime always use the shared client.
    ///
    /// ```
    /// let config = cacheaside_runtime::Config::builder().client_per_runtime(None).build().unwrap();
    /// assert_eq!(config.client_per_runtime(), None);
    /// ```
    pub fn client_per_runtime(mut self, after: Option<u32>) -> Self {
        self.config.client_per_runtime = after;
        self
    }

    /// How long an invalidation refuses the write-back of loads that began before it (default
    /// 60 s, whole seconds, at least 1 s). `<fn>_invalidate` leaves a marker record that lives this
    /// long; a load that started before it and finishes within it does not write its (possibly
    /// stale) value. Make it longer than the slowest load.
    pub fn invalidation_window(mut self, window: Duration) -> Self {
        self.config.invalidation_window = window;
        self
    }

    /// In a namespace whose `nsup-period` is 0 (which refuses records with a TTL, unless
    /// `allow-ttl-without-nsup` is set), `true` writes entries that never expire; `false` (the
    /// default) does not cache in such a namespace and logs the fix once.
    pub fn write_without_ttl_when_forbidden(mut self, write: bool) -> Self {
        self.config.write_without_ttl_when_forbidden = write;
        self
    }

    /// The largest record the cache writes, in bytes (default 1 MiB, Aerospike's default
    /// `max-record-size`). The smaller of this and the namespace's `max-record-size` (as the
    /// server reports it) applies: a value whose record cannot fit is returned to the caller but
    /// not written, counted in [`SetStats::oversize`](crate::SetStats::oversize) and logged once
    /// per function.
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.config.max_record_size = bytes;
        self
    }

    /// `true`: connect over TLS (needs the `tls` feature; without it [`build`](Self::build)
    /// fails and says so), trusting the platform's root certificates, as for a managed cluster
    /// whose certificates come from a public CA. With a [`tls_ca_file`](Self::tls_ca_file), only
    /// that file's CAs are trusted instead.
    ///
    /// The roots are read by `build`: the system's certificate store, or `SSL_CERT_FILE` /
    /// `SSL_CERT_DIR` when set (and then only those). None found is an error naming this setting.
    /// `false`: plain TCP; with a CA file or TLS name also given, `build` fails naming both.
    /// Not called: TLS is on exactly when a CA file is given.
    ///
    /// ```no_run
    /// use cacheaside_runtime::Config;
    ///
    /// let config = Config::builder()
    ///     .hosts("db.cloud.example:4000")
    ///     .tls(true)
    ///     .build()?;
    /// assert!(config.tls_enabled());
    /// # Ok::<(), cacheaside_runtime::Error>(())
    /// ```
    pub fn tls(mut self, enabled: bool) -> Self {
        self.config.tls.enabled = Some(enabled);
        self
    }

    /// Connect over TLS, trusting the CA certificates in this PEM file, and not the platform's
    /// root certificates (needs the `tls` feature; without it [`build`](Self::build) fails and
    /// says so). The file is read by `build`.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.ca_file = Some(path.into());
        self
    }

    /// The name in the servers' TLS certificates, for seed hosts that do not give one as
    /// `host:tls-name:port`; without it, each host's own name is expected.
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.config.tls.name = Some(name.into());
        self
    }

    /// Connect only to nodes that report this `cluster-name`: a node of another cluster (a
    /// wrong host or port) is refused, and calls run without the cache.
    pub fn cluster_name(mut self, name: impl Into<String>) -> Self {
        self.config.cluster_name = Some(name.into());
        self
    }

    /// Overrides for the functions of one set (the attribute's `set`): its operation timeout,
    /// a cap on its TTLs and its codec (see [`SetPolicy`]). Replaces an earlier `set_policy` of
    /// that set and its `CACHEASIDE_SET_<SET>_…` variables. [`build`](Self::build) refuses a set
    /// name that Aerospike would refuse (empty, over 63 bytes, or with a NUL, `:` or `;`), and a
    /// codec whose cargo feature this build lacks.
    pub fn set_policy(mut self, set: impl Into<String>, policy: SetPolicy) -> Self {
        self.config
            .set_policies
            .insert(SetName::Exact(set.into()), policy);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`] error naming the first invalid setting.
    pub fn build(self) -> Result<Config, Error> {
        if let Some((user, _)) = &self.config.credentials {
            if user.is_empty() {
                return Err(invalid(USER, Source::Builder, "the user is empty"));
            }
        }
        self.config.validate(Source::Builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let set_variables = vars
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .filter(|name| name.starts_with(set_policy::ENV_PREFIX));
        Config::from_lookup(
            |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            set_variables.collect::<Vec<_>>().into_iter(),
        )
    }

    #[test]
    fn client_per_runtime_from_the_environment() {
        let variable = "CACHEASIDE_CLIENT_PER_RUNTIME_AFTER";
        assert_eq!(from(&[]).unwrap().client_per_runtime(), Some(1_000));
        assert_eq!(
            from(&[(variable, "50")]).unwrap().client_per_runtime(),
            Some(50)
        );
        assert_eq!(
            from(&[(variable, " Off ")]).unwrap().client_per_runtime(),
            None
        );
        assert_eq!(
            from(&[(variable, "")]).unwrap().client_per_runtime(),
            Some(1_000)
        );
        let error = from(&[(variable, "soon")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid CACHEASIDE_CLIENT_PER_RUNTIME_AFTER: expected a number of operations, or off"
        );
    }

    #[test]
    fn defaults_without_variables() {
        let config = from(&[]).unwrap();
        assert_eq!(config.hosts(), "127.0.0.1:3000");
        assert_eq!(config.namespace(), "test");
        assert_eq!(config.user(), None);
        assert!(!config.disabled());
        assert_eq!(config.operation_timeout(), Duration::from_millis(50));
        assert_eq!(config.reconnect_interval(), Duration::from_secs(1));
        assert_eq!(config.tend_interval(), Duration::from_millis(250));
        assert!(!config.send_key());
    }

    #[test]
    fn reads_every_variable() {
        let config = from(&[
            ("AEROSPIKE_HOSTS", "10.0.0.1:3100,10.0.0.2:3100"),
            ("AEROSPIKE_NAMESPACE", "cache"),
            ("AEROSPIKE_USER", "app"),
            ("AEROSPIKE_PASSWORD", "secret"),
            ("CACHEASIDE_DISABLED", "1"),
            ("CACHEASIDE_OPERATION_TIMEOUT_MS", "20"),
            ("CACHEASIDE_CONNECT_TIMEOUT_MS", "300"),
            ("CACHEASIDE_RECONNECT_INTERVAL_MS", "250"),
            ("CACHEASIDE_TEND_INTERVAL_MS", "2000"),
        ])
        .unwrap();
        assert_eq!(config.hosts(), "10.0.0.1:3100,10.0.0.2:3100");
        assert_eq!(config.namespace(), "cache");
        assert_eq!(config.credentials(), Some(("app", "secret")));
        assert!(config.disabled());
        assert_eq!(config.operation_timeout(), Duration::from_millis(20));
        assert_eq!(config.connect_timeout(), Duration::from_millis(300));
        assert_eq!(config.reconnect_interval(), Duration::from_millis(250));
        assert_eq!(config.tend_interval(), Duration::from_secs(2));
    }

    #[test]
    fn variables_set_to_nothing_are_unset() {
        let every: Vec<(&str, &str)> = [
            "AEROSPIKE_HOSTS",
            "AEROSPIKE_NAMESPACE",
            "AEROSPIKE_USER",
            "AEROSPIKE_PASSWORD",
            "CACHEASIDE_DISABLED",
            "CACHEASIDE_OPERATION_TIMEOUT_MS",
            "CACHEASIDE_CONNECT_TIMEOUT_MS",
            "CACHEASIDE_RECONNECT_INTERVAL_MS",
            "CACHEASIDE_TEND_INTERVAL_MS",
            "CACHEASIDE_SINGLE_FLIGHT_WAIT_MS",
            "CACHEASIDE_INVALIDATION_WINDOW_MS",
            "CACHEASIDE_MAX_RECORD_SIZE",
            "AEROSPIKE_TLS",
            "AEROSPIKE_TLS_CA_FILE",
            "AEROSPIKE_TLS_NAME",
            "AEROSPIKE_CLUSTER_NAME",
            "CACHEASIDE_CLIENT_PER_RUNTIME_AFTER",
            "CACHEASIDE_SET_USERS_TIMEOUT_MS",
            "CACHEASIDE_SET_USERS_CODEC",
        ]
        .into_iter()
        .map(|name| (name, ""))
        .collect();
        let empty = from(&every).unwrap();
        let defaults = from(&[]).unwrap();
        assert_eq!(format!("{empty:?}"), format!("{defaults:?}"));
        let spaces: Vec<(&str, &str)> = every.iter().map(|&(name, _)| (name, "  ")).collect();
        assert_eq!(
            format!("{:?}", from(&spaces).unwrap()),
            format!("{defaults:?}")
        );
    }

    #[test]
    fn errors_name_the_variable() {
        for (vars, name) in [
            (&[("AEROSPIKE_HOSTS", "not a host")][..], "AEROSPIKE_HOSTS"),
            (
                &[("AEROSPIKE_NAMESPACE", "a-name-longer-than-thirty-one-bytes")][..],
                "AEROSPIKE_NAMESPACE",
            ),
            (&[("AEROSPIKE_USER", "app")][..], "AEROSPIKE_PASSWORD"),
            (&[("AEROSPIKE_PASSWORD", "x")][..], "AEROSPIKE_USER"),
            (
                &[("CACHEASIDE_DISABLED", "maybe")][..],
                "CACHEASIDE_DISABLED",
            ),
            (
                &[("CACHEASIDE_OPERATION_TIMEOUT_MS", "fast")][..],
                "CACHEASIDE_OPERATION_TIMEOUT_MS",
            ),
            (
                &[("CACHEASIDE_OPERATION_TIMEOUT_MS", "0")][..],
                "CACHEASIDE_OPERATION_TIMEOUT_MS",
            ),
            (
                &[("CACHEASIDE_RECONNECT_INTERVAL_MS", "-1")][..],
                "CACHEASIDE_RECONNECT_INTERVAL_MS",
            ),
            (
                &[("CACHEASIDE_TEND_INTERVAL_MS", "100")][..],
                "CACHEASIDE_TEND_INTERVAL_MS",
            ),
        ] {
            let error = from(vars).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            assert!(
                error.to_string().contains(name),
                "{error} should name {name}"
            );
        }
    }

    #[test]
    fn builder_errors_name_the_setting() {
        let error = Config::builder()
            .operation_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("operation_timeout"), "{error}");
        let error = Config::builder().namespace("").build().unwrap_err();
        assert!(error.to_string().contains("namespace"), "{error}");
    }

    #[test]
    fn cluster_name_from_variable_and_builder() {
        let config = from(&[("AEROSPIKE_CLUSTER_NAME", "prod-cache")]).unwrap();
        assert_eq!(config.cluster_name(), Some("prod-cache"));
        assert_eq!(from(&[]).unwrap().cluster_name(), None);
        let error = from(&[("AEROSPIKE_CLUSTER_NAME", "two words")]).unwrap_err();
        assert!(
            error.to_string().contains("AEROSPIKE_CLUSTER_NAME"),
            "{error}"
        );
        let error = Config::builder().cluster_name("").build().unwrap_err();
        assert!(error.to_string().contains("cluster_name"), "{error}");
    }

    #[test]
    fn set_policies_from_variables() {
        let config = from(&[
            ("CACHEASIDE_SET_USER_SESSIONS_TIMEOUT_MS", "15"),
            ("CACHEASIDE_SET_USER_SESSIONS_MAX_TTL_SECS", "300"),
            ("CACHEASIDE_SET_ORDERS_MAX_TTL_SECS", "60"),
        ])
        .unwrap();
        assert_eq!(
            config.operation_timeout_for("user-sessions"),
            Duration::from_millis(15)
        );
        assert_eq!(
            config.cap_ttl("user-sessions", Ttl::Never),
            Ttl::Seconds(300)
        );
        assert_eq!(
            config.operation_timeout_for("orders"),
            config.operation_timeout()
        );
        assert_eq!(
            config.cap_ttl("orders", Ttl::Seconds(3600)),
            Ttl::Seconds(60)
        );
        assert_eq!(config.cap_ttl("users", Ttl::Never), Ttl::Never);
        assert!(config.policy_for("users").is_none());
    }

    #[test]
    fn set_codecs_from_variables_take_precedence() {
        let config = from(&[
            ("CACHEASIDE_SET_USER_SESSIONS_CODEC", " MsgPack "),
            ("CACHEASIDE_SET_ORDERS_CODEC", ""),
        ])
        .unwrap();
        let policy = config.policy_for("user-sessions").unwrap();
        assert_eq!(policy.codec_override(), Some(Codec::MessagePack));
        // The set's codec wins over the attribute's; other sets keep their attribute's.
        assert_eq!(
            config.codec_for("user-sessions", Codec::Json),
            Codec::MessagePack
        );
        assert_eq!(config.codec_for("orders", Codec::Json), Codec::Json);
        assert!(config.policy_for("orders").is_none(), "empty means unset");
    }

    #[test]
    fn set_codecs_of_every_feature() {
        for codec in [Codec::Bincode, Codec::Postcard, Codec::Json] {
            let variable = "CACHEASIDE_SET_PRICES_CODEC";
            let from_env = from(&[(variable, codec.name())]);
            let from_code = Config::builder()
                .set_policy("prices", SetPolicy::new().codec(codec))
                .build();
            let results = [
                ("CACHEASIDE_SET_PRICES_CODEC", from_env),
                ("set_policy(\"prices\") codec", from_code),
            ];
            for (setting, result) in results {
                if codec.is_available() {
                    let config = result.unwrap();
                    assert_eq!(config.codec_for("prices", Codec::MessagePack), codec);
                    continue;
                }
                // A build without the codec's feature: a configuration error naming it.
                let error = result.unwrap_err();
                assert_eq!(error.kind(), ErrorKind::Config);
                let message = error.to_string();
                let feature = codec.feature().unwrap();
                assert!(
                    message.starts_with(&format!("invalid {setting}: ")),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("`{feature}` feature")),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn codec_errors_name_the_fix() {
        let message = crate::codec::missing_feature("json");
        assert_eq!(
            message,
            "the json codec needs the `json` feature of cacheaside, which this build lacks: \
             `cacheaside = { version = \"…\", features = [\"json\"] }` in Cargo.toml"
        );
        let error = set_policy_error(&SetName::Env("PRICES".to_owned()), Part::Codec, &message);
        assert_eq!(
            error.to_string(),
            format!("invalid CACHEASIDE_SET_PRICES_CODEC: {message}")
        );
        // An unknown name lists the valid ones.
        let unknown = from(&[("CACHEASIDE_SET_PRICES_CODEC", "protobuf")]).unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::Config);
        let expected = "invalid CACHEASIDE_SET_PRICES_CODEC: unknown codec \"protobuf\": the \
                        codecs are msgpack, bincode, postcard and json";
        assert_eq!(unknown.to_string(), expected);
    }

    #[test]
    fn set_policy_errors_name_the_variable() {
        for (variable, value) in [
            ("CACHEASIDE_SET_USERS_TIMEOUT_MS", "fast"),
            ("CACHEASIDE_SET_USERS_TIMEOUT_MS", "0"),
            ("CACHEASIDE_SET_USERS_MAX_TTL_SECS", "0"),
            ("CACHEASIDE_SET_USERS_MAX_TTL_SECS", "-5"),
            ("CACHEASIDE_SET_USERS_TIMEOUT", "10"),
            ("CACHEASIDE_SET_users_TIMEOUT_MS", "10"),
            ("CACHEASIDE_SET__TIMEOUT_MS", "10"),
            ("CACHEASIDE_SET_USERS_CODEC", "xml"),
            ("CACHEASIDE_SET__CODEC", "json"),
        ] {
            let error = from(&[(variable, value)]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Config);
            assert!(
                error.to_string().contains(variable),
                "{error} should name {variable}"
            );
        }
    }

    #[test]
    fn set_policy_builder_errors_name_the_set() {
        let error = Config::builder()
            .set_policy("users", SetPolicy::new().operation_timeout(Duration::ZERO))
            .build()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("set_policy(\"users\") operation_timeout"),
            "{error}"
        );
        let error = Config::builder()
            .set_policy("users", SetPolicy::new().max_ttl(Duration::from_millis(10)))
            .build()
            .unwrap_err();
        assert!(
            error.to_string().contains("set_policy(\"users\") max_ttl"),
            "{error}"
        );
    }

    #[test]
    fn tls_name_without_ca_file_is_an_error() {
        let error = from(&[("AEROSPIKE_TLS_NAME", "db.example")]).unwrap_err();
        let message = error.to_string();
        #[cfg(feature = "tls")]
        assert!(
            message.contains("AEROSPIKE_TLS_NAME") && message.contains("AEROSPIKE_TLS_CA_FILE"),
            "{message}"
        );
        #[cfg(not(feature = "tls"))]
        assert!(
            message.starts_with("AEROSPIKE_TLS_NAME is set but")
                && message.contains("`tls` feature"),
            "{message}"
        );
    }

    #[test]
    fn tls_flag_values() {
        for value in ["1", "true", "TRUE", " yes ", "on"] {
            // With the feature, a CA file too: the platform's roots are read by the tests of
            // their own process (tests/tls_system_roots.rs), which control SSL_CERT_FILE.
            #[cfg(feature = "tls")]
            {
                let ca = format!(
                    "{}/../cacheaside-testkit/tests/fixtures/ca.pem",
                    env!("CARGO_MANIFEST_DIR")
                );
                let config = from(&[("AEROSPIKE_TLS", value), ("AEROSPIKE_TLS_CA_FILE", &ca)]);
                assert_eq!(config.unwrap().tls().enabled, Some(true), "{value}");
            }
            #[cfg(not(feature = "tls"))]
            let config = from(&[("AEROSPIKE_TLS", value)]);
            #[cfg(not(feature = "tls"))]
            assert!(
                config
                    .unwrap_err()
                    .to_string()
                    .starts_with("AEROSPIKE_TLS is set but cacheaside was built without"),
                "{value}"
            );
        }
        for value in ["0", "false", "No", "off"] {
            let config = from(&[("AEROSPIKE_TLS", value)]).unwrap();
            assert!(!config.tls_enabled(), "{value}");
            assert_eq!(config.tls().enabled, Some(false));
        }
        let config = from(&[("AEROSPIKE_TLS", " ")]).unwrap();
        assert!(!config.tls_enabled());
        assert_eq!(config.tls().enabled, None, "empty is not given");
        assert!(!from(&[]).unwrap().tls_enabled());
        assert!(!Config::builder().tls(false).build().unwrap().tls_enabled());
    }

    #[test]
    fn tls_flag_errors_name_the_variable() {
        let error = from(&[("AEROSPIKE_TLS", "maybe")]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(
            error.to_string(),
            "invalid AEROSPIKE_TLS: expected 1/true (connect over TLS) or 0/false, not \"maybe\""
        );
    }

    #[test]
    fn tls_off_with_a_ca_file_or_name_names_both() {
        let error = from(&[
            ("AEROSPIKE_TLS", "false"),
            ("AEROSPIKE_TLS_CA_FILE", "ca.pem"),
        ])
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(
            error.to_string(),
            "AEROSPIKE_TLS=false turns TLS off, but AEROSPIKE_TLS_CA_FILE is set: drop \
             AEROSPIKE_TLS_CA_FILE to connect without TLS, or use AEROSPIKE_TLS=true to connect \
             over TLS"
        );
        let error = from(&[("AEROSPIKE_TLS", "0"), ("AEROSPIKE_TLS_NAME", "db.example")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("AEROSPIKE_TLS=false turns TLS off, but AEROSPIKE_TLS_NAME is set"),
            "{error}"
        );
        let error = Config::builder()
            .tls(false)
            .tls_ca_file("ca.pem")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("tls(false) turns TLS off, but tls_ca_file is set: drop tls_ca_file")
                && error.ends_with("or use tls(true) to connect over TLS"),
            "{error}"
        );
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn tls_without_the_feature_says_how_to_enable_it() {
        let error = from(&[("AEROSPIKE_TLS_CA_FILE", "ca.pem")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "AEROSPIKE_TLS_CA_FILE is set but cacheaside was built without its `tls` feature: \
             enable `features = [\"tls\"]` on the cacheaside dependency"
        );
        let error = Config::builder().tls_ca_file("ca.pem").build().unwrap_err();
        assert!(
            error.to_string().starts_with("tls_ca_file is set"),
            "{error}"
        );
        let error = Config::builder().tls(true).build().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("tls is set but cacheaside was built without its `tls` feature"),
            "{error}"
        );
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::*;

        fn fixture(name: &str) -> String {
            format!(
                "{}/../cacheaside-testkit/tests/fixtures/{name}",
                env!("CARGO_MANIFEST_DIR")
            )
        }

        fn scratch(name: &str, contents: &str) -> std::path::PathBuf {
            let path = std::env::temp_dir()
                .join(format!("cacheaside-config-{}-{name}", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            path
        }

        #[test]
        fn reads_the_ca_file_and_name() {
            let ca = fixture("ca.pem");
            let config = from(&[
                ("AEROSPIKE_TLS_CA_FILE", ca.as_str()),
                ("AEROSPIKE_TLS_NAME", "cacheaside-testkit"),
            ])
            .unwrap();
            assert_eq!(config.tls_ca_file(), Some(Path::new(&ca)));
            assert_eq!(config.tls_name(), Some("cacheaside-testkit"));
            assert!(config.tls_enabled());
            assert!(config.tls().client_config.is_some());
        }

        #[test]
        fn with_tls_on_a_ca_file_replaces_the_platform_roots() {
            let ca = fixture("ca.pem");
            for config in [
                from(&[
                    ("AEROSPIKE_TLS", "true"),
                    ("AEROSPIKE_TLS_CA_FILE", ca.as_str()),
                ])
                .unwrap(),
                Config::builder()
                    .tls(true)
                    .tls_ca_file(&ca)
                    .build()
                    .unwrap(),
            ] {
                assert!(config.tls_enabled());
                assert_eq!(config.tls_ca_file(), Some(Path::new(&ca)));
                assert_eq!(
                    crate::tls::describe(config.tls()),
                    Some(format!(
                        " over TLS (trusting the CA file {ca}, expecting the name of each host \
                         in the certificate)"
                    ))
                );
            }
        }

        #[test]
        fn a_tls_name_alone_does_not_turn_tls_on() {
            let error = from(&[("AEROSPIKE_TLS_NAME", "db.example")])
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                "invalid AEROSPIKE_TLS_NAME: set, but TLS is not turned on: use \
                 AEROSPIKE_TLS=true to trust the platform's root certificates, or set \
                 AEROSPIKE_TLS_CA_FILE, the PEM file of the CA certificates that signed the \
                 cluster's certificates"
            );
            let error = Config::builder()
                .tls_name("db.example")
                .build()
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("use tls(true) to trust") && error.contains("or set tls_ca_file"),
                "{error}"
            );
        }

        #[test]
        fn unusable_ca_files_are_named() {
            let not_pem = scratch("not-pem.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
            let no_certificate = scratch("key-only.pem", "just text, no PEM sections\n");
            let missing = std::env::temp_dir().join("cacheaside-no-such-file.pem");
            for (path, problem) in [
                (missing.as_path(), "cannot read"),
                (not_pem.as_path(), "not valid PEM"),
                (no_certificate.as_path(), "holds no certificate"),
            ] {
                let path = path.to_str().unwrap();
                let error = from(&[("AEROSPIKE_TLS_CA_FILE", path)]).unwrap_err();
                let message = error.to_string();
                assert!(
                    message.starts_with("invalid AEROSPIKE_TLS_CA_FILE: ")
                        && message.contains(problem)
                        && message.contains(path),
                    "{message}"
                );
                let error = Config::builder().tls_ca_file(path).build().unwrap_err();
                assert!(
                    error.to_string().starts_with("invalid tls_ca_file: "),
                    "{error}"
                );
            }
        }

        #[test]
        fn a_tls_name_must_be_a_server_name() {
            let error = Config::builder()
                .tls_ca_file(fixture("ca.pem"))
                .tls_name("not a name")
                .build()
                .unwrap_err();
            assert!(
                error.to_string().starts_with("invalid tls_name: "),
                "{error}"
            );
            // Checked before any root certificate is read.
            let error =
                from(&[("AEROSPIKE_TLS", "1"), ("AEROSPIKE_TLS_NAME", "not a name")]).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with("invalid AEROSPIKE_TLS_NAME: "),
                "{error}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let config = Config::builder()
            .credentials("app", "hunter2")
            .build()
            .unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("app"));
        assert!(!shown.contains("hunter2"));
    }
}
