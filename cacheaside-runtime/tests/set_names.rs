//! Set and namespace names that Aerospike refuses (empty, over 63 bytes, with a NUL, `:` or `;`)
//! are a clear error where they enter: `invalidate` and its variants, `set_policy`, a
//! write-behind. Valid names still work against the server (the testkit, or `AEROSPIKE_HOSTS`).

mod common;

use std::convert::Infallible;

use cacheaside_runtime::write_behind::WriteBehind;
use cacheaside_runtime::{
    invalidate, invalidate_blocking, invalidate_in, named, Config, Error, ErrorKind, SetPolicy,
};

/// Names every check must refuse, with what the error must say.
const REFUSED: [(&str, &str); 5] = [
    ("users:v2", "`:`"),
    ("users;v2", "`;`"),
    ("us\0ers", "NUL"),
    ("", "not empty"),
    (
        "a_set_name_that_is_much_longer_than_the_sixty_three_bytes_aerospike_allows",
        "at most 63 bytes",
    ),
];

fn assert_refused(result: Result<(), Error>, kind: ErrorKind, expected: &str, name: &str) {
    let error = result.expect_err(name);
    assert_eq!(error.kind(), kind, "{name:?}: {error}");
    assert!(
        error.to_string().contains(expected),
        "{name:?}: {error} should say {expected}"
    );
}

/// `'static` names made at run time, as the functions take them.
fn leaked(name: &str) -> &'static str {
    Box::leak(name.to_owned().into_boxed_str())
}

#[tokio::test]
async fn invalidate_refuses_names_aerospike_refuses() {
    let backend = common::Backend::start().await;
    cacheaside_runtime::init(backend.config().build().unwrap())
        .await
        .unwrap();
    for (name, expected) in REFUSED {
        let name = leaked(name);
        assert_refused(invalidate(name, 1).await, ErrorKind::Key, expected, name);
        assert_refused(
            invalidate_in("test", name, 1).await,
            ErrorKind::Key,
            expected,
            name,
        );
        assert_refused(
            named("analytics").invalidate(name, 1).await,
            ErrorKind::Key,
            expected,
            name,
        );
        let blocking = tokio::task::spawn_blocking(move || invalidate_blocking(name, 1));
        assert_refused(blocking.await.unwrap(), ErrorKind::Key, expected, name);
    }
    assert_refused(
        invalidate_in("te;st", "rt_set_names", 1).await,
        ErrorKind::Key,
        "namespace name cannot contain `;`",
        "te;st",
    );
    // Names of the same shapes that Aerospike takes.
    invalidate("rt_set-names.v2", 1).await.expect("a valid set");
    let longest = leaked(&"s".repeat(63));
    invalidate(longest, 1).await.expect("63 bytes are allowed");
}

#[test]
fn set_policy_refuses_names_aerospike_refuses() {
    for (name, expected) in REFUSED {
        let built = Config::builder()
            .set_policy(name, SetPolicy::new())
            .build()
            .map(drop);
        assert_refused(built, ErrorKind::Config, expected, name);
    }
    Config::builder()
        .set_policy("user-sessions.v2", SetPolicy::new())
        .build()
        .expect("a valid set");
}

async fn flush(_: Vec<(u64, String)>) -> Result<(), Infallible> {
    Ok(())
}

#[tokio::test]
async fn a_write_behind_refuses_names_aerospike_refuses() {
    for (name, expected) in REFUSED {
        let name = leaked(name);
        let started = WriteBehind::<u64, String>::builder(name)
            .start(flush)
            .map(drop);
        assert_refused(started, ErrorKind::Config, expected, name);
        let started = WriteBehind::<u64, String>::builder("rt_set_names")
            .journal_set(name)
            .start_journaled("rt_set_names_journal", flush)
            .await
            .map(drop);
        assert_refused(started, ErrorKind::Config, expected, name);
    }
    let started = WriteBehind::<u64, String>::builder("rt_set_names")
        .namespace("cache;eu")
        .start(flush)
        .map(drop);
    assert_refused(started, ErrorKind::Config, "`;`", "cache;eu");
    // The journal's set is only used, and checked, when there is a journal.
    let started = WriteBehind::<u64, String>::builder("rt_set_names")
        .journal_set("unused:journal")
        .start(flush);
    started.expect("the journal set of a write-behind without a journal is not used");
}
