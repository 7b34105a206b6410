//! Configuration: from the environment, or built in code.

use core::fmt;
use std::time::Duration;

use aerospike::ToHosts;

use crate::{Error, ErrorKind};

const DEFAULT_HOSTS: &str = "127.0.0.1:3000";
const DEFAULT_NAMESPACE: &str = "test";
const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_millis(50);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_SINGLE_FLIGHT_WAIT: Duration = Duration::from_secs(10);
const DEFAULT_INVALIDATION_WINDOW: Duration = Duration::from_secs(60);
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
const SINGLE_FLIGHT_WAIT: Setting = Setting {
    env: "CACHEASIDE_SINGLE_FLIGHT_WAIT_MS",
    builder: "single_flight_wait",
};
const INVALIDATION_WINDOW: Setting = Setting {
    env: "CACHEASIDE_INVALIDATION_WINDOW_MS",
    builder: "invalidation_window",
};
const MAX_RECORD_SIZE: Setting = Setting {
    env: "CACHEASIDE_MAX_RECORD_SIZE",
    builder: "max_record_size",
};

/// Where a value came from, for error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Env,
    Builder,
}

fn invalid(setting: Setting, source: Source, problem: impl fmt::Display) -> Error {
    let name = match source {
        Source::Env => setting.env,
        Source::Builder => setting.builder,
    };
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
/// | (none) | [`send_key`](ConfigBuilder::send_key) | `false` | store the user key in the record as well as its digest |
/// | `CACHEASIDE_SINGLE_FLIGHT_WAIT_MS` | [`single_flight_wait`](ConfigBuilder::single_flight_wait) | `10000` | how long a call waits for a concurrent call of the same key to load, before it loads itself |
/// | `CACHEASIDE_INVALIDATION_WINDOW_MS` | [`invalidation_window`](ConfigBuilder::invalidation_window) | `60000` | how long an invalidation refuses the write-back of loads that began before it (whole seconds); make it longer than the slowest load |
/// | (none) | [`write_without_ttl_when_forbidden`](ConfigBuilder::write_without_ttl_when_forbidden) | `false` | in a namespace that forbids TTLs (`nsup-period 0`), write entries that never expire instead of not caching |
/// | `CACHEASIDE_MAX_RECORD_SIZE` | [`max_record_size`](ConfigBuilder::max_record_size) | `1048576` | the largest record written, in bytes (the namespace's smaller `max-record-size` applies too): larger values are returned but not cached |
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
    send_key: bool,
    single_flight_wait: Duration,
    invalidation_window: Duration,
    write_without_ttl_when_forbidden: bool,
    max_record_size: usize,
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
            .field("send_key", &self.send_key)
            .field("single_flight_wait", &self.single_flight_wait)
            .field("invalidation_window", &self.invalidation_window)
            .field(
                "write_without_ttl_when_forbidden",
                &self.write_without_ttl_when_forbidden,
            )
            .field("max_record_size", &self.max_record_size)
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
            send_key: false,
            single_flight_wait: DEFAULT_SINGLE_FLIGHT_WAIT,
            invalidation_window: DEFAULT_INVALIDATION_WINDOW,
            write_without_ttl_when_forbidden: false,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
        }
    }
}

impl Config {
    /// Reads the environment variables of the table above; unset variables take their defaults.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`] error naming the first invalid variable.
    pub fn from_env() -> Result<Config, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
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

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let source = Source::Env;
        let mut config = Config::default();
        if let Some(hosts) = lookup(HOSTS.env) {
            config.hosts = hosts;
        }
        if let Some(namespace) = lookup(NAMESPACE.env) {
            config.namespace = namespace;
        }
        let user = lookup(USER.env).filter(|u| !u.is_empty());
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
        Ok(self)
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

    /// Whether records store the user key.
    pub fn send_key(&self) -> bool {
        self.send_key
    }

    /// How long a call waits for a concurrent call of the same key to load.
    pub fn single_flight_wait(&self) -> Duration {
        self.single_flight_wait
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
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
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
        ])
        .unwrap();
        assert_eq!(config.hosts(), "10.0.0.1:3100,10.0.0.2:3100");
        assert_eq!(config.namespace(), "cache");
        assert_eq!(config.credentials(), Some(("app", "secret")));
        assert!(config.disabled());
        assert_eq!(config.operation_timeout(), Duration::from_millis(20));
        assert_eq!(config.connect_timeout(), Duration::from_millis(300));
        assert_eq!(config.reconnect_interval(), Duration::from_millis(250));
    }

    #[test]
    fn errors_name_the_variable() {
        for (vars, name) in [
            (&[("AEROSPIKE_HOSTS", "not a host")][..], "AEROSPIKE_HOSTS"),
            (&[("AEROSPIKE_HOSTS", "")][..], "AEROSPIKE_HOSTS"),
            (&[("AEROSPIKE_NAMESPACE", "")][..], "AEROSPIKE_NAMESPACE"),
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
