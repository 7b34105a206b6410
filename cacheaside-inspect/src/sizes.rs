//! `--sizes`: what the entries of a set weigh, for capacity planning.
//!
//! The records are the KEYs given (read one by one, as the single-entry report reads them) or a
//! scan of the set up to `--sample` records. Of each record only bin `data` is read, and only when
//! it holds bytes (the filter every read of the cache carries), so no value is ever decoded. The
//! report gives the sizes of bin `data` (min, median, p95, max, mean), the envelope's header, and
//! a lower bound of what an entry costs in Aerospike per copy: the 64 bytes of its primary-index
//! entry (Aerospike's capacity-planning figure) plus its bin `data`. The server stores a record
//! header and the bin's name and type beside the bin's bytes, which the guide's "Capacity
//! planning" chapter measures.

use core::fmt::Write as _;
use std::sync::{Arc, Mutex};

use aerospike::{Bins, Client, PartitionFilter, QueryPolicy, Record, Statement, Value};
use cacheaside_runtime::inspect::{self, DATA_BIN};

use crate::args::SizesRequest;
use crate::json::write_string;
use crate::Status;

/// Bytes of primary index per record and copy, from Aerospike's capacity-planning guide.
pub const INDEX_BYTES_PER_RECORD: u64 = 64;

/// What the records read say about their entries' sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records read (or, for a scan, returned by the server).
    pub records: u64,
    /// KEYs given whose record does not exist.
    pub missing: u64,
    /// Sizes of bin `data` of the records that hold an envelope, with their header's size.
    pub entries: Vec<EntrySize>,
    /// Records without a value: invalidation markers, bytes that are not an envelope, other bins.
    pub without_value: u64,
}

/// The size of one entry's bin `data` and of its envelope header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySize {
    /// Bytes of bin `data`: the whole envelope.
    pub data: u64,
    /// Bytes of the envelope's header (format, codec, schema tag).
    pub header: u64,
}

impl Tally {
    /// Counts one record read.
    pub fn add(&mut self, record: &Record) {
        self.records += 1;
        match record.bins.get(DATA_BIN) {
            Some(Value::Blob(bytes)) => match inspect::inspect(bytes) {
                Ok(view) => self.entries.push(EntrySize {
                    data: bytes.len() as u64,
                    header: view.header_len() as u64,
                }),
                Err(_) => self.without_value += 1,
            },
            _ => self.without_value += 1,
        }
    }

    /// The status the report calls for: printed when an entry was measured.
    pub fn status(&self) -> Status {
        if !self.entries.is_empty() {
            Status::Printed
        } else if self.records > 0 {
            Status::NoValue
        } else {
            Status::NotFound
        }
    }
}

/// Sizes of bin `data` across the entries measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Entries measured.
    pub count: u64,
    /// Smallest bin `data`, in bytes.
    pub min: u64,
    /// Median (nearest rank).
    pub median: u64,
    /// 95th percentile (nearest rank).
    pub p95: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Smallest envelope header.
    pub header_min: u64,
    /// Largest envelope header.
    pub header_max: u64,
    /// Mean of bin `data` less the header: the encoded values.
    pub payload_mean: f64,
    /// Bytes per entry and copy in Aerospike at least: the index entry plus the mean bin `data`.
    pub aerospike_at_least: u64,
}

impl Summary {
    /// The summary of `entries`, `None` when there are none.
    pub fn of(entries: &[EntrySize]) -> Option<Summary> {
        let count = entries.len() as u64;
        if count == 0 {
            return None;
        }
        let mut data: Vec<u64> = entries.iter().map(|e| e.data).collect();
        data.sort_unstable();
        // Nearest rank: the smallest value with at least p% of the values at or below it.
        let rank = |percent: u64| data[((count * percent).div_ceil(100).max(1) - 1) as usize];
        let total: u64 = data.iter().sum();
        let headers: u64 = entries.iter().map(|e| e.header).sum();
        let mean = total as f64 / count as f64;
        Some(Summary {
            count,
            min: data[0],
            median: rank(50),
            p95: rank(95),
            max: data[data.len() - 1],
            mean,
            header_min: entries.iter().map(|e| e.header).min().unwrap_or(0),
            header_max: entries.iter().map(|e| e.header).max().unwrap_or(0),
            payload_mean: (total - headers) as f64 / count as f64,
            aerospike_at_least: INDEX_BYTES_PER_RECORD + total.div_ceil(count),
        })
    }
}

/// Reads the records of `request` with `client`: the KEYs one by one, or a scan of the set.
pub(crate) async fn measure(
    client: &Client,
    request: &SizesRequest,
    millis: u32,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    if request.keys.is_empty() {
        return scan(client, request, millis).await;
    }
    for key in &request.keys {
        let key = aerospike::Key::new(request.namespace.clone(), request.set.clone(), key.clone())
            .map_err(|e| format!("the key {key} is not usable: {e}"))?;
        match crate::read_safely(client, &key, millis).await {
            Ok(record) => tally.add(&record),
            Err(e) if e.matches(&[aerospike::ResultCode::KeyNotFoundError]) => tally.missing += 1,
            Err(e) => return Err(format!("reading the record failed: {e}")),
        }
    }
    Ok(tally)
}

/// Scans the set up to `request.sample` records, reading bin `data` only when it holds bytes or
/// nothing: a record whose bin `data` holds another type is left out by the server.
async fn scan(client: &Client, request: &SizesRequest, millis: u32) -> Result<Tally, String> {
    let mut policy = QueryPolicy::default();
    policy.base_policy.total_timeout = millis;
    policy.base_policy.socket_timeout = millis;
    policy.base_policy.filter_expression = Some(inspect::data_filter());
    policy.max_records = request.sample;
    let statement = Statement::new(
        request.namespace.clone(),
        request.set.clone(),
        Bins::from([DATA_BIN]),
    );
    let tally = Arc::new(Mutex::new(Tally::default()));
    let sink = Arc::clone(&tally);
    let failure = Arc::new(Mutex::new(None));
    let failed = Arc::clone(&failure);
    let sample = request.sample;
    let mut handle = client
        .query_foreach(&policy, PartitionFilter::all(), statement, move |record| {
            let (sink, failed) = (Arc::clone(&sink), Arc::clone(&failed));
            async move {
                let mut tally = sink.lock().unwrap_or_else(|e| e.into_inner());
                match record {
                    Ok(record) if tally.records < sample => {
                        tally.add(&record);
                        true
                    }
                    Ok(_) => false,
                    Err(e) => {
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                        false
                    }
                }
            }
        })
        .await
        .map_err(|e| format!("the scan of set {} failed: {e}", request.set))?;
    let waited = handle.wait().await;
    if let Some(error) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(format!("the scan of set {} failed: {error}", request.set));
    }
    // A scan stopped by the callback (the sample is complete) is not a failure.
    let tally = tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match waited {
        Err(e) if tally.records < sample => {
            Err(format!("the scan of set {} failed: {e}", request.set))
        }
        _ => Ok(tally),
    }
}

/// The report on `tally`, as text or, with `--json`, as one JSON object.
pub fn render(request: &SizesRequest, tally: &Tally) -> String {
    let summary = Summary::of(&tally.entries);
    if request.json {
        return json_report(request, tally, summary.as_ref());
    }
    let mut out = String::new();
    let mut line = |name: &str, value: &dyn core::fmt::Display| {
        let _ = writeln!(out, "{name:<11} {value}");
    };
    line("namespace", &request.namespace);
    line("set", &request.set);
    if request.keys.is_empty() {
        line(
            "records",
            &format_args!("{} (scan, at most {})", tally.records, request.sample),
        );
    } else {
        line(
            "records",
            &format_args!(
                "{} of {} keys ({} not found)",
                tally.records,
                request.keys.len(),
                tally.missing
            ),
        );
    }
    line(
        "entries",
        &format_args!(
            "{} with a value, {} without",
            tally.entries.len(),
            tally.without_value
        ),
    );
    let Some(s) = summary else {
        return out;
    };
    line(
        "data bin",
        &format_args!(
            "min {}, median {}, p95 {}, max {}, mean {:.1} bytes",
            s.min, s.median, s.p95, s.max, s.mean
        ),
    );
    let header = if s.header_min == s.header_max {
        format!("{}", s.header_min)
    } else {
        format!("{} to {}", s.header_min, s.header_max)
    };
    line(
        "envelope",
        &format_args!(
            "header {header} bytes, payload mean {:.1} bytes",
            s.payload_mean
        ),
    );
    line(
        "aerospike",
        &format_args!(
            "at least {} bytes per entry and copy: {INDEX_BYTES_PER_RECORD} of primary index \
             + {} of bin data, plus the server's record overhead",
            s.aerospike_at_least,
            s.aerospike_at_least - INDEX_BYTES_PER_RECORD
        ),
    );
    out
}

fn json_report(request: &SizesRequest, tally: &Tally, summary: Option<&Summary>) -> String {
    let mut out = String::from("{\"namespace\":");
    write_string(&mut out, &request.namespace);
    out.push_str(",\"set\":");
    write_string(&mut out, &request.set);
    let _ = write!(
        out,
        ",\"mode\":\"{}\",\"records\":{},\"missing\":{},\"entries\":{},\"without_value\":{}",
        if request.keys.is_empty() {
            "scan"
        } else {
            "keys"
        },
        tally.records,
        tally.missing,
        tally.entries.len(),
        tally.without_value
    );
    if let Some(s) = summary {
        let _ = write!(
            out,
            ",\"data_bytes\":{{\"min\":{},\"median\":{},\"p95\":{},\"max\":{},\"mean\":{:.1}}},\
             \"header_bytes\":{{\"min\":{},\"max\":{}}},\"payload_mean_bytes\":{:.1},\
             \"index_bytes\":{INDEX_BYTES_PER_RECORD},\"aerospike_bytes_at_least\":{}",
            s.min,
            s.median,
            s.p95,
            s.max,
            s.mean,
            s.header_min,
            s.header_max,
            s.payload_mean,
            s.aerospike_at_least
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::tests::record;

    fn request(keys: usize, json: bool) -> SizesRequest {
        SizesRequest {
            hosts: "127.0.0.1:3000".to_owned(),
            namespace: "test".to_owned(),
            set: "s".to_owned(),
            keys: (0..keys as i64).map(Value::Int).collect(),
            sample: 100,
            timeout: Duration::from_secs(1),
            credentials: None,
            json,
        }
    }

    /// An envelope of `payload` bytes: format 1, MessagePack, no schema tag, a string.
    fn envelope(payload: usize) -> Value {
        assert!((2..=32).contains(&payload));
        let mut bytes = vec![1, 1, 0, 0xa0 | (payload - 1) as u8];
        bytes.resize(3 + payload, b'x');
        Value::Blob(bytes)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let entries: Vec<EntrySize> = (1..=20).map(|data| EntrySize { data, header: 3 }).collect();
        let s = Summary::of(&entries).unwrap();
        assert_eq!((s.min, s.median, s.p95, s.max), (1, 10, 19, 20));
        assert_eq!(s.mean, 10.5);
        assert_eq!(s.payload_mean, 7.5);
        assert_eq!(s.aerospike_at_least, 64 + 11); // the mean, rounded up
        let one = Summary::of(&[EntrySize { data: 7, header: 3 }]).unwrap();
        assert_eq!((one.min, one.median, one.p95, one.max), (7, 7, 7, 7));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn records_are_sorted_into_entries_and_the_rest() {
        let mut tally = Tally::default();
        assert_eq!(tally.status(), Status::NotFound);
        tally.add(&record(&[("invalidated", Value::Int(1))]));
        tally.add(&record(&[("data", Value::Blob(vec![2, 1, 0, 0xc0]))]));
        tally.add(&record(&[("data", Value::Int(5))]));
        assert_eq!(tally.status(), Status::NoValue);
        tally.add(&record(&[("data", envelope(5))]));
        tally.add(&record(&[("data", envelope(9))]));
        assert_eq!(tally.status(), Status::Printed);
        assert_eq!(tally.records, 5);
        assert_eq!(tally.without_value, 3);
        assert_eq!(
            tally.entries,
            vec![
                EntrySize { data: 8, header: 3 },
                EntrySize {
                    data: 12,
                    header: 3
                }
            ]
        );
    }

    #[test]
    fn the_report_shows_the_distribution_and_the_estimate() {
        let mut tally = Tally {
            missing: 1,
            ..Tally::default()
        };
        tally.add(&record(&[("data", envelope(5))]));
        tally.add(&record(&[("data", envelope(9))]));
        tally.add(&record(&[("invalidated", Value::Int(1))]));
        assert_eq!(
            render(&request(4, false), &tally),
            "namespace   test\nset         s\nrecords     3 of 4 keys (1 not found)\n\
             entries     2 with a value, 1 without\n\
             data bin    min 8, median 8, p95 12, max 12, mean 10.0 bytes\n\
             envelope    header 3 bytes, payload mean 7.0 bytes\n\
             aerospike   at least 74 bytes per entry and copy: 64 of primary index + 10 of bin \
             data, plus the server's record overhead\n"
        );
        assert_eq!(
            render(&request(4, true), &tally),
            "{\"namespace\":\"test\",\"set\":\"s\",\"mode\":\"keys\",\"records\":3,\"missing\":1,\
             \"entries\":2,\"without_value\":1,\"data_bytes\":{\"min\":8,\"median\":8,\"p95\":12,\
             \"max\":12,\"mean\":10.0},\"header_bytes\":{\"min\":3,\"max\":3},\
             \"payload_mean_bytes\":7.0,\"index_bytes\":64,\"aerospike_bytes_at_least\":74}\n"
        );
        let empty = render(&request(0, false), &Tally::default());
        assert_eq!(
            empty,
            "namespace   test\nset         s\nrecords     0 (scan, at most 100)\n\
             entries     0 with a value, 0 without\n"
        );
    }
}
