//! TLS settings: whether to connect over TLS, which CA certificates to trust (a CA file, else the
//! platform's root certificates), and the name the certificates carry. With the `tls` feature they
//! become a rustls client configuration when the [`Config`](crate::Config) is built; without it,
//! asking for TLS is a configuration error.

use std::path::PathBuf;

#[cfg(feature = "tls")]
use std::sync::Arc;

/// What the user configured for TLS (checked when the configuration is built).
#[derive(Clone)]
pub(crate) struct TlsSettings {
    /// `AEROSPIKE_TLS` / `tls(…)`: `None` when not given (a CA file then turns TLS on).
    pub(crate) enabled: Option<bool>,
    /// PEM file with the CA certificates to trust, instead of the platform's roots.
    pub(crate) ca_file: Option<PathBuf>,
    /// The name in the servers' certificates, for seed hosts that give none (`host:name:port`).
    pub(crate) name: Option<String>,
    /// What the client trusts, for messages ("the CA file …", "the system's root
    /// certificates"); set by [`load`].
    pub(crate) trusted: Option<String>,
    /// Built by [`load`] from `ca_file` or the platform's roots.
    #[cfg(feature = "tls")]
    pub(crate) client_config: Option<Arc<rustls::ClientConfig>>,
}

impl TlsSettings {
    pub(crate) const fn none() -> Self {
        TlsSettings {
            enabled: None,
            ca_file: None,
            name: None,
            trusted: None,
            #[cfg(feature = "tls")]
            client_config: None,
        }
    }

    /// Whether the settings ask for TLS: `AEROSPIKE_TLS=true`, or, when it is not given, any
    /// other TLS setting. In a built configuration, whether connections use TLS.
    pub(crate) fn requested(&self) -> bool {
        self.enabled
            .unwrap_or(self.ca_file.is_some() || self.name.is_some())
    }
}

/// Why the TLS settings cannot be used; the caller names the setting. A build without the `tls`
/// feature reports `NoFeature` (or a contradiction); one with it, the others.
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum TlsProblem {
    /// Built without the `tls` feature.
    #[cfg_attr(feature = "tls", allow(dead_code))]
    NoFeature,
    /// TLS is turned off, but a CA file is given.
    OffWithCaFile,
    /// TLS is turned off, but a TLS name is given.
    OffWithName,
    /// A name is given, but neither a CA file nor `AEROSPIKE_TLS=true`.
    NameWithoutTls,
    /// The CA file is unusable; the message says how.
    CaFile(String),
    /// No usable root certificate on this system; the message says what was looked at.
    SystemRoots(String),
    /// The TLS name is not a DNS name or IP address.
    Name,
}

/// Checks the settings and, when they ask for TLS, builds the rustls client configuration.
pub(crate) fn prepare(settings: &mut TlsSettings) -> Result<(), TlsProblem> {
    if settings.enabled == Some(false) {
        if settings.ca_file.is_some() {
            return Err(TlsProblem::OffWithCaFile);
        }
        if settings.name.is_some() {
            return Err(TlsProblem::OffWithName);
        }
    }
    if settings.requested() {
        load(settings)?;
    }
    Ok(())
}

/// Builds the rustls client configuration: trusting the certificates of `settings.ca_file` when
/// given (and only those), else the platform's root certificates.
#[cfg(feature = "tls")]
fn load(settings: &mut TlsSettings) -> Result<(), TlsProblem> {
    use rustls::pki_types::ServerName;

    if let Some(name) = &settings.name {
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(TlsProblem::Name);
        }
    }
    let (roots, trusted) = match &settings.ca_file {
        Some(path) => (
            ca_file_roots(path)?,
            format!("the CA file {}", path.display()),
        ),
        None if settings.enabled == Some(true) => system_roots()?,
        None => return Err(TlsProblem::NameWithoutTls),
    };
    // The provider is named rather than taken from the process default, which is ambiguous when
    // another crate in the program enables a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| match settings.ca_file {
            Some(_) => TlsProblem::CaFile(e.to_string()),
            None => TlsProblem::SystemRoots(e.to_string()),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    settings.client_config = Some(Arc::new(config));
    settings.trusted = Some(trusted);
    Ok(())
}

/// Without the `tls` feature, TLS cannot be used.
#[cfg(not(feature = "tls"))]
fn load(_settings: &mut TlsSettings) -> Result<(), TlsProblem> {
    Err(TlsProblem::NoFeature)
}

/// The CA certificates of a PEM file; every one must be usable.
#[cfg(feature = "tls")]
fn ca_file_roots(path: &std::path::Path) -> Result<rustls::RootCertStore, TlsProblem> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let shown = path.display();
    let pem =
        std::fs::read(path).map_err(|e| TlsProblem::CaFile(format!("cannot read {shown}: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsProblem::CaFile(format!("{shown} is not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(TlsProblem::CaFile(format!(
            "{shown} holds no certificate (no -----BEGIN CERTIFICATE----- section)"
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| {
            TlsProblem::CaFile(format!(
                "a certificate in {shown} cannot be used as a CA: {e}"
            ))
        })?;
    }
    Ok(roots)
}

/// The platform's root certificates, and where they came from. `rustls-native-certs` reads
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (and then nothing else), else the system's store.
/// A store in which some files are unreadable but others give roots is used as it is, like
/// OpenSSL does; one that gives no usable root is an error listing what went wrong.
#[cfg(feature = "tls")]
fn system_roots() -> Result<(rustls::RootCertStore, String), TlsProblem> {
    let from_env: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|variable| {
            let value = std::env::var_os(variable)?;
            Some(format!("{variable}={}", value.to_string_lossy()))
        })
        .collect();
    let place = if from_env.is_empty() {
        "the system's certificate store".to_owned()
    } else {
        from_env.join(" and ")
    };
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_, unusable) = roots.add_parsable_certificates(found.certs);
    if !roots.is_empty() {
        return Ok((roots, format!("the root certificates of {place}")));
    }
    let mut why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    if unusable > 0 {
        why.push(format!(
            "{unusable} certificates found, none usable as a root"
        ));
    }
    if why.is_empty() {
        why.push("no certificate found".to_owned());
    }
    Err(TlsProblem::SystemRoots(format!(
        "no usable root certificate in {place} ({})",
        why.join("; ")
    )))
}

/// How the client connects, for the warning of a failed connection: `None` without TLS.
pub(crate) fn describe(settings: &TlsSettings) -> Option<String> {
    let trusted = settings.trusted.as_deref()?;
    let name = settings.name.as_deref().unwrap_or("of each host");
    Some(format!(
        " over TLS (trusting {trusted}, expecting the name {name} in the certificate)"
    ))
}

/// The seed hosts with a TLS name for each host that gives none: the configured name, else the
/// host's own name (as HTTPS does).
pub(crate) fn seed_hosts(
    hosts: Vec<aerospike::Host>,
    settings: &TlsSettings,
) -> Vec<aerospike::Host> {
    hosts
        .into_iter()
        .map(|mut host| {
            if host.tls_name.is_none() {
                host.tls_name = Some(settings.name.clone().unwrap_or_else(|| host.name.clone()));
            }
            host
        })
        .collect()
}
