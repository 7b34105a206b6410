//! Bin values as the server stores them.

/// Wire particle types.
pub(crate) mod particle {
    pub(crate) const NULL: u8 = 0;
    pub(crate) const INTEGER: u8 = 1;
    pub(crate) const FLOAT: u8 = 2;
    pub(crate) const STRING: u8 = 3;
    pub(crate) const BLOB: u8 = 4;
    pub(crate) const BOOL: u8 = 17;
    pub(crate) const MAP: u8 = 19;
    pub(crate) const LIST: u8 = 20;
}

/// A bin value. Lists, maps and other complex types are kept as the bytes the client sent (msgpack for
/// lists and maps) and returned unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum BinValue {
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A byte array.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// A list, as msgpack bytes.
    List(Vec<u8>),
    /// A map, as msgpack bytes.
    Map(Vec<u8>),
    /// Any other particle type, or a string that is not UTF-8, with its raw bytes.
    Other {
        /// The wire particle type.
        particle_type: u8,
        /// The raw value bytes.
        bytes: Vec<u8>,
    },
}

/// Why a value from the wire could not be stored.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadValue;

impl BinValue {
    /// Decodes a value from its particle type and bytes; `Ok(None)` is the nil particle (remove the bin).
    pub(crate) fn from_wire(particle_type: u8, bytes: &[u8]) -> Result<Option<BinValue>, BadValue> {
        let eight = || <[u8; 8]>::try_from(bytes).map_err(|_| BadValue);
        Ok(Some(match particle_type {
            particle::NULL => return Ok(None),
            particle::INTEGER => BinValue::Int(i64::from_be_bytes(eight()?)),
            particle::FLOAT => BinValue::Float(f64::from_be_bytes(eight()?)),
            // The real server stores any bytes as a string; only valid UTF-8 is a `Str`.
            particle::STRING => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => BinValue::Str(text),
                Err(not_utf8) => BinValue::Other {
                    particle_type: particle::STRING,
                    bytes: not_utf8.into_bytes(),
                },
            },
            particle::BLOB => BinValue::Blob(bytes.to_vec()),
            particle::BOOL => match bytes {
                [b] => BinValue::Bool(*b != 0),
                _ => return Err(BadValue),
            },
            particle::LIST => BinValue::List(bytes.to_vec()),
            particle::MAP => BinValue::Map(bytes.to_vec()),
            other => BinValue::Other {
                particle_type: other,
                bytes: bytes.to_vec(),
            },
        }))
    }

    /// The wire particle type.
    pub fn particle_type(&self) -> u8 {
        match self {
            BinValue::Int(_) => particle::INTEGER,
            BinValue::Float(_) => particle::FLOAT,
            BinValue::Str(_) => particle::STRING,
            BinValue::Blob(_) => particle::BLOB,
            BinValue::Bool(_) => particle::BOOL,
            BinValue::List(_) => particle::LIST,
            BinValue::Map(_) => particle::MAP,
            BinValue::Other { particle_type, .. } => *particle_type,
        }
    }

    /// Appends the value's wire bytes to `out`.
    pub(crate) fn write_wire(&self, out: &mut Vec<u8>) {
        match self {
            BinValue::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
            BinValue::Float(f) => out.extend_from_slice(&f.to_be_bytes()),
            BinValue::Str(s) => out.extend_from_slice(s.as_bytes()),
            BinValue::Bool(b) => out.push(u8::from(*b)),
            BinValue::Blob(b)
            | BinValue::List(b)
            | BinValue::Map(b)
            | BinValue::Other { bytes: b, .. } => {
                out.extend_from_slice(b);
            }
        }
    }

    /// Size of the value's wire bytes.
    pub(crate) fn wire_size(&self) -> usize {
        match self {
            BinValue::Int(_) | BinValue::Float(_) => 8,
            BinValue::Bool(_) => 1,
            BinValue::Str(s) => s.len(),
            BinValue::Blob(b)
            | BinValue::List(b)
            | BinValue::Map(b)
            | BinValue::Other { bytes: b, .. } => b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_wire_form() {
        let values = [
            BinValue::Int(-5),
            BinValue::Float(1.5),
            BinValue::Str("hé".into()),
            BinValue::Blob(vec![0, 255]),
            BinValue::Bool(true),
            BinValue::List(vec![0x91, 0x01]),
            BinValue::Map(vec![0x80]),
        ];
        for value in values {
            let mut bytes = Vec::new();
            value.write_wire(&mut bytes);
            assert_eq!(bytes.len(), value.wire_size());
            assert_eq!(
                BinValue::from_wire(value.particle_type(), &bytes),
                Ok(Some(value))
            );
        }
    }

    #[test]
    fn malformed_values_are_rejected_and_nil_removes() {
        assert_eq!(
            BinValue::from_wire(particle::INTEGER, &[1, 2]),
            Err(BadValue)
        );
        assert_eq!(
            BinValue::from_wire(particle::STRING, &[0xff]),
            Ok(Some(BinValue::Other {
                particle_type: particle::STRING,
                bytes: vec![0xff]
            }))
        );
        assert_eq!(BinValue::from_wire(particle::NULL, &[]), Ok(None));
    }
}
