//! Aerospike's rules for set and namespace names, checked wherever a name enters from outside
//! (`invalidate` and its variants, `ConfigBuilder::set_policy`, a write-behind's sets), so that a
//! bad name is a clear error at once instead of a parameter error on every write.
//!
//! The server keeps names as C strings of a fixed size (`AS_SET_NAME_MAX_SIZE` is 64 bytes with
//! the terminating NUL, a namespace name has 31 bytes at most), so a name is 1 to that many
//! bytes without a NUL. Its info protocol, through which sets are listed, configured and
//! truncated, separates fields with `:` and `;`, so a name with either cannot be managed and is
//! refused. `#[cache_aside]` and the write attributes check names at compile time by the same
//! rule (`cacheaside-macros`, `attr::parse_name`), since a proc-macro crate cannot call this one.

/// What kind of name is checked: its word in messages and its longest length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Set,
    Namespace,
}

impl NameKind {
    fn word(self) -> &'static str {
        match self {
            NameKind::Set => "set",
            NameKind::Namespace => "namespace",
        }
    }

    /// The longest name, in bytes.
    pub(crate) fn max_len(self) -> usize {
        match self {
            NameKind::Set => 63,
            NameKind::Namespace => 31,
        }
    }
}

/// The characters a name cannot hold, with why, as messages give it.
const REFUSED: [(char, &str); 3] = [('\0', "a NUL character"), (':', "`:`"), (';', "`;`")];

/// What is wrong with `name` as a set or namespace name, and what to write instead; `None` for
/// a valid name.
pub(crate) fn name_problem(kind: NameKind, name: &str) -> Option<String> {
    let word = kind.word();
    let max_len = kind.max_len();
    if name.is_empty() {
        return Some(format!(
            "an Aerospike {word} name is not empty; name the {word}, e.g. \"users\""
        ));
    }
    if name.len() > max_len {
        return Some(format!(
            "an Aerospike {word} name has at most {max_len} bytes, but {name:?} has {}; shorten it",
            name.len()
        ));
    }
    let (_, refused) = REFUSED.iter().find(|(c, _)| name.contains(*c))?;
    Some(format!(
        "an Aerospike {word} name cannot contain {refused} (the server's info commands use `:` \
         and `;` as separators, and names are C strings), but {name:?} does; use letters, \
         digits, `_`, `-` or `.` instead"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_have_no_problem() {
        for name in [
            "users",
            "user-sessions.v2",
            "a",
            "_",
            "ünïcode",
            &"s".repeat(63),
        ] {
            assert_eq!(name_problem(NameKind::Set, name), None, "{name}");
        }
        assert_eq!(name_problem(NameKind::Namespace, &"n".repeat(31)), None);
    }

    #[test]
    fn every_rule_is_a_problem_that_says_what_to_write() {
        let cases = [
            (NameKind::Set, String::new(), "is not empty"),
            (NameKind::Set, "s".repeat(64), "at most 63 bytes"),
            // 32 characters, 64 bytes.
            (NameKind::Set, "é".repeat(32), "at most 63 bytes"),
            (NameKind::Namespace, "n".repeat(32), "at most 31 bytes"),
            (NameKind::Set, "a\0b".to_owned(), "a NUL character"),
            (NameKind::Set, "users:v2".to_owned(), "`:`"),
            (NameKind::Set, "users;v2".to_owned(), "`;`"),
            (NameKind::Namespace, "te:st".to_owned(), "`:`"),
        ];
        for (kind, name, expected) in cases {
            let problem = name_problem(kind, &name).expect(&name);
            assert!(problem.contains(expected), "{name:?}: {problem}");
            assert!(
                problem.contains(kind.word()),
                "{name:?}: {problem} names the kind"
            );
        }
        let problem = name_problem(NameKind::Set, "a:b").unwrap();
        assert!(problem.contains("use letters, digits"), "{problem}");
    }
}
