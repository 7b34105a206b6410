//! User keys and the digests Aerospike addresses records by.

use ripemd::{Digest, Ripemd160};

/// A record's user key, as the client sends it: string, integer or bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserKey {
    /// A string key.
    Str(String),
    /// An integer key.
    Int(i64),
    /// A byte-array key.
    Bytes(Vec<u8>),
}

const PARTICLE_INTEGER: u8 = 1;
const PARTICLE_STRING: u8 = 3;
const PARTICLE_BLOB: u8 = 4;

impl UserKey {
    /// The 20-byte digest the client computes for this key in `set`: RIPEMD-160 over the set name, the key's
    /// particle type and the key bytes.
    ///
    /// ```
    /// use cacheaside_testkit::UserKey;
    /// let digest = UserKey::from("alice").digest("users");
    /// assert_eq!(digest.len(), 20);
    /// assert_ne!(digest, UserKey::from("alice").digest("other"));
    /// ```
    pub fn digest(&self, set: &str) -> [u8; 20] {
        let mut hash = Ripemd160::new();
        hash.update(set.as_bytes());
        match self {
            UserKey::Str(s) => {
                hash.update([PARTICLE_STRING]);
                hash.update(s.as_bytes());
            }
            UserKey::Int(i) => {
                hash.update([PARTICLE_INTEGER]);
                hash.update(i.to_be_bytes());
            }
            UserKey::Bytes(b) => {
                hash.update([PARTICLE_BLOB]);
                hash.update(b);
            }
        }
        hash.finalize().into()
    }

    /// Decodes the key field of a request (particle type, then the value); `None` for other types.
    pub(crate) fn from_wire(data: &[u8]) -> Option<UserKey> {
        let (&particle, value) = data.split_first()?;
        match particle {
            PARTICLE_STRING => String::from_utf8(value.to_vec()).ok().map(UserKey::Str),
            PARTICLE_INTEGER => Some(UserKey::Int(i64::from_be_bytes(value.try_into().ok()?))),
            PARTICLE_BLOB => Some(UserKey::Bytes(value.to_vec())),
            _ => None,
        }
    }

    /// Bytes the key adds to a stored record (its size plus two, as measured on a real server).
    pub(crate) fn stored_size(&self) -> usize {
        let size = match self {
            UserKey::Str(s) => s.len(),
            UserKey::Int(_) => 8,
            UserKey::Bytes(b) => b.len(),
        };
        size + 2
    }
}

impl From<&str> for UserKey {
    fn from(value: &str) -> Self {
        UserKey::Str(value.to_owned())
    }
}

impl From<String> for UserKey {
    fn from(value: String) -> Self {
        UserKey::Str(value)
    }
}

impl From<&String> for UserKey {
    fn from(value: &String) -> Self {
        UserKey::Str(value.clone())
    }
}

impl From<i64> for UserKey {
    fn from(value: i64) -> Self {
        UserKey::Int(value)
    }
}

impl From<i32> for UserKey {
    fn from(value: i32) -> Self {
        UserKey::Int(i64::from(value))
    }
}

impl From<u32> for UserKey {
    fn from(value: u32) -> Self {
        UserKey::Int(i64::from(value))
    }
}

impl From<Vec<u8>> for UserKey {
    fn from(value: Vec<u8>) -> Self {
        UserKey::Bytes(value)
    }
}

impl From<&[u8]> for UserKey {
    fn from(value: &[u8]) -> Self {
        UserKey::Bytes(value.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for UserKey {
    fn from(value: &[u8; N]) -> Self {
        UserKey::Bytes(value.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_keys_round_trip() {
        assert_eq!(
            UserKey::from_wire(&[3, b'a', b'b']),
            Some(UserKey::from("ab"))
        );
        assert_eq!(
            UserKey::from_wire(&[1, 0, 0, 0, 0, 0, 0, 0, 7]),
            Some(UserKey::Int(7))
        );
        assert_eq!(UserKey::from_wire(&[4, 9]), Some(UserKey::Bytes(vec![9])));
        assert_eq!(UserKey::from_wire(&[1, 0]), None);
        assert_eq!(UserKey::from_wire(&[]), None);
    }
}
