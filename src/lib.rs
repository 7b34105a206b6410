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
//!
//! New here? Read the [guide]: every option with an example, the failure model, the record
//! format, configuration, and testing without a cluster.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// Caches a function or a `&self` method in Aerospike (cache-aside): `async fn` and plain `fn`.
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
/// Options are Rust tokens, not strings, so mistakes are reported where they are written, all at
/// once. On any error the function is emitted unchanged, so its callers see no follow-on errors.
///
/// ## `set = "users"` (required)
///
/// The Aerospike set that holds this function's entries: 1 to 63 bytes, without a NUL, `:` or `;`
/// (Aerospike's rules; another name is a compile error that suggests one, e.g. `"users_v2"` for
/// `"users:v2"`).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "users")]
/// async fn user_name(id: u64) -> String {
///     format!("user {id}")
/// }
/// ```
///
/// ## `ttl = …`
///
/// How long entries live: integer seconds (`3600`), a duration string checked at compile time
/// (`"90s"`, `"15m"`, `"1h"`, `"7d"`), `never`, or `namespace_default` (the namespace's
/// `default-ttl`; also what an omitted `ttl` means). Aerospike's maximum is ten years.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "rates", ttl = "15m")]
/// async fn exchange_rate(currency: String) -> f64 {
///     # let _ = currency;
///     1.08
/// }
///
/// #[cache_aside(set = "countries", ttl = never)]
/// async fn country_name(code: String) -> Option<String> {
///     Some(code)
/// }
/// ```
///
/// ## `namespace = "cache"`
///
/// The Aerospike namespace; default: the configured one (`AEROSPIKE_NAMESPACE`, else `test`).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "sessions", ttl = 600, namespace = "ephemeral")]
/// async fn session_owner(token: String) -> Option<u64> {
///     # let _ = token;
///     Some(7)
/// }
/// ```
///
/// ## `cache = "analytics"`
///
/// The cluster that [`init_named`] installed under this name, for a program that caches in
/// several Aerospike clusters at once; default: the cluster of [`init`] (configured from the
/// environment when `init` is not called). The name is checked at compile time (1 to 63 ASCII
/// letters, digits, `_`, `-` or `.`). The function's companions, and `#[cache_put]` /
/// `#[cache_evict]` with the same `cache`, address the same cluster; [`named`] gives event
/// consumers the [`invalidate`] of a named cluster.
///
/// A call made before `init_named` installed the name runs its body without the cache (fail
/// open) and logs one warning naming the cluster and the fix. Statistics are kept per set name:
/// two clusters with functions of the same set share their counters in [`stats`].
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "reports", ttl = "1h", cache = "analytics")]
/// async fn monthly_report(month: u32) -> String {
///     format!("report {month}")
/// }
///
/// # async fn run() -> Result<(), cacheaside::Error> {
/// // At startup, next to `cacheaside::init(...)` for the default cluster:
/// let analytics = cacheaside::Config::builder()
///     .hosts("analytics-1:3000")
///     .namespace("reports")
///     .build()?;
/// cacheaside::init_named("analytics", analytics).await?;
/// let report = monthly_report(7).await; // cached in the "analytics" cluster
/// cacheaside::named("analytics").invalidate("reports", "…").await?;
/// # let _ = report;
/// # Ok(()) }
/// ```
///
/// ## `skip(a, b)`
///
/// Arguments left out of the key, such as a connection pool or a logger. Every other argument
/// (except `self` and arguments written `_`) is part of the key and must implement
/// `serde::Serialize`; the compiler says so at the argument, suggesting `skip`, when it does not.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # pub struct Pool;
/// #[cache_aside(set = "orders", ttl = 60, skip(db, trace))]
/// async fn order_total(db: &Pool, trace: &dyn Fn(&str), order: u64) -> u64 {
///     # let _ = db;
///     trace("loading");
///     order * 100
/// }
/// ```
///
/// ## `key = <expr>`
///
/// A Rust expression over the arguments giving the exact Aerospike user key: a `String`/`&str`,
/// an integer, or bytes (`Vec<u8>`/`&[u8]`), so other services can address the same record. It is
/// evaluated before the body with the arguments in scope, so borrow rather than move an argument
/// the body needs (`key = name.as_str()`). `skip` has no meaning then and is rejected.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "profiles", ttl = "1h", key = format!("{tenant}:{id}"))]
/// async fn profile(tenant: &str, id: u64, verbose: bool) -> Option<String> {
///     Some(format!("{tenant}/{id}/{verbose}"))
/// }
///
/// # async fn run() -> Result<(), cacheaside::Error> {
/// profile_invalidate("acme", 7).await?; // only the arguments the key names
/// # Ok(()) }
/// ```
///
/// ## `returns = result | option | value`
///
/// Which part of the return value is cached: `result` caches only `Ok`, `option` only `Some`,
/// `value` every value (also `Err` and `None`). Without the option the kind is read from the
/// return type: a path ending in `Result<…>` (including `io::Result<T>` and `anyhow::Result<T>`)
/// or `Option<…>`, or else a plain value. Where the syntax cannot tell, the compiler stops instead
/// of caching errors: a name ending in `Result` or `Option` (`DbResult<T>`) asks for the option,
/// and a plain-looking alias that is really a `Result` or `Option` (`type Lookup = Result<…>`)
/// fails the type check at the return type. An explicit kind is checked against the real type too.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # #[derive(Debug)] pub struct DbError;
/// type DbResult<T> = Result<T, DbError>;
///
/// #[cache_aside(set = "users", ttl = 60, returns = result)]
/// async fn user_age(id: u64) -> DbResult<u32> {
///     if id == 0 {
///         return Err(DbError);
///     }
///     Ok(42)
/// }
/// ```
///
/// ## `none_ttl = "30s"`
///
/// Negative caching, off by default: for a function returning `Option<T>`, a `None` is cached too,
/// with this TTL (same forms as `ttl`), so repeated lookups of something missing stop reaching the
/// source. A `Some` keeps the function's `ttl`. The record holds a MessagePack `nil`, which a
/// version without `none_ttl` reads as a miss. `<fn>_peek` returns `Option<Option<T>>` then:
/// `Some(None)` is a cached `None`. Rejected on a function that does not return an `Option`.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "users_by_email", ttl = "1h", none_ttl = "30s")]
/// async fn user_id_by_email(email: String) -> Option<u64> {
///     # let _ = email;
///     None // "no such user" is cached for 30 seconds
/// }
/// ```
///
/// ## `refresh_ahead = 0.2`
///
/// When a hit finds that less than this fraction of the `ttl` is left (Aerospike returns every
/// record's remaining TTL with the read, so nothing extra is stored), the call returns the cached
/// value at once and the body runs in the background on the cache's own runtime; its value
/// replaces the entry with a fresh TTL, unless the entry changed meanwhile (an invalidation wins).
/// One background load per entry per process, however many calls see it: calls of one key
/// coalesce, and a process remembers which record generation it refreshed. Hot keys then never
/// expire under load, and no caller waits for the source. Counted in
/// [`SetStats::refreshes_ahead`].
///
/// Because the body runs after the call returned, it cannot borrow from the call: arguments must
/// be owned (`Arc<Pool>` rather than `&Pool`, `String` rather than `&str`) and `Send`, and
/// `&self` methods are rejected (cache an associated function taking an owned handle instead).
/// Borrowed argument types are reported at the type; anything else that is not `Send + 'static`
/// is reported by the compiler at the attribute. A sync function's body runs on a blocking thread
/// of the cache's runtime, never on the caller's. Needs a `ttl` in seconds; the fraction is
/// between 0 and 1 (three decimals at most).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # use std::sync::Arc;
/// # pub struct Pool;
/// #[cache_aside(set = "prices", ttl = "10m", refresh_ahead = 0.2, skip(db))]
/// async fn price(db: Arc<Pool>, sku: String) -> Result<u64, String> {
///     # let _ = (db, sku);
///     Ok(1999) // refreshed in the background during the last 2 minutes of the TTL
/// }
/// ```
///
/// ## `stale_if_error = "10m"`
///
/// Serve-stale for functions returning a `Result`: entries are written with a record TTL of
/// `ttl` plus this window. Freshness is judged from the remaining TTL Aerospike returns with each
/// read: while more than the window is left, a hit is answered from the cache as usual. In the
/// window the body runs first; an `Ok` replaces the entry (with a full TTL again) and is returned,
/// an `Err` is answered with the old value instead (counted in [`SetStats::stale_served`]). After
/// `ttl + window` the entry is gone and errors reach the caller. With `refresh_ahead`, the fraction
/// applies to the fresh part; with `soft_timeout`, a slow body is answered with the old value too.
/// Needs a `ttl` in seconds; the same forms as `ttl` (`600`, `"10m"`).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "fx", ttl = "1m", stale_if_error = "10m")]
/// async fn fx_rate(pair: String) -> Result<f64, String> {
///     # let _ = pair;
///     Ok(1.08) // if the rates service fails, last minute's rate is served for 10 more minutes
/// }
/// ```
///
/// ## `soft_timeout = "100ms"`
///
/// With `stale_if_error`: in the stale window, the call waits for the body at most this long. The
/// body runs in the background on the cache's own runtime (as a refresh-ahead does), and an answer
/// in time is taken as without the option (an `Ok` replaces the entry and is returned, an `Err` is
/// answered with the old value). Once the soft timeout has passed, the call returns the old value
/// at once, and the body finishes in the background and writes its value over the entry, unless
/// the entry changed meanwhile (an invalidation wins). One background load per entry per process,
/// a refresh-ahead of the entry included: calls that find it running answer with the old value at
/// once. A call without an old value at hand (a miss, or past `ttl + window`) waits for the body
/// as usual. Counted in [`SetStats::soft_timeouts`] (each also in [`SetStats::stale_served`]).
/// With `local(…)`, the old value a late call returned leaves this process's local tier once the
/// background load is done.
///
/// The body may finish after the call returned, so its arguments must be owned and `Send`, as for
/// `refresh_ahead` (the same errors, at the same places). A sync function's body runs on a
/// blocking thread of the cache's runtime. Not with `batch`. Needs `stale_if_error` (without it
/// there is no old value to answer with: a compile error says so). A duration of at least 1 ms in
/// the forms of the other options plus milliseconds: `"100ms"`, `"2s"`, or integer seconds.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "fx", ttl = "1m", stale_if_error = "10m", soft_timeout = "100ms")]
/// async fn fx_rate(pair: String) -> Result<f64, String> {
///     # let _ = pair;
///     Ok(1.08) // past the minute, a rates service slower than 100 ms is answered by the old rate
/// }
/// ```
///
/// ## `touch_on_read`, `touch_on_read = 0.8`
///
/// Sliding expiry, for session-like data: a hit that finds less than this fraction of the `ttl`
/// left (0.8 when written alone) resets the record's TTL to the full `ttl`, with a touch made in
/// the background (never blocking the caller, once per entry version per process, and only if the
/// entry did not change since the read). An entry read at least once per `ttl` then never
/// expires; an idle one expires a `ttl` after its last reset. This is Aerospike's
/// read-touch-TTL percent, done by the library from the remaining TTL every read returns: it works
/// with every server version and needs no namespace setting, and reads that find more than the
/// fraction left cost no extra operation. A cached `None` (`none_ttl`) is not extended. Counted
/// in [`SetStats::touches`]. Needs a `ttl` in seconds.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "sessions", ttl = "30m", touch_on_read)]
/// async fn session_user(token: String) -> Option<u64> {
///     # let _ = token;
///     Some(7) // expires 30 minutes after the last use, not after the login
/// }
/// ```
///
/// ## `ttl_from = path::to::fn`
///
/// Each entry's TTL from its value: the path of a `fn(&T) -> std::time::Duration`, where `T` is
/// the cached part of the return type (`User` for `Result<User, E>` or `Option<User>`), e.g.
/// shorter TTLs for volatile rows. Whole seconds, at least 1 and at most ten years; `ttl` is then
/// only the fallback for values the function does not see. A wrong signature is reported at the
/// path. `stale_if_error` adds its window on top. Not combinable with `refresh_ahead`,
/// `touch_on_read` (which judge entries by a fraction of the one `ttl`) or `none_ttl`.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # use std::time::Duration;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct Listing {
///     price_cents: u64,
///     on_sale: bool,
/// }
///
/// impl Listing {
///     fn ttl(&self) -> Duration {
///         if self.on_sale { Duration::from_secs(60) } else { Duration::from_secs(3600) }
///     }
/// }
///
/// #[cache_aside(set = "listings", ttl = "1h", ttl_from = Listing::ttl)]
/// async fn listing(id: u64) -> Option<Listing> {
///     # let _ = id;
///     Some(Listing { price_cents: 999, on_sale: true })
/// }
/// ```
///
/// ## `codec = "msgpack" | "bincode" | "postcard" | "json"`
///
/// How values are encoded in bin `data`. `"msgpack"` (MessagePack with named fields) is the
/// default and needs no feature; the others need the feature of the same name of `cacheaside`
/// (without it, the option is a compile error that names the feature):
///
/// - `"json"`: plain JSON, readable by services in other languages (skip the header of
///   `3 + bytes[2]` bytes); named fields, as safe across deploys as MessagePack;
/// - `"bincode"` (bincode 2) and `"postcard"`: positional, smaller and faster, but they store no
///   field names. Their envelope carries a tag derived from the value type's name and path, so a
///   reader of another type sees a miss; a struct whose fields changed but whose name did not may
///   decode into a wrong value. Use them for values whose shape is stable, or rename the type
///   (`UserV2`) when it changes.
///
/// Each codec writes its own codec id into the envelope: a reader with another codec sees a miss
/// (counted in [`SetStats::undecodable`]), never a wrong value. `#[cache_put]` takes the same
/// option and must name the reader's codec. A set's codec in the configuration
/// ([`SetPolicy::codec`], `CACHEASIDE_SET_<SET>_CODEC`) takes precedence over this option for
/// every function of the set, `#[cache_put]` included.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// pub struct Price {
///     cents: u64,
///     currency: String,
/// }
///
/// #[cache_aside(set = "prices", ttl = "5m", codec = "msgpack", key = format!("price:{sku}"))]
/// async fn price(sku: String) -> Option<Price> {
///     # let _ = sku;
///     Some(Price { cents: 999, currency: "EUR".to_owned() })
/// }
/// ```
///
/// With the `json` feature:
///
/// ```no_run
/// # #[cfg(feature = "json")] mod with_json {
/// # use cacheaside::cache_aside;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct Price { cents: u64 }
/// #[cache_aside(set = "prices", ttl = "5m", codec = "json", key = format!("price:{sku}"))]
/// async fn price(sku: String) -> Option<Price> {
///     # let _ = sku;
///     Some(Price { cents: 999 })
/// }
/// # }
/// ```
///
/// ## `local(ttl = "5s", capacity = 10_000)`
///
/// An in-process tier in front of Aerospike (a bounded [moka](https://docs.rs/moka) cache per
/// function): a hit there costs no network round trip and no decoding, because the tier keeps the
/// value itself and clones it, so the cached part of the return type must be `Clone + Send +
/// Sync + 'static` (the compiler says so at the return type). A local miss goes on to Aerospike as
/// usual and keeps what it returns. `ttl` is required (same forms as `ttl`); `capacity` (entries,
/// default 10,000) bounds the memory, evicting the least valuable entries first. Local hits are
/// counted as hits and in [`SetStats::local_hits`].
///
/// `<fn>_invalidate`, `<fn>_refresh`, `#[cache_put]`, `#[cache_evict]` and [`invalidate`] clear
/// this process's entry, and a call of this process that was loading the key (or reading it from
/// Aerospike) meanwhile does not keep its older value in the tier. That check uses 256 counters
/// shared by all keys, so a call whose key shares a counter with a key removed meanwhile does not
/// keep its value either: its next call reads Aerospike again. Other processes drop their copy
/// within about 100 ms: every change is announced through Aerospike (the backplane, see
/// [`ConfigBuilder::backplane_interval`](crate::ConfigBuilder::backplane_interval)); with it
/// turned off, staleness across processes is bounded by the local `ttl`. `<fn>_peek` reads Aerospike, not the local tier. A background `refresh_ahead` updates
/// Aerospike; local copies pick it up when they expire.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// pub struct Flags {
///     beta: bool,
/// }
///
/// #[cache_aside(set = "flags", ttl = "10m", local(ttl = "5s", capacity = 1_000))]
/// async fn flags(tenant: u64) -> Flags {
///     # let _ = tenant;
///     Flags { beta: true }
/// }
/// ```
///
/// ## `lease`, `lease = "2s"`
///
/// One load per missing entry in the whole fleet, not one per process. After a miss, the call
/// that loads for its process (concurrent calls of the process already share it) takes the
/// entry's lease in Aerospike: a marker record with the time until which the other processes
/// leave the load to it, written only if the record is still as the miss read it. One process
/// wins and loads; its write-back replaces the lease with the value. The others read the entry
/// every 10 ms (backing off to 100 ms) and return the value as soon as it is there, without
/// running their body (counted in [`SetStats::lease_waits`], each also a miss). If the holder's
/// body returns nothing cacheable (an `Err`, a `None`), it releases the lease and the next caller
/// loads; if the holder dies, or is slower than the lease, its lease expires and one waiter takes
/// it over: a crashed holder costs at most the lease. A caller waits at most twice the lease plus
/// a second, then loads. When the cache cannot take or read the lease, the call loads at once
/// (fail-open). With `refresh_ahead` (and `soft_timeout`), the first process to mark the entry
/// reloads it: one background load per fleet.
///
/// `lease` alone leases for 2 s; `lease = "500ms"`, `"2s"`, `"1m"` (10 ms to 10 minutes) for
/// bodies that take longer, which is the rule: longer than the body's usual time. A lease costs a
/// miss one more write (and the waiting processes their reads), never a hit. Not with `batch`.
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "reports", ttl = "1h", lease = "5s")]
/// async fn monthly_report(month: u32) -> Result<Vec<u64>, String> {
///     # let _ = month;
///     Ok(vec![1, 2, 3]) // an expensive query: run once per month in the fleet, not per process
/// }
/// ```
///
/// ## `batch`
///
/// A batch loader: the function takes a collection of ids and returns its values in a map by id,
/// and a call reads the entries of all its ids with **one Aerospike batch read**, then calls the
/// body **once, with only the ids that were not cached**, writes back what the body returned and
/// returns the body's map with the hits added.
///
/// - **Arguments.** Exactly one argument is not skipped: the ids, as `&[Id]`, `Vec<Id>`,
///   `&Vec<Id>`, `HashSet<Id>` / `&HashSet<Id>` or `BTreeSet<Id>` / `&BTreeSet<Id>`. The body
///   gets the missing ids in that same type (a `Vec` behind the `&` of a slice), in the order
///   first given, each once: repeated ids are read and loaded once. Other arguments (a pool, a
///   client) go in `skip(…)`.
/// - **Ids are keys.** `Id` is an integer, `String` or `Vec<u8>`, and each id is its own entry
///   whose user key is the id itself: exactly what `key = id` gives a single-id reader of the
///   same set, so a batch loader and a single-id reader **share their entries** (each warms the
///   other, and either's `_invalidate` invalidates for both).
/// - **Return type.** `Result<HashMap<Id, V>, E>`, `Option<HashMap<Id, V>>` or a plain
///   `HashMap<Id, V>` (`BTreeMap` works too); the map's key type is the ids' type. Each `V` is
///   stored like a single value (same envelope and codec). An `Err` or a `None` of the body is
///   returned as it is and nothing is cached; an id the body does not return is absent from the
///   result and is not cached (the next call asks the source again).
/// - **Fail open.** When the batch read fails or times out, the breaker is open or the cache is
///   disabled, every id is a miss and the body gets them all; write-backs that fail are counted,
///   never returned. An entry that does not decode is a miss and is overwritten. No ids: neither
///   Aerospike nor the body is asked, and the result is an empty map.
/// - **Writes** are the single path's conditional writes, per id (create-only after a miss, at
///   the read generation otherwise), so an invalidation during the load wins. They run
///   concurrently and the call waits for them, each bounded by the operation timeout.
/// - **Counters** are per id: each id counts a hit or a miss in the set's [`SetStats`], each id
///   the body is asked for a load, and a load error when the body fails or leaves it out.
/// - **No single-flight across batch calls**: two concurrent calls that miss the same ids both
///   ask the source for them (the later write-back of an id is refused as stale, harmlessly).
///   Single-id functions keep their stampede protection.
/// - **Companions:** `<fn>_uncached(<all arguments>)` runs the body with all the ids;
///   `<fn>_invalidate(ids)` invalidates the entry of every id (the first error is returned,
///   after every id was tried). There is no `_refresh` or `_peek` for a batch function.
/// - **Not with** `key = …` (the ids are the keys), `none_ttl`, `refresh_ahead`,
///   `stale_if_error`, `soft_timeout`, `touch_on_read`, `ttl_from`, `local(…)`, `lease` or
///   `companions = false`: each is a compile error that says so. Sync functions work too (the batch read and the writes run on
///   the cache's background runtime while the thread waits).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # use std::collections::HashMap;
/// # pub struct Pool;
/// # #[derive(Debug)] pub struct DbError;
/// # impl std::fmt::Display for DbError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("db") }
/// # }
/// # impl std::error::Error for DbError {}
/// # impl Pool {
/// #     fn users(&self, ids: &[u64]) -> Result<HashMap<u64, User>, DbError> {
/// #         Ok(ids.iter().map(|&id| (id, User { id })).collect())
/// #     }
/// # }
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// pub struct User {
///     id: u64,
/// }
///
/// /// `SELECT … WHERE id IN (…)` for the ids that were not cached.
/// #[cache_aside(set = "users", ttl = "1h", batch, skip(db))]
/// async fn get_users(db: &Pool, ids: &[u64]) -> Result<HashMap<u64, User>, DbError> {
///     db.users(ids)
/// }
///
/// /// The same entries, one at a time.
/// #[cache_aside(set = "users", ttl = "1h", key = id)]
/// async fn get_user(db: &Pool, id: u64) -> Result<User, DbError> {
///     db.users(&[id])?.remove(&id).ok_or(DbError)
/// }
///
/// # async fn run(db: Pool) -> Result<(), Box<dyn std::error::Error>> {
/// let ids: Vec<u64> = (1..=100).collect();
/// let users = get_users(&db, &ids).await?; // one batch read; the body gets the missing ids
/// get_users_invalidate(&[7, 8]).await?; // the next call loads 7 and 8 again
/// let first = get_user(&db, 1).await?; // a hit: the batch wrote entry 1
/// # let _ = (users, first);
/// # Ok(()) }
/// ```
///
/// ## `companions = false`
///
/// Generates no companions (and no hidden items): the body is rewritten in
/// place. Needed for a method in a trait impl block that is not itself annotated (see
/// [trait impls](#methods-generic-impls-and-trait-impls)).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// #[cache_aside(set = "flags", ttl = 30, companions = false)]
/// async fn flag(name: String) -> bool {
///     name.starts_with("beta")
/// }
/// ```
///
/// ## `crate = path`
///
/// For crates that re-export `cacheaside` and whose users do not depend on it directly: the
/// generated code reaches the library through this path instead of `::cacheaside`. A string
/// (`crate = "my_infra::cache"`) is accepted too.
///
/// ```no_run
/// # pub extern crate cacheaside;
/// mod infra {
///     pub use ::cacheaside as cache;
/// }
///
/// #[infra::cache::cache_aside(set = "users", ttl = 60, crate = crate::infra::cache)]
/// async fn user_name(id: u64) -> String {
///     format!("user {id}")
/// }
/// # fn main() {}
/// ```
///
/// # The key
///
/// By default the user key is a readable string built from the function's identity (its full
/// path, with enclosing functions and `impl`, and its type and const arguments, those of `impl
/// Trait` arguments included) and its key arguments, e.g. `::app::repo::get_user(42)`; the exact
/// format is documented on [`UserKey`]. Different functions, different instantiations of a generic
/// function, or different arguments of one function never share a key. A default key starts with
/// `::`, which an explicit key (`key = …`) may not, so the two never meet in a set.
///
/// # Companions
///
/// Next to `fn get_user`, with the same visibility (methods of the same `impl` block for methods):
///
/// - `get_user_invalidate(<key arguments>) -> Result<(), cacheaside::Error>` removes the entry.
///   Its arguments are the key arguments; with `key = <expr>`, exactly the arguments the
///   expression names (also through `format!` captures), in declaration order. Only the generic
///   parameters those arguments or the key use are kept: with a default key, every type and const
///   parameter except those that only skipped arguments use, so `fetch_invalidate::<User>(id)`
///   removes the entry of `fetch::<User>(id)` only.
/// - `get_user_refresh(<all arguments>)` runs the body without reading the cache, writes its
///   cacheable part, and returns it as `get_user` would.
/// - `get_user_uncached(<all arguments>)` runs the body only: no cache read, no write, no
///   counters. For callers that must see the source (an admin screen, a consistency check).
/// - `get_user_peek(<key arguments>) -> Option<V>` is the cached value, if any, where `V` is the
///   cached part (`User` for `Result<User, DbError>`; `Option<User>` with `none_ttl`). It never
///   runs the body and never writes; `None` also when the cache cannot answer (it fails open like
///   every call, and counts no hit or miss).
///
/// ```no_run
/// # use cacheaside::cache_aside;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct User { id: u64 }
/// # pub struct Pool;
/// #[cache_aside(set = "users", ttl = "1h", skip(db))]
/// async fn get_user(db: &Pool, id: u64) -> Result<User, String> {
///     # let _ = db;
///     Ok(User { id })
/// }
///
/// # async fn run(db: Pool) {
/// let from_source = get_user_uncached(&db, 7).await; // never touches the cache
/// let cached: Option<User> = get_user_peek(7).await; // never loads
/// # }
/// ```
///
/// Companions of a sync function are sync, those of an `async fn` are `async`.
///
/// # Methods, generic impls and trait impls
///
/// Methods must take `&self` (on a hit the body does not run, so it cannot change or consume
/// `self`). To cache associated functions without `self`, or methods of a trait impl *with* their
/// companions, put a bare `#[cache_aside]` on the `impl` block as well. In a trait impl the
/// companions then go to an inherent `impl` block of the same type (with the same generics) and
/// are `pub`, like the trait's methods; that needs the type to be local to the crate, and the
/// method's signature to name concrete types rather than the trait's associated types.
///
/// ```no_run
/// use cacheaside::cache_aside;
/// use serde::{de::DeserializeOwned, Serialize};
///
/// pub struct Repo<T> {
///     items: Vec<T>,
/// }
///
/// pub trait Catalog {
///     async fn title(&self, id: u64) -> Option<String>;
/// }
///
/// #[cache_aside]
/// impl<T: Clone + Serialize + DeserializeOwned> Repo<T> {
///     #[cache_aside(set = "items", ttl = 60)]
///     pub async fn item(&self, index: usize) -> Option<T> {
///         self.items.get(index).cloned()
///     }
///
///     #[cache_aside(set = "items", ttl = 60)]
///     pub fn slug(name: &str) -> String {
///         name.to_lowercase()
///     }
/// }
///
/// #[cache_aside]
/// impl<T> Catalog for Repo<T> {
///     #[cache_aside(set = "titles", ttl = 60)]
///     async fn title(&self, id: u64) -> Option<String> {
///         Some(format!("title {id} of {}", self.items.len()))
///     }
/// }
///
/// # async fn run(repo: Repo<u32>) -> Result<(), cacheaside::Error> {
/// repo.item_invalidate(0).await?;
/// Repo::<u32>::slug_invalidate("Name")?;
/// repo.title_invalidate(7).await?; // a trait method's companion
/// # Ok(()) }
/// ```
///
/// Without the attribute on the block, a method in a trait impl needs `companions = false`
/// (otherwise the compiler reports that `…_invalidate` is not a member of the trait).
///
/// # Sync functions
///
/// A plain `fn` is cached with the same semantics; its companions are plain functions too. It
/// needs no runtime in the caller and may be called from a plain thread or from inside any tokio
/// runtime, current-thread included, without panicking or deadlocking: the cache operations run
/// on the cache's own background runtime while the calling thread waits. The cost: each cache
/// operation (a read, and on a miss a write) is a hop to that runtime and back, and the calling
/// thread is blocked meanwhile, at most the operation timeout per operation. Inside an async task
/// that blocks an executor thread like any blocking I/O would; prefer `async fn` there, or call
/// from `spawn_blocking`. The body itself runs on the calling thread.
///
/// # What it expands to
///
/// For `#[cache_aside(set = "users", ttl = 3600, skip(db))] async fn get_user(db: &Pool, id: u64)
/// -> Result<User, DbError> { body }`, roughly (hidden names are hygienic and cannot clash with
/// arguments):
///
/// ```text
/// async fn get_user(db: &Pool, id: u64) -> Result<User, DbError> {
///     static SPEC: CacheSpec = CacheSpec { set: "users", ttl: Seconds(3600), … };
///     let key = default_key_at(__cacheaside_path_get_user(), &(key_part(&id),));
///     let load = __cacheaside_load_get_user(db, id); // the body, as a lazy future
///     let kind = <checked: Result<User, _> with User: Serialize + DeserializeOwned>;
///     static POLICY: CachePolicy = CachePolicy { none_ttl: None, refresh_ahead_permille: 0, … };
///     __private::get_or_load_with(&SPEC, &POLICY, key, kind, load).await
/// }
/// async fn get_user_invalidate(id: u64) -> Result<(), cacheaside::Error> { … }
/// async fn get_user_refresh(db: &Pool, id: u64) -> Result<User, DbError> { … }
/// async fn get_user_uncached(db: &Pool, id: u64) -> Result<User, DbError> { load.await }
/// async fn get_user_peek(id: u64) -> Option<User> { … }
/// #[doc(hidden)] async fn __cacheaside_load_get_user(db: &Pool, id: u64) -> Result<User, DbError> { body }
/// // The key's path (`app::repo::get_user`), from the type name of a closure in this function:
/// // the full path of the function, with its generic arguments and those of its `impl`.
/// #[doc(hidden)] fn __cacheaside_path_get_user() -> KeyPath { … }
/// ```
///
/// All caching logic lives in the runtime; the expansion only builds the key and hands over the
/// body. A sync function's body is handed over as a closure and the `_blocking` runtime functions
/// are called instead. Generated code names only `::core` and `<crate>::__private` paths.
///
/// # Supported shapes
///
/// - [x] `async fn` and plain `fn`, free or in an `impl` block, with any visibility
///   (`pub(crate)`, `pub(super)`, …), which the companions keep
/// - [x] `&self` methods in inherent, generic (`impl<T> Repo<T>`) and trait impl blocks
/// - [x] associated functions without `self` (with `#[cache_aside]` on the `impl` block)
/// - [x] generic functions (`fn get<K: Serialize>(id: K)`) and generic return types
///   (`fn get<T: DeserializeOwned + Serialize>() -> Option<T>`)
/// - [x] borrowed arguments and lifetimes: `&str`, `&[u64]`, `Cow<'_, str>`, `'a` (not with
///   `refresh_ahead` or `soft_timeout`, whose body may outlive the call)
/// - [x] patterns: `(a, b): (u32, u32)`, `Point { x, y }: Point`, `mut total: u64`, `_: T`
/// - [x] `#[cfg(…)]` on arguments (up to four), and on the function
/// - [x] doc comments and other attributes (kept on the function; `cfg` and lint attributes also
///   on the generated items)
/// - [x] `impl Trait` arguments that are `Serialize` or skipped
/// - [x] `Result`, `Option` and plain return values, also behind aliases with `returns = …`
/// - [x] arguments named `key`, `result`, `value`, `cache`, `ttl`, `self_`, or `__anything`
/// - [ ] not supported, with a compile error saying why: `&mut self` or `self` receivers,
///   `const fn`, `impl Trait` in the return type, a trait's method declaration without a body
///
/// # Failure behaviour
///
/// Calls never fail because of the cache: read or write errors and timeouts are counted (see
/// [`stats`]), logged once per cause through `tracing`, and the body's result is returned.
pub use cacheaside_macros::cache_aside;

/// Writes a function's result to the cache after it succeeded (write-through), under the key of
/// the [`cache_aside`] reader of the same record.
///
/// Put it on the function that updates the source of truth. After the body returns a success
/// (`Ok`, `Some`, or any plain value: the same return kinds as [`cache_aside`]), the cacheable
/// part of its result (or `value = <expr>`) replaces the entry of `key` in `set`, with `ttl`. The
/// next call of the reader is a hit with the new value, without waiting for the TTL and without a
/// load. A failure (`Err`, `None`) writes nothing.
///
/// ```no_run
/// use cacheaside::{cache_aside, cache_evict, cache_put};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// pub struct User {
///     id: u64,
///     name: String,
/// }
/// # #[derive(Debug)] pub struct DbError;
/// # pub struct Db;
/// # impl Db {
/// #     async fn find(&self, id: u64) -> Result<User, DbError> { Ok(User { id, name: String::new() }) }
/// #     async fn save(&self, user: &User) -> Result<(), DbError> { Ok(()) }
/// #     async fn delete(&self, id: u64) -> Result<(), DbError> { Ok(()) }
/// # }
///
/// #[cache_aside(set = "users", key = id, ttl = "1h")]
/// async fn get_user(db: &Db, id: u64) -> Result<User, DbError> {
///     db.find(id).await
/// }
///
/// // Writes the returned `User` under the reader's key: the next `get_user` is a hit.
/// #[cache_put(set = "users", key = user.id, ttl = "1h")]
/// async fn update_user(db: &Db, user: User) -> Result<User, DbError> {
///     db.save(&user).await?;
///     Ok(user)
/// }
///
/// // Returns nothing worth caching: `value` names what to write (taken before the body runs).
/// #[cache_put(set = "users", key = user.id, ttl = "1h", value = user)]
/// async fn save_user(db: &Db, user: User) -> Result<(), DbError> {
///     db.save(&user).await
/// }
///
/// #[cache_evict(set = "users", key = id)]
/// async fn delete_user(db: &Db, id: u64) -> Result<(), DbError> {
///     db.delete(id).await
/// }
/// ```
///
/// # Options
///
/// | option | meaning |
/// | --- | --- |
/// | `set = "users"` | required: the reader's set |
/// | `key = <expr>` | required: an expression over the arguments equal to the reader's `key = …` (a string, an integer or bytes; see below) |
/// | `ttl = …` | the entry's TTL, in the forms of [`cache_aside`]'s `ttl`; default: the namespace's `default-ttl`. Give it the reader's `ttl` |
/// | `value = <expr>` | write this instead of the returned value; for updates that return `()` or a report |
/// | `namespace = "cache"` | the reader's `namespace`, if it has one |
/// | `cache = "analytics"` | the reader's `cache` (a cluster of [`init_named`]), if it has one |
/// | `returns = result \| option \| value` | which returned values are a success, as for [`cache_aside`] |
/// | `crate = path` | where the facade is, as for [`cache_aside`] |
///
/// `key` is required: the default key of [`cache_aside`] includes the reader's function name, so
/// a writer cannot address it. Give the reader `key = <expr>` too; a reader without `key` can still
/// be invalidated with its `<reader>_invalidate(<args>)` companion. Both expressions go through
/// the same conversion, so `key = id` on a reader taking `id: u64` and `key = user.id` on a writer
/// with `user.id == id` address the same record. `key` and `value` are evaluated before the body,
/// with the arguments in scope (the body may consume them): write `value = user`, which borrows
/// `user` only to encode it, and `key = user.email.as_str()` rather than moving a `String` out.
///
/// # Consistency
///
/// The write replaces the entry whatever it holds, with a new generation: first with an
/// invalidation marker, then with the value, written only over that marker. A reader's load that
/// started before it cannot write its older value afterwards (the same stale-set protection as
/// `<reader>_invalidate`). Two writers of one key that race may leave the value of the one whose
/// cache write came last, which need not be the last source write: where writers race, prefer
/// [`cache_evict`]. The written value must be the reader's cached type (`User` for a reader
/// returning `Result<User, _>`); another type is not a wrong value for the reader but a miss, which
/// reloads and overwrites it. This process's local tiers (`local(…)` of
/// [`cache_aside`]) drop their copy of the key, and other processes' within about 100 ms (the
/// backplane).
///
/// # Failure behaviour
///
/// The source write already happened, so the cache never fails the call: an unreachable or slow
/// cache, a failed write or a value that does not encode (then the entry is removed instead) are
/// counted in [`stats`] and logged once per cause, and the call returns its result. A sync `fn`
/// works too: its cache writes run on the cache's background runtime while the thread waits (at
/// most two operation timeouts). Any receiver is accepted (`&mut self`, `self`), since the body
/// always runs.
pub use cacheaside_macros::cache_put;

/// Removes a cache entry when a function succeeds (or, with `all = true`, every entry of the set),
/// with the same stale-set protection as `<fn>_invalidate`.
///
/// Put it on a function that changes or deletes the source of truth. After the body returns a
/// success (`Ok`, `Some`, any plain value), the entry of `key` in `set` is replaced by an
/// invalidation marker that lives for the
/// [invalidation window](ConfigBuilder::invalidation_window): a reader's load that started before
/// cannot write its older value over it, and the next read loads the new value.
///
/// ```no_run
/// use cacheaside::cache_evict;
/// # #[derive(Debug)] pub struct DbError;
/// # pub struct Db;
/// # impl Db { fn execute(&self, _sql: &str) -> Result<usize, DbError> { Ok(1) } }
///
/// #[cache_evict(set = "users", key = id)]
/// fn rename_user(db: &Db, id: u64, name: &str) -> Result<usize, DbError> {
///     # let _ = name;
///     db.execute("UPDATE users SET name = ?2 WHERE id = ?1")
/// }
///
/// // Also before the call: a failure halfway through the update cannot leave the old value cached.
/// #[cache_evict(set = "users", key = id, before = true)]
/// fn import_user(db: &Db, id: u64) -> Result<usize, DbError> {
///     db.execute("INSERT OR REPLACE INTO users SELECT * FROM staging WHERE id = ?1")
/// }
///
/// // Empties the set: expensive, see below.
/// #[cache_evict(set = "users", all = true)]
/// fn reimport_all_users(db: &Db) -> Result<usize, DbError> {
///     db.execute("DELETE FROM users")
/// }
/// ```
///
/// # Options
///
/// | option | meaning |
/// | --- | --- |
/// | `set = "users"` | required: the reader's set |
/// | `key = <expr>` | required unless `all = true`: an expression over the arguments equal to the reader's `key = …` (see [`cache_put`]) |
/// | `before = true` | remove the entry before the call too |
/// | `all = true` | empty the whole set instead of one entry (Aerospike truncate) |
/// | `namespace = "cache"` | the reader's `namespace`, if it has one |
/// | `cache = "analytics"` | the reader's `cache` (a cluster of [`init_named`]), if it has one |
/// | `returns = result \| option \| value` | which returned values are a success, as for [`cache_aside`] |
/// | `crate = path` | where the facade is, as for [`cache_aside`] |
///
/// `before = true` removes the entry before the body runs, and again after it returns, whatever
/// it returned. Unlike Spring's `beforeInvocation`, which removes only before, the second removal
/// is needed: a read between the first removal and the source write would load and cache the old
/// value. An `Err` does not keep the entry then (the source may have changed halfway).
///
/// `all = true` sends Aerospike's `truncate` info command for the set (in the reader's namespace)
/// and empties this process's local tiers. On a real cluster truncation is expensive: every node
/// removes its part of the set in the background. The call returns once every node holding the
/// set has the truncate's cutoff in force (reads then find none of the old records), within the
/// connect timeout; records written after the request stay. Use it for bulk reloads, not per
/// request.
///
/// A truncate leaves no invalidation marker behind, unlike a single-key evict, so loads running
/// while it is sent need their own protection. Loads of this process get it: a load of the set
/// that started before the truncate (a miss, a batch load, `<fn>_refresh`, a refresh-ahead, a
/// `stale_if_error` load) skips its write-back, counted in [`stats`] as a stale write prevented
/// (one that the truncate overtook on the wire is replaced by a marker right after), and the
/// local tiers do not keep its value. Loads running in other processes are not protected: one
/// that found no entry before the truncate still creates its entry afterwards (its write is
/// create-only, and nothing is there to refuse it), holding what it read from the source before
/// the change, until its `ttl` ends. Where other processes load the set during a bulk reload,
/// keep its `ttl` short, or evict the changed keys one by one (their markers refuse such writes
/// in every process).
///
/// Failures never fail the call (the source changed already): they are counted in [`stats`] and
/// logged once per cause, and the entry then lives at most its TTL. Sync and async functions,
/// free or methods with any receiver. This process's local tiers drop their copy of the key.
pub use cacheaside_macros::cache_evict;

pub use cacheaside_runtime::{
    init, init_named, invalidate, invalidate_blocking, invalidate_in, invalidate_in_blocking,
    named, stats, Codec, Config, ConfigBuilder, Error, ErrorKind, IntoUserKey, NamedCache,
    SetPolicy, SetStats, Stats, Ttl, UserKey,
};

/// Metrics through the `metrics` facade crate: what is exported, with which labels.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use cacheaside_runtime::metrics;

/// A guide: quickstart, every option, freshness, the failure model, keys and records,
/// configuration, and testing with the in-process test server.
pub mod guide;

/// Write-behind: update the cache at once, write the source later in batches, losing nothing.
pub use cacheaside_runtime::write_behind;

// The README's code blocks are compiled and run as doctests too, so that the front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use cacheaside_runtime::__private::*;
    pub use cacheaside_runtime::Error;
}
