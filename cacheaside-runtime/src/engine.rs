//! PLACEHOLDER (contract only): the get-or-load engine replaces this with the real thing.
use core::future::Future;

use crate::__private::{CacheSpec, KeyResult, ReturnKind};

pub(crate) async fn get_or_load<R, K: ReturnKind<R>, F: Future<Output = R>>(
    _spec: &'static CacheSpec,
    _key: KeyResult,
    _kind: K,
    load: F,
) -> R {
    load.await
}

pub(crate) async fn refresh<R, K: ReturnKind<R>, F: Future<Output = R>>(
    _spec: &'static CacheSpec,
    _key: KeyResult,
    _kind: K,
    load: F,
) -> R {
    load.await
}

pub(crate) async fn invalidate(_spec: &'static CacheSpec, _key: KeyResult) -> Result<(), crate::Error> {
    Ok(())
}
