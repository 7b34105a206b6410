//! The baseline: cache-aside written by hand, the straightforward translation of the Aerospike
//! documentation's recipe with the same client and codec as `#[cache_aside]` (rmp-serde, named
//! fields): get → decode; on a miss, load → put with a TTL. Default client policies, an integer
//! user key, no envelope, no timeouts of its own.

use std::future::Future;
use std::sync::Arc;

use aerospike::{Bin, Client, Expiration, ReadPolicy, Value, WritePolicy};
use serde::{de::DeserializeOwned, Serialize};
use tokio::runtime::Handle;

use super::{integer_key, DATA_BIN, TTL_SECONDS};

/// A hand-written cache over one set.
pub struct HandWritten {
    pub client: Arc<Client>,
    namespace: String,
    set: &'static str,
    read: ReadPolicy,
    write: WritePolicy,
}

impl HandWritten {
    pub fn new(client: Arc<Client>, namespace: &str, set: &'static str) -> Self {
        HandWritten {
            client,
            namespace: namespace.to_owned(),
            set,
            read: ReadPolicy::default(),
            write: WritePolicy::new(0, Expiration::Seconds(TTL_SECONDS)),
        }
    }

    /// The cached value of `id`, or `load`'s result, written back when it is `Ok`.
    /// A cache error is treated as a miss, as any production version of the recipe must.
    pub async fn get_or_load<T, E, F>(&self, id: u64, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        let key = integer_key(&self.namespace, self.set, id);
        // Not found, not decodable or a cache error: all of them load from the source.
        if let Ok(record) = self.client.get(&self.read, &key, [DATA_BIN]).await {
            if let Some(Value::Blob(bytes)) = record.bins.get(DATA_BIN) {
                if let Ok(value) = rmp_serde::from_slice(bytes) {
                    return Ok(value);
                }
            }
        }
        let value = load.await?;
        if let Ok(bytes) = rmp_serde::to_vec_named(&value) {
            // A failed write-back must not fail the call.
            let _ = self
                .client
                .put(&self.write, &key, &[Bin::new(DATA_BIN, Value::Blob(bytes))])
                .await;
        }
        Ok(value)
    }

    /// The same recipe with each client operation spawned on `runtime` and awaited through its
    /// `JoinHandle`, as `cacheaside`'s client does (it lives on a background runtime so that any
    /// executor can call it). Not a baseline: it isolates what that hop costs.
    pub async fn get_or_load_via<T, E, F>(&self, runtime: &Handle, id: u64, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, E>>,
    {
        let key = integer_key(&self.namespace, self.set, id);
        let (client, policy, read_key) = (Arc::clone(&self.client), self.read.clone(), key.clone());
        let read = runtime.spawn(async move { client.get(&policy, &read_key, [DATA_BIN]).await });
        if let Ok(Ok(record)) = read.await {
            if let Some(Value::Blob(bytes)) = record.bins.get(DATA_BIN) {
                if let Ok(value) = rmp_serde::from_slice(bytes) {
                    return Ok(value);
                }
            }
        }
        let value = load.await?;
        if let Ok(bytes) = rmp_serde::to_vec_named(&value) {
            let (client, policy) = (Arc::clone(&self.client), self.write.clone());
            let write = runtime.spawn(async move {
                client
                    .put(&policy, &key, &[Bin::new(DATA_BIN, Value::Blob(bytes))])
                    .await
            });
            let _ = write.await;
        }
        Ok(value)
    }
}
