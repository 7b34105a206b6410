//! A test server of several nodes, through the real client: discovery from one seed, commands
//! routed to each key's master, node loss and return. These tests do nothing when
//! `AEROSPIKE_HOSTS` is set.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aerospike::{as_bin, as_key, Bins, Client, ClientPolicy, ReadPolicy, WritePolicy};
use cacheaside_testkit::{TestServer, TestServerBuilder};
use common::real_hosts;

const SET: &str = "nodes";
const KEYS: i64 = 300;
/// Far longer than any of the waits below takes; they poll, so they end as soon as they can.
const PATIENCE: Duration = Duration::from_secs(20);

/// A server of `nodes` nodes and a client that knows only the first node's address, tending as
/// often as the client allows.
async fn cluster(builder: TestServerBuilder) -> Option<(TestServer, Client)> {
    if real_hosts().is_some() {
        eprintln!("skipped: testkit-only test while AEROSPIKE_HOSTS is set");
        return None;
    }
    let server = builder.start().await.expect("testkit server starts");
    let policy = ClientPolicy {
        tend_interval: 250,
        ..ClientPolicy::default()
    };
    let client = Client::new(&policy, &server.node_host(0))
        .await
        .expect("client connects");
    Some((server, client))
}

fn three_nodes() -> TestServerBuilder {
    TestServer::builder()
        .nodes(3)
        .recluster_delay(Duration::from_millis(300))
}

/// Polls `condition` until it holds, or panics after [`PATIENCE`] with `what`.
async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "still not true: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sorted_node_names(client: &Client) -> Vec<String> {
    let mut names = client.node_names();
    names.sort();
    names
}

async fn write_keys(client: &Client) {
    for i in 0..KEYS {
        client
            .put(
                &WritePolicy::default(),
                &as_key!("test", SET, i),
                &[as_bin!("i", i)],
            )
            .await
            .unwrap();
    }
}

/// Reads every key with `policy`; returns the keys that failed, with their errors.
async fn unreadable_keys(client: &Client, policy: &ReadPolicy) -> Vec<(i64, String)> {
    let mut failed = Vec::new();
    for i in 0..KEYS {
        match client
            .get(policy, &as_key!("test", SET, i), Bins::All)
            .await
        {
            Ok(record) => assert_eq!(record.bins["i"], aerospike::Value::from(i)),
            Err(error) => failed.push((i, error.to_string())),
        }
    }
    failed
}

/// One try, on the node the client's partition map names master.
fn master_only() -> ReadPolicy {
    let mut policy = ReadPolicy::default();
    policy.base_policy.max_retries = 0;
    policy
}

/// How many of the test keys each node is master of, as the server advertises now.
fn masters(server: &TestServer) -> HashMap<usize, u64> {
    let mut count = HashMap::new();
    for i in 0..KEYS {
        *count.entry(server.owners(SET, i)[0]).or_default() += 1;
    }
    count
}

#[tokio::test]
async fn client_discovers_every_node_from_one_seed() {
    let Some((server, client)) = cluster(three_nodes()).await else {
        return;
    };
    let expected: Vec<String> = (0..3).map(|node| server.node_name(node)).collect();
    assert_eq!(sorted_node_names(&client), expected);
    assert_eq!(expected[0], "BB9TESTKIT0001");
    assert_eq!(server.cluster_nodes(), [0, 1, 2]);
    assert_eq!(server.hosts().split(',').count(), 3);
    for node in 0..3 {
        assert!(
            server.node_counters(node).info > 0,
            "node {node} was tended"
        );
        assert_eq!(
            server.hosts().split(',').nth(node).unwrap(),
            server.node_host(node)
        );
    }
}

#[tokio::test]
async fn each_node_serves_the_keys_it_is_master_of() {
    let Some((server, client)) = cluster(three_nodes()).await else {
        return;
    };
    write_keys(&client).await;
    assert!(unreadable_keys(&client, &master_only()).await.is_empty());

    let masters = masters(&server);
    for node in 0..3 {
        let counters = server.node_counters(node);
        assert!(masters[&node] > 0, "node {node} masters some keys");
        assert_eq!(counters.writes, masters[&node], "node {node}");
        assert_eq!(counters.reads, masters[&node], "node {node}");
        assert_eq!((counters.served_as_replica, counters.proxied), (0, 0));
    }
    let total = server.counters();
    assert_eq!((total.writes, total.reads), (KEYS as u64, KEYS as u64));
    for i in 0..KEYS {
        let owners = server.owners(SET, i);
        assert_eq!(owners.len(), 2, "master and one replica");
        assert_ne!(owners[0], owners[1]);
    }
}

#[tokio::test]
async fn nodes_answer_info_as_members_of_one_cluster() {
    let Some((server, client)) = cluster(three_nodes()).await else {
        return;
    };
    let policy = aerospike::AdminPolicy::default();
    let node = client.get_node(&server.node_name(1)).unwrap();
    let info = node
        .info(
            &policy,
            &[
                "node",
                "peers-clear-std",
                "replicas",
                "namespace/test",
                "services",
            ],
        )
        .await
        .unwrap();
    assert_eq!(info["node"], server.node_name(1));
    let generation = info["peers-clear-std"]
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        info["peers-clear-std"],
        format!(
            "{generation},3000,[[{},,[{}]],[{},,[{}]]]",
            server.node_name(0),
            server.node_host(0),
            server.node_name(2),
            server.node_host(2)
        )
    );
    assert_eq!(
        info["services"],
        format!("{};{}", server.node_host(0), server.node_host(2)).replace(',', ";")
    );
    let replicas = &info["replicas"];
    assert!(replicas.starts_with("test:0,2,"), "{replicas}");
    assert_eq!(replicas.len(), "test:0,2,".len() + 684 + 1 + 684);
    let namespace = &info["namespace/test"];
    for stat in [
        "ns_cluster_size=3",
        "effective_replication_factor=2",
        "replication-factor=2",
    ] {
        assert!(namespace.split(';').any(|s| s == stat), "{namespace}");
    }
}

#[tokio::test]
async fn a_killed_node_leaves_the_cluster_and_its_keys_stay_readable() {
    let Some((server, client)) = cluster(three_nodes()).await else {
        return;
    };
    write_keys(&client).await;
    let victim = 1;
    server.kill_node(victim).await;
    assert_eq!(server.hosts().split(',').count(), 2);
    server.reset_counters();

    eventually("the client drops the killed node", || async {
        client.node_names().len() == 2
    })
    .await;
    assert_eq!(server.cluster_nodes(), [0, 2]);
    assert!(!client.node_names().contains(&server.node_name(victim)));
    // The killed node's partitions passed to their replicas, and the client routes there.
    eventually("the client routes every key to a survivor", || async {
        unreadable_keys(&client, &master_only()).await.is_empty()
    })
    .await;
    assert!(!masters(&server).contains_key(&victim));
    assert_eq!(server.node_counters(victim).data_commands(), 0);

    server.restart_node(victim).await.unwrap();
    assert_eq!(server.hosts().split(',').count(), 3);
    eventually("the client finds the restarted node", || async {
        client.node_names().len() == 3
    })
    .await;
    assert_eq!(server.cluster_nodes(), [0, 1, 2]);
    eventually("the restarted node serves its keys again", || async {
        server.reset_counters();
        assert!(unreadable_keys(&client, &master_only()).await.is_empty());
        server.node_counters(victim).reads == masters(&server)[&victim]
    })
    .await;
}

/// What the client does while the cluster has not noticed the loss yet: the nodes still name
/// the killed node master of its partitions, so the client keeps it and sends its keys there.
/// New connections are refused, so a command waits for a connection until its total timeout:
/// it never reaches the socket timeout, so it never retries on the partition's replica. (Against a
/// real 8.1 cluster the client dropped a killed node after one tend, before the others stopped
/// listing it; this test pins what happens against the test server.)
#[tokio::test]
async fn until_the_cluster_re_forms_the_killed_nodes_keys_time_out() {
    let builder = three_nodes().recluster_delay(Duration::from_secs(600));
    let Some((server, client)) = cluster(builder).await else {
        return;
    };
    write_keys(&client).await;
    let victim = 2;
    let masters: Vec<usize> = (0..KEYS).map(|i| server.owners(SET, i)[0]).collect();
    server.kill_node(victim).await;
    server.reset_counters();

    let mut policy = ReadPolicy::default();
    policy.base_policy.total_timeout = 200;
    policy.base_policy.socket_timeout = 50;
    let mut timed_out = 0;
    for i in (0..KEYS).take(30) {
        let read = client
            .get(&policy, &as_key!("test", SET, i), Bins::All)
            .await;
        if masters[i as usize] == victim {
            let error = read.expect_err("the killed node's key");
            assert!(
                matches!(error.kind(), aerospike::ErrorKind::Timeout),
                "{error}"
            );
            timed_out += 1;
        } else {
            read.unwrap();
        }
    }
    assert!(timed_out > 0);
    let counters = server.counters();
    assert_eq!((counters.served_as_replica, counters.proxied), (0, 0));
    assert_eq!(
        client.node_names().len(),
        3,
        "the client keeps the killed node"
    );
    assert_eq!(server.cluster_nodes(), [0, 1, 2]);

    // Restarted, the node answers at once, but as a node outside any cluster, as a real one does
    // before it has joined.
    server.restart_node(victim).await.unwrap();
    let info = raw_info(
        &server.node_host(victim),
        &[
            "node",
            "partition-generation",
            "peers-generation",
            "peers-clear-std",
            "replicas",
        ],
    )
    .await;
    assert_eq!(
        info,
        format!(
            "node\t{}\npartition-generation\t-1\npeers-generation\t0\npeers-clear-std\t0,3000,[]\n\
             replicas\ttest:0,1,{}=\n",
            server.node_name(victim),
            "A".repeat(683)
        )
    );
}

/// Sends one info request over a new connection and returns the answer's body.
async fn raw_info(host: &str, names: &[&str]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let body: String = names.iter().map(|name| format!("{name}\n")).collect();
    let header = (2u64 << 56) | (1u64 << 48) | body.len() as u64;
    stream.write_all(&header.to_be_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await.unwrap();
    let mut answer = vec![0u8; (u64::from_be_bytes(header) & 0xFFFF_FFFF_FFFF) as usize];
    stream.read_exact(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn rebalance_moves_the_keys_to_other_masters() {
    let Some((server, client)) = cluster(three_nodes()).await else {
        return;
    };
    write_keys(&client).await;
    let before: Vec<usize> = (0..KEYS).map(|i| server.owners(SET, i)[0]).collect();
    server.rebalance();
    let after: Vec<usize> = (0..KEYS).map(|i| server.owners(SET, i)[0]).collect();
    assert!(before.iter().zip(&after).all(|(b, a)| b != a));
    // Until the client fetches the new map, its reads reach old masters, which still hold a copy.
    eventually("the client follows the new partition map", || async {
        server.reset_counters();
        assert!(unreadable_keys(&client, &master_only()).await.is_empty());
        let counters = server.counters();
        counters.served_as_replica == 0 && counters.proxied == 0
    })
    .await;
}

#[tokio::test]
async fn one_node_still_owns_everything_alone() {
    let Some((server, client)) = cluster(TestServer::builder()).await else {
        return;
    };
    assert_eq!(server.node_count(), 1);
    assert_eq!(server.hosts(), server.node_host(0));
    assert_eq!(client.node_names(), ["BB9TESTKIT0001"]);
    let info = client
        .info(
            &aerospike::AdminPolicy::default(),
            &[
                "peers-clear-std",
                "replicas",
                "namespace/test",
                "partition-generation",
            ],
        )
        .await
        .unwrap();
    assert_eq!(info["peers-clear-std"], "1,3000,[]");
    assert_eq!(info["partition-generation"], "1");
    assert!(info["replicas"].starts_with("test:0,1,////"));
    assert!(info["namespace/test"].starts_with(
        "ns_cluster_size=1;effective_replication_factor=1;objects=0;replication-factor=1;"
    ));
}
