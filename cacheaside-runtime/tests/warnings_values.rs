//! A cached value that no longer decodes (a deploy changed a field's type) is reported with what
//! was wrong and where, never with the value or the call's arguments. Runs against the testkit or
//! a real server.

mod common;

use cacheaside_runtime::__private::{default_key, explicit_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use common::{logs, Backend};
use serde::{Deserialize, Serialize};

const SECRET_VALUE: &str = "SECRETCACHEDVALUE-42";
const SECRET_ARGUMENT: &str = "secret-argument-4711";

/// What the old deploy cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserV1 {
    id: u64,
    email: String,
}

/// What the new deploy reads: `email` changed type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserV2 {
    id: u64,
    email: u64,
}

static OLD: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_warnings_values",
    ttl: Ttl::Seconds(60),
    function: "get_user",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

/// The same function after the deploy: same set, same key.
static NEW: CacheSpec = CacheSpec {
    function: "get_user",
    ..OLD
};

/// A function that cached a bare string (a token)...
static TOKEN: CacheSpec = CacheSpec {
    set: "rt_warnings_values_token",
    function: "session",
    ..OLD
};

/// ...and after the deploy returns a struct.
static SESSION: CacheSpec = CacheSpec {
    function: "session",
    ..TOKEN
};

/// Functions whose keys cannot be used: an argument whose `Serialize` fails with a message that
/// quotes it, and an explicit key in the default keys' form.
static REFUSED_ARGUMENT: CacheSpec = CacheSpec {
    set: "rt_warnings_values_key",
    function: "lookup",
    ..OLD
};
static REFUSED_EXPLICIT: CacheSpec = CacheSpec {
    set: "rt_warnings_values_explicit",
    function: "lookup",
    ..OLD
};

/// An argument that refuses to be serialized, quoting itself in the error.
struct Quoting(String);

impl Serialize for Quoting {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(format!("cannot use {}", self.0)))
    }
}

#[tokio::test]
async fn an_undecodable_value_is_described_without_its_data() {
    logs::capture();
    let backend = Backend::start().await;
    cacheaside_runtime::init(backend.config().build().unwrap())
        .await
        .unwrap();
    let argument = format!("{SECRET_ARGUMENT}-{}", common::run_id());
    let old = UserV1 {
        id: 1,
        email: SECRET_VALUE.to_owned(),
    };
    let key = || default_key(&OLD, "app", &(&argument,));
    let cached = get_or_load(&OLD, key(), PlainKind, async { old.clone() }).await;
    assert_eq!(cached, old);

    let new = UserV2 { id: 1, email: 2 };
    let read = get_or_load(&NEW, key(), PlainKind, async { new.clone() }).await;
    assert_eq!(read, new, "the old value is a miss, loaded anew");

    // serde's own message for this one quotes the value: `invalid type: string "…"`.
    let key = || default_key(&TOKEN, "app", &(&argument,));
    let token = get_or_load(&TOKEN, key(), PlainKind, async { SECRET_VALUE.to_owned() }).await;
    assert_eq!(token, SECRET_VALUE);
    get_or_load(&SESSION, key(), PlainKind, async { new.clone() }).await;

    // Keys that cannot be used are reported without the arguments or the key.
    let quoting = Quoting(argument.clone());
    let key = default_key(&REFUSED_ARGUMENT, "app", &(&quoting,));
    assert_eq!(
        get_or_load(&REFUSED_ARGUMENT, key, PlainKind, async { 1 }).await,
        1
    );
    let key = explicit_key(format!("::{argument}"));
    assert_eq!(
        get_or_load(&REFUSED_EXPLICIT, key, PlainKind, async { 2 }).await,
        2
    );
    for scope in ["rt_warnings_values_key", "rt_warnings_values_explicit"] {
        let warnings = logs::matching(&["level=WARN", scope]);
        assert_eq!(warnings.len(), 1, "a key warning for {scope}: {warnings:?}");
    }

    for warning in logs::matching(&[]) {
        assert!(
            !warning.contains(SECRET_VALUE),
            "a value was logged: {warning}"
        );
        assert!(
            !warning.contains(SECRET_ARGUMENT),
            "an argument was logged: {warning}"
        );
    }

    // What was wrong, and where.
    let warnings = logs::matching(&[
        "level=WARN",
        "scope=\"rt_warnings_values\"",
        "does not decode",
    ]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert!(
        warning.contains("at .email: invalid type: found a string, expected u64"),
        "the warning says what and where: {warning}"
    );
    let warnings = logs::matching(&["level=WARN", "rt_warnings_values_token", "does not decode"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("invalid type: found a string, expected struct UserV2"),
        "{}",
        warnings[0]
    );
}
