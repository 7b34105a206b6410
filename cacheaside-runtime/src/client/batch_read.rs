//! Batch reads of many entries in one command, for batch loaders.
//!
//! A child of `client` so that it runs on the same background runtime, with the same timeout and
//! circuit breaker as the single-record operations, without changing them.

use std::sync::{Arc, OnceLock};

use aerospike::{BatchOperation, BatchPolicy, BatchReadPolicy, Bins, Key, ResultCode};

use super::{data_filter, Cache, Stored};
use crate::breaker::Admission;
use crate::envelope::DATA_BIN;
use crate::Error;

/// What one key of a batch read found.
pub(crate) enum Row {
    /// The record: bin `data` (if any), generation and remaining TTL.
    Found(Stored),
    /// No such record.
    Absent,
    /// The server could not answer for this key (the reason, for the log).
    Failed(String),
}

impl Clone for Cache {
    fn clone(&self) -> Self {
        Cache {
            client: Arc::clone(&self.client),
            own_client: self.own_client.clone(),
            made_in_task: self.made_in_task,
            installation: Arc::clone(&self.installation),
            counters: self.counters,
            // A probe's outcome is its own: a copy reports as an ordinary call.
            admission: Admission::Closed,
            fallback: OnceLock::new(),
        }
    }
}

impl Cache {
    /// Reads bin `data` of every key in one batch command (the client sends one request per
    /// node), bounded by the operation timeout of the keys' set as a whole. One row per key, in
    /// order.
    pub(crate) async fn read_batch(&self, keys: Vec<Key>) -> Result<Vec<Row>, Error> {
        // The keys of one batch call share their set, and so its policies.
        let set = keys.first().map_or("", Key::set_name);
        let read = &self.installation.policies_for(set).read;
        let mut policy = BatchPolicy::default();
        policy.base_policy.total_timeout = read.base_policy.total_timeout;
        policy.base_policy.socket_timeout = read.base_policy.socket_timeout;
        policy.base_policy.max_retries = read.base_policy.max_retries;
        policy.base_policy.sleep_between_retries = 0;
        // Rows whose bin `data` is not bytes answer FILTERED_OUT (see `data_filter`).
        policy.base_policy.filter_expression = Some(data_filter::usable().clone());
        self.run(None, move |client| async move {
            let row_policy = BatchReadPolicy::default();
            let mut ops: Vec<BatchOperation> = keys
                .into_iter()
                .map(|key| BatchOperation::read(&row_policy, key, Bins::from([DATA_BIN])))
                .collect();
            client.batch(&policy, &mut ops).await?;
            Ok(ops.iter_mut().map(row).collect())
        })
        .await
    }
}

fn row(op: &mut BatchOperation) -> Row {
    match op.result_code() {
        Some(ResultCode::Ok) => match op.take_record() {
            Some(mut record) => Row::Found(Stored::of(&mut record)),
            None => Row::Absent,
        },
        Some(ResultCode::KeyNotFoundError) => Row::Absent,
        Some(ResultCode::FilteredOut) => Row::Found(Stored::UNUSABLE),
        Some(code) => Row::Failed(format!("{code:?}")),
        None => Row::Failed(
            op.error()
                .map_or_else(|| "no answer".to_owned(), ToString::to_string),
        ),
    }
}
