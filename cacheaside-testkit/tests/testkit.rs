//! What only the testkit can do: the virtual clock, stop and restart, inspection, faults and counters.
//! These tests do nothing when `AEROSPIKE_HOSTS` is set.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use aerospike::{
    as_bin, as_key, Bins, Client, Expiration, ReadPolicy, ResultCode, Value, WritePolicy,
};
use cacheaside_testkit::{BinValue, CommandKind, NamespaceConfig, TestServer, UserKey};
use common::{connect, testkit_only};

fn ttl_policy(secs: u32) -> WritePolicy {
    WritePolicy {
        expiration: Expiration::Seconds(secs),
        ..WritePolicy::default()
    }
}

fn short_timeout() -> ReadPolicy {
    let mut policy = ReadPolicy::default();
    policy.base_policy.total_timeout = 200;
    policy.base_policy.max_retries = 0;
    policy
}

#[tokio::test]
async fn advancing_the_clock_ages_and_expires_records() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "clock", "k");
    client
        .put(&ttl_policy(100), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();

    server.clock().advance(Duration::from_secs(60));
    let ttl = client
        .get(&ReadPolicy::default(), &key, Bins::None)
        .await
        .unwrap()
        .time_to_live()
        .unwrap();
    assert!(
        ttl <= Duration::from_secs(40) && ttl >= Duration::from_secs(35),
        "client sees {ttl:?}"
    );
    let view = server.record("test", "clock", "k").unwrap();
    assert!(view.ttl.unwrap() <= Duration::from_secs(40));

    server.clock().advance(Duration::from_secs(41));
    let err = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap_err();
    assert_eq!(err.server_result_code(), Some(ResultCode::KeyNotFoundError));
    assert!(server.record("test", "clock", "k").is_none());

    // An expired record is gone: writing it again starts a new generation.
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 2)])
        .await
        .unwrap();
    assert_eq!(server.record("test", "clock", "k").unwrap().generation, 1);
}

#[tokio::test]
async fn namespace_default_ttl_applies_to_default_writes() {
    let builder = TestServer::builder()
        .namespace(NamespaceConfig::new("test").default_ttl(Duration::from_secs(500)));
    let Some((server, client)) = testkit_only(builder).await else {
        return;
    };
    let key = as_key!("test", "default", 1);
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    let ttl = server.record("test", "default", 1).unwrap().ttl.unwrap();
    assert!(
        ttl <= Duration::from_secs(500) && ttl >= Duration::from_secs(495),
        "{ttl:?}"
    );
}

#[tokio::test]
async fn nsup_period_zero_forbids_ttls_but_accepts_never_expire() {
    let builder = TestServer::builder()
        .namespace(NamespaceConfig::new("test"))
        .namespace(NamespaceConfig::new("nottl").nsup_period(Duration::ZERO));
    let Some((_server, client)) = testkit_only(builder).await else {
        return;
    };
    let key = as_key!("nottl", "s", "k");
    let err = client
        .put(&ttl_policy(60), &key, &[as_bin!("a", 1)])
        .await
        .unwrap_err();
    assert_eq!(err.server_result_code(), Some(ResultCode::FailForbidden));
    let never = WritePolicy {
        expiration: Expiration::Never,
        ..WritePolicy::default()
    };
    client.put(&never, &key, &[as_bin!("a", 1)]).await.unwrap();
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 2)])
        .await
        .unwrap();
}

#[tokio::test]
async fn inspection_reads_bins_and_lists_keys() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let send_key = WritePolicy {
        send_key: true,
        ..WritePolicy::default()
    };
    client
        .put(
            &send_key,
            &as_key!("test", "users", "alice"),
            &[as_bin!("age", 30)],
        )
        .await
        .unwrap();
    client
        .put(
            &send_key,
            &as_key!("test", "users", 7),
            &[as_bin!("b", vec![1u8])],
        )
        .await
        .unwrap();
    client
        .put(
            &WritePolicy::default(),
            &as_key!("test", "users", vec![9u8, 9]),
            &[as_bin!("s", "x")],
        )
        .await
        .unwrap();
    client
        .put(
            &WritePolicy::default(),
            &as_key!("test", "other", "bob"),
            &[as_bin!("a", 1)],
        )
        .await
        .unwrap();

    let alice = server.record("test", "users", "alice").unwrap();
    assert_eq!(alice.bin("age"), Some(&BinValue::Int(30)));
    assert_eq!(alice.generation, 1);
    assert_eq!(alice.ttl, None);
    assert_eq!(alice.user_key, Some(UserKey::from("alice")));
    assert_eq!(
        server.record("test", "users", 7).unwrap().bin("b"),
        Some(&BinValue::Blob(vec![1]))
    );
    assert_eq!(
        server
            .record("test", "users", vec![9u8, 9])
            .unwrap()
            .user_key,
        None
    );

    let keys = server.keys("test", "users");
    assert_eq!(keys.len(), 3);
    let user_keys: Vec<_> = keys.iter().filter_map(|k| k.user_key.clone()).collect();
    assert!(user_keys.contains(&UserKey::Int(7)) && user_keys.contains(&UserKey::from("alice")));
    assert!(keys
        .iter()
        .any(|k| k.digest == UserKey::Bytes(vec![9, 9]).digest("users")));

    server.clear();
    assert!(server.keys("test", "users").is_empty());
}

#[tokio::test]
async fn counters_count_commands_per_kind() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    server.reset_counters();
    let key = as_key!("test", "count", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    let counters = server.counters();
    assert_eq!(
        (counters.reads, counters.writes, counters.data_commands()),
        (1, 1, 2)
    );

    client.exists(&ReadPolicy::default(), &key).await.unwrap();
    client.touch(&WritePolicy::default(), &key).await.unwrap();
    client
        .operate(
            &WritePolicy::default(),
            &key,
            &[aerospike::operations::get()],
        )
        .await
        .unwrap();
    client.delete(&WritePolicy::default(), &key).await.unwrap();
    let counters = server.counters();
    assert_eq!(
        (
            counters.exists,
            counters.touches,
            counters.reads,
            counters.deletes
        ),
        (1, 1, 2, 1),
        "{counters:?}"
    );
    assert_eq!(counters.get(CommandKind::Write), 1);
    server.reset_counters();
    assert_eq!(server.counters().data_commands(), 0);
}

#[tokio::test]
async fn stop_refuses_connections_and_start_again_keeps_data_and_port() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "outage", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    let port = server.port();

    server.stop().await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port must be closed"
    );
    assert!(client.get(&short_timeout(), &key, Bins::All).await.is_err());

    server.start_again().await.unwrap();
    assert_eq!(server.port(), port);
    // The client finds the node again on its next tend (1 s); bounded wait for it.
    let mut record = None;
    for _ in 0..100 {
        if let Ok(found) = client.get(&ReadPolicy::default(), &key, Bins::All).await {
            record = Some(found);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record.expect("client recovers").bins["a"], Value::Int(1));
}

#[tokio::test]
async fn fail_next_answers_chosen_result_codes() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "fail", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    server.faults().fail_next(2, 14);
    for _ in 0..2 {
        let err = client
            .get(&short_timeout(), &key, Bins::All)
            .await
            .unwrap_err();
        assert_eq!(err.server_result_code(), Some(ResultCode::KeyBusy));
    }
    client.get(&short_timeout(), &key, Bins::All).await.unwrap();
}

#[tokio::test]
async fn stall_and_latency_run_clients_into_their_timeouts() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "stall", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();

    server.faults().set_stall(true);
    let err = client
        .get(&short_timeout(), &key, Bins::All)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), aerospike::ErrorKind::Timeout),
        "{err:?}"
    );
    server.faults().set_stall(false);

    server
        .faults()
        .set_latency_for(CommandKind::Read, Duration::from_secs(5));
    let err = client
        .get(&short_timeout(), &key, Bins::All)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), aerospike::ErrorKind::Timeout),
        "{err:?}"
    );
    // Writes are not delayed by a read latency.
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 2)])
        .await
        .unwrap();
    server.faults().clear();
    assert_eq!(
        server.record("test", "stall", "k").unwrap().bin("a"),
        Some(&BinValue::Int(2))
    );
}

#[tokio::test]
async fn reset_connections_fails_commands_until_switched_off() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "reset", "k");
    client
        .put(&WritePolicy::default(), &key, &[as_bin!("a", 1)])
        .await
        .unwrap();
    server.faults().set_reset_connections(true);
    assert!(client.get(&short_timeout(), &key, Bins::All).await.is_err());
    server.faults().set_reset_connections(false);
    client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
}

#[tokio::test]
async fn refused_connections_keep_new_clients_out() {
    let Some((server, _client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    server.faults().refuse_connections(true);
    let policy = aerospike::ClientPolicy {
        timeout: 300,
        ..aerospike::ClientPolicy::default()
    };
    assert!(Client::new(&policy, &server.hosts()).await.is_err());
    server.faults().refuse_connections(false);
    Client::new(&policy, &server.hosts()).await.unwrap();
}

#[tokio::test]
async fn corrupt_next_reads_flips_bin_bytes_once() {
    let Some((server, client)) = testkit_only(TestServer::builder()).await else {
        return;
    };
    let key = as_key!("test", "corrupt", "k");
    client
        .put(
            &WritePolicy::default(),
            &key,
            &[as_bin!("b", vec![1u8, 2, 3])],
        )
        .await
        .unwrap();
    server.faults().corrupt_next_reads(1);
    let corrupted = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(corrupted.bins["b"], Value::Blob(vec![0xfe, 0xfd, 0xfc]));
    let clean = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(clean.bins["b"], Value::Blob(vec![1, 2, 3]));
}

/// A server shared by tests, each with its own runtime that ends with the test.
fn shared_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestServer::builder()
            .start_blocking()
            .expect("server starts")
    })
}

#[tokio::test]
async fn shared_server_outlives_test_runtimes_first() {
    if common::real_hosts().is_some() {
        return;
    }
    let client = connect(&shared_server().hosts()).await;
    client
        .put(
            &WritePolicy::default(),
            &as_key!("test", "shared", "one"),
            &[as_bin!("a", 1)],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn shared_server_outlives_test_runtimes_second() {
    if common::real_hosts().is_some() {
        return;
    }
    let client = connect(&shared_server().hosts()).await;
    client
        .put(
            &WritePolicy::default(),
            &as_key!("test", "shared", "two"),
            &[as_bin!("a", 2)],
        )
        .await
        .unwrap();
}

#[test]
fn blocking_start_serves_and_drop_frees_the_port() {
    let server = TestServer::builder().start_blocking().unwrap();
    let port = server.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(server);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
