//! 64 concurrent client tasks doing 10,000 mixed operations end with no error and a consistent state.
//! Runs against a real server when `AEROSPIKE_HOSTS` is set.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use aerospike::{as_bin, as_key, Bins, ReadPolicy, Value, WritePolicy};
use common::{any_server, unique_set};

const TASKS: usize = 64;
const TOTAL_OPS: usize = 10_000;
const KEYS_PER_TASK: i64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_ten_thousand_mixed_operations() {
    let target = any_server().await;
    let client = Arc::new(target.client);
    let namespace = target.namespace.clone();
    let set = unique_set("concurrency");
    let counter_key = as_key!(namespace.as_str(), set.as_str(), "shared-counter");
    client
        .put(&WritePolicy::default(), &counter_key, &[as_bin!("n", 0)])
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let client = Arc::clone(&client);
        let (namespace, set, counter_key) = (namespace.clone(), set.clone(), counter_key.clone());
        let ops = TOTAL_OPS / TASKS + usize::from(task < TOTAL_OPS % TASKS);
        tasks.push(tokio::spawn(async move {
            // What this task believes its own keys hold; only this task writes them.
            let mut model: HashMap<i64, Option<i64>> = HashMap::new();
            let mut adds = 0i64;
            for step in 0..ops {
                let slot = (step as i64) % KEYS_PER_TASK;
                let id = task as i64 * 1000 + slot;
                let key = as_key!(namespace.as_str(), set.as_str(), id);
                match step % 5 {
                    0 | 1 => {
                        let value = (task * 100_000 + step) as i64;
                        client
                            .put(&WritePolicy::default(), &key, &[as_bin!("v", value)])
                            .await
                            .unwrap();
                        model.insert(slot, Some(value));
                    }
                    2 => {
                        let expected = model.get(&slot).copied().flatten();
                        match client.get(&ReadPolicy::default(), &key, Bins::All).await {
                            Ok(record) => {
                                assert_eq!(Some(record.bins["v"].clone()), expected.map(Value::Int))
                            }
                            Err(err) => {
                                assert_eq!(expected, None, "{err:?}");
                            }
                        }
                    }
                    3 => {
                        client
                            .add(&WritePolicy::default(), &counter_key, &[as_bin!("n", 1)])
                            .await
                            .unwrap();
                        adds += 1;
                    }
                    _ => {
                        if step % 15 == 4 {
                            client.delete(&WritePolicy::default(), &key).await.unwrap();
                            model.insert(slot, None);
                        } else {
                            let exists = client.exists(&ReadPolicy::default(), &key).await.unwrap();
                            assert_eq!(exists, model.get(&slot).copied().flatten().is_some());
                        }
                    }
                }
            }
            (task, model, adds)
        }));
    }

    let mut total_adds = 0;
    for handle in tasks {
        let (task, model, adds) = handle.await.expect("task ran without error");
        total_adds += adds;
        for (slot, expected) in model {
            let key = as_key!(namespace.as_str(), set.as_str(), task as i64 * 1000 + slot);
            let found = client
                .get(&ReadPolicy::default(), &key, Bins::All)
                .await
                .ok();
            assert_eq!(found.map(|r| r.bins["v"].clone()), expected.map(Value::Int));
        }
    }
    let counter = client
        .get(&ReadPolicy::default(), &counter_key, Bins::All)
        .await
        .unwrap();
    assert_eq!(counter.bins["n"], Value::Int(total_adds));
    assert_eq!(i64::from(counter.generation), total_adds + 1);
}
