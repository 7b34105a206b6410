//! TLS termination (`tls` feature): the server answers the same protocol inside TLS.

use std::fmt;
use std::io;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use crate::server::Connection;

/// The server's certificate chain and private key, as PEM, kept until the server starts.
#[derive(Clone)]
pub(crate) struct TlsIdentity {
    pub(crate) cert_chain_pem: Vec<u8>,
    pub(crate) key_pem: Vec<u8>,
}

impl fmt::Debug for TlsIdentity {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Parses the PEM and builds the server's TLS configuration; a bad certificate or key is
    /// `InvalidInput`.
    pub(crate) fn server_config(&self) -> io::Result<Arc<ServerConfig>> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("the TLS certificate chain is not PEM: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(
                "the TLS certificate chain has no CERTIFICATE section".to_owned(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| invalid(format!("the TLS private key is not PEM: {e}")))?;
        // The provider is named rather than taken from the process default, which would be
        // ambiguous should another crate enable a second one.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid(format!("the TLS certificate or key is unusable: {e}")))?;
        Ok(Arc::new(config))
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl Connection for TlsStream<TcpStream> {
    fn reset_on_close(&self) {
        let _ = self.get_ref().0.set_zero_linger();
    }
}
