//! Single-record gets per second from the real client against the testkit on loopback.
//!
//! `cargo bench -p cacheaside-testkit --bench gets`; criterion reports the rate as elements/s.

use std::sync::Arc;

use aerospike::{as_bin, as_key, Bins, Client, ClientPolicy, ReadPolicy, WritePolicy};
use cacheaside_testkit::TestServer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const IN_FLIGHT: u64 = 32;

fn gets(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = TestServer::builder()
        .start_blocking()
        .expect("server starts");
    let client = Arc::new(
        runtime
            .block_on(Client::new(&ClientPolicy::default(), &server.hosts()))
            .expect("client connects"),
    );
    let key = as_key!("test", "bench", "hot");
    runtime
        .block_on(client.put(
            &WritePolicy::default(),
            &key,
            &[as_bin!("data", vec![7u8; 256])],
        ))
        .expect("put");
    let policy = ReadPolicy::default();

    let mut group = c.benchmark_group("testkit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_one_at_a_time", |b| {
        b.to_async(&runtime)
            .iter(|| async { client.get(&policy, &key, Bins::All).await.expect("get") });
    });

    group.throughput(Throughput::Elements(IN_FLIGHT));
    group.bench_function("get_32_in_flight", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..IN_FLIGHT {
                let (client, key) = (Arc::clone(&client), key.clone());
                tasks.spawn(async move {
                    client
                        .get(&ReadPolicy::default(), &key, Bins::All)
                        .await
                        .map(|_| ())
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.expect("task").expect("get");
            }
        });
    });
    group.finish();
}

criterion_group!(benches, gets);
criterion_main!(benches);
