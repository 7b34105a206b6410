//! Cache-aside over Aerospike as a one-line attribute.
//!
//! Annotate a repository function with [`cache_aside`]: each call first reads Aerospike, runs the
//! original body only on a miss, and writes the result back with a TTL. A cache that is down, slow
//! or holding undecodable bytes never fails a call: the body's result is returned instead.
//!
//! ```no_run
//! use cacheaside::cache_aside;
//! # #[derive(serde::Serialize, serde::Deserialize)] pub struct User { id: u64 }
//! # pub struct Pool; #[derive(Debug)] pub struct DbError;
//! # async fn query_user(_db: &Pool, id: u64) -> Result<User, DbError> { Ok(User { id }) }
//!
//! #[cache_aside(set = "users", ttl = "1h", skip(db))]
//! pub async fn get_user(db: &Pool, id: u64) -> Result<User, DbError> {
//!     query_user(db, id).await
//! }
//!
//! # async fn run() -> Result<(), cacheaside::Error> {
//! // Optional: without `init`, the first call connects using the environment.
//! cacheaside::init(cacheaside::Config::from_env()?).await?;
//! let user = get_user(&Pool, 42).await;
//! get_user_invalidate(42).await?;
//! # Ok(()) }
//! ```

/// Caches an `async fn` or an `async` `&self` method in Aerospike (cache-aside).
///
/// ```no_run
/// use cacheaside::cache_aside;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct User {
///     id: u64,
///     name: String,
/// }
/// # pub struct Pool;
/// # #[derive(Debug)] pub struct DbError;
///
/// #[cache_aside(set = "users", ttl = 3600, skip(db))]
/// pub async fn get_user(db: &Pool, id: u64) -> Result<User, DbError> {
///     // The unchanged body: runs only on a cache miss.
///     # let _ = db;
///     Ok(User { id, name: "Ada".to_owned() })
/// }
///
/// pub struct UserRepo {
///     db: Pool,
/// }
///
/// impl UserRepo {
///     #[cache_aside(set = "users", ttl = "15m", key = format!("user:{id}"))]
///     pub async fn find(&self, id: u64) -> Option<User> {
///         # let _ = &self.db;
///         Some(User { id, name: "Ada".to_owned() })
///     }
/// }
///
/// # async fn run(repo: UserRepo) -> Result<(), cacheaside::Error> {
/// let user = get_user(&repo.db, 7).await;      // cached
/// let fresh = get_user_refresh(&repo.db, 7).await; // runs the body, rewrites the entry
/// get_user_invalidate(7).await?;                  // removes the entry
/// repo.find_invalidate(7).await?;                 // methods get methods
/// # Ok(()) }
/// ```
///
/// # Options
///
/// | option | meaning |
/// | --- | --- |
/// | `set = "users"` | **required**: the Aerospike set holding this function's entries |
/// | `ttl = …` | how long entries live: integer seconds (`3600`), a duration string checked at compile time (`"90s"`, `"15m"`, `"1h"`, `"7d"`), `never`, or `namespace_default` (the default when `ttl` is omitted) |
/// | `namespace = "cache"` | the Aerospike namespace; default: the configured one (`AEROSPIKE_NAMESPACE`) |
/// | `skip(a, b)` | arguments left out of the key, e.g. a database pool |
/// | `key = <expr>` | a Rust expression over the arguments giving the exact Aerospike user key: a `String`/`&str`, an integer, or bytes (`Vec<u8>`/`&[u8]`), so other services can address the same record |
/// | `companions = false` | do not generate `_invalidate` and `_refresh` (needed in trait impl blocks, see below) |
///
/// # The key
///
/// By default the user key is a readable string built from the function's identity (its module
/// path, or `Self`'s type name for a method, and its name) and its *key arguments*: every
/// argument except `self`, those named in `skip(…)`, and those written `_`. Each key argument must
/// implement `serde::Serialize`; the exact format is documented on [`UserKey`]. Different
/// functions, or different arguments of one function, never share a key.
///
/// With `key = <expr>` the expression is the whole key. It is evaluated before the body with the
/// arguments in scope, so it should borrow rather than move an argument the body needs
/// (`key = name.as_str()`, `key = &name`). `skip` has no meaning then and is rejected.
///
/// # Return values
///
/// The kind is read from the declared return type: `Result<T, E>` caches only `Ok`, `Option<T>`
/// caches only `Some`, and any other type is cached whole. `T` must implement `Serialize` and
/// `DeserializeOwned`. A type alias such as `type DbResult<T> = Result<T, DbError>` is not
/// recognised as a `Result` and is cached whole, so write `Result<…>` in the signature.
///
/// # Companions
///
/// Next to `fn get_user`, with the same visibility (methods of the same `impl` block for methods):
///
/// - `get_user_invalidate(<key arguments>) -> Result<(), cacheaside::Error>` removes the entry.
///   Its arguments are the key arguments; with `key = <expr>`, exactly the arguments the
///   expression names (also through `format!` captures), in declaration order.
/// - `get_user_refresh(<all arguments>)` runs the body without reading the cache, writes its
///   cacheable part, and returns it as `get_user` would.
///
/// A trait `impl` block can only hold the trait's items, so a cached method there needs
/// `companions = false` (without it, the compiler reports that `…_invalidate` is not a member of
/// the trait). To keep the companions, cache an inherent method and call it from the trait impl.
///
/// # Shapes
///
/// `async fn` items, and `async` methods taking `&self` in inherent, generic and trait impl blocks.
/// Associated functions without `self` are not supported. Synchronous functions are rejected for
/// now. On any error in the attribute or the signature, every problem is reported at once and the
/// function is left unchanged.
///
/// # Failure behaviour
///
/// Calls never fail because of the cache: read or write errors and timeouts are counted (see
/// [`stats`]), logged once per cause through `tracing`, and the body's result is returned.
pub use cacheaside_macros::cache_aside;
pub use cacheaside_runtime::{
    init, stats, Config, ConfigBuilder, Error, ErrorKind, SetStats, Stats, Ttl, UserKey,
};

mod private_support;

#[doc(hidden)]
pub mod __private {
    pub use crate::private_support::*;
    pub use cacheaside_runtime::__private::*;
    pub use cacheaside_runtime::Error;
}
