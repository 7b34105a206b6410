//! Arbitrary bytes as the content of bin `data`, decoded as several types the way a cache hit
//! decodes them: no panic, no unbounded allocation (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` catch it), and whatever decodes is a value whose own encoding decodes back
//! to the same encoding.
#![no_main]

use std::collections::BTreeMap;

use cacheaside_runtime::__private::{decode_entry, encode_entry, CacheValue};
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

/// Decodes `data` as a `T`; a value that decodes must survive its own round trip.
fn check<T: CacheValue>(data: &[u8]) {
    if let Some(value) = decode_entry::<T>(data) {
        let encoded = encode_entry(&value).expect("a decoded value encodes");
        let again = decode_entry::<T>(&encoded).expect("an own encoding decodes");
        // Compared as encodings: a float may be NaN, which is not equal to itself.
        assert_eq!(encode_entry(&again), Some(encoded));
    }
}

fuzz_target!(|data: &[u8]| {
    check::<Record>(data);
    check::<Status>(data);
    check::<u64>(data);
    check::<String>(data);
    check::<Vec<u8>>(data);
    check::<BTreeMap<String, Vec<i64>>>(data);
    check::<Option<(bool, f64)>>(data);
});
