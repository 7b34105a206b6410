//! Every argument shape: generics, lifetimes, borrowed slices, `Cow`, destructuring patterns,
//! `mut`, `#[cfg]` on arguments, `impl Trait`, visibility and attributes kept on companions.
use std::borrow::Cow;
use std::fmt::Display;

use cacheaside::cache_aside;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Point {
    x: i32,
    y: i32,
}

#[cache_aside(set = "shapes", ttl = 60)]
async fn generic_key<K: Serialize + Display>(id: K) -> String {
    id.to_string()
}

#[cache_aside(set = "shapes", ttl = 60)]
fn generic_return<T: Serialize + DeserializeOwned + Default>(name: &str) -> Option<T> {
    let _ = name;
    Some(T::default())
}

#[cache_aside(set = "shapes", ttl = 60)]
async fn borrowed<'a>(name: &'a str, ids: &[u64], label: Cow<'_, str>) -> usize {
    name.len() + ids.len() + label.len()
}

#[cache_aside(set = "shapes", ttl = 60)]
fn destructured((a, b): (u32, u32), Point { x, y }: Point, mut total: i64) -> i64 {
    total += i64::from(a + b) + i64::from(x + y);
    total
}

#[cache_aside(set = "shapes", ttl = 60)]
async fn gated(id: u32, #[cfg(any())] never: u32, #[cfg(all())] always: u32) -> u32 {
    id + always
}

#[cache_aside(set = "shapes", ttl = 60, skip(log))]
async fn impl_trait(name: impl AsRef<str> + Serialize, log: impl Fn(&str)) -> usize {
    log(name.as_ref());
    name.as_ref().len()
}

/// Documented; the attributes below stay on the function.
#[cache_aside(set = "shapes", ttl = 60)]
#[inline]
#[must_use]
pub(crate) fn documented(id: u32) -> u32 {
    id
}

mod nested {
    use cacheaside::cache_aside;

    #[cache_aside(set = "shapes", ttl = 60)]
    pub(super) async fn visible_to_parent(id: u32) -> u32 {
        id
    }
}

fn main() {
    drop(generic_key(1u8));
    drop(generic_key_invalidate("a"));
    let _: Option<u32> = generic_return("a");
    // `T` is part of the key: the entry of `generic_return::<u32>` is the one removed.
    let _ = generic_return_invalidate::<u32>("a");
    let _: Option<String> = generic_return_refresh("a");
    let owned = String::from("x");
    drop(borrowed(&owned, &[1, 2], Cow::Borrowed("l")));
    drop(borrowed_invalidate(
        &owned,
        &[1, 2],
        Cow::Owned("l".to_owned()),
    ));
    let _: i64 = destructured((1, 2), Point { x: 1, y: 2 }, 3);
    let _ = destructured_invalidate((1, 2), Point { x: 1, y: 2 }, 3);
    drop(gated(1, 2));
    drop(gated_invalidate(1, 2));
    drop(impl_trait("a", |_| ()));
    drop(impl_trait_invalidate("a"));
    let _ = documented(1);
    let _ = documented_invalidate(1);
    drop(nested::visible_to_parent(1));
    drop(nested::visible_to_parent_invalidate(1));
    drop(nested::visible_to_parent_refresh(1));
}
