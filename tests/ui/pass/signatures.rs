//! Argument patterns, `mut`, ignored arguments, generics with bounds, `impl Trait` arguments and
//! the function's own attributes.
use std::fmt::Display;

use cacheaside::cache_aside;
use serde::Serialize;

pub struct Pool;

#[cache_aside(set = "s", ttl = 60, skip(pool))]
async fn patterns((a, b): (u32, u32), mut count: u32, _: &Pool, pool: &Pool) -> u32 {
    let _ = pool;
    count += a + b;
    count
}

#[cache_aside(set = "s", ttl = 60, skip(label))]
async fn generic<K, L>(key: K, label: L) -> String
where
    K: Serialize + Display,
    L: Display,
{
    format!("{label}{key}")
}

#[cache_aside(set = "s", ttl = 60)]
async fn impl_trait_arg(name: impl AsRef<str> + Serialize) -> usize {
    name.as_ref().len()
}

#[cache_aside(set = "s", ttl = 60)]
#[allow(clippy::needless_return, unused_variables)]
#[must_use]
async fn with_attributes(#[allow(unused_variables)] id: u32) -> u32 {
    let unused = 1;
    return id;
}

// `cfg` after the attribute reaches the macro: every generated item must carry it.
#[cache_aside(set = "s", ttl = 60)]
#[cfg(any())]
async fn compiled_out(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = 60)]
#[cfg(all())]
async fn compiled_in(id: u32) -> u32 {
    id
}

#[cache_aside(set = "s", ttl = 60, skip(pool))]
async fn no_key_arguments(pool: &Pool) -> u32 {
    let _ = pool;
    1
}

#[cache_aside(set = "s", ttl = 60)]
async fn returns_unit(id: u32) {
    let _ = id;
}

#[cache_aside(set = "s", ttl = 60)]
async fn r#type(id: u32) -> u32 {
    id
}

fn main() {
    drop(patterns((1, 2), 3, &Pool, &Pool));
    drop(patterns_invalidate((1, 2), 3));
    drop(generic(1u8, "x"));
    drop(generic_invalidate(1u8));
    drop(impl_trait_arg("name"));
    drop(impl_trait_arg_invalidate("name"));
    drop(with_attributes(1));
    drop(no_key_arguments(&Pool));
    drop(no_key_arguments_invalidate());
    drop(returns_unit(1));
    drop(r#type(1));
    drop(compiled_in(1));
    drop(compiled_in_invalidate(1));
    drop(type_invalidate(1));
}
