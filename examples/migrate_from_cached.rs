//! Migrating a function cached with the `cached` crate's `#[io_cached]` (Redis) to `#[cache_aside]`.
//!
//! Run with `cargo run --example migrate_from_cached`. It always starts the in-process Aerospike
//! test server from `cacheaside-testkit`, because it stops that server halfway to show what a cache
//! outage does.
//!
//! Before, with `cached` (features `redis_store`, `async`, `redis_tokio`); not compiled here:
//!
//! ```text
//! use cached::proc_macro::io_cached;
//!
//! #[derive(Debug, Clone, thiserror::Error)]
//! enum ProductError {
//!     #[error("database: {0}")]
//!     Db(String),
//!     // Needed only so that cache errors can be returned: `map_error` is required.
//!     #[error("redis: {0}")]
//!     Redis(String),
//! }
//!
//! #[io_cached(
//!     redis = true,
//!     time = 3600,
//!     map_error = r##"|e| ProductError::Redis(format!("{:?}", e))"##,
//!     key = "String",
//!     convert = r#"{ format!("{}:{}", region, sku) }"#
//! )]
//! async fn product(region: String, sku: u64) -> Result<Product, ProductError> {
//!     load_product(&region, sku)
//! }
//!
//! // invalidation: the generated static, the key built by hand again
//! use cached::IOCachedAsync;
//! PRODUCT.cache_remove(&format!("{}:{}", region, sku)).await?;
//! ```
//!
//! After: the code below, which runs.

use std::sync::atomic::{AtomicU64, Ordering};

use cacheaside::cache_aside;
use cacheaside_testkit::TestServer;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Product {
    sku: u64,
    name: String,
    price_cents: u64,
}

/// The error type no longer needs a variant for the cache: its errors never reach the caller.
#[derive(Debug)]
enum ProductError {
    #[allow(dead_code)] // the source below never fails; a real one would
    Db(String),
}

static SOURCE_READS: AtomicU64 = AtomicU64::new(0);

/// The source of truth (a database in a real service).
fn load_product(region: &str, sku: u64) -> Result<Product, ProductError> {
    SOURCE_READS.fetch_add(1, Ordering::Relaxed);
    let price_cents = if region == "eu" { 1_190 } else { 1_000 };
    Ok(Product {
        sku,
        name: format!("widget {sku}"),
        price_cents,
    })
}

// The same record key as `convert` made ("eu:42"), now Rust code checked where it is written.
#[cache_aside(set = "products", ttl = "1h", key = format!("{region}:{sku}"))]
async fn product(region: String, sku: u64) -> Result<Product, ProductError> {
    load_product(&region, sku)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start().await?;
    println!("Started the in-process Aerospike test server.\n");
    let config = cacheaside::Config::builder()
        .hosts(server.hosts())
        .build()?;
    cacheaside::init(config).await?;

    let show = |call: &str, result: &Result<Product, ProductError>| {
        let reads = SOURCE_READS.load(Ordering::Relaxed);
        println!("{call:<22} -> {result:?}  (source reads: {reads})");
    };

    show("product(\"eu\", 42)", &product("eu".into(), 42).await);
    show("product(\"eu\", 42)", &product("eu".into(), 42).await);
    // Invalidation names the arguments the key uses; no static, no key built by hand.
    product_invalidate("eu".into(), 42).await?;
    println!("product_invalidate(\"eu\", 42)");
    show("product(\"eu\", 42)", &product("eu".into(), 42).await);

    server.stop().await;
    println!("\nThe cache server is stopped (connections refused):");
    let during_outage = product("us".into(), 43).await;
    show("product(\"us\", 43)", &during_outage);
    let stats = cacheaside::stats().set("products");
    println!(
        "stats(\"products\"): {} hits, {} misses, {} writes, {} cache errors (counted, not returned)",
        stats.hits, stats.misses, stats.writes, stats.cache_errors
    );
    if during_outage.is_err() {
        return Err("the call failed during the outage".into());
    }

    println!("\nWhat changed:");
    println!("- key: convert = r#\"{{ format!(..) }}\"# (code in a string) -> key = format!(\"{{region}}:{{sku}}\")");
    println!("- time = 3600 -> ttl = \"1h\" (Aerospike's record TTL); redis = true -> the configured cluster");
    println!("- map_error and ProductError::Redis: gone; cache errors are counted in stats(), never returned");
    println!("- PRODUCT.cache_remove(&key) -> product_invalidate(region, sku)");
    println!("- outage: #[io_cached] returned Err(ProductError::Redis(..)) (fails closed);");
    println!("  #[cache_aside] returns the source's value (fails open), as the last call shows");
    Ok(())
}
