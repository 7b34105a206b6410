//! The error of cache operations and configuration.

use core::fmt;

/// What went wrong, for code that reacts differently to a misconfiguration and an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value is invalid; the message names the variable or builder setting.
    Config,
    /// The key could not be built (an argument failed to serialize, an integer key outside `i64`).
    Key,
    /// The cache is not connected (Aerospike unreachable at start or since).
    Unavailable,
    /// A cache operation did not finish within the operation timeout.
    Timeout,
    /// Aerospike answered with an error.
    Server,
    /// A value could not be encoded for the cache.
    Encode,
}

/// An error of a cache operation or of the configuration.
///
/// Calls of annotated functions never return it (they fail open and return the loader's result);
/// `<fn>_invalidate` and [`init`](crate::init) do.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The server's result code, for the failures that get their own advice.
    server_code: Option<aerospike::ResultCode>,
    /// Where the operation failed, for the circuit breaker (see `breaker`).
    origin: Origin,
}

/// Where an operation's error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Not a cache operation's failure, or the client did not say which node it tried last.
    Unknown,
    /// The node the client tried last, as a hash of its name.
    Node(u64),
    /// No request was sent: the circuit breaker knew the cluster, or the partition holding
    /// the key, to be failing.
    Bypassed,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            server_code: None,
            origin: Origin::Unknown,
        }
    }

    /// An operation not sent because the breaker knew it would fail (see [`Origin::Bypassed`]).
    pub(crate) fn bypassed(message: impl Into<String>) -> Self {
        Error {
            origin: Origin::Bypassed,
            ..Error::new(ErrorKind::Unavailable, message)
        }
    }

    /// Whether the operation was skipped rather than tried (counted as
    /// [`bypassed`](crate::SetStats::bypassed), not as a cache error).
    pub(crate) fn is_bypass(&self) -> bool {
        self.origin == Origin::Bypassed
    }

    pub(crate) fn origin(&self) -> Origin {
        self.origin
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub(crate) fn from_aerospike(error: &aerospike::Error) -> Self {
        let server_code = error.server_result_code();
        let kind = if error.is_client_timeout() {
            ErrorKind::Timeout
        } else if server_code.is_some() {
            ErrorKind::Server
        } else {
            ErrorKind::Unavailable
        };
        Error {
            server_code,
            origin: error
                .node()
                .map_or(Origin::Unknown, |node| Origin::Node(node_hash(node))),
            ..Error::new(kind, format!("aerospike: {error}"))
        }
    }

    pub(crate) fn server_code(&self) -> Option<aerospike::ResultCode> {
        self.server_code
    }

    #[cfg(test)]
    pub(crate) fn set_server_code(&mut self, code: aerospike::ResultCode) {
        self.server_code = Some(code);
    }
}

/// FNV-1a of a node's name: enough to tell the nodes of one cluster apart.
pub(crate) fn node_hash(node: &str) -> u64 {
    node.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
