//! The tool against entries written by `#[cache_aside]` functions, on the testkit server (or the
//! cluster `AEROSPIKE_HOSTS` names: nothing here needs the testkit's clock or faults).

use std::time::Duration;

use aerospike::{Bin, Client, ClientPolicy, Key, Value, WritePolicy};
use cacheaside::cache_aside;
use cacheaside_inspect::Status;
use cacheaside_testkit::TestCluster;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    tags: Vec<String>,
    score: Option<f64>,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("user \"{id}\""),
        tags: vec!["a".to_owned(), "b".to_owned()],
        score: Some(1.5),
    }
}

const USERS: &str = "inspect_users";

#[cache_aside(set = "inspect_users", ttl = 3600)]
async fn get_user(id: u64) -> Result<User, String> {
    Ok(user(id))
}

#[cache_aside(set = "inspect_counts", ttl = never, key = id)]
async fn count(id: i64) -> i64 {
    id * 2
}

#[cache_aside(set = "inspect_blobs", ttl = 600, key = digest.to_vec())]
async fn by_digest(digest: [u8; 4]) -> Option<Vec<u8>> {
    Some(digest.to_vec())
}

/// Installs a configuration for the shared cluster once, with timeouts for a noisy machine.
async fn init() -> &'static TestCluster {
    static INIT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cluster = TestCluster::shared();
    INIT.get_or_init(|| async {
        let mut config = cacheaside::Config::builder()
            .hosts(cluster.hosts())
            .namespace(cluster.namespace())
            .operation_timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(5));
        if let Some((user, password)) = cluster.credentials() {
            config = config.credentials(user, password);
        }
        cacheaside::init(config.build().expect("valid test configuration"))
            .await
            .expect("init");
    })
    .await;
    cluster
}

/// A value unique to this run, so tests never see records of an earlier run on a real cluster.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos % 1_000_000_000_000) * 1_000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The environment the tool sees: the cluster's hosts, namespace and credentials.
fn cluster_env(cluster: &'static TestCluster) -> impl Fn(&str) -> Option<String> {
    move |name| match name {
        "AEROSPIKE_HOSTS" => Some(cluster.hosts()),
        "AEROSPIKE_NAMESPACE" => Some(cluster.namespace().to_owned()),
        "AEROSPIKE_USER" => cluster.credentials().map(|(user, _)| user.to_owned()),
        "AEROSPIKE_PASSWORD" => cluster
            .credentials()
            .map(|(_, password)| password.to_owned()),
        _ => None,
    }
}

struct Output {
    status: Status,
    out: String,
    err: String,
}

async fn inspect(cluster: &'static TestCluster, args: &[&str]) -> Output {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cacheaside_inspect::run(
        args.iter().map(|arg| (*arg).to_owned()),
        &cluster_env(cluster),
        &mut out,
        &mut err,
    )
    .await;
    Output {
        status,
        out: String::from_utf8(out).expect("utf-8 output"),
        err: String::from_utf8(err).expect("utf-8 errors"),
    }
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&output.out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", output.out, output.err))
}

/// The JSON report of a run that printed one.
fn printed_json(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status,
        Status::Printed,
        "{}{}",
        output.out,
        output.err
    );
    json(output)
}

fn user_key(id: u64) -> String {
    format!("::{}::get_user({id})", module_path!())
}

async fn raw_client(cluster: &TestCluster) -> Client {
    let mut policy = ClientPolicy::default();
    if let Some((user, password)) = cluster.credentials() {
        policy.auth_mode = aerospike::AuthMode::Internal(user.to_owned(), password.to_owned());
    }
    Client::new(&policy, &cluster.hosts())
        .await
        .expect("raw client connects")
}

async fn write_raw(cluster: &TestCluster, set: &str, key: &str, bins: &[Bin]) {
    let client = raw_client(cluster).await;
    let key = Key::new(cluster.namespace(), set, Value::from(key)).unwrap();
    client
        .put(&WritePolicy::default(), &key, bins)
        .await
        .expect("raw write");
    client.close().await.expect("raw client closes");
}

#[tokio::test]
async fn an_entry_written_by_an_annotated_function_is_shown_with_its_value() {
    let cluster = init().await;
    let id = unique();
    assert_eq!(get_user(id).await, Ok(user(id)));

    let text = inspect(cluster, &[USERS, &user_key(id)]).await;
    assert_eq!(text.status, Status::Printed, "{}{}", text.out, text.err);
    let expected_head = format!(
        "namespace   {}\nset         {USERS}\nkey         \"{}\"\ngeneration  1\n",
        cluster.namespace(),
        user_key(id)
    );
    assert!(text.out.starts_with(&expected_head), "{}", text.out);
    for line in [
        "bins        data\n",
        "format      1\n",
        "codec       1, MessagePack (named fields)\n",
        "schema tag  none\n",
    ] {
        assert!(text.out.contains(line), "no {line:?} in\n{}", text.out);
    }
    let expected_value = format!(
        "value\n{{\n  \"id\": {id},\n  \"name\": \"user \\\"{id}\\\"\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ],\n  \"score\": 1.5\n}}\n"
    );
    assert!(text.out.ends_with(&expected_value), "{}", text.out);

    let report = json(&inspect(cluster, &["--json", USERS, &user_key(id)]).await);
    assert_eq!(report["found"], true);
    assert_eq!(report["generation"], 1);
    assert_eq!(
        report["value"],
        serde_json::to_value(user(id)).unwrap(),
        "the value shown is the value cached"
    );
    let ttl = report["ttl_seconds"].as_u64().expect("a TTL");
    assert!((3000..=3600).contains(&ttl), "ttl {ttl}");
    let size = report["size"].as_u64().unwrap();
    let envelope = &report["envelope"];
    assert_eq!(envelope["codec_id"], 1);
    assert_eq!(envelope["schema_tag_hex"], "");
    assert_eq!(envelope["header_size"], 3);
    assert_eq!(envelope["payload_size"].as_u64().unwrap(), size - 3);
}

#[tokio::test]
async fn integer_and_bytes_keys_and_entries_that_never_expire() {
    let cluster = init().await;
    let id = -(unique() as i64);
    assert_eq!(count(id).await, id * 2);
    let report = json(
        &inspect(
            cluster,
            &["--json", "--int", "inspect_counts", &id.to_string()],
        )
        .await,
    );
    assert_eq!(report["key"], id);
    assert_eq!(report["value"], id * 2);
    assert_eq!(report["ttl_seconds"], serde_json::Value::Null);
    let text = inspect(cluster, &["--int", "inspect_counts", &id.to_string()]).await;
    assert!(
        text.out.contains("ttl         never expires\n"),
        "{}",
        text.out
    );

    let digest = (unique() as u32).to_be_bytes();
    assert_eq!(by_digest(digest).await, Some(digest.to_vec()));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let report = json(&inspect(cluster, &["--json", "--hex", "inspect_blobs", &hex]).await);
    // rmp-serde writes a Vec<u8> as an array of integers
    assert_eq!(report["value"], serde_json::json!(digest.to_vec()));
    assert_eq!(report["key"]["$bin"], hex);
}

#[tokio::test]
async fn a_missing_record_and_an_invalidated_entry_have_their_own_status() {
    let cluster = init().await;
    let id = unique();
    let missing = inspect(cluster, &[USERS, &user_key(id)]).await;
    assert_eq!(missing.status, Status::NotFound);
    assert!(
        missing.out.ends_with("record      not found\n"),
        "{}",
        missing.out
    );
    assert_eq!(Status::NotFound.code(), 3);
    let report = json(&inspect(cluster, &["--json", USERS, &user_key(id)]).await);
    assert_eq!(report["found"], false);
    assert_eq!(report["key"], user_key(id));

    get_user(id).await.unwrap();
    get_user_invalidate(id).await.expect("invalidated");
    let marker = inspect(cluster, &[USERS, &user_key(id)]).await;
    assert_eq!(marker.status, Status::NoValue, "{}", marker.out);
    assert!(
        marker
            .out
            .contains("entry       invalidation marker: no value until the next load writes one"),
        "{}",
        marker.out
    );
    let report = json(&inspect(cluster, &["--json", USERS, &user_key(id)]).await);
    assert_eq!(report["bins"], serde_json::json!(["invalidated"]));
    assert_eq!(report["problem"], "invalidation marker: no value");
}

#[tokio::test]
async fn bytes_that_a_read_would_refuse_are_described_not_decoded() {
    let cluster = init().await;
    let set = "inspect_raw";
    let newer_format = format!("newer-{}", unique());
    write_raw(
        cluster,
        set,
        &newer_format,
        &[Bin::new("data", Value::Blob(vec![2, 1, 0, 0xc0]))],
    )
    .await;
    let output = inspect(cluster, &[set, &newer_format]).await;
    assert_eq!(output.status, Status::NoValue);
    assert!(
        output
            .out
            .contains("envelope    not readable: envelope format 2 is not the format this version reads (1)\nbytes       020100c0 ...\n"),
        "{}",
        output.out
    );

    // a map claiming 15 entries with one present
    let malformed = format!("malformed-{}", unique());
    write_raw(
        cluster,
        set,
        &malformed,
        &[Bin::new("data", Value::Blob(vec![1, 1, 0, 0x8f, 0xc0]))],
    )
    .await;
    let output = inspect(cluster, &[set, &malformed]).await;
    assert_eq!(output.status, Status::NoValue);
    assert!(
        output
            .out
            .contains("codec       1, MessagePack (named fields)\n"),
        "{}",
        output.out
    );
    assert!(
        output
            .out
            .contains("value       not shown: the MessagePack payload is malformed"),
        "{}",
        output.out
    );

    let other_bins = format!("other-{}", unique());
    write_raw(
        cluster,
        set,
        &other_bins,
        &[
            Bin::new("data", Value::Int(5)),
            Bin::new("x", Value::Int(1)),
        ],
    )
    .await;
    let report = json(&inspect(cluster, &["--json", set, &other_bins]).await);
    assert_eq!(report["problem"], "bin `data` holds an integer");
}

#[tokio::test]
async fn an_unreachable_cluster_fails_quickly_with_a_message() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let hosts = format!("127.0.0.1:{port}");
    let no_env = |_: &str| None;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cacheaside_inspect::run(
        ["--hosts", &hosts, "--timeout-ms", "500", "s", "k"].map(str::to_owned),
        &no_env,
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(status, Status::Failed);
    let err = String::from_utf8(err).unwrap();
    assert!(err.starts_with("cacheaside-inspect: "), "{err}");
    assert!(err.contains(&hosts), "{err}");
    assert!(out.is_empty());
}

#[tokio::test]
async fn the_binary_reads_the_environment_and_exits_with_the_status() {
    let cluster = init().await;
    let id = unique();
    get_user(id).await.unwrap();
    let binary = env!("CARGO_BIN_EXE_cacheaside-inspect");
    let mut command = std::process::Command::new(binary);
    command
        .args(["--json", USERS, &user_key(id)])
        .env("AEROSPIKE_HOSTS", cluster.hosts())
        .env("AEROSPIKE_NAMESPACE", cluster.namespace())
        .env_remove("AEROSPIKE_USER")
        .env_remove("AEROSPIKE_PASSWORD");
    if let Some((user, password)) = cluster.credentials() {
        command
            .env("AEROSPIKE_USER", user)
            .env("AEROSPIKE_PASSWORD", password);
    }
    let output = command.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["value"], serde_json::to_value(user(id)).unwrap());

    let missing = std::process::Command::new(binary)
        .args(["--hosts", &cluster.hosts(), USERS, &user_key(unique())])
        .env("AEROSPIKE_NAMESPACE", cluster.namespace())
        .output()
        .expect("the binary runs");
    if cluster.credentials().is_none() {
        assert_eq!(missing.status.code(), Some(3));
    }

    let help = std::process::Command::new(binary)
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("Usage: cacheaside-inspect"));

    let usage = std::process::Command::new(binary)
        .arg("--bogus")
        .output()
        .expect("the binary runs");
    assert_eq!(usage.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&usage.stderr);
    assert!(stderr.contains("unknown option `--bogus`"), "{stderr}");
    assert!(stderr.contains("Usage: cacheaside-inspect"), "{stderr}");
}

/// Values the client would parse recursively (a list 100,000 deep overflows any thread's stack),
/// or could not parse at all (a string that is not UTF-8), are named by their type and never
/// read; the tool lives and says what the bin holds.
#[tokio::test]
async fn hostile_values_are_named_not_parsed() {
    use cacheaside_testkit::raw::{self, particle, RawBin};

    let cluster = init().await;
    let set = "inspect_hostile";
    let deep_list = [vec![0x91; 100_000], vec![0xc0]].concat();
    let deep_map = [[0x81, 0x00].repeat(50_000), vec![0xc0]].concat();
    let cases = [
        (particle::LIST, deep_list, "a list"),
        (particle::MAP, deep_map, "a map"),
        (particle::STRING, vec![0xff, 0xfe], "a string"),
    ];
    for (particle_type, bytes, kind) in cases {
        let key = format!("hostile-{}", unique());
        let bins = [RawBin::new("data", particle_type, bytes)];
        let namespace = cluster.namespace();
        let user_key = cacheaside_testkit::UserKey::from(key.as_str());
        let code = raw::put(&cluster.hosts(), namespace, set, &user_key, &bins)
            .await
            .expect("raw write");
        assert_eq!(code, 0);
        let output = inspect(cluster, &[set, &key]).await;
        assert_eq!(output.status, Status::NoValue, "{}", output.err);
        let expected = format!("entry       bin `data` holds {kind}, not an envelope\n");
        assert!(output.out.contains(&expected), "{}", output.out);
    }
    // An invalidation marker whose bin `invalidated` is a deep list: shown as a marker.
    let key = format!("hostile-marker-{}", unique());
    let bins = [RawBin::new(
        "invalidated",
        particle::LIST,
        [vec![0x91; 100_000], vec![0xc0]].concat(),
    )];
    let user_key = cacheaside_testkit::UserKey::from(key.as_str());
    let code = raw::put(&cluster.hosts(), cluster.namespace(), set, &user_key, &bins)
        .await
        .expect("raw write");
    assert_eq!(code, 0);
    let report = json(&inspect(cluster, &["--json", set, &key]).await);
    assert_eq!(
        report["bins"],
        serde_json::json!(["invalidated"]),
        "{report}"
    );
}

#[tokio::test]
async fn sizes_of_the_entries_named_by_key() {
    let cluster = init().await;
    let ids = [unique(), unique(), unique()];
    for id in ids {
        get_user(id).await.unwrap();
    }
    // Each entry's size, as the single-entry report gives it.
    let mut expected = Vec::new();
    for id in ids {
        let report = json(&inspect(cluster, &["--json", USERS, &user_key(id)]).await);
        expected.push(report["size"].as_u64().expect("a size"));
    }
    expected.sort_unstable();
    let invalidated = unique();
    get_user(invalidated).await.unwrap();
    get_user_invalidate(invalidated).await.expect("invalidated");
    let keys: Vec<String> = ids
        .iter()
        .chain([&invalidated, &unique()])
        .map(|&id| user_key(id))
        .collect();
    let mut args = vec!["--sizes", "--json", USERS];
    args.extend(keys.iter().map(String::as_str));

    let output = inspect(cluster, &args).await;
    let report = printed_json(&output);
    assert_eq!(report["mode"], "keys");
    assert_eq!(report["records"], 4);
    assert_eq!(report["missing"], 1);
    assert_eq!(report["entries"], 3);
    assert_eq!(report["without_value"], 1, "the invalidation marker");
    let data = &report["data_bytes"];
    assert_eq!(data["min"], expected[0]);
    assert_eq!(data["median"], expected[1]);
    assert_eq!(data["max"], expected[2]);
    assert_eq!(data["p95"], expected[2]);
    assert_eq!(report["header_bytes"]["min"], 3);
    assert_eq!(report["header_bytes"]["max"], 3);
    let total: u64 = expected.iter().sum();
    assert_eq!(
        report["aerospike_bytes_at_least"],
        64 + total.div_ceil(3),
        "the index entry plus the mean bin `data`"
    );

    let text = inspect(
        cluster,
        &args[..1]
            .iter()
            .chain(&args[2..])
            .copied()
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(text.status, Status::Printed);
    assert!(
        text.out.contains(
            "records     4 of 5 keys (1 not found)\nentries     3 with a value, 1 without\n"
        ),
        "{}",
        text.out
    );
    assert!(
        text.out.contains(&format!(
            "data bin    min {}, median {}, p95 {}, max {}, mean ",
            expected[0], expected[1], expected[2], expected[2]
        )),
        "{}",
        text.out
    );
}

#[tokio::test]
async fn sizes_tell_missing_records_from_records_without_a_value() {
    let cluster = init().await;
    let missing = inspect(cluster, &["--sizes", USERS, &user_key(unique())]).await;
    assert_eq!(missing.status, Status::NotFound, "{}", missing.err);
    assert!(
        missing
            .out
            .contains("entries     0 with a value, 0 without\n"),
        "{}",
        missing.out
    );
    assert!(!missing.out.contains("data bin"), "{}", missing.out);

    let set = "inspect_raw";
    let key = format!("sizes-not-bytes-{}", unique());
    write_raw(cluster, set, &key, &[Bin::new("data", Value::Int(5))]).await;
    let report = json(&inspect(cluster, &["--sizes", "--json", set, &key]).await);
    assert_eq!(report["entries"], 0);
    assert_eq!(report["without_value"], 1);
    assert_eq!(report.get("data_bytes"), None);
    let status = inspect(cluster, &["--sizes", set, &key]).await.status;
    assert_eq!(status, Status::NoValue);
}

/// Scans are a server feature the testkit does not have: this runs against the cluster
/// `AEROSPIKE_HOSTS` names, and passes without checking anything on the testkit.
#[tokio::test]
async fn sizes_of_a_scanned_set() {
    let cluster = init().await;
    if cluster.server().is_some() {
        return;
    }
    #[cache_aside(set = "inspect_sizes_scan", ttl = 600, key = id)]
    async fn padded(id: u64) -> String {
        "x".repeat(100 + (id % 10) as usize)
    }
    let base = unique();
    for id in base..base + 20 {
        padded(id).await;
    }
    let output = inspect(
        cluster,
        &["--sizes", "--json", "--sample", "5", "inspect_sizes_scan"],
    )
    .await;
    let report = printed_json(&output);
    assert_eq!(report["mode"], "scan");
    assert_eq!(report["records"], 5, "the sample bounds the scan");
    let data = &report["data_bytes"];
    // 3 bytes of header, a str8 header of 2 bytes, 100 to 109 bytes.
    assert!(data["min"].as_u64().unwrap() >= 105, "{report}");
    assert!(data["max"].as_u64().unwrap() <= 114, "{report}");
}
