//! The read path of a cache hit, from bin `data` as the client hands it over (a blob, or any
//! other value another writer left in the bin: a string, a list, a map, a number) through the
//! envelope to the codec, decoded as several types: no panic, no stack overflow, no unbounded
//! allocation (libFuzzer's `-rss_limit_mb` and `-malloc_limit_mb` catch it). Only a blob can
//! decode, exactly as its bytes decode on their own; whatever decodes is a value whose own
//! encoding decodes back to the same encoding.
#![no_main]

use std::collections::{BTreeMap, HashMap};

use aerospike::Value;
use cacheaside_runtime::__private::{decode_entry, decode_stored, encode_entry, CacheValue};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Status {
    Active,
    Suspended { reason: String },
    Score(i64),
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: BTreeMap<String, i32>,
    ratio: Option<f32>,
    status: Status,
    blob: Vec<u8>,
}

/// A recursive type: decoding it recurses once per level of the data.
#[derive(Debug, Serialize, Deserialize)]
struct Tree {
    label: Option<String>,
    children: Vec<Tree>,
}

/// Decodes `stored` as a `T` the way a hit does; a value that decodes must come from a blob,
/// decode from the blob's bytes alone, and survive its own round trip.
fn check<T: CacheValue>(stored: &Value) {
    let decoded = decode_stored::<T>(stored.clone());
    let Value::Blob(bytes) = stored else {
        assert!(decoded.is_none(), "only a blob decodes");
        return;
    };
    let alone = decode_entry::<T>(bytes);
    // Compared as encodings: a float may be NaN, which is not equal to itself.
    assert_eq!(
        decoded.as_ref().and_then(encode_entry),
        alone.as_ref().and_then(encode_entry),
        "the blob decodes as its bytes do"
    );
    if let Some(value) = decoded {
        let encoded = encode_entry(&value).expect("a decoded value encodes");
        let again = decode_entry::<T>(&encoded).expect("an own encoding decodes");
        assert_eq!(encode_entry(&again), Some(encoded));
    }
}

/// The content of bin `data`: the first byte picks the kind of value, the rest is its content.
/// Most inputs become a blob, which is what the cache itself writes.
fn stored(data: &[u8]) -> Value {
    let Some((&kind, rest)) = data.split_first() else {
        return Value::Nil;
    };
    let number = || {
        let mut bytes = [0u8; 8];
        let len = rest.len().min(8);
        bytes[..len].copy_from_slice(&rest[..len]);
        bytes
    };
    match kind % 10 {
        0..=4 => Value::Blob(rest.to_vec()),
        5 => Value::String(String::from_utf8_lossy(rest).into_owned()),
        6 => Value::List(rest.chunks(4).map(|chunk| Value::Blob(chunk.to_vec())).collect()),
        7 => Value::HashMap(
            rest.chunks(4)
                .map(|chunk| (Value::Int(i64::from(chunk[0])), Value::Blob(chunk.to_vec())))
                .collect::<HashMap<_, _>>(),
        ),
        8 => Value::Int(i64::from_le_bytes(number())),
        _ => Value::from(f64::from_le_bytes(number())),
    }
}

fuzz_target!(|data: &[u8]| {
    let stored = stored(data);
    check::<Record>(&stored);
    check::<Status>(&stored);
    check::<Tree>(&stored);
    check::<u64>(&stored);
    check::<String>(&stored);
    check::<Vec<u8>>(&stored);
    check::<Vec<Option<Record>>>(&stored);
    check::<BTreeMap<String, Vec<i64>>>(&stored);
    check::<Option<(bool, f64)>>(&stored);
});
