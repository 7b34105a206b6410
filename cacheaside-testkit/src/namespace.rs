//! Namespace configuration.

use std::time::Duration;

/// Aerospike 8's default `max-record-size`: 1 MiB.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 1024 * 1024;

/// One namespace the server serves, with the settings that change how writes behave.
///
/// ```
/// use cacheaside_testkit::NamespaceConfig;
/// use std::time::Duration;
/// let no_ttl = NamespaceConfig::new("nottl").nsup_period(Duration::ZERO);
/// let short = NamespaceConfig::new("short").default_ttl(Duration::from_secs(60)).max_record_size(4096);
/// assert_eq!(no_ttl.name(), "nottl");
/// assert_eq!(short.name(), "short");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceConfig {
    pub(crate) name: String,
    pub(crate) nsup_period_secs: u32,
    pub(crate) default_ttl_secs: u32,
    pub(crate) max_record_size: usize,
    pub(crate) allow_ttl_without_nsup: bool,
}

impl NamespaceConfig {
    /// A namespace with Aerospike's defaults: nsup-period 120 s, default-ttl 0 (never expire),
    /// max-record-size 1 MiB.
    pub fn new(name: impl Into<String>) -> Self {
        NamespaceConfig {
            name: name.into(),
            nsup_period_secs: 120,
            default_ttl_secs: 0,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            allow_ttl_without_nsup: false,
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How often expired records are removed. Zero disables expiry: writes that carry a TTL then fail with
    /// result code 22 (forbidden), as on a real server, unless [`allow_ttl_without_nsup`](Self::allow_ttl_without_nsup).
    pub fn nsup_period(mut self, period: Duration) -> Self {
        self.nsup_period_secs = secs_u32(period);
        self
    }

    /// The TTL used when a write asks for the namespace default; zero means never expire.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl_secs = secs_u32(ttl);
        self
    }

    /// The largest record the namespace accepts; bigger writes fail with result code 13.
    pub fn max_record_size(mut self, bytes: usize) -> Self {
        self.max_record_size = bytes;
        self
    }

    /// Accept TTLs even when nsup-period is zero (Aerospike's `allow-ttl-without-nsup`).
    pub fn allow_ttl_without_nsup(mut self, allow: bool) -> Self {
        self.allow_ttl_without_nsup = allow;
        self
    }

    /// Parses the binary's `name[:key=value,...]` form, e.g. `nottl:nsup-period=0,default-ttl=0`.
    /// Keys: `nsup-period`, `default-ttl` (seconds), `max-record-size` (bytes), `allow-ttl-without-nsup`.
    ///
    /// ```
    /// use cacheaside_testkit::NamespaceConfig;
    /// let ns = NamespaceConfig::parse("nottl:nsup-period=0").unwrap();
    /// assert_eq!(ns.name(), "nottl");
    /// assert!(NamespaceConfig::parse("x:colour=blue").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (name, settings) = spec.split_once(':').unwrap_or((spec, ""));
        if name.is_empty() {
            return Err(format!("namespace spec `{spec}` has no name"));
        }
        let mut config = NamespaceConfig::new(name);
        for setting in settings.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("setting `{setting}` is not key=value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|e| format!("`{setting}`: {e}"))
            };
            match key {
                "nsup-period" => config = config.nsup_period(Duration::from_secs(number()?)),
                "default-ttl" => config = config.default_ttl(Duration::from_secs(number()?)),
                "max-record-size" => {
                    config = config.max_record_size(usize::try_from(number()?).map_err(|e| e.to_string())?);
                }
                "allow-ttl-without-nsup" => {
                    config = config.allow_ttl_without_nsup(value.parse().map_err(|e| format!("`{setting}`: {e}"))?);
                }
                other => {
                    return Err(format!(
                        "unknown namespace setting `{other}`; valid: nsup-period, default-ttl, max-record-size, \
                         allow-ttl-without-nsup"
                    ))
                }
            }
        }
        Ok(config)
    }

    /// Whether a record with a finite TTL may be written.
    pub(crate) fn accepts_ttl(&self) -> bool {
        self.nsup_period_secs > 0 || self.allow_ttl_without_nsup
    }
}

fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
