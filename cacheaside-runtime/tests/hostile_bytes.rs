//! Hostile bytes in the cache: random and mutated envelopes never panic the decoder, never make
//! it allocate more than a small multiple of their size, and bytes written for one type never
//! decode as a different value of another type (120,000 cases in all). Deep records decode
//! within a thread's stack, and records of cheap elements (nils) do not become large values.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;

use cacheaside_runtime::__private::{decode_entry, encode_entry, CacheValue, DECODE_MAX_DEPTH};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Counts the bytes the current thread has allocated while tracking is on, and their peak.
struct CountingAllocator;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the bookkeeping uses
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn track(delta: isize) {
    if TRACKING.with(Cell::get) {
        let live = LIVE.with(|live| {
            let now = live.get().saturating_add_signed(delta);
            live.set(now);
            now
        });
        PEAK.with(|peak| peak.set(peak.get().max(live)));
    }
}

/// Decodes `bytes` as a `T`; returns the result and the peak bytes allocated meanwhile.
fn decode_measured<T: CacheValue>(bytes: &[u8]) -> (Option<T>, usize) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    TRACKING.with(|tracking| tracking.set(true));
    let decoded = decode_entry::<T>(bytes);
    TRACKING.with(|tracking| tracking.set(false));
    (decoded, PEAK.with(Cell::get))
}

/// Allocation allowed for decoding `len` bytes: the decoded value may be larger than its encoding
/// (a one-byte integer becomes eight bytes, an empty string a 24-byte `String`), but only by a
/// bounded factor.
fn allowance(len: usize) -> usize {
    64 * len + 4096
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Status {
    Active,
    Suspended { reason: String },
    Score(i64),
}

/// A value with most of what serde can describe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<String>,
    scores: BTreeMap<String, i32>,
    ratio: Option<f32>,
    status: Status,
    blob: Vec<u8>,
}

/// The same field names with other types: bytes of a `Record` must never become one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Impostor {
    id: String,
    name: u64,
    tags: Vec<u8>,
}

/// A string of up to `max` arbitrary characters (cheaper to generate than a regex strategy).
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Active),
        text(8).prop_map(|reason| Status::Suspended { reason }),
        any::<i64>().prop_map(Status::Score),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u64>(),
        text(12),
        prop::collection::vec(text(6), 0..4),
        prop::collection::btree_map(text(6), any::<i32>(), 0..4),
        prop::option::of(any::<f32>()),
        status(),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(id, name, tags, scores, ratio, status, blob)| Record {
            id,
            name,
            tags,
            scores,
            ratio,
            status,
            blob,
        })
}

/// One way of damaging an encoded envelope.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    /// Overwrites from a position with a MessagePack header claiming a huge length.
    HugeLength(usize, u8),
    DuplicateTail(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge_markers = prop::sample::select(vec![0xc6u8, 0xdb, 0xdd, 0xdf, 0xc5, 0xda, 0xdc, 0xde]);
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte(at, byte)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        (any::<usize>(), huge_markers).prop_map(|(at, marker)| Mutation::HugeLength(at, marker)),
        any::<usize>().prop_map(Mutation::DuplicateTail),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::FlipBit(at, bit) => {
            if let Some(byte) = bytes.get_mut(at % len) {
                *byte ^= 1 << bit;
            }
        }
        Mutation::SetByte(at, value) => {
            if let Some(byte) = bytes.get_mut(at % len) {
                *byte = value;
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % len),
        Mutation::Insert(at, value) => bytes.insert(at % (bytes.len() + 1), value),
        Mutation::HugeLength(at, marker) => {
            let at = at % len;
            bytes.truncate(at);
            bytes.extend_from_slice(&[marker, 0xff, 0xff, 0xff, 0xff]);
        }
        Mutation::DuplicateTail(at) => {
            if !bytes.is_empty() {
                let tail = bytes[at % bytes.len()..].to_vec();
                bytes.extend_from_slice(&tail);
            }
        }
    }
}

/// Decodes `bytes` as several types; none may panic or allocate beyond the allowance.
fn decode_as_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    let limit = allowance(bytes.len());
    macro_rules! check {
        ($($ty:ty),*) => {$(
            let (_, peak) = decode_measured::<$ty>(bytes);
            prop_assert!(
                peak <= limit,
                "decoding {} bytes as {} allocated {peak} bytes",
                bytes.len(),
                stringify!($ty)
            );
        )*};
    }
    check!(
        Record,
        Impostor,
        Status,
        u64,
        String,
        Vec<u8>,
        Vec<String>,
        BTreeMap<String, Vec<i64>>,
        Option<(bool, f64)>
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_and_allocate_little(
        bytes in prop::collection::vec(any::<u8>(), 0..128),
        with_header in any::<bool>(),
    ) {
        // Half of the cases get a valid envelope header, so the payload decoder is reached.
        let bytes = if with_header { [&[1u8, 1, 0][..], &bytes].concat() } else { bytes };
        decode_as_everything(&bytes)?;
    }

    #[test]
    fn mutated_envelopes_never_panic_and_allocate_little(
        value in record(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = encode_entry(&value).expect("a record encodes");
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        decode_as_everything(&bytes)?;
    }

    #[test]
    fn another_types_bytes_never_decode_as_a_different_value(value in record()) {
        let bytes = encode_entry(&value).expect("a record encodes");
        prop_assert_eq!(decode_entry::<Record>(&bytes), Some(value.clone()));
        prop_assert_eq!(decode_entry::<Impostor>(&bytes), None);
        prop_assert_eq!(decode_entry::<Status>(&bytes), None);
        prop_assert_eq!(decode_entry::<u64>(&bytes), None);
        prop_assert_eq!(decode_entry::<String>(&bytes), None);
        // A shape that reads a subset of the fields would decode; one that reads them as what
        // they are is the same data, so its re-encoding is byte for byte the original payload.
        let status_bytes = encode_entry(&value.status).expect("a status encodes");
        prop_assert_eq!(decode_entry::<Record>(&status_bytes), None);
        if let Some(as_u64) = decode_entry::<u64>(&encode_entry(&value.id).unwrap()) {
            prop_assert_eq!(as_u64, value.id);
        }
        if let Some(narrow) = decode_entry::<u16>(&encode_entry(&value.id).unwrap()) {
            prop_assert_eq!(u64::from(narrow), value.id, "never truncated");
        }
    }
}

/// The decoder's element budget for a payload of `len` bytes: 16 bytes per byte plus 64 KiB.
fn budget(len: usize) -> usize {
    16 * len + 64 * 1024
}

/// The most a decode may allocate: the budget for its collections, half of it again while a
/// growing vector moves (old and new buffer), and the payload's strings and bytes copied out.
fn bound(len: usize) -> usize {
    budget(len) * 3 / 2 + len
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
}

fn user() -> User {
    User {
        id: 7,
        name: "alice".into(),
        email: "alice@example.com".into(),
    }
}

/// An envelope holding one MessagePack array of `count` nils.
fn nils(count: usize) -> Vec<u8> {
    let mut bytes = vec![1, 1, 0, 0xdd];
    bytes.extend_from_slice(&u32::try_from(count).unwrap().to_be_bytes());
    bytes.resize(bytes.len() + count, 0xc0);
    bytes
}

#[test]
fn a_megabyte_of_nils_does_not_become_a_large_vector() {
    let bytes = nils(1 << 20);
    // Each nil would be a `None` of the size of a `User`: far more than the budget.
    let (decoded, peak) = decode_measured::<Vec<Option<User>>>(&bytes);
    assert!(decoded.is_none(), "refused");
    assert!(
        peak <= bound(bytes.len()),
        "decoding {} bytes allocated {peak} bytes (bound {})",
        bytes.len(),
        bound(bytes.len())
    );
    // The same nils as small options (2 bytes each) are within the budget, and decode.
    let (decoded, peak) = decode_measured::<Vec<Option<u8>>>(&bytes);
    assert_eq!(decoded.map(|nils| nils.len()), Some(1 << 20));
    assert!(peak <= bound(bytes.len()), "allocated {peak} bytes");
}

#[test]
fn values_within_the_budget_decode() {
    // A million small integers: 8 bytes each once decoded, half the budget.
    let numbers: Vec<u64> = (0..1 << 20).map(|i| i % 100).collect();
    let bytes = encode_entry(&numbers).unwrap();
    let (decoded, peak) = decode_measured::<Vec<u64>>(&bytes);
    assert_eq!(decoded.as_ref(), Some(&numbers));
    assert!(peak <= bound(bytes.len()), "allocated {peak} bytes");
    // Small records of large elements decode whatever the multiple: the budget has a floor.
    let few = vec![None::<User>; 100];
    assert_eq!(
        decode_entry::<Vec<Option<User>>>(&encode_entry(&few).unwrap()),
        Some(few)
    );
    // Maps are charged too: many one-entry maps of large entries are refused.
    let maps: Vec<BTreeMap<u8, Option<[u64; 8]>>> = vec![BTreeMap::from([(0, None)]); 100_000];
    let bytes = encode_entry(&maps).unwrap();
    let (decoded, peak) = decode_measured::<Vec<BTreeMap<u8, Option<[u64; 8]>>>>(&bytes);
    assert!(decoded.is_none(), "refused");
    assert!(peak <= bound(bytes.len()), "allocated {peak} bytes");
}

/// The bytes of `user()` with one more field, `extra`, holding `depth` nested arrays around a
/// nil (the record itself is one level: the deepest value is `depth + 1` levels down).
fn with_deep_unknown_field(depth: usize) -> Vec<u8> {
    let mut bytes = encode_entry(&user()).unwrap();
    assert_eq!(bytes[3], 0x83, "a map of three fields");
    bytes[3] = 0x84;
    bytes.push(0xa5);
    bytes.extend_from_slice(b"extra");
    bytes.resize(bytes.len() + depth, 0x91);
    bytes.push(0xc0);
    bytes
}

/// A recursive type: each link is one map level.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Link {
    id: u32,
    next: Option<Box<Link>>,
}

fn chain(links: usize) -> Link {
    (1..links).fold(Link { id: 0, next: None }, |next, id| Link {
        id: id as u32,
        next: Some(Box::new(next)),
    })
}

/// Tests are debug builds, whose frames are several times larger than a release build's: the
/// deepest value the decoder accepts must still fit a 2 MiB thread (tokio's worker default).
#[test]
fn deep_records_decode_on_a_2_mib_stack_in_a_debug_build() {
    let decoding = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            // About 1 KB of nesting inside an otherwise valid record: refused, not a crash.
            assert_eq!(decode_entry::<User>(&with_deep_unknown_field(1_000)), None);
            // Unknown content at the deepest level accepted is skipped.
            let deepest = with_deep_unknown_field(DECODE_MAX_DEPTH - 1);
            assert_eq!(decode_entry::<User>(&deepest), Some(user()));
            assert_eq!(
                decode_entry::<User>(&with_deep_unknown_field(DECODE_MAX_DEPTH)),
                None
            );
            // A recursive type as deep as accepted decodes; one more level does not.
            let links = encode_entry(&chain(DECODE_MAX_DEPTH)).unwrap();
            assert_eq!(decode_entry::<Link>(&links), Some(chain(DECODE_MAX_DEPTH)));
            let links = encode_entry(&chain(DECODE_MAX_DEPTH + 1)).unwrap();
            assert_eq!(decode_entry::<Link>(&links), None);
        })
        .unwrap();
    decoding.join().expect("decoding finished on its thread");
}
