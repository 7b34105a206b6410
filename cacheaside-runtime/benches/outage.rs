//! Added latency per call during cache outages, against a no-cache baseline measured in the same
//! run: `cargo bench -p cacheaside-runtime --bench outage`.
//!
//! The loader returns at once, so a call's time is the cache's overhead. For each outage mode
//! (stalled server, connection resets, server errors, stopped server) it reports the calls that
//! detect the outage (before the breaker opens; each costs at most one operation timeout) and the
//! calls after it opened, as p50 and p99 of added latency over the baseline's.

use std::time::{Duration, Instant};

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::TestServer;

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "bench_outage",
    ttl: Ttl::Seconds(600),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

const OPERATION_TIMEOUT: Duration = Duration::from_millis(50);
const PAUSE: Duration = Duration::from_millis(200);
const CYCLES: usize = 10;
const OPEN_CALLS: usize = 2_000;

struct Bench {
    server: TestServer,
    next_key: u64,
}

impl Bench {
    /// One call of a cached function whose loader costs nothing; returns its duration.
    async fn call(&mut self) -> Duration {
        self.next_key += 1;
        let key = default_key(&SPEC, "bench", &(&self.next_key,));
        let start = Instant::now();
        let value = get_or_load(&SPEC, key, PlainKind, async { 7u64 }).await;
        let elapsed = start.elapsed();
        assert_eq!(value, 7);
        elapsed
    }

    /// One call of the same key twice: the second is a hit.
    async fn hit(&mut self) -> Duration {
        self.next_key += 1;
        let key = || default_key(&SPEC, "bench", &(&self.next_key,));
        get_or_load(&SPEC, key(), PlainKind, async { 7u64 }).await;
        let start = Instant::now();
        get_or_load(&SPEC, key(), PlainKind, async { 8u64 }).await;
        start.elapsed()
    }

    async fn breaker_opens(&self) -> u64 {
        cacheaside_runtime::stats().set(SPEC.set).breaker_opens
    }

    /// Waits until a call is a hit again (caching resumed), bounded.
    async fn recover(&mut self) {
        for _ in 0..500 {
            self.next_key += 1;
            let key = || default_key(&SPEC, "bench", &(&self.next_key,));
            get_or_load(&SPEC, key(), PlainKind, async { 1u64 }).await;
            if get_or_load(&SPEC, key(), PlainKind, async { 0u64 }).await == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("caching did not resume");
    }
}

/// Percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Row {
    mode: String,
    samples: Vec<Duration>,
}

fn print_table(baseline: &[Duration], rows: &mut [Row]) {
    let mut baseline = baseline.to_vec();
    baseline.sort_unstable();
    let (base50, base99) = (percentile(&baseline, 0.5), percentile(&baseline, 0.99));
    println!(
        "baseline (loader only, no cache): p50 {base50:?}  p99 {base99:?}  ({} calls)",
        baseline.len()
    );
    println!("operation timeout {OPERATION_TIMEOUT:?}, breaker pause {PAUSE:?}");
    println!();
    println!("| mode | calls | added p50 | added p99 |\n| --- | ---: | ---: | ---: |");
    for row in rows {
        row.samples.sort_unstable();
        let p50 = percentile(&row.samples, 0.5).saturating_sub(base50);
        let p99 = percentile(&row.samples, 0.99).saturating_sub(base99);
        println!(
            "| {} | {} | {:.3} ms | {:.3} ms |",
            row.mode,
            row.samples.len(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

/// Detecting and open samples of one fault mode, over several outage cycles.
async fn outage(bench: &mut Bench, mode: &str, fault: impl Fn(&TestServer), rows: &mut Vec<Row>) {
    let mut detecting = Vec::new();
    let mut open = Vec::new();
    for _ in 0..CYCLES {
        bench.recover().await;
        let opens = bench.breaker_opens().await;
        fault(&bench.server);
        for _ in 0..100 {
            if bench.breaker_opens().await != opens {
                break;
            }
            detecting.push(bench.call().await);
        }
        for _ in 0..OPEN_CALLS / CYCLES {
            open.push(bench.call().await);
        }
        bench.server.faults().clear();
    }
    rows.push(Row {
        mode: format!("{mode}, detecting (breaker closed)"),
        samples: detecting,
    });
    rows.push(Row {
        mode: format!("{mode}, breaker open"),
        samples: open,
    });
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less arguments; only measure when
    // asked to bench.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = TestServer::start().await.expect("the testkit server");
        let config = cacheaside_runtime::Config::builder()
            .hosts(server.hosts())
            .operation_timeout(OPERATION_TIMEOUT)
            .reconnect_interval(PAUSE)
            .build()
            .expect("a valid configuration");
        cacheaside_runtime::init(config).await.expect("init");
        let mut bench = Bench {
            server,
            next_key: 0,
        };

        let mut baseline = Vec::with_capacity(OPEN_CALLS);
        for _ in 0..OPEN_CALLS {
            let start = Instant::now();
            let value = std::hint::black_box(async { 7u64 }).await;
            baseline.push(start.elapsed());
            assert_eq!(value, 7);
        }

        let mut rows = Vec::new();
        bench.recover().await;
        let mut healthy = Vec::new();
        for _ in 0..OPEN_CALLS / 4 {
            healthy.push(bench.hit().await);
        }
        rows.push(Row {
            mode: "healthy, hit".to_owned(),
            samples: healthy,
        });
        let mut misses = Vec::new();
        for _ in 0..OPEN_CALLS / 4 {
            misses.push(bench.call().await);
        }
        rows.push(Row {
            mode: "healthy, miss (read + write-back)".to_owned(),
            samples: misses,
        });

        outage(
            &mut bench,
            "stalled",
            |s| s.faults().set_stall(true),
            &mut rows,
        )
        .await;
        outage(
            &mut bench,
            "resetting connections",
            |s| s.faults().set_reset_connections(true),
            &mut rows,
        )
        .await;
        outage(
            &mut bench,
            "server errors (code 1)",
            |s| s.faults().fail_next(u64::MAX, 1),
            &mut rows,
        )
        .await;

        bench.recover().await;
        bench.server.stop().await;
        let mut stopped = Vec::new();
        for _ in 0..OPEN_CALLS {
            stopped.push(bench.call().await);
        }
        rows.push(Row {
            mode: "stopped server".to_owned(),
            samples: stopped,
        });
        bench.server.start_again().await.expect("restart");
        bench.recover().await;

        print_table(&baseline, &mut rows);
    });
}
