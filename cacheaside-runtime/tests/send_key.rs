//! `send_key(true)` stores the user key in the record; by default only its digest is stored.
//! Reading stored keys back needs the testkit (gets never return them); skipped against a real
//! server.

use std::time::Duration;

use cacheaside_runtime::__private::{default_key, get_or_load, CacheSpec, PlainKind};
use cacheaside_runtime::Ttl;
use cacheaside_testkit::{TestServer, UserKey};

static SPEC: CacheSpec = CacheSpec {
    cache: None,
    namespace: None,
    set: "rt_send_key",
    ttl: Ttl::Seconds(60),
    function: "f",
    codec: cacheaside_runtime::__private::Codec::MessagePack,
};

async fn call(arg: &str) -> u32 {
    get_or_load(
        &SPEC,
        default_key(&SPEC, "app", &(&arg,)),
        PlainKind,
        async { 1 },
    )
    .await
}

#[tokio::test]
async fn send_key_stores_the_user_key() {
    if std::env::var("AEROSPIKE_HOSTS").is_ok_and(|hosts| !hosts.is_empty()) {
        eprintln!("send_key_stores_the_user_key: skipped, it needs the testkit server");
        return;
    }
    let server = TestServer::start().await.unwrap();
    let config = |send_key| {
        cacheaside_runtime::Config::builder()
            .hosts(server.hosts())
            .operation_timeout(Duration::from_secs(2))
            .send_key(send_key)
            .build()
            .unwrap()
    };

    cacheaside_runtime::init(config(false)).await.unwrap();
    call("digest-only").await;
    let record = server
        .record("test", "rt_send_key", r#"::app::f("digest-only")"#)
        .expect("written");
    assert_eq!(record.user_key, None);

    cacheaside_runtime::init(config(true)).await.unwrap();
    call("with-key").await;
    let record = server
        .record("test", "rt_send_key", r#"::app::f("with-key")"#)
        .expect("written");
    assert_eq!(
        record.user_key,
        Some(UserKey::Str(r#"::app::f("with-key")"#.to_owned()))
    );
}
