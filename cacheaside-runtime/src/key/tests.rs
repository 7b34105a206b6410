use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde::Serialize;

use super::*;
use crate::key::IntoUserKey;

fn key_of<A: Serialize + ?Sized>(args: &A) -> String {
    match default_key("app::repo", "get_user", args).unwrap() {
        UserKey::Str(key) => key,
        other => panic!("default keys are strings, got {other:?}"),
    }
}

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Serialize)]
struct UserId(u64);

#[derive(Serialize)]
struct Marker;

#[derive(Serialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(u8, u8),
    Named { name: String },
}

#[test]
fn documented_example() {
    assert_eq!(
        key_of(&(&42u64, &"alice")),
        r#"::app::repo::get_user(42,"alice")"#
    );
}

#[test]
fn no_arguments_and_single_arguments() {
    assert_eq!(key_of(&()), "::app::repo::get_user()");
    assert_eq!(key_of(&(&7i8,)), "::app::repo::get_user(7)");
    // A value that is not a tuple is still wrapped in parentheses.
    assert_eq!(key_of(&"x"), r#"::app::repo::get_user("x")"#);
    assert_eq!(
        key_of(&Point { x: 1, y: 2 }),
        "::app::repo::get_user(Point{x:1,y:2})"
    );
}

#[test]
fn every_form_of_the_table() {
    let cases: Vec<(String, &str)> = vec![
        (
            key_of(&(-7i64, u128::MAX)),
            "(-7,340282366920938463463374607431768211455)",
        ),
        (
            key_of(&(1.5f64, 1e20f64, -0.0f64, f64::NAN, f64::NEG_INFINITY)),
            "(1.5,1e20,-0.0,NaN(0x7ff8000000000000),-inf)",
        ),
        (key_of(&(1.0f32, true)), "(1.0,true)"),
        (
            key_of(&(-f64::NAN, f32::NAN, -f32::NAN)),
            "(NaN(0xfff8000000000000),NaN(0x7fc00000),NaN(0xffc00000))",
        ),
        (key_of(&("a\"b\\c", 'x', '\'')), r#"("a\"b\\c",'x','\'')"#),
        (key_of(&(serde_bytes_like(&[0, 255]),)), r#"(b"00ff")"#),
        (key_of(&(None::<u8>, Some(3u8), ())), "(None,Some(3),())"),
        (key_of(&(vec![1, 2], (1, "x"))), r#"([1,2],(1,"x"))"#),
        (key_of(&(UserId(7), Marker)), "(UserId(7),Marker)"),
        (
            key_of(&(
                Shape::Empty,
                Shape::Circle(1.0),
                Shape::Rect(1, 2),
                Shape::Named { name: "n".into() },
            )),
            r#"(Empty,Circle(1.0),Rect(1,2),Named{name:"n"})"#,
        ),
        (
            key_of(&(BTreeMap::from([("b", 2), ("a", 1)]),)),
            r#"({"a":1,"b":2})"#,
        ),
    ];
    for (key, args) in cases {
        assert_eq!(key, format!("::app::repo::get_user{args}"));
    }
}

/// Bytes written through `serialize_bytes`, as `serde_bytes` would.
fn serde_bytes_like(bytes: &[u8]) -> impl Serialize + '_ {
    struct Bytes<'a>(&'a [u8]);
    impl Serialize for Bytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    Bytes(bytes)
}

#[test]
fn hash_maps_give_the_same_key_in_any_order() {
    let mut a = HashMap::new();
    let mut b = HashMap::new();
    for i in 0..50 {
        a.insert(format!("k{i}"), i);
        b.insert(format!("k{}", 49 - i), 49 - i);
    }
    assert_eq!(key_of(&(&a,)), key_of(&(&b,)));
}

#[test]
fn failing_arguments_give_a_key_error() {
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }
    let error = default_key("m", "f", &(&Refuses,)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Key);
    // The impl's own message may quote the argument: it is not repeated.
    assert!(!error.to_string().contains("not today"), "{error}");
    assert!(
        error.to_string().contains("Serialize implementation"),
        "{error}"
    );
}

#[test]
fn explicit_keys() {
    assert_eq!("a".into_user_key().unwrap(), UserKey::Str("a".into()));
    assert_eq!(
        String::from("a").into_user_key().unwrap(),
        UserKey::Str("a".into())
    );
    assert_eq!(
        (&String::from("a")).into_user_key().unwrap(),
        UserKey::Str("a".into())
    );
    assert_eq!(7u8.into_user_key().unwrap(), UserKey::Int(7));
    assert_eq!((-7i128).into_user_key().unwrap(), UserKey::Int(-7));
    assert_eq!((&9usize).into_user_key().unwrap(), UserKey::Int(9));
    assert_eq!(i64::MAX.into_user_key().unwrap(), UserKey::Int(i64::MAX));
    assert_eq!(u64::MAX.into_user_key().unwrap_err().kind(), ErrorKind::Key);
    assert_eq!(
        (i128::from(i64::MIN) - 1)
            .into_user_key()
            .unwrap_err()
            .kind(),
        ErrorKind::Key
    );
    assert_eq!(
        vec![1u8, 2].into_user_key().unwrap(),
        UserKey::Bytes(vec![1, 2])
    );
    assert_eq!(
        (&vec![1u8]).into_user_key().unwrap(),
        UserKey::Bytes(vec![1])
    );
    assert_eq!(
        (&[1u8, 2][..]).into_user_key().unwrap(),
        UserKey::Bytes(vec![1, 2])
    );
    assert_eq!(
        [3u8; 2].into_user_key().unwrap(),
        UserKey::Bytes(vec![3, 3])
    );
    assert_eq!(
        (&[3u8; 2]).into_user_key().unwrap(),
        UserKey::Bytes(vec![3, 3])
    );
}

#[test]
fn explicit_string_keys_that_start_like_default_keys_are_refused() {
    for refused in ["::", "::app::repo::get_user(42)", ":::x"] {
        let error = refused.into_user_key().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Key, "{refused}");
        assert!(error.to_string().contains("starts with `::`"), "{error}");
    }
    for kept in [":x", "a::b", "", " ::x", "user:42"] {
        assert_eq!(kept.into_user_key().unwrap(), UserKey::Str(kept.to_owned()));
    }
    // A `UserKey` addresses any record, e.g. for `cacheaside::invalidate`; `key = …` refuses it.
    let default = UserKey::Str("::app::get(1)".to_owned());
    assert_eq!(default.clone().into_user_key().unwrap(), default);
    assert!(explicit(default).is_err());
    assert_eq!(explicit(7u8).unwrap(), UserKey::Int(7));
}

#[test]
fn paths_come_from_the_type_name_of_a_closure() {
    let cases = [
        (
            "app::repo::__cacheaside_path_get_user::{{closure}}",
            "app::repo::get_user",
        ),
        // In a `static`'s initializer, a closure inside a closure.
        (
            "app::repo::__cacheaside_path_get_user::{{closure}}::{{closure}}",
            "app::repo::get_user",
        ),
        (
            "app::jobs::run::__cacheaside_path_helper<u8, 3>::{{closure}}",
            "app::jobs::run::helper<u8, 3>",
        ),
        (
            "app::Repo<alloc::string::String>::__cacheaside_path_get::{{closure}}",
            "app::Repo<alloc::string::String>::get",
        ),
        // Without companions: the method's own closure, in an `async fn`'s body.
        (
            "<app::Repo as app::Store>::get::{{closure}}::{{closure}}",
            "<app::Repo as app::Store>::get",
        ),
        // A type argument that mentions another function's path function.
        (
            "app::__cacheaside_path_f<app::__cacheaside_path_g::{{closure}}>::{{closure}}",
            "app::f<app::__cacheaside_path_g::{{closure}}>",
        ),
    ];
    for (type_name, path) in cases {
        assert_eq!(
            KeyPath::of_closure(type_name).to_string(),
            path,
            "{type_name}"
        );
    }
    let path = KeyPath::of_closure("app::__cacheaside_path_get::{{closure}}");
    assert_eq!(
        default_key_at(path, &(&1u8,)).unwrap(),
        UserKey::Str("::app::get(1)".to_owned())
    );
}

#[test]
fn a_path_cell_reads_the_type_name_once() {
    static CELL: KeyPathCell = KeyPathCell::new();
    let first = CELL.get(|| "app::__cacheaside_path_get::{{closure}}");
    let second = CELL.get(|| unreachable!("kept from the first call"));
    assert_eq!(first, second);
    assert_eq!(first.to_string(), "app::get");
}

#[test]
fn display_of_keys() {
    assert_eq!(UserKey::Int(-3).to_string(), "-3");
    assert_eq!(UserKey::Bytes(vec![0, 171]).to_string(), "00ab");
}

/// Strings made mostly of the characters the format uses as separators.
fn tricky_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec!['(', ')', ',', '"', '\\', ':', '\'', '[', ']', '{', '}', ' ']),
            1 => any::<char>(),
        ],
        0..8,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

#[derive(Debug, Clone, Serialize)]
enum Arg {
    Unit,
    Int(i64),
    Text(String),
    Pair(String, i32),
    Record { a: Option<String>, b: Vec<u16> },
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        Just(Arg::Unit),
        any::<i64>().prop_map(Arg::Int),
        tricky_string().prop_map(Arg::Text),
        (tricky_string(), any::<i32>()).prop_map(|(s, i)| Arg::Pair(s, i)),
        (
            prop::option::of(tricky_string()),
            prop::collection::vec(any::<u16>(), 0..3)
        )
            .prop_map(|(a, b)| Arg::Record { a, b }),
    ]
}

/// Float equality for keys: bitwise (NaNs of other signs or payloads, `-0.0` and `0.0` differ).
fn same_float(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

/// Floats whose forms are easy to confuse: NaNs of both signs with small payloads, quiet or
/// signalling, both zeros and both infinities.
fn edge_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        (any::<bool>(), any::<bool>(), 0u64..3).prop_map(|(negative, quiet, payload)| {
            let quiet_bit = if quiet { 1 << 51 } else { 0 };
            // A signalling NaN needs a payload, or it would be an infinity.
            let payload = if quiet { payload } else { payload + 1 };
            f64::from_bits(
                (u64::from(negative) << 63) | 0x7ff0_0000_0000_0000 | quiet_bit | payload,
            )
        }),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
    ]
}

type Tuple = (
    String,
    Option<String>,
    Vec<String>,
    f64,
    Arg,
    BTreeMap<String, i8>,
    char,
    u8,
);

fn tuple() -> impl Strategy<Value = Tuple> {
    (
        tricky_string(),
        prop::option::of(tricky_string()),
        prop::collection::vec(tricky_string(), 0..4),
        prop_oneof![any::<f64>(), edge_float()],
        arg(),
        prop::collection::btree_map(tricky_string(), any::<i8>(), 0..3),
        prop::sample::select(vec!['(', ')', ',', '"', '\\', ':', '\'', 'a']),
        0u8..3,
    )
}

fn same_tuple(a: &Tuple, b: &Tuple) -> bool {
    a.0 == b.0
        && a.1 == b.1
        && a.2 == b.2
        && same_float(a.3, b.3)
        && format!("{:?}", a.4) == format!("{:?}", b.4)
        && a.5 == b.5
        && a.6 == b.6
        && a.7 == b.7
}

type SmallTuple = (String, Vec<String>, Option<String>);

fn separators(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['"', '\\', ',', '(', ')', ':']),
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn small_tuple() -> impl Strategy<Value = SmallTuple> {
    (
        separators(3),
        prop::collection::vec(separators(2), 0..3),
        prop::option::of(separators(2)),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Different argument tuples of one function never share a key.
    #[test]
    fn different_tuples_give_different_keys(a in tuple(), b in tuple()) {
        let same_key = key_of(&a) == key_of(&b);
        prop_assert_eq!(same_key, same_tuple(&a, &b), "{:?} vs {:?}", a, b);
    }

    /// Mutating one string component (the likeliest collision) always changes the key.
    #[test]
    fn neighbouring_strings_differ(a in tricky_string(), b in tricky_string(), c in tricky_string()) {
        prop_assume!(a != b);
        prop_assert_ne!(key_of(&(&a, &c)), key_of(&(&b, &c)));
        prop_assert_ne!(key_of(&(&c, &a)), key_of(&(&c, &b)));
        prop_assert_ne!(key_of(&(vec![&a, &c],)), key_of(&(vec![&b, &c],)));
        // Moving the boundary between two strings changes the key too.
        let mut shorter = a.clone();
        if let Some(last) = shorter.pop() {
            let longer = format!("{last}{c}");
            prop_assert_ne!(key_of(&(&a, &c)), key_of(&(&shorter, &longer)));
        }
    }

    /// Over a tiny alphabet of separators equal tuples are frequent and near misses more so:
    /// keys are equal exactly when the tuples are.
    #[test]
    fn separator_tuples_collide_only_when_equal(a in small_tuple(), b in small_tuple()) {
        prop_assert_eq!(key_of(&a) == key_of(&b), a == b, "{:?} vs {:?}", a, b);
    }

    /// Two floats share a key exactly when they have the same bits, as `f64` and as `f32`.
    #[test]
    fn floats_share_a_key_only_with_their_own_bits(a in edge_float(), b in edge_float()) {
        prop_assert_eq!(key_of(&(a,)) == key_of(&(b,)), a.to_bits() == b.to_bits());
        let (a32, b32) = (a as f32, b as f32);
        prop_assert_eq!(key_of(&(a32,)) == key_of(&(b32,)), a32.to_bits() == b32.to_bits());
    }

    /// No explicit string key has the form of a default key, and every default key has it.
    #[test]
    fn explicit_string_keys_never_take_the_form_of_default_keys(
        text in "(:{0,3})[a-z:()]{0,12}",
        args in small_tuple(),
    ) {
        let default = key_of(&args);
        prop_assert!(default.starts_with(DEFAULT_KEY_MARKER));
        for explicit in [
            text.as_str().into_user_key(),
            text.clone().into_user_key(),
            (&text).into_user_key(),
            explicit(UserKey::Str(text.clone())),
        ] {
            match explicit {
                Ok(UserKey::Str(key)) => {
                    prop_assert!(!key.starts_with(DEFAULT_KEY_MARKER), "{}", key);
                    prop_assert_ne!(key, default.clone());
                }
                Ok(other) => prop_assert!(false, "a string key became {:?}", other),
                Err(error) => {
                    prop_assert!(text.starts_with(DEFAULT_KEY_MARKER));
                    prop_assert_eq!(error.kind(), ErrorKind::Key);
                }
            }
        }
        // The very key of a default-key call, given as an explicit key, is refused.
        prop_assert!(default.as_str().into_user_key().is_err());
        prop_assert!(explicit(UserKey::Str(default)).is_err());
    }

    /// A key is a pure function of the arguments.
    #[test]
    fn keys_are_stable(a in tuple()) {
        prop_assert_eq!(key_of(&a), key_of(&a.clone()));
    }
}

/// What `key = <expr>` gives (as `__private::explicit_key`).
fn explicit<K: IntoUserKey>(key: K) -> KeyResult {
    key.into_user_key().and_then(check_explicit)
}

#[test]
fn a_record_key_gives_back_its_user_key() {
    for user_key in [
        UserKey::Str("user:7".to_owned()),
        UserKey::Int(-7),
        UserKey::Bytes(vec![0, 7]),
    ] {
        let record = aerospike::Key::new("test", "users", user_key.to_value()).expect("a key");
        assert_eq!(UserKey::of_record(&record), Some(user_key));
    }
}
