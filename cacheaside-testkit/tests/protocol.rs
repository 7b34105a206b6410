//! Behaviour of single-record commands, batch reads and info, through the public `aerospike` client.
//! Runs against a real server when `AEROSPIKE_HOSTS` is set.

mod common;

use std::time::Duration;

use aerospike::operations;
use aerospike::{
    as_bin, as_key, BatchOperation, BatchPolicy, BatchReadPolicy, Bin, Bins, Expiration,
    GenerationPolicy, Key, ReadPolicy, RecordExistsAction, ResultCode, Value, WritePolicy,
};
use common::{any_server, unique_set};

fn code(err: &aerospike::Error) -> Option<ResultCode> {
    err.server_result_code()
}

fn write_policy(edit: impl FnOnce(&mut WritePolicy)) -> WritePolicy {
    let mut policy = WritePolicy::default();
    edit(&mut policy);
    policy
}

#[tokio::test]
async fn put_then_get_all_bins_named_bins_and_header() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("get").as_str(), "k1");
    let bins = vec![
        as_bin!("int", 42),
        as_bin!("float", 1.5),
        as_bin!("str", "hello"),
        as_bin!("blob", vec![0u8, 1, 255]),
        as_bin!("bool", true),
        Bin::new("list", Value::List(vec![Value::Int(1), Value::from("two")])),
    ];
    t.client
        .put(&WritePolicy::default(), &key, &bins)
        .await
        .unwrap();

    let all = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(all.bins.len(), 6);
    assert_eq!(all.bins["int"], Value::Int(42));
    assert_eq!(all.bins["float"], Value::from(1.5));
    assert_eq!(all.bins["str"], Value::from("hello"));
    assert_eq!(all.bins["blob"], Value::Blob(vec![0, 1, 255]));
    assert_eq!(all.bins["bool"], Value::Bool(true));
    assert_eq!(
        all.bins["list"],
        Value::List(vec![Value::Int(1), Value::from("two")])
    );
    assert_eq!(all.generation, 1);

    let named = t
        .client
        .get(&ReadPolicy::default(), &key, ["int", "str", "absent"])
        .await
        .unwrap();
    assert_eq!(named.bins.len(), 2);
    assert_eq!(named.bins["str"], Value::from("hello"));

    let header = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap();
    assert!(header.bins.is_empty());
    assert_eq!(header.generation, 1);
}

#[tokio::test]
async fn nil_removes_a_bin_and_integer_and_bytes_keys_work() {
    let t = any_server().await;
    let set = unique_set("keys");
    for key in [
        as_key!(t.namespace.as_str(), set.as_str(), 7),
        as_key!(t.namespace.as_str(), set.as_str(), vec![1u8, 2, 3]),
    ] {
        t.client
            .put(
                &WritePolicy::default(),
                &key,
                &[as_bin!("a", 1), as_bin!("b", 2)],
            )
            .await
            .unwrap();
        t.client
            .put(&WritePolicy::default(), &key, &[as_bin!("a", None)])
            .await
            .unwrap();
        let record = t
            .client
            .get(&ReadPolicy::default(), &key, Bins::All)
            .await
            .unwrap();
        assert_eq!(record.bins.len(), 1);
        assert_eq!(record.bins["b"], Value::Int(2));
        assert_eq!(record.generation, 2);
    }
}

#[tokio::test]
async fn exists_delete_and_missing_records() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("del").as_str(), "k");
    assert!(!t.client.exists(&ReadPolicy::default(), &key).await.unwrap());
    let err = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::KeyNotFoundError));

    t.client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    assert!(t.client.exists(&ReadPolicy::default(), &key).await.unwrap());
    assert!(t
        .client
        .delete(&WritePolicy::default(), &key)
        .await
        .unwrap());
    assert!(!t
        .client
        .delete(&WritePolicy::default(), &key)
        .await
        .unwrap());
    assert!(!t.client.exists(&ReadPolicy::default(), &key).await.unwrap());
}

#[tokio::test]
async fn generation_counts_writes_and_restarts_after_delete() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("gen").as_str(), "k");
    let put = WritePolicy::default();
    t.client.put(&put, &key, &[as_bin!("a", 1)]).await.unwrap();
    t.client.put(&put, &key, &[as_bin!("a", 2)]).await.unwrap();
    t.client.touch(&put, &key).await.unwrap();
    let record = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap();
    assert_eq!(record.generation, 3);

    t.client.delete(&put, &key).await.unwrap();
    t.client.put(&put, &key, &[as_bin!("a", 3)]).await.unwrap();
    let record = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap();
    assert_eq!(record.generation, 1);
}

#[tokio::test]
async fn touch_of_a_missing_record_is_not_found() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("touch").as_str(), "k");
    let err = t
        .client
        .touch(&WritePolicy::default(), &key)
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::KeyNotFoundError));
}

#[tokio::test]
async fn record_exists_actions_and_generation_checks() {
    let t = any_server().await;
    let set = unique_set("policy");
    let key = as_key!(t.namespace.as_str(), set.as_str(), "k");

    let create_only = write_policy(|p| p.record_exists_action = RecordExistsAction::CreateOnly);
    t.client
        .put(&create_only, &key, &[as_bin!("a", 1), as_bin!("b", 1)])
        .await
        .unwrap();
    let err = t
        .client
        .put(&create_only, &key, &[as_bin!("a", 2)])
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::KeyExistsError));

    let missing = as_key!(t.namespace.as_str(), set.as_str(), "missing");
    for action in [
        RecordExistsAction::UpdateOnly,
        RecordExistsAction::ReplaceOnly,
    ] {
        let policy = write_policy(|p| p.record_exists_action = action);
        let err = t
            .client
            .put(&policy, &missing, &[as_bin!("a", 1)])
            .await
            .unwrap_err();
        assert_eq!(code(&err), Some(ResultCode::KeyNotFoundError));
    }

    let update_only = write_policy(|p| p.record_exists_action = RecordExistsAction::UpdateOnly);
    t.client
        .put(&update_only, &key, &[as_bin!("a", 2)])
        .await
        .unwrap();
    let record = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(record.bins.len(), 2, "update keeps other bins");

    let replace = write_policy(|p| p.record_exists_action = RecordExistsAction::Replace);
    t.client
        .put(&replace, &key, &[as_bin!("c", 3)])
        .await
        .unwrap();
    let record = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(
        record.bins.keys().collect::<Vec<_>>(),
        ["c"],
        "replace drops other bins"
    );
    assert_eq!(record.generation, 3);

    let stale = write_policy(|p| {
        p.generation_policy = GenerationPolicy::ExpectGenEqual;
        p.generation = 2;
    });
    let err = t
        .client
        .put(&stale, &key, &[as_bin!("c", 4)])
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::GenerationError));
    let current = write_policy(|p| {
        p.generation_policy = GenerationPolicy::ExpectGenEqual;
        p.generation = 3;
    });
    t.client
        .put(&current, &key, &[as_bin!("c", 4)])
        .await
        .unwrap();
}

#[tokio::test]
async fn expiration_seconds_never_default_and_dont_update() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("ttl").as_str(), "k");
    let with = |expiration| write_policy(|p| p.expiration = expiration);

    t.client
        .put(&with(Expiration::Seconds(1000)), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    let ttl = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap()
        .time_to_live();
    let ttl = ttl.expect("a record with a TTL");
    assert!(
        ttl <= Duration::from_secs(1000) && ttl >= Duration::from_secs(990),
        "{ttl:?}"
    );

    t.client
        .put(&with(Expiration::DontUpdate), &key, &[as_bin!("a", 2)])
        .await
        .unwrap();
    let ttl = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap()
        .time_to_live();
    assert!(
        ttl.is_some_and(|ttl| ttl >= Duration::from_secs(990)),
        "{ttl:?}"
    );

    t.client
        .put(&with(Expiration::Never), &key, &[as_bin!("a", 3)])
        .await
        .unwrap();
    let record = t
        .client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap();
    assert_eq!(record.time_to_live(), None);
}

#[tokio::test]
async fn operate_reads_writes_adds_touches_and_deletes() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("operate").as_str(), "k");
    t.client
        .put(
            &WritePolicy::default(),
            &key,
            &[as_bin!("n", 10), as_bin!("s", "ab")],
        )
        .await
        .unwrap();

    let record = t
        .client
        .operate(
            &WritePolicy::default(),
            &key,
            &[
                operations::add(&as_bin!("n", 5)),
                operations::append(&as_bin!("s", "cd")),
                operations::prepend(&as_bin!("s", ">")),
                operations::put(&as_bin!("new", 1)),
                operations::get_bin("n"),
                operations::get_bin("s"),
                operations::touch(),
            ],
        )
        .await
        .unwrap();
    // With RESPOND_ALL_OPS a real server answers one result per bin operation, nil for the
    // writes; a touch names no bin and gets none.
    let results = record.results.expect("positional results");
    assert_eq!(results.len(), 6, "{results:?}");
    assert_eq!(results[4], Value::Int(15));
    assert_eq!(results[5], Value::from(">abcd"));
    assert!(results[..4].iter().all(|v| *v == Value::Nil));
    assert_eq!(record.generation, 2);

    let record = t
        .client
        .operate(
            &WritePolicy::default(),
            &key,
            &[operations::add(&as_bin!("n", 1)), operations::get()],
        )
        .await
        .unwrap();
    assert_eq!(
        record.bins["n"],
        Value::Int(16),
        "reading all bins returns the bins, not per-op results"
    );
    assert_eq!(record.bins["new"], Value::Int(1));

    t.client
        .operate(&WritePolicy::default(), &key, &[operations::delete()])
        .await
        .unwrap();
    assert!(!t.client.exists(&ReadPolicy::default(), &key).await.unwrap());

    let err = t
        .client
        .operate(&WritePolicy::default(), &key, &[operations::get_bin("n")])
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::KeyNotFoundError));
}

#[tokio::test]
async fn adding_to_a_string_bin_is_a_bin_type_error() {
    let t = any_server().await;
    let key = as_key!(t.namespace.as_str(), unique_set("bintype").as_str(), "k");
    t.client
        .put(&WritePolicy::default(), &key, &[as_bin!("s", "text")])
        .await
        .unwrap();
    let err = t
        .client
        .add(&WritePolicy::default(), &key, &[as_bin!("s", 1)])
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::BinTypeError));
}

#[tokio::test]
async fn records_over_the_size_limit_are_rejected() {
    let t = any_server().await;
    let set = unique_set("size");
    let key = as_key!(t.namespace.as_str(), set.as_str(), "k");
    // As measured on Aerospike 8.1: 46 bytes for the record and its one bin, the bin's name, and
    // the set's name with its length.
    let largest = cacheaside_testkit::DEFAULT_MAX_RECORD_SIZE - 46 - "b".len() - (set.len() + 1);
    t.client
        .put(
            &WritePolicy::default(),
            &key,
            &[as_bin!("b", vec![7u8; largest])],
        )
        .await
        .unwrap();
    let err = t
        .client
        .put(
            &WritePolicy::default(),
            &key,
            &[as_bin!("b", vec![7u8; largest + 1])],
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::RecordTooBig));
}

#[tokio::test]
async fn unknown_namespace_is_rejected() {
    let t = any_server().await;
    let key = as_key!("no_such_namespace", "s", "k");
    let err = t
        .client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), aerospike::ErrorKind::InvalidNamespace),
        "{err:?}"
    );
}

#[tokio::test]
async fn batch_reads_return_rows_in_order_with_missing_keys() {
    let t = any_server().await;
    let set = unique_set("batch");
    let keys: Vec<Key> = (0..5)
        .map(|i| as_key!(t.namespace.as_str(), set.as_str(), i))
        .collect();
    for (i, key) in keys.iter().enumerate().take(4) {
        t.client
            .put(
                &WritePolicy::default(),
                key,
                &[as_bin!("i", i as i64), as_bin!("other", "x")],
            )
            .await
            .unwrap();
    }
    let policy = BatchReadPolicy::default();
    let mut ops: Vec<BatchOperation> = keys
        .iter()
        .map(|key| BatchOperation::read(&policy, key.clone(), Bins::All))
        .collect();
    ops.push(BatchOperation::read(
        &policy,
        keys[1].clone(),
        Bins::from(["i"]),
    ));
    ops.push(BatchOperation::read(&policy, keys[2].clone(), Bins::None));
    t.client
        .batch(&BatchPolicy::default(), &mut ops)
        .await
        .unwrap();

    for (i, op) in ops.iter().enumerate().take(4) {
        let record = op.record().expect("found");
        assert_eq!(record.bins["i"], Value::Int(i as i64));
        assert_eq!(record.bins.len(), 2);
    }
    assert!(ops[4].record().is_none());
    assert_eq!(ops[4].result_code(), Some(ResultCode::KeyNotFoundError));
    assert_eq!(ops[5].record().unwrap().bins.len(), 1);
    assert!(ops[6].record().unwrap().bins.is_empty());
    assert_eq!(ops[6].record().unwrap().generation, 1);
}

#[tokio::test]
async fn info_answers_known_and_unknown_names() {
    let t = any_server().await;
    let policy = aerospike::AdminPolicy::default();
    let info = t
        .client
        .info(&policy, &["namespaces", "build", "no-such-info-name"])
        .await
        .unwrap();
    assert!(info["namespaces"].split(';').any(|ns| ns == t.namespace));
    assert!(!info["build"].is_empty());
    assert!(
        info.get("no-such-info-name")
            .is_none_or(|v| v.starts_with("ERROR")),
        "{info:?}"
    );
}

/// Filter expressions on `bin_type`, as a cache sends them: a live record the filter rejects
/// answers FILTERED_OUT to reads, batch rows and writes; a write that creates the record is not
/// filtered; an expression the server cannot evaluate is a parameter error.
#[tokio::test]
async fn filter_expressions_on_bin_types() {
    use aerospike::expressions::{bin_type, eq, int_val, not, or};
    use aerospike::ParticleType;

    let t = any_server().await;
    let set = unique_set("filter");
    let blob_or_nothing = || {
        or(vec![
            eq(bin_type("data"), int_val(ParticleType::Null as i64)),
            eq(bin_type("data"), int_val(ParticleType::Blob as i64)),
        ])
    };
    let mut read = ReadPolicy::default();
    read.base_policy.filter_expression = Some(blob_or_nothing());
    let blob = as_key!(t.namespace.as_str(), set.as_str(), "blob");
    let list = as_key!(t.namespace.as_str(), set.as_str(), "list");
    let marker = as_key!(t.namespace.as_str(), set.as_str(), "marker");
    let absent = as_key!(t.namespace.as_str(), set.as_str(), "absent");
    let records = [
        (&blob, as_bin!("data", vec![1u8, 2])),
        (&list, Bin::new("data", Value::List(vec![Value::Int(1)]))),
        (&marker, as_bin!("invalidated", 1)),
    ];
    for (key, bin) in records {
        t.client
            .put(&WritePolicy::default(), key, &[bin])
            .await
            .unwrap();
    }

    let found = t.client.get(&read, &blob, ["data"]).await.unwrap();
    assert_eq!(found.bins["data"], Value::Blob(vec![1, 2]));
    let found = t.client.get(&read, &marker, ["data"]).await.unwrap();
    assert!(found.bins.is_empty());
    let err = t.client.get(&read, &list, ["data"]).await.unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::FilteredOut));
    let err = t.client.get(&read, &absent, ["data"]).await.unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::KeyNotFoundError));

    let mut batch = BatchPolicy::default();
    batch.base_policy.filter_expression = Some(blob_or_nothing());
    let row_policy = BatchReadPolicy::default();
    let mut ops: Vec<BatchOperation> = [&blob, &list, &absent]
        .into_iter()
        .map(|key| BatchOperation::read(&row_policy, key.clone(), Bins::from(["data"])))
        .collect();
    t.client.batch(&batch, &mut ops).await.unwrap();
    let codes: Vec<_> = ops.iter().map(BatchOperation::result_code).collect();
    assert_eq!(
        codes,
        [
            Some(ResultCode::Ok),
            Some(ResultCode::FilteredOut),
            Some(ResultCode::KeyNotFoundError)
        ]
    );

    // Replacing only while the bin is not bytes: refused on the blob, done on the list.
    let replace = write_policy(|p| {
        p.record_exists_action = RecordExistsAction::ReplaceOnly;
        p.base_policy.filter_expression = Some(not(blob_or_nothing()));
    });
    let bytes = [as_bin!("data", vec![9u8])];
    let err = t.client.put(&replace, &blob, &bytes).await.unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::FilteredOut));
    t.client.put(&replace, &list, &bytes).await.unwrap();
    let found = t.client.get(&read, &list, ["data"]).await.unwrap();
    assert_eq!(found.bins["data"], Value::Blob(vec![9]));
    // A write that creates the record ignores the filter.
    let create = write_policy(|p| p.base_policy.filter_expression = Some(not(blob_or_nothing())));
    t.client.put(&create, &absent, &bytes).await.unwrap();

    // An expression that is not a boolean cannot filter.
    let mut bad = ReadPolicy::default();
    bad.base_policy.filter_expression = Some(int_val(7));
    let err = t.client.get(&bad, &blob, ["data"]).await.unwrap_err();
    assert_eq!(code(&err), Some(ResultCode::ParameterError));
}

/// `truncate_lut` of `sets/<ns>/<set>`, if the server reports the set.
async fn truncate_lut(client: &aerospike::Client, command: &str) -> Option<u64> {
    let answers = client
        .info(&aerospike::AdminPolicy::default(), &[command])
        .await
        .unwrap();
    answers[command]
        .split([':', ';'])
        .find_map(|field| field.strip_prefix("truncate_lut="))
        .map(|value| value.parse().unwrap())
}

#[tokio::test]
async fn set_info_reports_records_and_the_truncate_cutoff() {
    let t = any_server().await;
    let set = unique_set("setinfo");
    let command = format!("sets/{}/{set}", t.namespace);
    assert_eq!(
        truncate_lut(&t.client, &command).await,
        None,
        "an unseen set"
    );
    for id in 0..2 {
        let key = as_key!(t.namespace.as_str(), set.as_str(), id);
        t.client
            .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
            .await
            .unwrap();
    }
    let answers = t
        .client
        .info(&aerospike::AdminPolicy::default(), &[command.as_str()])
        .await
        .unwrap();
    assert!(answers[&command].contains("objects=2"), "{answers:?}");
    let before = truncate_lut(&t.client, &command).await.unwrap();

    t.client
        .truncate(&aerospike::AdminPolicy::default(), &t.namespace, &set, 0)
        .await
        .unwrap();
    // A real server applies the cutoff shortly after it answers.
    let mut after = before;
    for _ in 0..500 {
        after = truncate_lut(&t.client, &command).await.unwrap_or(0);
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        after > before,
        "the cutoff moves forward: {before} → {after}"
    );
}
