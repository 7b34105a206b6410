//! Filter expressions (message field 43): the subset a cache client sends, evaluated against a
//! record with a real server's rules.
//!
//! Supported: integer and boolean literals, `bin_type(name)`, the comparisons `==`, `!=`, `>`,
//! `>=`, `<`, `<=` of integers, and `and`, `or`, `not`. Anything else is refused as a parameter
//! error (what the real server answers for an expression it cannot build), so a test never passes
//! on an expression the test server only pretended to evaluate.
//!
//! As on the real server, the filter applies to records that exist: a read or write of a live
//! record the filter rejects answers FILTERED_OUT (27); a write that creates the record ignores
//! it.

use crate::store::StoredRecord;
use crate::value::particle;

/// Expression operation codes (the client's `ExpOp`).
mod op {
    pub(super) const EQ: i64 = 1;
    pub(super) const NE: i64 = 2;
    pub(super) const GT: i64 = 3;
    pub(super) const GE: i64 = 4;
    pub(super) const LT: i64 = 5;
    pub(super) const LE: i64 = 6;
    pub(super) const AND: i64 = 16;
    pub(super) const OR: i64 = 17;
    pub(super) const NOT: i64 = 18;
    pub(super) const BIN_TYPE: i64 = 82;
}

/// Deeper expressions are refused: nothing a cache sends comes close.
const MAX_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expression {
    Int(i64),
    Bool(bool),
    BinType(String),
    Compare(i64, Box<Expression>, Box<Expression>),
    And(Vec<Expression>),
    Or(Vec<Expression>),
    Not(Box<Expression>),
}

/// The expression is malformed or uses something the test server does not evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// A value an expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Evaluated {
    Int(i64),
    Bool(bool),
}

impl Expression {
    /// Parses the packed expression of a filter field; the whole field must be one expression.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Expression, Unsupported> {
        let mut reader = Reader { bytes, pos: 0 };
        let expression = reader.expression(0)?;
        if reader.pos != bytes.len() {
            return Err(Unsupported);
        }
        Ok(expression)
    }

    /// Whether the record passes the filter.
    pub(crate) fn matches(&self, record: &StoredRecord) -> Result<bool, Unsupported> {
        match self.evaluate(record)? {
            Evaluated::Bool(passes) => Ok(passes),
            Evaluated::Int(_) => Err(Unsupported),
        }
    }

    fn evaluate(&self, record: &StoredRecord) -> Result<Evaluated, Unsupported> {
        let boolean = |e: &Expression| match e.evaluate(record)? {
            Evaluated::Bool(b) => Ok(b),
            Evaluated::Int(_) => Err(Unsupported),
        };
        Ok(match self {
            Expression::Int(i) => Evaluated::Int(*i),
            Expression::Bool(b) => Evaluated::Bool(*b),
            // A missing bin has the nil particle type.
            Expression::BinType(name) => Evaluated::Int(i64::from(
                record
                    .bin(name.as_bytes())
                    .map_or(particle::NULL, |value| value.particle_type()),
            )),
            Expression::Compare(kind, left, right) => {
                let (Evaluated::Int(l), Evaluated::Int(r)) =
                    (left.evaluate(record)?, right.evaluate(record)?)
                else {
                    return Err(Unsupported);
                };
                Evaluated::Bool(match *kind {
                    op::EQ => l == r,
                    op::NE => l != r,
                    op::GT => l > r,
                    op::GE => l >= r,
                    op::LT => l < r,
                    _ => l <= r,
                })
            }
            Expression::And(all) => {
                let mut result = true;
                for e in all {
                    result &= boolean(e)?;
                }
                Evaluated::Bool(result)
            }
            Expression::Or(any) => {
                let mut result = false;
                for e in any {
                    result |= boolean(e)?;
                }
                Evaluated::Bool(result)
            }
            Expression::Not(e) => Evaluated::Bool(!boolean(e)?),
        })
    }
}

/// Reads the MessagePack an expression is packed in.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], Unsupported> {
        let end = self.pos.checked_add(len).ok_or(Unsupported)?;
        let taken = self.bytes.get(self.pos..end).ok_or(Unsupported)?;
        self.pos = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, Unsupported> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, width: usize) -> Result<u64, Unsupported> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    fn expression(&mut self, depth: usize) -> Result<Expression, Unsupported> {
        if depth > MAX_DEPTH {
            return Err(Unsupported);
        }
        let marker = self.byte()?;
        let len = match marker {
            0x00..=0x7f => return Ok(Expression::Int(i64::from(marker))),
            0xe0..=0xff => return Ok(Expression::Int(i64::from(marker as i8))),
            0xc2 => return Ok(Expression::Bool(false)),
            0xc3 => return Ok(Expression::Bool(true)),
            0xcc => return Ok(Expression::Int(self.be(1)? as i64)),
            0xcd => return Ok(Expression::Int(self.be(2)? as i64)),
            0xce => return Ok(Expression::Int(self.be(4)? as i64)),
            0xcf => {
                return i64::try_from(self.be(8)?)
                    .map(Expression::Int)
                    .map_err(|_| Unsupported)
            }
            0xd0 => return Ok(Expression::Int(i64::from(self.be(1)? as u8 as i8))),
            0xd1 => return Ok(Expression::Int(i64::from(self.be(2)? as u16 as i16))),
            0xd2 => return Ok(Expression::Int(i64::from(self.be(4)? as u32 as i32))),
            0xd3 => return Ok(Expression::Int(self.be(8)? as i64)),
            0x90..=0x9f => usize::from(marker & 0x0f),
            0xdc => self.be(2)? as usize,
            0xdd => usize::try_from(self.be(4)?).map_err(|_| Unsupported)?,
            _ => return Err(Unsupported),
        };
        let code = match self.expression(depth + 1)? {
            Expression::Int(code) if len >= 1 => code,
            _ => return Err(Unsupported),
        };
        let arity = len - 1;
        Ok(match code {
            op::BIN_TYPE if arity == 1 => Expression::BinType(self.string()?),
            op::EQ | op::NE | op::GT | op::GE | op::LT | op::LE if arity == 2 => {
                let left = self.expression(depth + 1)?;
                let right = self.expression(depth + 1)?;
                Expression::Compare(code, Box::new(left), Box::new(right))
            }
            op::NOT if arity == 1 => Expression::Not(Box::new(self.expression(depth + 1)?)),
            op::AND | op::OR if arity >= 1 => {
                let operands = (0..arity)
                    .map(|_| self.expression(depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                if code == op::AND {
                    Expression::And(operands)
                } else {
                    Expression::Or(operands)
                }
            }
            _ => return Err(Unsupported),
        })
    }

    /// A MessagePack string (a bin name).
    fn string(&mut self) -> Result<String, Unsupported> {
        let len = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            _ => return Err(Unsupported),
        };
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::BinValue;

    fn record(bins: Vec<(&str, BinValue)>) -> StoredRecord {
        StoredRecord {
            set: "s".to_owned(),
            user_key: None,
            bins: bins.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            generation: 1,
            void_time: 0,
        }
    }

    /// `bin_type("data") == 0 || bin_type("data") == 4`, packed as the client packs it.
    const NIL_OR_BLOB: &[u8] = &[
        0x93, 17, 0x93, 1, 0x92, 82, 0xa4, b'd', b'a', b't', b'a', 0, 0x93, 1, 0x92, 82, 0xa4,
        b'd', b'a', b't', b'a', 4,
    ];

    #[test]
    fn bin_type_filters_match_by_particle_type() {
        let filter = Expression::parse(NIL_OR_BLOB).unwrap();
        let passes = |bins| filter.matches(&record(bins)).unwrap();
        assert!(passes(vec![("data", BinValue::Blob(vec![1]))]));
        assert!(passes(vec![("invalidated", BinValue::Int(1))]));
        assert!(!passes(vec![("data", BinValue::List(vec![0x90]))]));
        assert!(!passes(vec![("data", BinValue::Str("x".into()))]));
        let negated = [&[0x92, 18][..], NIL_OR_BLOB].concat();
        let not = Expression::parse(&negated).unwrap();
        assert!(not
            .matches(&record(vec![("data", BinValue::Map(vec![0x80]))]))
            .unwrap());
    }

    #[test]
    fn unknown_or_malformed_expressions_are_refused() {
        // An unknown operation, a truncated one, trailing bytes, and an integer as a filter.
        for bytes in [&[0x92, 99, 1][..], &[0x93, 1, 1], &[0x93, 1, 1, 1, 0], &[7]] {
            let parsed = Expression::parse(bytes);
            assert!(
                parsed.is_err() || parsed.unwrap().matches(&record(vec![])).is_err(),
                "{bytes:?}"
            );
        }
        let deep = [[0x92, 18].repeat(MAX_DEPTH + 2), vec![0xc3]].concat();
        assert_eq!(Expression::parse(&deep), Err(Unsupported));
    }
}
