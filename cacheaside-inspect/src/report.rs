//! What a record says about its entry, as text for people or one JSON object for scripts.

use core::fmt::Write as _;

use aerospike::{Record, Value};
use cacheaside_runtime::inspect::{self, Codec, EnvelopeView, DATA_BIN, INVALIDATED_BIN};

use crate::args::Request;
use crate::json::{self, hex, write_string, Style};
use crate::Status;

/// Bytes shown in hex when an envelope cannot be read.
const HEX_PREVIEW: usize = 32;

/// The printed report and the exit status it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The text to print on standard output.
    pub text: String,
    /// How the program should exit.
    pub status: Status,
}

/// Reports on `record` (`None`: no such record) as text or, with `--json`, as JSON.
pub fn render(request: &Request, record: Option<&Record>) -> Rendered {
    let summary = record.map(Summary::of);
    let status = match &summary {
        None => Status::NotFound,
        Some(Summary {
            content: Content::Entry(entry),
            ..
        }) if entry.value().is_some() => Status::Printed,
        Some(_) => Status::NoValue,
    };
    let text = if request.json {
        json_report(request, summary.as_ref())
    } else {
        text_report(request, summary.as_ref())
    };
    Rendered { text, status }
}

/// Everything shown about a record that exists.
struct Summary {
    generation: u32,
    /// Remaining seconds; `None` when the record never expires.
    ttl: Option<u64>,
    bins: Vec<String>,
    content: Content,
}

enum Content {
    /// Bin `data` holds bytes: an entry (or bytes that are not one).
    Entry(Entry),
    /// An invalidation marker: no value until the next load writes one.
    Marker,
    /// Bin `data` holds another type than bytes.
    NotBytes(&'static str),
    /// No bin `data` and no marker: not a cacheaside record.
    NoDataBin,
}

struct Entry {
    size: usize,
    envelope: Result<EnvelopeSummary, String>,
    /// The first bytes, shown when the envelope cannot be read.
    preview: Vec<u8>,
}

struct EnvelopeSummary {
    format: u8,
    codec: Codec,
    schema_tag: Vec<u8>,
    header_size: usize,
    payload_size: usize,
    /// The value as JSON (compact and pretty), or why it is not shown.
    value: Result<(String, String), String>,
}

impl Summary {
    fn of(record: &Record) -> Summary {
        let content = match (record.bins.get(DATA_BIN), record.bins.get(INVALIDATED_BIN)) {
            (Some(Value::Blob(bytes)), _) => Content::Entry(Entry::of(bytes)),
            (Some(other), _) => Content::NotBytes(value_kind(other)),
            (None, Some(_)) => Content::Marker,
            (None, None) => Content::NoDataBin,
        };
        Summary {
            generation: record.generation,
            ttl: record.time_to_live().map(|ttl| ttl.as_secs()),
            bins: record.bins.keys().cloned().collect(),
            content,
        }
    }
}

impl Entry {
    fn of(bytes: &[u8]) -> Entry {
        Entry {
            size: bytes.len(),
            envelope: inspect::inspect(bytes)
                .map(|view| EnvelopeSummary::of(&view))
                .map_err(|e| e.to_string()),
            preview: bytes[..bytes.len().min(HEX_PREVIEW)].to_vec(),
        }
    }

    /// The value as JSON (compact, pretty), if there is one to show.
    fn value(&self) -> Option<&(String, String)> {
        self.envelope.as_ref().ok()?.value.as_ref().ok()
    }
}

impl EnvelopeSummary {
    fn of(view: &EnvelopeView<'_>) -> EnvelopeSummary {
        let value = view
            .msgpack_payload()
            .map_err(|e| e.to_string())
            .and_then(|payload| {
                let compact = json::to_json(payload, Style::Compact).map_err(|e| e.to_string())?;
                let pretty = json::to_json(payload, Style::Pretty).map_err(|e| e.to_string())?;
                Ok((compact, pretty))
            });
        EnvelopeSummary {
            format: view.format(),
            codec: view.codec(),
            schema_tag: view.schema_tag().to_vec(),
            header_size: view.header_len(),
            payload_size: view.payload().len(),
            value,
        }
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::String(_) => "a string",
        Value::Blob(_) => "bytes",
        Value::List(_) => "a list",
        Value::HashMap(_) | Value::OrderedMap(_) => "a map",
        _ => "another type",
    }
}

/// The key as typed: strings quoted, integers in decimal, bytes in hex.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => {
            let mut out = String::new();
            write_string(&mut out, s);
            out
        }
        Value::Blob(bytes) => format!("{} (bytes)", hex(bytes)),
        other => other.to_string(),
    }
}

fn text_report(request: &Request, summary: Option<&Summary>) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: &dyn core::fmt::Display| {
        let _ = writeln!(out, "{name:<11} {value}");
    };
    line("namespace", &request.namespace);
    line("set", &request.set);
    line("key", &key_text(&request.key));
    let Some(summary) = summary else {
        line("record", &"not found");
        return out;
    };
    line("generation", &summary.generation);
    match summary.ttl {
        Some(seconds) => line("ttl", &format_args!("{seconds} s")),
        None => line("ttl", &"never expires"),
    }
    line("bins", &summary.bins.join(", "));
    let value = match &summary.content {
        Content::Marker => {
            line(
                "entry",
                &"invalidation marker: no value until the next load writes one",
            );
            None
        }
        Content::NotBytes(kind) => {
            line(
                "entry",
                &format_args!("bin `{DATA_BIN}` holds {kind}, not an envelope"),
            );
            None
        }
        Content::NoDataBin => {
            line(
                "entry",
                &format_args!("no bin `{DATA_BIN}`: not a cacheaside entry"),
            );
            None
        }
        Content::Entry(entry) => match &entry.envelope {
            Err(why) => {
                line("size", &format_args!("{} bytes", entry.size));
                line("envelope", &format_args!("not readable: {why}"));
                line("bytes", &format_args!("{} ...", hex(&entry.preview)));
                None
            }
            Ok(envelope) => {
                line(
                    "size",
                    &format_args!(
                        "{} bytes (header {}, payload {})",
                        entry.size, envelope.header_size, envelope.payload_size
                    ),
                );
                line("format", &envelope.format);
                line(
                    "codec",
                    &format_args!("{}, {}", envelope.codec.id(), envelope.codec.name()),
                );
                line("schema tag", &schema_tag_text(&envelope.schema_tag));
                match &envelope.value {
                    Ok((_, pretty)) => Some(pretty),
                    Err(why) => {
                        line("value", &format_args!("not shown: {why}"));
                        None
                    }
                }
            }
        },
    };
    if let Some(pretty) = value {
        let _ = writeln!(out, "value\n{pretty}");
    }
    out
}

fn schema_tag_text(tag: &[u8]) -> String {
    if tag.is_empty() {
        return "none".to_owned();
    }
    match core::str::from_utf8(tag) {
        Ok(text) if text.chars().all(|c| c.is_ascii_graphic()) => {
            format!("{} ({text})", hex(tag))
        }
        _ => hex(tag),
    }
}

/// One line of JSON: `found`, the record's fields, and `entry` with the envelope and `value`
/// (the value itself, as JSON) or `problem` (why there is no value).
fn json_report(request: &Request, summary: Option<&Summary>) -> String {
    let mut out = String::from("{\"namespace\":");
    write_string(&mut out, &request.namespace);
    out.push_str(",\"set\":");
    write_string(&mut out, &request.set);
    out.push_str(",\"key\":");
    match &request.key {
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Blob(bytes) => {
            let _ = write!(out, "{{\"$bin\":\"{}\"}}", hex(bytes));
        }
        other => write_string(&mut out, &other.to_string()),
    }
    let Some(summary) = summary else {
        out.push_str(",\"found\":false}\n");
        return out;
    };
    let _ = write!(
        out,
        ",\"found\":true,\"generation\":{},\"ttl_seconds\":",
        summary.generation
    );
    match summary.ttl {
        Some(seconds) => {
            let _ = write!(out, "{seconds}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"bins\":[");
    for (index, bin) in summary.bins.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(&mut out, bin);
    }
    out.push(']');
    let problem = match &summary.content {
        Content::Marker => Some("invalidation marker: no value".to_owned()),
        Content::NotBytes(kind) => Some(format!("bin `{DATA_BIN}` holds {kind}")),
        Content::NoDataBin => Some(format!("no bin `{DATA_BIN}`")),
        Content::Entry(entry) => {
            let _ = write!(out, ",\"size\":{}", entry.size);
            match &entry.envelope {
                Err(why) => Some(format!("envelope not readable: {why}")),
                Ok(envelope) => {
                    let _ = write!(
                        out,
                        ",\"envelope\":{{\"format\":{},\"codec_id\":{},\"codec\":",
                        envelope.format,
                        envelope.codec.id()
                    );
                    write_string(&mut out, envelope.codec.name());
                    let _ = write!(
                        out,
                        ",\"schema_tag_hex\":\"{}\",\"header_size\":{},\"payload_size\":{}}}",
                        hex(&envelope.schema_tag),
                        envelope.header_size,
                        envelope.payload_size
                    );
                    match &envelope.value {
                        Ok((compact, _)) => {
                            out.push_str(",\"value\":");
                            out.push_str(compact);
                            None
                        }
                        Err(why) => Some(format!("value not shown: {why}")),
                    }
                }
            }
        }
    };
    if let Some(problem) = problem {
        out.push_str(",\"problem\":");
        write_string(&mut out, &problem);
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use aerospike::IndexMap;

    use super::*;

    fn request(json: bool) -> Request {
        Request {
            hosts: "127.0.0.1:3000".to_owned(),
            namespace: "test".to_owned(),
            set: "s".to_owned(),
            key: Value::Blob(vec![0xab, 0x01]),
            timeout: Duration::from_secs(1),
            credentials: None,
            json,
        }
    }

    /// A record with these bins, as the client returns it.
    pub(crate) fn record(bins: &[(&str, Value)]) -> Record {
        let bins: IndexMap<String, Value> = bins
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        Record::new(None, bins, None, 7, 0)
    }

    #[test]
    fn a_schema_tag_and_an_unknown_codec_are_shown_without_a_value() {
        // codec 9, schema tag "v2", payload 0x2a
        let record = record(&[("data", Value::Blob(vec![1, 9, 2, b'v', b'2', 0x2a]))]);
        let rendered = render(&request(false), Some(&record));
        assert_eq!(rendered.status, Status::NoValue);
        assert_eq!(
            rendered.text,
            "namespace   test\nset         s\nkey         ab01 (bytes)\ngeneration  7\n\
             ttl         never expires\nbins        data\nsize        6 bytes (header 5, payload 1)\n\
             format      1\ncodec       9, unknown\nschema tag  7632 (v2)\n\
             value       not shown: codec id 9 is not known\n"
        );
        let json = render(&request(true), Some(&record)).text;
        assert!(json.contains(r#""schema_tag_hex":"7632""#), "{json}");
        assert!(
            json.ends_with(",\"problem\":\"value not shown: codec id 9 is not known\"}\n"),
            "{json}"
        );
    }

    #[test]
    fn records_without_an_entry_say_what_they_hold() {
        let other = record(&[("x", Value::Int(1))]);
        let rendered = render(&request(false), Some(&other));
        assert_eq!(rendered.status, Status::NoValue);
        assert!(
            rendered
                .text
                .ends_with("bins        x\nentry       no bin `data`: not a cacheaside entry\n"),
            "{}",
            rendered.text
        );
        let marker = record(&[("invalidated", Value::Bool(true))]);
        assert!(render(&request(false), Some(&marker))
            .text
            .contains("invalidation marker"));
        let not_found = render(&request(true), None);
        assert_eq!(not_found.status, Status::NotFound);
        assert_eq!(
            not_found.text,
            "{\"namespace\":\"test\",\"set\":\"s\",\"key\":{\"$bin\":\"ab01\"},\"found\":false}\n"
        );
    }

    #[test]
    fn unprintable_schema_tags_are_hex_only() {
        assert_eq!(schema_tag_text(b""), "none");
        assert_eq!(schema_tag_text(b"v2"), "7632 (v2)");
        assert_eq!(schema_tag_text(&[0, 0xff]), "00ff");
        assert_eq!(schema_tag_text(b"a b"), "612062");
    }
}
