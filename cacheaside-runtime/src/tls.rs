//! TLS settings: the CA bundle that signed the cluster's certificates, and the name the
//! certificates carry. With the `tls` feature they become a rustls client configuration when the
//! [`Config`](crate::Config) is built; without it, asking for TLS is a configuration error.

use std::path::PathBuf;

#[cfg(feature = "tls")]
use std::sync::Arc;

/// What the user configured for TLS (checked when the configuration is built).
#[derive(Clone)]
pub(crate) struct TlsSettings {
    /// PEM file with the CA certificates to trust.
    pub(crate) ca_file: Option<PathBuf>,
    /// The name in the servers' certificates, for seed hosts that give none (`host:name:port`).
    pub(crate) name: Option<String>,
    /// Built from `ca_file` by [`TlsSettings::load`].
    #[cfg(feature = "tls")]
    pub(crate) client_config: Option<Arc<rustls::ClientConfig>>,
}

impl TlsSettings {
    pub(crate) const fn none() -> Self {
        TlsSettings {
            ca_file: None,
            name: None,
            #[cfg(feature = "tls")]
            client_config: None,
        }
    }

    /// Whether any TLS setting is given.
    pub(crate) fn requested(&self) -> bool {
        self.ca_file.is_some() || self.name.is_some()
    }
}

/// Why the TLS settings cannot be used; the caller names the setting. A build without the `tls`
/// feature only ever reports `NoFeature`; one with it, the others.
#[derive(Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum TlsProblem {
    /// Built without the `tls` feature.
    #[cfg_attr(feature = "tls", allow(dead_code))]
    NoFeature,
    /// A name is given but no CA file.
    NameWithoutCa,
    /// The CA file is unusable; the message says how.
    CaFile(String),
    /// The TLS name is not a DNS name or IP address.
    Name,
}

/// Builds the rustls client configuration trusting the certificates of `settings.ca_file`.
#[cfg(feature = "tls")]
pub(crate) fn load(settings: &mut TlsSettings) -> Result<(), TlsProblem> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    if let Some(name) = &settings.name {
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(TlsProblem::Name);
        }
    }
    let Some(path) = &settings.ca_file else {
        return Err(TlsProblem::NameWithoutCa);
    };
    let pem = std::fs::read(path)
        .map_err(|e| TlsProblem::CaFile(format!("cannot read {}: {e}", shown(path))))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsProblem::CaFile(format!("{} is not valid PEM: {e}", shown(path))))?;
    if certificates.is_empty() {
        return Err(TlsProblem::CaFile(format!(
            "{} holds no certificate (no -----BEGIN CERTIFICATE----- section)",
            shown(path)
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| {
            TlsProblem::CaFile(format!(
                "a certificate in {} cannot be used as a CA: {e}",
                shown(path)
            ))
        })?;
    }
    // The provider is named rather than taken from the process default, which is ambiguous when
    // another crate in the program enables a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsProblem::CaFile(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    settings.client_config = Some(Arc::new(config));
    Ok(())
}

/// Without the `tls` feature, TLS cannot be used.
#[cfg(not(feature = "tls"))]
pub(crate) fn load(_settings: &mut TlsSettings) -> Result<(), TlsProblem> {
    Err(TlsProblem::NoFeature)
}

#[cfg(feature = "tls")]
fn shown(path: &std::path::Path) -> std::path::Display<'_> {
    path.display()
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
