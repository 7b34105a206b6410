//! Runtime of `cacheaside`. Depend on the `cacheaside` crate instead of this one.

#[doc(hidden)]
pub mod __private;
mod engine;
mod key;

/// How long a cached entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// This many seconds.
    Seconds(u32),
    /// The namespace's `default-ttl`.
    NamespaceDefault,
    /// Never expires.
    Never,
}

/// An error of a cache operation. Calls of annotated functions never return it: they fail open.
#[derive(Debug)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error { message: message.into() }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
