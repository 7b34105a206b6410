//! PLACEHOLDER (contract only): the runtime's key module replaces this.
use serde::Serialize;

/// An Aerospike user key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    /// A string key.
    Str(String),
    /// An integer key.
    Int(i64),
    /// A bytes key.
    Bytes(Vec<u8>),
}

pub(crate) fn default_key<A: Serialize + ?Sized>(
    _scope: &str,
    _function: &str,
    _args: &A,
) -> Result<UserKey, crate::Error> {
    Err(crate::Error::new("not built yet"))
}

macro_rules! into_user_key {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl crate::__private::IntoUserKey for $t {
            fn into_user_key(self) -> crate::__private::KeyResult {
                let $v = self;
                Ok($e)
            }
        }
    )*};
}
into_user_key! {
    String => |v| UserKey::Str(v),
    &str => |v| UserKey::Str(v.to_owned()),
    &String => |v| UserKey::Str(v.clone()),
    i64 => |v| UserKey::Int(v),
    i32 => |v| UserKey::Int(v.into()),
    u32 => |v| UserKey::Int(v.into()),
    Vec<u8> => |v| UserKey::Bytes(v),
    &[u8] => |v| UserKey::Bytes(v.to_vec()),
}
