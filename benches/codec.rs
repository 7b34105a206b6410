//! Encode and decode cost of the value codec, for a small struct and a 200-element list of records.
//!
//! `cargo bench --bench codec` (`--all-features` adds bincode, postcard and JSON). Raw rmp-serde is
//! measured first: MessagePack with named fields (`to_vec_named`, the default codec) and
//! positional MessagePack (`to_vec`) as the reference for what the field names cost. Then each
//! codec of `codec = "…"` the build has, as the runtime runs it (`cacheaside_<codec>`): envelope,
//! schema tag, bounds checks and the decoding guard included.

mod common;

use std::hint::black_box;

use cacheaside::__private::{decode_entry_as, encode_entry_as, Codec as RuntimeCodec};
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
    for (name, codec) in runtime_codecs() {
        let bytes = encode_entry_as(codec, value).expect("encode");
        let decoded: T = decode_entry_as(codec, &bytes).expect("decode");
        assert_eq!(&decoded, value, "{name} round-trips");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| encode_entry_as(codec, black_box(value)).expect("encode"));
        });
        group.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| decode_entry_as::<T>(codec, black_box(&bytes)).expect("decode"));
        });
    }
    group.finish();
}

/// The codecs of `codec = "…"` this build has, as the runtime encodes and decodes them.
fn runtime_codecs() -> Vec<(&'static str, RuntimeCodec)> {
    vec![
        ("cacheaside_msgpack", RuntimeCodec::MessagePack),
        #[cfg(feature = "bincode")]
        ("cacheaside_bincode", RuntimeCodec::Bincode),
        #[cfg(feature = "postcard")]
        ("cacheaside_postcard", RuntimeCodec::Postcard),
        #[cfg(feature = "json")]
        ("cacheaside_json", RuntimeCodec::Json),
    ]
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
        .chain(runtime_codecs().into_iter().flat_map(|(name, codec)| {
            let len = |bytes: Option<Vec<u8>>| bytes.expect("encode").len();
            [
                (
                    format!("small/{name}"),
                    len(encode_entry_as(codec, &User::sample(42))),
                ),
                (
                    format!("list/{name}"),
                    len(encode_entry_as(codec, &Order::list(LIST_LEN))),
                ),
            ]
        }))
        .map(|(name, len)| (name, serde_json::Value::from(len)))
        .collect();
    common::write_extra("codec", &serde_json::json!({ "encoded_bytes": sizes }));
    criterion.final_summary();
}
