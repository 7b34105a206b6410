//! Encode and decode cost of the value codec, for a small struct and a 200-element list of records.
//!
//! `cargo bench --bench codec`. The one codec `cacheaside` supports is MessagePack with named fields
//! (rmp-serde `to_vec_named`); positional MessagePack (`to_vec`) is measured beside it as the
//! reference for what the field names cost. The runtime's envelope and its bounds check of the
//! payload are not reachable from outside the runtime: the hit and miss benches include them.

mod common;

use std::hint::black_box;

use common::{Order, User};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde::{de::DeserializeOwned, Serialize};

/// Elements of the list value.
const LIST_LEN: u64 = 200;

/// A codec under test and its encoder; rmp-serde decodes both forms with `from_slice`.
struct Codec {
    name: &'static str,
    encode: fn(&dyn erased::Encode) -> Vec<u8>,
}

/// Object-safe encoding, so one table of codecs serves every value type.
mod erased {
    pub trait Encode {
        fn named(&self) -> Vec<u8>;
        fn positional(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn named(&self) -> Vec<u8> {
            rmp_serde::to_vec_named(self).expect("encode")
        }
        fn positional(&self) -> Vec<u8> {
            rmp_serde::to_vec(self).expect("encode")
        }
    }
}

const CODECS: [Codec; 2] = [
    Codec {
        name: "msgpack_named",
        encode: |value| value.named(),
    },
    Codec {
        name: "msgpack_positional",
        encode: |value| value.positional(),
    },
];

fn bench_value<T>(c: &mut Criterion, group_name: &str, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut group = c.benchmark_group(group_name);
    for codec in &CODECS {
        let bytes = (codec.encode)(value);
        let decoded: T = rmp_serde::from_slice(&bytes).expect("decode");
        assert_eq!(&decoded, value, "{} round-trips", codec.name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("encode", codec.name), |b| {
            b.iter(|| (codec.encode)(black_box(value)));
        });
        group.bench_function(BenchmarkId::new("decode", codec.name), |b| {
            b.iter(|| rmp_serde::from_slice::<T>(black_box(&bytes)).expect("decode"));
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = common::criterion();
    bench_value(&mut criterion, "codec_small", &User::sample(42));
    bench_value(&mut criterion, "codec_list", &Order::list(LIST_LEN));
    let sizes: serde_json::Map<String, serde_json::Value> = CODECS
        .iter()
        .flat_map(|codec| {
            [
                (
                    format!("small/{}", codec.name),
                    (codec.encode)(&User::sample(42)).len(),
                ),
                (
                    format!("list/{}", codec.name),
                    (codec.encode)(&Order::list(LIST_LEN)).len(),
                ),
            ]
        })
        .map(|(name, len)| (name, serde_json::Value::from(len)))
        .collect();
    common::write_extra("codec", &serde_json::json!({ "encoded_bytes": sizes }));
    criterion.final_summary();
}
