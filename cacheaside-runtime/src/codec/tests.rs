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

/// `depth` nested single-element arrays (or single-entry maps) around a nil.
fn nested(depth: usize, marker: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..depth {
        bytes.push(marker);
        if marker == 0x81 {
            bytes.push(0x00); // the entry's key
        }
    }
    bytes.push(0xc0);
    bytes
}

#[test]
fn reserved_marker_and_deep_nesting() {
    assert!(check_msgpack(&[0xc1]).is_err());
    for marker in [0x91, 0x81] {
        assert_eq!(check_msgpack(&nested(MAX_DEPTH, marker)), Ok(()));
        let too_deep = Err("arrays and maps nested deeper than the limit");
        assert_eq!(check_msgpack(&nested(MAX_DEPTH + 1, marker)), too_deep);
        // 100,000 levels are refused without recursion.
        assert_eq!(check_msgpack(&nested(100_000, marker)), too_deep);
    }
    // Depth counts open arrays and maps, not values read: a long flat array of arrays is fine,
    // and so are siblings at the deepest level.
    let mut wide = vec![0xdc, 0x03, 0xe8];
    for _ in 0..1000 {
        wide.extend_from_slice(&nested(MAX_DEPTH - 1, 0x91));
    }
    assert_eq!(check_msgpack(&wide), Ok(()));
    let mut siblings = nested(MAX_DEPTH - 2, 0x91);
    siblings.pop();
    siblings.extend_from_slice(&[0x92, 0x91, 0xc0, 0x91, 0xc0]);
    assert_eq!(check_msgpack(&siblings), Ok(()));
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

const SECRET: &str = "SECRETCACHEDVALUE-42";

#[derive(Debug, Serialize)]
struct Stored {
    id: u64,
    email: String,
    tags: Vec<String>,
}

fn stored() -> Stored {
    Stored {
        id: 300,
        email: SECRET.into(),
        tags: vec!["a".into(), SECRET.into()],
    }
}

/// The message of a shape mismatch, checked to hold no stored data.
fn shape_error<T: DeserializeOwned + std::fmt::Debug>(bytes: &[u8]) -> String {
    let message = decode::<T>(bytes).unwrap_err().to_string();
    assert!(!message.contains(SECRET), "{message}");
    assert!(!message.contains("300"), "{message}");
    message
}

#[test]
fn shape_errors_say_where_and_what_without_the_value() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct EmailIsANumber {
        id: u64,
        email: u64,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct NarrowId {
        id: u8,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct NumberTags {
        tags: Vec<u32>,
    }
    let bytes = encode(&stored()).unwrap();
    assert_eq!(
        shape_error::<EmailIsANumber>(&bytes),
        "another shape: at .email: invalid type: found a string, expected u64"
    );
    assert_eq!(
        shape_error::<NarrowId>(&bytes),
        "another shape: at .id: invalid value: found an integer, expected u8"
    );
    assert_eq!(
        shape_error::<NumberTags>(&bytes),
        "another shape: at .tags[0]: invalid type: found a string, expected u32"
    );
    assert_eq!(
        shape_error::<Vec<EmailIsANumber>>(&encode(&[stored(), stored()]).unwrap()),
        "another shape: at [0].email: invalid type: found a string, expected u64"
    );
    // The whole value as another type: serde's visitor reports it with the value, the guard
    // without.
    assert_eq!(
        shape_error::<User>(&encode(SECRET).unwrap()),
        "another shape: invalid type: found a string, expected struct User"
    );
    assert_eq!(
        shape_error::<BTreeMap<String, u8>>(&encode(&BTreeMap::from([(SECRET, SECRET)])).unwrap()),
        "another shape: at [entry 0]: invalid type: found a string, expected u8"
    );
}

#[test]
fn custom_errors_of_the_type_are_not_repeated() {
    /// An impl that quotes the value it refuses, as `FromStr`-based impls often do.
    #[derive(Debug)]
    struct Email;
    impl<'de> Deserialize<'de> for Email {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let text = String::deserialize(deserializer)?;
            Err(serde::de::Error::custom(format!("not an email: {text}")))
        }
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct WithEmail {
        email: Email,
    }
    let message = shape_error::<WithEmail>(&encode(&stored()).unwrap());
    assert!(
        message.starts_with("another shape: at .email: "),
        "{message}"
    );
}

#[test]
fn unknown_fields_and_variants_are_not_named() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        id: u64,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Plain,
    }
    let mut fields = BTreeMap::new();
    fields.insert(SECRET, 1u8);
    assert_eq!(
        shape_error::<Strict>(&encode(&fields).unwrap()),
        "another shape: at .<unknown field>: unknown field, expected `id`"
    );
    assert_eq!(
        shape_error::<Kind>(&encode(SECRET).unwrap()),
        "another shape: unknown variant, expected `Plain`"
    );
}

/// The codecs other than MessagePack: round trips, envelopes, and the same bounds on decoding.
mod other_codecs {
    use super::*;

    /// Every codec the build has.
    fn codecs() -> Vec<Codec> {
        Codec::ALL
            .into_iter()
            .filter(|codec| codec.is_available())
            .collect()
    }

    #[test]
    fn names_parse_back() {
        for codec in Codec::ALL {
            assert_eq!(codec.name().parse::<Codec>().unwrap(), codec);
            let shouted = format!(" {} ", codec.name().to_ascii_uppercase());
            assert_eq!(shouted.parse::<Codec>().unwrap(), codec);
            assert_eq!(codec.to_string(), codec.name());
            assert_eq!(codec.feature().is_none(), codec == Codec::MessagePack);
        }
        let error = "xml".parse::<Codec>().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config);
        assert!(
            error
                .to_string()
                .contains("msgpack, bincode, postcard and json"),
            "{error}"
        );
    }

    /// A codec this build lacks (only the configuration could name one, and it refuses to) is
    /// an error to encode with and a miss to decode with, never a panic.
    #[test]
    fn codecs_the_build_lacks_fail_softly() {
        let bytes = encode(&user()).unwrap();
        for codec in Codec::ALL.into_iter().filter(|codec| !codec.is_available()) {
            let error = encode_as(codec, &user()).unwrap_err();
            let feature = codec.feature().unwrap();
            assert!(
                error.to_string().contains(&format!("`{feature}` feature")),
                "{error}"
            );
            assert_eq!(
                decode_as::<User>(codec, &bytes),
                Err(Undecodable::Unavailable(codec))
            );
        }
    }

    #[test]
    fn every_codec_round_trips_and_writes_its_id() {
        for codec in codecs() {
            let bytes = encode_as(codec, &user()).unwrap();
            assert_eq!(&bytes[..2], &[envelope::FORMAT_V1, codec.id()], "{codec:?}");
            assert_eq!(
                decode_as::<User>(codec, &bytes).unwrap(),
                user(),
                "{codec:?}"
            );
            let none = encode_as(codec, &None::<u8>).unwrap();
            assert_eq!(decode_as::<Option<u8>>(codec, &none).unwrap(), None);
        }
    }

    #[test]
    fn another_codec_is_an_envelope_mismatch() {
        for writer in codecs() {
            let bytes = encode_as(writer, &user()).unwrap();
            for reader in codecs().into_iter().filter(|reader| *reader != writer) {
                assert_eq!(
                    decode_as::<User>(reader, &bytes),
                    Err(Undecodable::Envelope(EnvelopeMismatch::Codec(writer.id()))),
                    "{writer:?} read as {reader:?}"
                );
            }
        }
    }

    #[test]
    fn truncations_and_trailing_bytes_never_decode() {
        for codec in codecs() {
            let bytes = encode_as(codec, &user()).unwrap();
            for len in 0..bytes.len() {
                assert!(
                    decode_as::<User>(codec, &bytes[..len]).is_err(),
                    "{codec:?} {len}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_as::<User>(codec, &longer).is_err(), "{codec:?}");
        }
    }

    #[test]
    fn schema_tags_follow_the_type_name() {
        assert_eq!(schema_tag::<User>(), schema_tag::<User>());
        assert_ne!(schema_tag::<User>(), schema_tag::<OtherShape>());
        assert_ne!(schema_tag::<Vec<u8>>(), schema_tag::<Vec<u16>>());
    }

    /// A recursive type: in a positional codec each level is one byte.
    #[cfg(any(feature = "bincode", feature = "postcard"))]
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
    }

    /// `Node` `depth` times, then `Leaf`: variant indices 1 and 0, one byte each in both codecs.
    #[cfg(any(feature = "bincode", feature = "postcard"))]
    fn positional_tree(codec: Codec, depth: usize) -> Vec<u8> {
        let mut bytes = envelope::begin(codec.id(), &schema_tag::<Tree>(), depth + 1);
        bytes.extend(std::iter::repeat_n(1u8, depth));
        bytes.push(0);
        bytes
    }

    #[cfg(any(feature = "bincode", feature = "postcard"))]
    fn positional_codecs() -> Vec<Codec> {
        vec![
            #[cfg(feature = "bincode")]
            Codec::Bincode,
            #[cfg(feature = "postcard")]
            Codec::Postcard,
        ]
    }

    #[cfg(any(feature = "bincode", feature = "postcard"))]
    #[test]
    fn positional_codecs_refuse_deep_nesting_without_exhausting_the_stack() {
        for codec in positional_codecs() {
            let shallow = positional_tree(codec, 3);
            let tree = Tree::Node(Box::new(Tree::Node(Box::new(Tree::Node(Box::new(
                Tree::Leaf,
            ))))));
            assert_eq!(encode_as(codec, &tree).unwrap(), shallow, "{codec:?}");
            assert_eq!(decode_as::<Tree>(codec, &shallow).unwrap(), tree);
            let deep = positional_tree(codec, 1_000_000);
            match decode_as::<Tree>(codec, &deep) {
                Err(Undecodable::Shape(error)) => {
                    assert!(error.to_string().contains("nested deeper"), "{error}")
                }
                other => panic!("{codec:?}: {other:?}"),
            }
        }
    }

    #[cfg(any(feature = "bincode", feature = "postcard"))]
    #[test]
    fn positional_codecs_refuse_huge_claimed_lengths() {
        for codec in positional_codecs() {
            // A Vec<u64> claiming u32::MAX elements (varint), with 4 bytes of elements.
            let mut bytes = envelope::begin(codec.id(), &schema_tag::<Vec<u64>>(), 9);
            match codec {
                #[cfg(feature = "bincode")]
                Codec::Bincode => bytes.extend_from_slice(&[252, 0xff, 0xff, 0xff, 0xff]),
                _ => bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            }
            bytes.extend_from_slice(&[1, 2, 3, 4]);
            assert!(decode_as::<Vec<u64>>(codec, &bytes).is_err(), "{codec:?}");
            // A string and a byte buffer claiming 2^62 bytes: refused, not allocated (bincode with
            // its default settings and its own `Decode` would abort the process here).
            for tag in [schema_tag::<String>(), schema_tag::<Vec<u8>>()] {
                let mut bytes = envelope::begin(codec.id(), &tag, 12);
                match codec {
                    #[cfg(feature = "bincode")]
                    Codec::Bincode => {
                        bytes.push(253);
                        bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
                    }
                    _ => bytes
                        .extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]),
                }
                bytes.extend_from_slice(b"abc");
                assert!(decode_as::<String>(codec, &bytes).is_err(), "{codec:?}");
                assert!(decode_as::<Vec<u8>>(codec, &bytes).is_err(), "{codec:?}");
            }
            // Within the bytes, but more elements than the guard's budget allows.
            let many = vec![0u8; 64 * 1024];
            let encoded = encode_as(codec, &many).unwrap();
            assert_eq!(decode_as::<Vec<u8>>(codec, &encoded).unwrap(), many);
            let mut as_strings = encoded;
            as_strings[3..11].copy_from_slice(&schema_tag::<Vec<String>>());
            // 65,536 empty strings of 24 bytes each: 1.5 MiB from a 64 KiB payload.
            match decode_as::<Vec<String>>(codec, &as_strings) {
                Err(Undecodable::Shape(error)) => {
                    assert!(error.to_string().contains("would allocate more"), "{error}")
                }
                other => panic!("{codec:?}: {other:?}"),
            }
        }
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_is_plain_text_after_the_header() {
        let bytes = encode_as(Codec::Json, &user()).unwrap();
        assert_eq!(&bytes[..3], &[envelope::FORMAT_V1, JSON, 0]);
        let text = std::str::from_utf8(&bytes[3 + usize::from(bytes[2])..]).unwrap();
        assert!(text.starts_with("{\"id\":42,\"name\":\"alice\""), "{text}");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_is_bounded_like_msgpack() {
        let enveloped_json = |text: &str| {
            let mut bytes = envelope::begin(JSON, b"", text.len());
            bytes.extend_from_slice(text.as_bytes());
            bytes
        };
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            decode_as::<serde_json::Value>(Codec::Json, &enveloped_json(&deep)),
            Err(Undecodable::Malformed(
                "arrays and objects nested deeper than the limit"
            ))
        );
        let fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(decode_as::<serde_json::Value>(Codec::Json, &enveloped_json(&fits)).is_ok());
        // Brackets inside strings are text.
        let quoted = format!("\"{}\\\"{}\"", "[".repeat(200), "{".repeat(200));
        assert!(decode_as::<String>(Codec::Json, &enveloped_json(&quoted)).is_ok());
        // The data stays out of errors.
        let error = decode_as::<u8>(Codec::Json, &enveloped_json("\"SECRET\"")).unwrap_err();
        assert!(!error.to_string().contains("SECRET"), "{error}");
    }
}
