//! User keys: the readable default key built from a function's arguments, and explicit keys.
//!
//! The default key format is documented on [`UserKey`]; [`write_args`] is the small serde
//! serializer that writes the argument part.

use core::fmt;

use serde::ser::{self, Serialize};

use crate::{Error, ErrorKind};

/// An Aerospike user key: the exact value the record is addressed by.
///
/// # The default key
///
/// Without `key = <expr>`, the user key is the string `::<path>(<arguments>)`, for example
/// `::app::repo::get_user(42,"alice")`:
///
/// - the leading `::` marks a default key: no explicit key can start with it (see
///   [below](#default-keys-and-explicit-keys-never-meet));
/// - `<path>` is the function's full path as the compiler names it
///   ([`core::any::type_name`]): the module path, then any enclosing functions and the `impl` it
///   is in, then the function's name, then its type and const arguments. Examples:
///   `app::repo::get_user` (a free function), `app::jobs::run::helper` (a function `helper`
///   declared inside `run`), `app::repo::UserRepo::get` (a method), `<app::Repo as
///   app::Store>::get` (a method of a trait impl without companions), `app::Repo<u8>::get` (a
///   method of a generic type), `app::label<app::Admin>` and `app::scale<2>` (a generic
///   function called as `label::<Admin>` and `scale::<2>`). The anonymous type parameter of an
///   `impl Trait` argument is a type argument too: `show(5u8)` of `fn show(x: impl Serialize)`
///   is `::app::show<u8>(5)`. A type parameter that only arguments in `skip(…)` use (a database
///   handle `db: &D`) is left out, so that `<fn>_invalidate`, which takes only the key
///   arguments, can name the key;
/// - `<arguments>` are the key arguments (every argument except `self` and those in `skip(...)`) in
///   declaration order, separated by `,` with no spaces. Each one is written by its
///   `serde::Serialize` implementation as follows:
///
/// | value | written as | example |
/// | --- | --- | --- |
/// | integer (any width) | decimal | `42`, `-7` |
/// | float | Rust's shortest round-trip form; always has a `.`, an exponent or `inf`; a NaN as `NaN(0x<its bits in hex>)` | `1.5`, `1e20`, `-0.0`, `NaN(0x7ff8000000000000)`, `-inf` |
/// | bool | `true` / `false` | `true` |
/// | string | in `"`, with `\` and `"` escaped by a `\` | `"a\"b"` |
/// | char | in `'`, with `\` and `'` escaped by a `\` | `'x'` |
/// | bytes | `b"` + lowercase hex + `"` | `b"00ff"` |
/// | `None` / `Some(v)` | `None` / `Some(v)` | `Some(3)` |
/// | unit, `()` | `()` | `()` |
/// | sequence | `[a,b]` | `[1,2]` |
/// | tuple | `(a,b)` | `(1,"x")` |
/// | map | `{k:v,k:v}`, entries sorted by their written form | `{"a":1,"b":2}` |
/// | struct | `Name{field:v,…}` | `Point{x:1,y:2}` |
/// | tuple struct / newtype struct | `Name(a,…)` | `UserId(7)` |
/// | unit struct | `Name` | `Marker` |
/// | enum variant | `Variant`, `Variant(a,…)` or `Variant{field:v,…}` | `Active`, `Rgb(1,2,3)` |
///
/// Every form is self-delimiting (strings and chars are quoted with escapes, numbers never contain
/// `,` `:` `)` `]` `}`), so two different argument tuples of one function never give the same key;
/// the path keeps different functions, and different instantiations of a generic one, apart. A
/// float is written by value (`-0.0` and `0.0` differ) and a NaN by its bits, so two NaNs share a
/// key only when they are the same bits. Maps are written in a sorted order so that a `HashMap`
/// gives the same key in every process; a `HashSet` serializes as a plain sequence in iteration
/// order, so it is a poor key argument (different orders only cause misses, never wrong values).
///
/// The path is the compiler's `type_name`, whose exact text Rust does not promise to keep: a
/// compiler that prints it differently changes the keys, and the entries written before miss
/// once. Two types the compiler prints alike (two closures of one function; types differing only
/// in lifetimes) are one type argument to the key, and so are two functions of the same name in
/// two blocks of one function body: give those a `key = …`.
///
/// # Explicit keys
///
/// `key = <expr>` gives the user key directly: a string, an integer (in `i64` range) or bytes.
/// Another service addresses the same record with that value, the set and the namespace; every
/// function (single-id reader, `batch` reader, `#[cache_put]`, a write-behind) that gives the
/// same explicit key in the same set shares the entry.
///
/// # Default keys and explicit keys never meet
///
/// A default key always starts with `::`; an explicit string key that starts with `::` is refused
/// (an [`ErrorKind::Key`] error: the call runs its body without the cache, the error is counted
/// and logged once per set). So `key = name` can never read or overwrite the entry of a function
/// with a default key in the same set, whatever `name` holds. The same holds for the ids of a
/// `batch` function, the keys of a write-behind and the string keys given to
/// `cacheaside::invalidate`. A `UserKey` value itself is never refused there: it addresses
/// exactly the record it names, e.g. to invalidate a default-key entry whose key a log showed.
///
/// ```
/// use cacheaside_runtime::{ErrorKind, IntoUserKey, UserKey};
///
/// let key = UserKey::Str("::app::repo::get_user(42,\"alice\")".to_owned());
/// assert_eq!(key.to_string(), "::app::repo::get_user(42,\"alice\")");
///
/// // An explicit key cannot take the form of a default key.
/// let refused = "::app::repo::get_user(42)".into_user_key().unwrap_err();
/// assert_eq!(refused.kind(), ErrorKind::Key);
/// assert_eq!("user:42".into_user_key().unwrap(), UserKey::Str("user:42".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserKey {
    /// A string key.
    Str(String),
    /// An integer key.
    Int(i64),
    /// A bytes key.
    Bytes(Vec<u8>),
}

impl fmt::Display for UserKey {
    /// Strings as they are, integers in decimal, bytes in lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserKey::Str(s) => f.write_str(s),
            UserKey::Int(i) => write!(f, "{i}"),
            UserKey::Bytes(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

impl UserKey {
    /// The key as an Aerospike value.
    pub(crate) fn to_value(&self) -> aerospike::Value {
        match self {
            UserKey::Str(s) => aerospike::Value::String(s.clone()),
            UserKey::Int(i) => aerospike::Value::Int(*i),
            UserKey::Bytes(b) => aerospike::Value::Blob(b.clone()),
        }
    }

    /// The key as an Aerospike value, without copying it.
    pub(crate) fn into_value(self) -> aerospike::Value {
        match self {
            UserKey::Str(s) => aerospike::Value::String(s),
            UserKey::Int(i) => aerospike::Value::Int(i),
            UserKey::Bytes(b) => aerospike::Value::Blob(b),
        }
    }

    /// The user key of a record key built from one (the inverse of [`to_value`](Self::to_value));
    /// `None` for a key without a user key, or with a value no user key is made of.
    pub(crate) fn of_record(key: &aerospike::Key) -> Option<UserKey> {
        match key.user_key()? {
            aerospike::Value::String(s) => Some(UserKey::Str(s.clone())),
            aerospike::Value::Int(i) => Some(UserKey::Int(*i)),
            aerospike::Value::Blob(b) => Some(UserKey::Bytes(b.clone())),
            _ => None,
        }
    }
}

/// The start of every default key. A Rust path written in full may start with `::`, so the key
/// still reads as the function's path; explicit string keys that start with it are refused
/// ([`check_explicit`]), which keeps the two kinds of keys apart in every set.
pub(crate) const DEFAULT_KEY_MARKER: &str = "::";

/// The segment that starts the name of the hidden function generated code takes a
/// [`KeyPath`] from: `__cacheaside_path_<function>`. The macro crate names it the same way
/// (`cacheaside-macros`, `expand::Names`).
const PATH_FUNCTION: &str = "::__cacheaside_path_";

/// What `type_name` prints for a closure, after the path of the function it is in.
const CLOSURE: &str = "::{{closure}}";

/// Where the function of a default key is: the key is `::` + `head` + `tail` + the arguments.
///
/// Generated code takes it from the type name of a closure in a hidden function next to the
/// cached one, `__cacheaside_path_<function>`: a closure's type name is the full path of the
/// function it is in, with every type and const argument of that function and of its `impl`
/// (`app::Repo<u8>::__cacheaside_path_get<2>::{{closure}}`). Both parts borrow from that
/// `'static` text, so a call of a generic function builds no path; a function without generic
/// parameters keeps its path in a `static` ([`KeyPathCell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPath {
    /// Up to the function's name: `app::Repo<u8>::`.
    pub(crate) head: &'static str,
    /// The function's name and its generic arguments: `get<2>`.
    pub(crate) tail: &'static str,
}

impl KeyPath {
    /// The path of the function a closure is in, from the closure's type name.
    ///
    /// Every trailing `{{closure}}` is dropped (an `async fn`'s body is one more), then the hidden
    /// function's name is cut out of the text. A type name of another form (a compiler that
    /// prints type names differently) is kept whole: a different key, still one per function.
    pub fn of_closure(type_name: &'static str) -> KeyPath {
        let mut path = type_name;
        while let Some(outer) = path.strip_suffix(CLOSURE) {
            path = outer;
        }
        match path.find(PATH_FUNCTION) {
            Some(at) => KeyPath {
                head: &path[..at + 2],
                tail: &path[at + PATH_FUNCTION.len()..],
            },
            None => KeyPath {
                head: path,
                tail: "",
            },
        }
    }

    /// The path as the key writes it, without the leading `::`.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }
}

impl fmt::Display for KeyPath {
    /// The function's path, as the default key writes it after its leading `::`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.head)?;
        f.write_str(self.tail)
    }
}

/// The [`KeyPath`] of a function without generic parameters, worked out on its first call.
#[derive(Debug)]
pub struct KeyPathCell(std::sync::OnceLock<KeyPath>);

impl KeyPathCell {
    /// An empty cell, for a `static`.
    pub const fn new() -> KeyPathCell {
        KeyPathCell(std::sync::OnceLock::new())
    }

    /// The path, from `closure_type_name` the first time.
    #[inline]
    pub fn get(&self, closure_type_name: impl FnOnce() -> &'static str) -> KeyPath {
        *self
            .0
            .get_or_init(|| KeyPath::of_closure(closure_type_name()))
    }
}

impl Default for KeyPathCell {
    fn default() -> Self {
        KeyPathCell::new()
    }
}

/// Bytes reserved for the arguments and their parentheses when a default key is built: a
/// 20-digit integer or a short string fits, so the common keys are written without growing it.
const ARGS_CAPACITY: usize = 40;

/// Builds the default key `::<pieces…>(<args>)`; `args` is a tuple of the key arguments.
fn default_key_from<A: Serialize + ?Sized>(pieces: &[&str], args: &A) -> Result<UserKey, Error> {
    let path_len: usize = pieces.iter().map(|piece| piece.len()).sum();
    let mut key = String::with_capacity(DEFAULT_KEY_MARKER.len() + path_len + ARGS_CAPACITY);
    key.push_str(DEFAULT_KEY_MARKER);
    for piece in pieces {
        key.push_str(piece);
    }
    let start = key.len();
    write_args(&mut key, args)?;
    // A tuple of arguments (or `()`) already brings its parentheses; wrap anything else.
    if !key[start..].starts_with('(') {
        key.insert(start, '(');
        key.push(')');
    }
    Ok(UserKey::Str(key))
}

/// Builds the default key `::<path>(<args>)` of a function at `path`.
pub(crate) fn default_key_at<A: Serialize + ?Sized>(
    path: KeyPath,
    args: &A,
) -> Result<UserKey, Error> {
    default_key_from(&[path.head, path.tail], args)
}

/// Builds the default key `::<scope>::<function>(<args>)`, for a path given as its two parts.
pub(crate) fn default_key<A: Serialize + ?Sized>(
    scope: &str,
    function: &str,
    args: &A,
) -> Result<UserKey, Error> {
    default_key_from(&[scope, "::", function], args)
}

/// An explicit key, unless it is a string that starts like a default key: such a key could
/// read or overwrite the entry of a function with a default key in the same set.
pub(crate) fn check_explicit(key: UserKey) -> Result<UserKey, Error> {
    match &key {
        UserKey::Str(text) if text.starts_with(DEFAULT_KEY_MARKER) => Err(Error::new(
            ErrorKind::Key,
            format!(
                "an explicit key starts with `{DEFAULT_KEY_MARKER}`, which only default keys \
                 (those of functions without `key = …`) start with; give the key another form, e.g. \
                 without the leading `{DEFAULT_KEY_MARKER}`"
            ),
        )),
        _ => Ok(key),
    }
}

/// Appends the key form of `value` to `out` (see [`UserKey`] for the format).
pub(crate) fn write_args<A: Serialize + ?Sized>(out: &mut String, value: &A) -> Result<(), Error> {
    value.serialize(KeyWriter { out }).map_err(|e| {
        Error::new(
            ErrorKind::Key,
            format!("a key argument cannot be written into the key: {}", e.0),
        )
    })
}

/// Why an argument could not be written (a `Serialize` impl reported an error).
#[derive(Debug)]
pub(crate) struct KeyWriteError(String);

impl fmt::Display for KeyWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyWriteError {}

impl ser::Error for KeyWriteError {
    /// The message of an argument's `Serialize` impl is dropped: it may quote the argument, and
    /// key errors are logged.
    fn custom<T: fmt::Display>(_message: T) -> Self {
        KeyWriteError("its Serialize implementation reported an error".to_owned())
    }
}

type WriteResult = Result<(), KeyWriteError>;

/// Where the key form is written: a `String`, or (for the local tier) a hash or a comparison
/// with a stored key, which need no allocation.
pub(crate) trait KeySink: fmt::Write {
    fn push(&mut self, c: char) {
        let _ = self.write_char(c);
    }
    fn push_str(&mut self, s: &str) {
        let _ = self.write_str(s);
    }
    fn reserve(&mut self, _additional: usize) {}
    /// Appends ASCII text (the digits of an integer).
    fn push_ascii(&mut self, ascii: &[u8]) {
        if let Ok(text) = core::str::from_utf8(ascii) {
            self.push_str(text);
        }
    }
}

impl KeySink for String {
    fn push(&mut self, c: char) {
        String::push(self, c);
    }
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn reserve(&mut self, additional: usize) {
        String::reserve(self, additional);
    }
}

/// Writes the key form of `value` into `sink` (see [`UserKey`] for the format).
pub(crate) fn write_args_into<A: Serialize + ?Sized, S: KeySink>(
    sink: &mut S,
    value: &A,
) -> Result<(), KeyWriteError> {
    value.serialize(KeyWriter { out: sink })
}

/// The serializer behind the default key.
struct KeyWriter<'a, S: KeySink> {
    out: &'a mut S,
}

impl<'a, S: KeySink> KeyWriter<'a, S> {
    fn push_quoted(&mut self, quote: char, text: &str) {
        self.out.push(quote);
        for c in text.chars() {
            if c == quote || c == '\\' {
                self.out.push('\\');
            }
            self.out.push(c);
        }
        self.out.push(quote);
    }

    /// An integer in decimal (`negative` and its magnitude), without going through `fmt`: a
    /// default key is built, or hashed by the local tier, on every call.
    fn push_integer(&mut self, negative: bool, magnitude: u64) {
        let mut digits = [0u8; 21];
        let mut start = digits.len();
        let mut rest = magnitude;
        loop {
            start -= 1;
            // A digit: below 10.
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if negative {
            start -= 1;
            digits[start] = b'-';
        }
        self.out.push_ascii(&digits[start..]);
    }

    fn push_display(&mut self, value: impl fmt::Display) {
        // Writing into a String cannot fail.
        let _ = write!(self.out, "{value}");
    }

    /// A float by value; a NaN by its bits (`NaN(0x7ff8000000000000)`), since NaNs with other
    /// signs or payloads are other arguments, which `Debug` would all write as `NaN`.
    fn push_float(&mut self, value: impl fmt::Debug, nan_bits: Option<u64>) {
        match nan_bits {
            Some(bits) => {
                let _ = write!(self.out, "NaN({bits:#x})");
            }
            // `Debug` of a float is the shortest form that reads back to the same value and
            // always contains `.`, `e` or `inf`, so it never looks like an integer.
            None => {
                let _ = write!(self.out, "{value:?}");
            }
        }
    }

    fn open(self, prefix: &str, open: char) -> Compound<'a, S> {
        self.out.push_str(prefix);
        self.out.push(open);
        Compound {
            out: self.out,
            first: true,
            entries: Vec::new(),
            pending_key: None,
        }
    }
}

/// A sequence, tuple, struct or map being written.
struct Compound<'a, S: KeySink> {
    out: &'a mut S,
    first: bool,
    /// Map entries, written separately so that they can be sorted.
    entries: Vec<String>,
    pending_key: Option<String>,
}

impl<S: KeySink> Compound<'_, S> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        value.serialize(KeyWriter { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> WriteResult {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(name);
        self.out.push(':');
        value.serialize(KeyWriter { out: self.out })
    }

    fn close(self, close: char) -> WriteResult {
        self.out.push(close);
        Ok(())
    }

    fn close_map(mut self) -> WriteResult {
        if self.pending_key.is_some() {
            return Err(KeyWriteError("a map key without a value".to_owned()));
        }
        self.entries.sort_unstable();
        self.out.push_str(&self.entries.join(","));
        self.out.push('}');
        Ok(())
    }
}

impl<'a, S: KeySink> ser::Serializer for KeyWriter<'a, S> {
    type Ok = ();
    type Error = KeyWriteError;
    type SerializeSeq = Compound<'a, S>;
    type SerializeTuple = Compound<'a, S>;
    type SerializeTupleStruct = Compound<'a, S>;
    type SerializeTupleVariant = Compound<'a, S>;
    type SerializeMap = Compound<'a, S>;
    type SerializeStruct = Compound<'a, S>;
    type SerializeStructVariant = Compound<'a, S>;

    fn serialize_bool(mut self, v: bool) -> WriteResult {
        self.push_display(v);
        Ok(())
    }
    fn serialize_i8(mut self, v: i8) -> WriteResult {
        self.push_integer(v < 0, u64::from(v.unsigned_abs()));
        Ok(())
    }
    fn serialize_i16(mut self, v: i16) -> WriteResult {
        self.push_integer(v < 0, u64::from(v.unsigned_abs()));
        Ok(())
    }
    fn serialize_i32(mut self, v: i32) -> WriteResult {
        self.push_integer(v < 0, u64::from(v.unsigned_abs()));
        Ok(())
    }
    fn serialize_i64(mut self, v: i64) -> WriteResult {
        self.push_integer(v < 0, v.unsigned_abs());
        Ok(())
    }
    fn serialize_i128(mut self, v: i128) -> WriteResult {
        self.push_display(v);
        Ok(())
    }
    fn serialize_u8(mut self, v: u8) -> WriteResult {
        self.push_integer(false, u64::from(v));
        Ok(())
    }
    fn serialize_u16(mut self, v: u16) -> WriteResult {
        self.push_integer(false, u64::from(v));
        Ok(())
    }
    fn serialize_u32(mut self, v: u32) -> WriteResult {
        self.push_integer(false, u64::from(v));
        Ok(())
    }
    fn serialize_u64(mut self, v: u64) -> WriteResult {
        self.push_integer(false, v);
        Ok(())
    }
    fn serialize_u128(mut self, v: u128) -> WriteResult {
        self.push_display(v);
        Ok(())
    }
    fn serialize_f32(mut self, v: f32) -> WriteResult {
        self.push_float(v, v.is_nan().then(|| u64::from(v.to_bits())));
        Ok(())
    }
    fn serialize_f64(mut self, v: f64) -> WriteResult {
        self.push_float(v, v.is_nan().then(|| v.to_bits()));
        Ok(())
    }
    fn serialize_char(mut self, v: char) -> WriteResult {
        let mut buf = [0u8; 4];
        self.push_quoted('\'', v.encode_utf8(&mut buf));
        Ok(())
    }
    fn serialize_str(mut self, v: &str) -> WriteResult {
        self.push_quoted('"', v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> WriteResult {
        self.out.reserve(v.len() * 2 + 3);
        self.out.push_str("b\"");
        for byte in v {
            let _ = write!(self.out, "{byte:02x}");
        }
        self.out.push('"');
        Ok(())
    }
    fn serialize_none(self) -> WriteResult {
        self.out.push_str("None");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> WriteResult {
        let mut inner = self.open("Some", '(');
        inner.element(value)?;
        inner.close(')')
    }
    fn serialize_unit(self) -> WriteResult {
        self.out.push_str("()");
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> WriteResult {
        self.out.push_str(name);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> WriteResult {
        self.out.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> WriteResult {
        let mut inner = self.open(name, '(');
        inner.element(value)?;
        inner.close(')')
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> WriteResult {
        let mut inner = self.open(variant, '(');
        inner.element(value)?;
        inner.close(')')
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open("", '['))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open("", '('))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open(name, '('))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open(variant, '('))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open("", '{'))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open(name, '{'))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, S>, KeyWriteError> {
        Ok(self.open(variant, '{'))
    }
}

impl<S: KeySink> ser::SerializeSeq for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        self.element(value)
    }
    fn end(self) -> WriteResult {
        self.close(']')
    }
}

impl<S: KeySink> ser::SerializeTuple for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        self.element(value)
    }
    fn end(self) -> WriteResult {
        self.close(')')
    }
}

impl<S: KeySink> ser::SerializeTupleStruct for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        self.element(value)
    }
    fn end(self) -> WriteResult {
        self.close(')')
    }
}

impl<S: KeySink> ser::SerializeTupleVariant for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        self.element(value)
    }
    fn end(self) -> WriteResult {
        self.close(')')
    }
}

impl<S: KeySink> ser::SerializeStruct for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> WriteResult {
        self.field(name, value)
    }
    fn end(self) -> WriteResult {
        self.close('}')
    }
}

impl<S: KeySink> ser::SerializeStructVariant for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> WriteResult {
        self.field(name, value)
    }
    fn end(self) -> WriteResult {
        self.close('}')
    }
}

impl<S: KeySink> ser::SerializeMap for Compound<'_, S> {
    type Ok = ();
    type Error = KeyWriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> WriteResult {
        let mut entry = String::new();
        key.serialize(KeyWriter { out: &mut entry })?;
        entry.push(':');
        self.pending_key = Some(entry);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> WriteResult {
        let mut entry = self
            .pending_key
            .take()
            .ok_or_else(|| KeyWriteError("a map value without a key".to_owned()))?;
        value.serialize(KeyWriter { out: &mut entry })?;
        self.entries.push(entry);
        Ok(())
    }
    fn end(self) -> WriteResult {
        self.close_map()
    }
}

/// The key of one call, or why it could not be built (then the call bypasses the cache).
pub type KeyResult = Result<UserKey, Error>;

/// A value usable as an explicit `key = <expr>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an Aerospike user key",
    label = "`key = ...` must give a string, an integer or bytes",
    note = "use a `String`/`&str`, an integer type, or `Vec<u8>`/`&[u8]`; e.g. `key = format!(\"{{}}:{{}}\", a, b)`"
)]
pub trait IntoUserKey {
    /// Converts to the user key, or fails (an integer out of Aerospike's `i64` range).
    fn into_user_key(self) -> KeyResult;
}

/// Integer keys: Aerospike integer keys are `i64`.
macro_rules! integer_user_keys {
    ($($t:ty),* $(,)?) => {$(
        impl IntoUserKey for $t {
            fn into_user_key(self) -> KeyResult {
                i64::try_from(self).map(UserKey::Int).map_err(|_| {
                    Error::new(
                        ErrorKind::Key,
                        concat!("a `", stringify!($t), "` key is outside the i64 range of Aerospike integer keys"),
                    )
                })
            }
        }
        impl IntoUserKey for &$t {
            fn into_user_key(self) -> KeyResult {
                IntoUserKey::into_user_key(*self)
            }
        }
    )*};
}
integer_user_keys!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

macro_rules! infallible_user_keys {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl IntoUserKey for $t {
            fn into_user_key(self) -> KeyResult {
                let $v = self;
                Ok($e)
            }
        }
    )*};
}
infallible_user_keys! {
    UserKey => |v| v,
    Vec<u8> => |v| UserKey::Bytes(v),
    &[u8] => |v| UserKey::Bytes(v.to_vec()),
    &Vec<u8> => |v| UserKey::Bytes(v.clone()),
}

/// String keys: refused when they start like a default key (see [`check_explicit`]).
macro_rules! string_user_keys {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl IntoUserKey for $t {
            fn into_user_key(self) -> KeyResult {
                let $v = self;
                check_explicit(UserKey::Str($e))
            }
        }
    )*};
}
string_user_keys! {
    String => |v| v,
    &str => |v| v.to_owned(),
    &String => |v| v.clone(),
}

impl<const N: usize> IntoUserKey for [u8; N] {
    fn into_user_key(self) -> KeyResult {
        Ok(UserKey::Bytes(self.to_vec()))
    }
}

impl<const N: usize> IntoUserKey for &[u8; N] {
    fn into_user_key(self) -> KeyResult {
        Ok(UserKey::Bytes(self.to_vec()))
    }
}

#[cfg(test)]
mod tests;
