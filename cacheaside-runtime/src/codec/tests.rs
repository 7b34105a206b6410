use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: BTreeMap<String, f64>,
    manager: Option<Box<User>>,
}

fn user() -> User {
    User {
        id: 42,
        name: "alice".into(),
        tags: vec!["admin".into(), "ops".into()],
        scores: BTreeMap::from([("q1".into(), 1.5)]),
        manager: Some(Box::new(User {
            id: 1,
            name: "bob".into(),
            tags: vec![],
            scores: BTreeMap::new(),
            manager: None,
        })),
    }
}

#[test]
fn round_trip() {
    let bytes = encode(&user()).unwrap();
    assert_eq!(&bytes[..3], &[envelope::FORMAT_V1, MSGPACK_NAMED, 0]);
    assert_eq!(decode::<User>(&bytes).unwrap(), user());
    assert_eq!(
        decode::<Option<u8>>(&encode(&None::<u8>).unwrap()).unwrap(),
        None
    );
    assert_eq!(decode::<()>(&encode(&()).unwrap()).unwrap(), ());
}

#[test]
fn fields_are_named_in_the_payload() {
    let bytes = encode(&user()).unwrap();
    let payload = &bytes[3..];
    assert!(
        payload.windows(4).any(|w| w == b"name"),
        "field names are stored"
    );
}

#[derive(Debug, PartialEq, Deserialize)]
struct OtherShape {
    id: u64,
    email: String,
}

#[test]
fn another_shape_is_undecodable_not_wrong() {
    let bytes = encode(&user()).unwrap();
    assert!(matches!(
        decode::<OtherShape>(&bytes),
        Err(Undecodable::Shape(_))
    ));
    assert!(matches!(
        decode::<String>(&bytes),
        Err(Undecodable::Shape(_))
    ));
}

#[test]
fn other_envelopes_are_undecodable() {
    let mut bytes = encode(&user()).unwrap();
    bytes[1] = 2;
    assert!(matches!(
        decode::<User>(&bytes),
        Err(Undecodable::Envelope(EnvelopeMismatch::Codec(2)))
    ));
    assert!(matches!(
        decode::<User>(b""),
        Err(Undecodable::Envelope(EnvelopeMismatch::Truncated))
    ));
    // A bare MessagePack value without an envelope (e.g. written by hand by another service).
    let bare = rmp_serde::to_vec_named(&user()).unwrap();
    assert!(decode::<User>(&bare).is_err());
}

#[test]
fn every_truncation_is_undecodable() {
    let bytes = encode(&user()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            decode::<User>(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

#[test]
fn trailing_bytes_are_undecodable() {
    let mut bytes = encode(&user()).unwrap();
    bytes.push(0xc0);
    assert_eq!(
        decode::<User>(&bytes),
        Err(Undecodable::Malformed("trailing bytes after the value"))
    );
}

fn enveloped(payload: &[u8]) -> Vec<u8> {
    let mut bytes = envelope::begin(MSGPACK_NAMED, SCHEMA_TAG, payload.len());
    bytes.extend_from_slice(payload);
    bytes
}

#[test]
fn huge_claimed_lengths_are_refused_before_decoding() {
    let cases: [&[u8]; 8] = [
        &[0xdd, 0xff, 0xff, 0xff, 0xff], // array32 of 4 billion elements
        &[0xdc, 0xff, 0xff, 0x01],       // array16 of 65535 elements, one present
        &[0xdf, 0xff, 0xff, 0xff, 0xff], // map32
        &[0xde, 0x00, 0x02, 0x01, 0x01], // map16 of 2 entries, one present
        &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], // str32
        &[0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00], // bin32
        &[0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00], // ext32
        &[0x9f, 0x01],                   // fixarray of 15, one present
    ];
    for payload in cases {
        let result = decode::<Vec<Vec<u8>>>(&enveloped(payload));
        assert!(
            matches!(result, Err(Undecodable::Malformed(_))),
            "{payload:02x?}: {result:?}"
        );
    }
}

#[test]
fn reserved_marker_and_deep_nesting() {
    assert!(check_msgpack(&[0xc1]).is_err());
    // 100,000 nested single-element arrays around a nil: well-formed, checked without recursion.
    let mut deep = vec![0x91; 100_000];
    deep.push(0xc0);
    assert_eq!(check_msgpack(&deep), Ok(()));
    // Decoding it into a flat type fails cleanly (rmp-serde limits its own depth).
    assert!(decode::<Vec<u8>>(&enveloped(&deep)).is_err());
}

#[test]
fn well_formed_values_pass_the_check() {
    let values = [
        rmp_serde::to_vec_named(&user()).unwrap(),
        rmp_serde::to_vec_named(&(
            u64::MAX,
            -1i64,
            1.5f32,
            2.5f64,
            "x".repeat(300),
            vec![0u8; 70_000],
        ))
        .unwrap(),
        rmp_serde::to_vec_named(&BTreeMap::from([(1u8, vec![1u16; 20]); 1])).unwrap(),
    ];
    for value in values {
        assert_eq!(check_msgpack(&value), Ok(()));
    }
}

proptest! {
    /// Arbitrary bytes never panic and never decode into more than they hold.
    #[test]
    fn random_bytes_never_panic(payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode::<User>(&enveloped(&payload));
        let _ = decode::<Vec<String>>(&enveloped(&payload));
        let _ = decode::<BTreeMap<String, Vec<u8>>>(&payload);
    }

    /// Flipping any byte of a valid record never panics; what still decodes is a value of the
    /// type that encodes and decodes to itself.
    #[test]
    fn corrupted_records_never_panic(index in 0usize..512, byte in any::<u8>()) {
        let mut bytes = encode(&user()).unwrap();
        let index = index % bytes.len();
        bytes[index] = byte;
        if let Ok(decoded) = decode::<User>(&bytes) {
            // Compared as bytes: a flipped float may be NaN, which equals nothing.
            let encoded = encode(&decoded).unwrap();
            let again = decode::<User>(&encoded).unwrap();
            prop_assert_eq!(encode(&again).unwrap(), encoded);
        }
    }

    #[test]
    fn round_trip_any_strings(names in prop::collection::vec(".*", 0..5), id in any::<u64>()) {
        let value = User { id, name: names.join("|"), tags: names, scores: BTreeMap::new(), manager: None };
        prop_assert_eq!(decode::<User>(&encode(&value).unwrap()).unwrap(), value);
    }
}
