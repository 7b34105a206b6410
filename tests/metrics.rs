//! The `metrics` feature end to end: a Prometheus recorder sees the counters of `stats()` and the
//! call and load durations of a miss and a hit, labelled by set and outcome only.
//!
//! The facade's tests build with the feature (its dev-dependency on itself turns it on). This
//! binary has one test, so the global recorder sees only its calls.

mod common;

use cacheaside::cache_aside;
use metrics_exporter_prometheus::PrometheusBuilder;

#[cache_aside(set = "metrics_users", ttl = 3600)]
async fn user_name(id: u64) -> String {
    format!("user {id}")
}

#[tokio::test]
async fn a_miss_then_a_hit_are_counted_and_timed() {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    common::init().await;
    let id = common::unique();
    assert_eq!(user_name(id).await, format!("user {id}"));
    assert_eq!(user_name(id).await, format!("user {id}"));

    let text = prometheus.render();
    let value = |series: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    };
    for series in [
        r#"cacheaside_misses_total{set="metrics_users"}"#,
        r#"cacheaside_hits_total{set="metrics_users"}"#,
        r#"cacheaside_loads_total{set="metrics_users"}"#,
        r#"cacheaside_writes_total{set="metrics_users"}"#,
        r#"cacheaside_call_duration_seconds_count{set="metrics_users",outcome="miss"}"#,
        r#"cacheaside_call_duration_seconds_count{set="metrics_users",outcome="hit"}"#,
        r#"cacheaside_load_duration_seconds_count{set="metrics_users"}"#,
    ] {
        assert_eq!(value(series), Some(1.0), "{series} in\n{text}");
    }
    let stats = cacheaside::stats().set("metrics_users");
    assert_eq!(
        (stats.hits, stats.misses, stats.loads, stats.writes),
        (1, 1, 1, 1),
        "the same events as stats()"
    );
    for absent in ["cache_errors", "undecodable", "load_errors"] {
        let series = format!("cacheaside_{absent}_total{{set=\"metrics_users\"}}");
        assert_eq!(value(&series), None, "{series} never happened");
    }
    for outcome in ["local_hit", "stale", "bypass", "error"] {
        let series = format!(
            "cacheaside_call_duration_seconds_count{{set=\"metrics_users\",outcome=\"{outcome}\"}}"
        );
        assert_eq!(value(&series), None, "no call ended as {outcome}");
    }

    // The recorder was installed before the set's first call: it got descriptions and units.
    assert!(
        text.contains("# HELP cacheaside_hits_total Calls answered from the cache."),
        "{text}"
    );
    // Neither the key (the argument) nor the value appears anywhere.
    assert!(!text.contains(&id.to_string()), "no key in labels:\n{text}");
    assert!(!text.contains("user "), "no value in labels:\n{text}");
}
