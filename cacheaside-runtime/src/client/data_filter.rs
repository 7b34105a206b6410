//! Which records reach the client's value parser: only those whose bin `data` holds bytes.
//!
//! The `aerospike` client parses a List or Map bin recursively, without a depth limit, on the
//! calling thread, and fails the whole read on a String bin that is not UTF-8. Anyone who can
//! write to the cache's namespace could otherwise crash every reader of a key (a 5 KB list nested
//! 5,000 deep overflows the stack) or poison it. This library only ever writes a Blob into bin
//! `data`, so every read carries a filter expression that lets the server answer only for records
//! whose bin `data` is a Blob or absent (an invalidation marker); for any other record the server
//! answers FILTERED_OUT and sends no bins. Such a record is treated as undecodable, and replaced
//! by a write filtered the other way round, which succeeds only while the record is still
//! unusable (so it never overwrites what another writer stored meanwhile).
//!
//! The expressions are packed once; each request copies about 20 bytes. Filter expressions need
//! Aerospike 5.2 or later.

use std::sync::OnceLock;

use aerospike::expressions::{self, bin_type, eq, int_val, not, or, Expression};
use aerospike::ParticleType;

use crate::envelope::DATA_BIN;

/// `bin_type(data)` is nil (no such bin) or blob.
pub(crate) fn usable() -> &'static Expression {
    &packed().0
}

/// The negation of [`usable`]: a replacement write passes only while the record is unusable.
pub(crate) fn unusable() -> &'static Expression {
    &packed().1
}

fn packed() -> &'static (Expression, Expression) {
    static PACKED: OnceLock<(Expression, Expression)> = OnceLock::new();
    PACKED.get_or_init(|| {
        let usable = or(vec![
            eq(bin_type(DATA_BIN), int_val(ParticleType::Null as i64)),
            eq(bin_type(DATA_BIN), int_val(ParticleType::Blob as i64)),
        ]);
        let unusable = not(usable.clone());
        (pack(usable), pack(unusable))
    })
}

/// `bin_type(lease)` is nil: the entry is not being refreshed by another process (see
/// `client::lease`).
pub(crate) fn unleased() -> &'static Expression {
    static UNLEASED: OnceLock<Expression> = OnceLock::new();
    UNLEASED.get_or_init(|| {
        pack(eq(
            bin_type(super::lease::LEASE_BIN),
            int_val(ParticleType::Null as i64),
        ))
    })
}

/// The expression as the bytes the client sends, so that requests copy them instead of packing
/// the tree again.
fn pack(expression: Expression) -> Expression {
    // The client packs to bytes only through base64; these expressions always pack.
    match expression
        .base64()
        .and_then(|b64| expressions::from_base64(&b64))
    {
        Ok(packed) => packed,
        Err(_) => expression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_pack_as_the_server_expects() {
        // [or, [eq, [bin_type, "data"], 0], [eq, [bin_type, "data"], 4]]
        let bin_type_data = [0x92, 82, 0xa4, b'd', b'a', b't', b'a'];
        let mut expected = vec![0x93, 17, 0x93, 1];
        expected.extend_from_slice(&bin_type_data);
        expected.extend_from_slice(&[0, 0x93, 1]);
        expected.extend_from_slice(&bin_type_data);
        expected.push(4);
        let b64 = |e: &Expression| e.base64().unwrap();
        let packed = |bytes: Vec<u8>| b64(&expressions::from_packed_bytes(bytes));
        assert_eq!(b64(usable()), packed(expected.clone()));
        assert_eq!(
            b64(unusable()),
            packed([&[0x92, 18][..], &expected].concat())
        );
    }
}
