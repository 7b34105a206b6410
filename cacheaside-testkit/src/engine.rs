//! Executes data messages against the store with a real server's semantics.

use std::cell::RefCell;

use crate::clock::Clock;
use crate::counters::CommandKind;
use crate::expression::{Expression, Unsupported};
use crate::key::UserKey;
use crate::store::{NamespaceStore, Store, StoredRecord};
use crate::value::BinValue;
use crate::wire::{field, info1, info2, info3, op, parse_batch, Message, Op, Reply, ReplyHeader};

/// Result codes the server answers with.
pub(crate) mod code {
    pub(crate) const OK: u8 = 0;
    pub(crate) const KEY_NOT_FOUND: u8 = 2;
    pub(crate) const GENERATION: u8 = 3;
    pub(crate) const PARAMETER: u8 = 4;
    pub(crate) const KEY_EXISTS: u8 = 5;
    pub(crate) const BIN_TYPE: u8 = 12;
    pub(crate) const RECORD_TOO_BIG: u8 = 13;
    pub(crate) const UNSUPPORTED_FEATURE: u8 = 16;
    pub(crate) const INVALID_NAMESPACE: u8 = 20;
    pub(crate) const FORBIDDEN: u8 = 22;
    pub(crate) const FILTERED_OUT: u8 = 27;
}

/// Expiration values with a special meaning in write requests.
const TTL_NAMESPACE_DEFAULT: u32 = 0;
const TTL_NEVER: u32 = u32::MAX;
const TTL_DONT_UPDATE: u32 = u32::MAX - 1;

/// Sorts a data message into the kind counters and per-kind faults use.
pub(crate) fn classify(message: &Message<'_>) -> CommandKind {
    if message.info1 & info1::BATCH != 0 {
        return CommandKind::BatchRead;
    }
    if message.info2 & info2::WRITE == 0 {
        return if message.info1 & info1::NOBINDATA != 0 && message.ops.is_empty() {
            CommandKind::Exists
        } else {
            CommandKind::Read
        };
    }
    if message.info2 & info2::DELETE != 0 {
        return CommandKind::Delete;
    }
    if message.info2 & info2::RESPOND_ALL_OPS != 0 || message.info1 & info1::READ != 0 {
        return CommandKind::Operate;
    }
    match message.ops.as_slice() {
        [only] if only.kind == op::TOUCH => CommandKind::Touch,
        ops if ops.iter().all(|o| o.kind == op::WRITE) => CommandKind::Write,
        _ => CommandKind::Operate,
    }
}

/// Executes one data message and returns the reply frame.
pub(crate) fn execute(store: &Store, clock: &Clock, message: &Message<'_>) -> Vec<u8> {
    if message.info1 & info1::BATCH != 0 {
        return execute_batch(store, clock, message);
    }
    let Some(ns) = message
        .field(field::NAMESPACE)
        .and_then(|name| store.namespace(name))
    else {
        return Reply::code(code::INVALID_NAMESPACE);
    };
    let Some(digest) = message
        .field(field::DIGEST)
        .and_then(|d| <[u8; 20]>::try_from(d).ok())
    else {
        return Reply::code(code::PARAMETER);
    };
    let now = clock.now_aerospike_secs();
    let mut shard = ns.shard(&digest);
    if shard.get(&digest).is_some_and(|r| r.is_expired(now)) {
        shard.remove(&digest);
    }
    let existing = shard.get(&digest);
    if let Some(rc) = filter_violation(message.field(field::FILTER_EXPRESSION), existing) {
        return Reply::code(rc);
    }

    if message.info2 & info2::WRITE == 0 {
        return match existing {
            None => Reply::code(code::KEY_NOT_FOUND),
            Some(record) => read_reply(record, message, clock),
        };
    }

    if let Some(rc) = write_policy_violation(existing, message) {
        return Reply::code(rc);
    }
    if message.info2 & info2::DELETE != 0 {
        return match shard.remove(&digest) {
            Some(_) => Reply::code(code::OK),
            None => Reply::code(code::KEY_NOT_FOUND),
        };
    }
    let outcome = match apply_write(ns, existing, message, now) {
        Ok(outcome) => outcome,
        Err(rc) => return Reply::code(rc),
    };
    let header = |record: Option<&StoredRecord>| ReplyHeader {
        generation: record.map_or(0, |r| u32::from(r.generation)),
        void_time: record.map_or(0, |r| clock.void_time_for_client(r.void_time)),
        ..ReplyHeader::default()
    };
    let reply = match &outcome.record {
        Some(record) => Reply::single(
            header(Some(record)),
            outcome
                .results
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_ref())),
        ),
        None => Reply::single(
            header(None),
            outcome
                .results
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_ref())),
        ),
    };
    match outcome.record {
        Some(record) => {
            shard.insert(digest, record);
        }
        None => {
            shard.remove(&digest);
        }
    }
    reply
}

/// FILTERED_OUT when the message's filter expression rejects the live record it applies to,
/// PARAMETER when the expression cannot be evaluated. No record, no filter: a write that creates
/// the record is not filtered, as on the real server.
fn filter_violation(filter: Option<&[u8]>, record: Option<&StoredRecord>) -> Option<u8> {
    let (filter, record) = (filter?, record?);
    let passes = LAST_FILTER.with_borrow_mut(|last| match last {
        Some((bytes, parsed)) if bytes.as_slice() == filter => matches(parsed, record),
        _ => {
            let parsed = Expression::parse(filter);
            let passes = matches(&parsed, record);
            *last = Some((filter.to_vec(), parsed));
            passes
        }
    });
    match passes {
        Ok(true) => None,
        Ok(false) => Some(code::FILTERED_OUT),
        Err(_) => Some(code::PARAMETER),
    }
}

thread_local! {
    /// The last filter this thread parsed: a client sends the same expression with every request,
    /// and parsing builds a tree of allocations, which cost more than the rest of a read.
    static LAST_FILTER: RefCell<Option<(Vec<u8>, Parsed)>> = const { RefCell::new(None) };
}

/// A filter as parsed, or why it cannot be evaluated.
type Parsed = Result<Expression, Unsupported>;

fn matches(parsed: &Parsed, record: &StoredRecord) -> Result<bool, Unsupported> {
    parsed
        .as_ref()
        .map_err(|unsupported| *unsupported)
        .and_then(|expression| expression.matches(record))
}

/// The reply to a read-only message on a live record.
fn read_reply(record: &StoredRecord, message: &Message<'_>, clock: &Clock) -> Vec<u8> {
    let header = ReplyHeader {
        generation: u32::from(record.generation),
        void_time: clock.void_time_for_client(record.void_time),
        ..ReplyHeader::default()
    };
    if message.info1 & info1::GET_ALL != 0 {
        Reply::single(
            header,
            record.bins.iter().map(|(n, v)| (n.as_str(), Some(v))),
        )
    } else if message.info1 & info1::NOBINDATA != 0 {
        Reply::single(header, std::iter::empty())
    } else {
        let respond_all = message.info2 & info2::RESPOND_ALL_OPS != 0;
        let found: Vec<(&str, Option<&BinValue>)> = message
            .ops
            .iter()
            .filter(|o| o.kind == op::READ && !o.bin.is_empty())
            .filter_map(|o| {
                let name = std::str::from_utf8(o.bin).ok()?;
                let value = record.bin(o.bin);
                (value.is_some() || respond_all).then_some((name, value))
            })
            .collect();
        Reply::single(header, found.into_iter())
    }
}

/// A result code when the message's record-exists action or generation check forbids the write.
fn write_policy_violation(existing: Option<&StoredRecord>, message: &Message<'_>) -> Option<u8> {
    let exists = existing.is_some();
    let generation = existing.map_or(0, |r| u32::from(r.generation));
    if exists && message.info2 & info2::CREATE_ONLY != 0 {
        return Some(code::KEY_EXISTS);
    }
    if !exists && message.info3 & (info3::UPDATE_ONLY | info3::REPLACE_ONLY) != 0 {
        return Some(code::KEY_NOT_FOUND);
    }
    if exists && message.info2 & info2::GENERATION != 0 && generation != message.generation {
        return Some(code::GENERATION);
    }
    if exists && message.info2 & info2::GENERATION_GT != 0 && message.generation <= generation {
        return Some(code::GENERATION);
    }
    None
}

/// The record after a write (`None` when it ends up deleted or without bins) and the per-op results.
struct WriteOutcome {
    record: Option<StoredRecord>,
    results: Vec<(String, Option<BinValue>)>,
}

fn apply_write(
    ns: &NamespaceStore,
    existing: Option<&StoredRecord>,
    message: &Message<'_>,
    now: u32,
) -> Result<WriteOutcome, u8> {
    let replace = message.info3 & (info3::CREATE_OR_REPLACE | info3::REPLACE_ONLY) != 0;
    let mut bins: Vec<(String, BinValue)> = match existing {
        Some(record) if !replace => record.bins.clone(),
        _ => Vec::new(),
    };
    let respond_all = message.info2 & info2::RESPOND_ALL_OPS != 0;
    if existing.is_none() && message.ops.iter().any(|o| o.kind == op::TOUCH) {
        return Err(code::KEY_NOT_FOUND);
    }
    let mut results = Vec::new();
    for operation in &message.ops {
        let name = std::str::from_utf8(operation.bin).map_err(|_| code::PARAMETER)?;
        match operation.kind {
            op::READ => {
                if !name.is_empty() {
                    let value = bins.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                    if value.is_some() || respond_all {
                        results.push((name.to_owned(), value));
                    }
                }
                continue;
            }
            op::DELETE => bins.clear(),
            // Names no bin: a real server answers no result for it, even with RESPOND_ALL_OPS.
            op::TOUCH => continue,
            op::WRITE | op::INCR | op::APPEND | op::PREPEND => {
                apply_bin_op(&mut bins, name, operation)?;
            }
            _ => return Err(code::UNSUPPORTED_FEATURE),
        }
        if respond_all {
            results.push((name.to_owned(), None));
        }
    }
    if message.info1 & info1::GET_ALL != 0 {
        results = bins
            .iter()
            .map(|(n, v)| (n.clone(), Some(v.clone())))
            .collect();
    }
    if bins.is_empty() {
        return Ok(WriteOutcome {
            record: None,
            results,
        });
    }

    let void_time = match message.expiration {
        TTL_NAMESPACE_DEFAULT => void_time_after(now, ns.config.default_ttl_secs),
        TTL_NEVER => 0,
        TTL_DONT_UPDATE => match existing {
            Some(record) => record.void_time,
            None => void_time_after(now, ns.config.default_ttl_secs),
        },
        secs => void_time_after(now, secs),
    };
    if void_time != 0 && !ns.config.accepts_ttl() {
        return Err(code::FORBIDDEN);
    }
    let user_key = message
        .field(field::KEY)
        .and_then(UserKey::from_wire)
        .or_else(|| existing.and_then(|r| r.user_key.clone()));
    let set = message
        .field(field::SET)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .unwrap_or_default();
    let generation = match existing {
        // Generations are 16 bits on the server and wrap past zero.
        Some(record) => record.generation.checked_add(1).unwrap_or(1),
        None => 1,
    };
    let record = StoredRecord {
        set,
        user_key,
        bins,
        generation,
        void_time,
    };
    if record.stored_size() > ns.config.max_record_size {
        return Err(code::RECORD_TOO_BIG);
    }
    Ok(WriteOutcome {
        record: Some(record),
        results,
    })
}

fn void_time_after(now: u32, ttl_secs: u32) -> u32 {
    if ttl_secs == 0 {
        0
    } else {
        now.saturating_add(ttl_secs)
    }
}

/// Applies a write, add, append or prepend of one bin.
fn apply_bin_op(
    bins: &mut Vec<(String, BinValue)>,
    name: &str,
    operation: &Op<'_>,
) -> Result<(), u8> {
    if name.is_empty() || name.len() > 15 {
        return Err(code::PARAMETER);
    }
    let value = BinValue::from_wire(operation.particle_type, operation.value)
        .map_err(|_| code::PARAMETER)?;
    let slot = bins.iter().position(|(n, _)| n == name);
    let Some(value) = value else {
        if operation.kind == op::WRITE {
            if let Some(at) = slot {
                bins.remove(at);
            }
            return Ok(());
        }
        return Err(code::PARAMETER);
    };
    let merged = match (operation.kind, slot.map(|at| &bins[at].1), value) {
        (op::WRITE, _, value) | (_, None, value) => value,
        (op::INCR, Some(BinValue::Int(old)), BinValue::Int(add)) => {
            BinValue::Int(old.wrapping_add(add))
        }
        (op::INCR, Some(BinValue::Float(old)), BinValue::Float(add)) => BinValue::Float(old + add),
        (op::APPEND, Some(BinValue::Str(old)), BinValue::Str(more)) => {
            BinValue::Str(format!("{old}{more}"))
        }
        (op::PREPEND, Some(BinValue::Str(old)), BinValue::Str(more)) => {
            BinValue::Str(format!("{more}{old}"))
        }
        (op::APPEND, Some(BinValue::Blob(old)), BinValue::Blob(more)) => {
            BinValue::Blob([old.as_slice(), &more].concat())
        }
        (op::PREPEND, Some(BinValue::Blob(old)), BinValue::Blob(more)) => {
            BinValue::Blob([more.as_slice(), old].concat())
        }
        _ => return Err(code::BIN_TYPE),
    };
    match slot {
        Some(at) => bins[at].1 = merged,
        None => bins.push((name.to_owned(), merged)),
    }
    Ok(())
}

/// Executes a batch read: one row per key, then the end marker.
fn execute_batch(store: &Store, clock: &Clock, message: &Message<'_>) -> Vec<u8> {
    let rows = match message.field(field::BATCH_INDEX).map(parse_batch) {
        Some(Ok(rows)) => rows,
        _ => return Reply::code(code::PARAMETER),
    };
    let now = clock.now_aerospike_secs();
    let mut out = Vec::with_capacity(64 + rows.len() * 64);
    let at = Reply::start(&mut out);
    for row in &rows {
        let mut header = ReplyHeader {
            batch_index: row.index,
            ..ReplyHeader::default()
        };
        let Some(ns) = store.namespace(row.namespace) else {
            header.result_code = code::INVALID_NAMESPACE;
            Reply::message(&mut out, header, std::iter::empty());
            continue;
        };
        if row.info2 != 0 {
            header.result_code = code::UNSUPPORTED_FEATURE;
            Reply::message(&mut out, header, std::iter::empty());
            continue;
        }
        let shard = ns.shard(&row.digest);
        let record = shard.get(&row.digest).filter(|r| !r.is_expired(now));
        let filter = row.filter.or(message.field(field::FILTER_EXPRESSION));
        if let Some(rc) = filter_violation(filter, record) {
            header.result_code = rc;
            Reply::message(&mut out, header, std::iter::empty());
            continue;
        }
        match record {
            None => {
                header.result_code = code::KEY_NOT_FOUND;
                Reply::message(&mut out, header, std::iter::empty());
            }
            Some(record) => {
                header.generation = u32::from(record.generation);
                header.void_time = clock.void_time_for_client(record.void_time);
                if row.info1 & info1::GET_ALL != 0 {
                    Reply::message(
                        &mut out,
                        header,
                        record.bins.iter().map(|(n, v)| (n.as_str(), Some(v))),
                    );
                } else if row.info1 & info1::NOBINDATA != 0 {
                    Reply::message(&mut out, header, std::iter::empty());
                } else {
                    let found: Vec<(&str, Option<&BinValue>)> = row
                        .ops
                        .iter()
                        .filter_map(|o| {
                            let name = std::str::from_utf8(o.bin).ok()?;
                            record.bin(o.bin).map(|v| (name, Some(v)))
                        })
                        .collect();
                    Reply::message(&mut out, header, found.into_iter());
                }
            }
        }
    }
    Reply::message(
        &mut out,
        ReplyHeader {
            info3: info3::LAST,
            ..ReplyHeader::default()
        },
        std::iter::empty(),
    );
    Reply::finish(&mut out, at);
    out
}

/// Number of keys in a batch message, for the counters.
pub(crate) fn batch_key_count(message: &Message<'_>) -> u64 {
    message
        .field(field::BATCH_INDEX)
        .and_then(|data| data.get(..4))
        .map_or(0, |count| {
            u64::from(u32::from_be_bytes([count[0], count[1], count[2], count[3]]))
        })
}

/// The digests of the records a data message addresses: its key, or every key of a batch.
pub(crate) fn digests(message: &Message<'_>) -> Vec<[u8; 20]> {
    if message.info1 & info1::BATCH != 0 {
        return match message.field(field::BATCH_INDEX).map(parse_batch) {
            Some(Ok(rows)) => rows.into_iter().map(|row| row.digest).collect(),
            _ => Vec::new(),
        };
    }
    message
        .field(field::DIGEST)
        .and_then(|d| <[u8; 20]>::try_from(d).ok())
        .into_iter()
        .collect()
}
