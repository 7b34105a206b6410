//! The admin protocol's login (message type 2): `LOGIN` with a user and the bcrypt hash of the
//! password answers a session token, `AUTHENTICATE` with the token opens another connection.
//! Without users the server answers `SECURITY_NOT_ENABLED`, as a server without security does,
//! and clients go on without a login.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::wire::PROTO_VERSION;

/// Message type of admin frames.
pub(crate) const TYPE_ADMIN: u8 = 2;

const AUTHENTICATE: u8 = 0;
const LOGIN: u8 = 20;

const FIELD_USER: u8 = 0;
const FIELD_CREDENTIAL: u8 = 3;
const FIELD_SESSION_TOKEN: u8 = 5;
const FIELD_SESSION_TTL: u8 = 6;

const OK: u8 = 0;
const PARAMETER_ERROR: u8 = 4;
const SECURITY_NOT_ENABLED: u8 = 52;
const INVALID_COMMAND: u8 = 54;
const INVALID_USER: u8 = 60;
const INVALID_CREDENTIAL: u8 = 65;
/// The result code of a data command on a connection that has not logged in.
pub(crate) const NOT_AUTHENTICATED: u8 = 80;

/// How long a session token lives, in seconds, as the server reports it.
const SESSION_TTL_SECS: u32 = 24 * 60 * 60;
/// The size of the admin header that follows the 8-byte frame header.
const ADMIN_HEADER_SIZE: usize = 16;

/// The bcrypt salt and cost every Aerospike client hashes passwords with (`$2a$10$` and the salt
/// `7EqJtq98hPqEX7fNZaFWoO`); the client sends the hash, never the password.
const PASSWORD_SALT: [u8; 16] = [
    244, 107, 11, 190, 207, 254, 141, 27, 6, 103, 216, 79, 109, 193, 216, 169,
];
const PASSWORD_HASH_COST: u32 = 10;

/// The users a server accepts, and the sessions it issued.
#[derive(Default)]
pub(crate) struct Security {
    /// User name to the credential its client sends (the password's bcrypt hash).
    users: HashMap<String, String>,
    sessions: Mutex<HashSet<(String, Vec<u8>)>>,
    next_session: AtomicU64,
}

impl fmt::Debug for Security {
    /// Names the users, never their credentials or sessions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a connection learns from one admin request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The connection is logged in.
    Authenticated,
    /// Nothing changes for the connection.
    Unchanged,
}

impl Security {
    /// A server accepting these users and passwords; none means security is off.
    pub(crate) fn new(users: &[(String, String)]) -> std::io::Result<Self> {
        let mut hashed = HashMap::new();
        for (user, password) in users {
            let hash = bcrypt::hash_with_salt(password, PASSWORD_HASH_COST, PASSWORD_SALT)
                .map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("the password of user {user} cannot be hashed: {e}"),
                    )
                })?;
            hashed.insert(user.clone(), hash.format_for_version(bcrypt::Version::TwoA));
        }
        Ok(Security {
            users: hashed,
            ..Security::default()
        })
    }

    /// Whether connections must log in before data commands.
    pub(crate) fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Answers one admin request (the frame's body); the reply is a whole frame.
    pub(crate) fn answer(&self, body: &[u8]) -> (Vec<u8>, Outcome) {
        let Some((command, fields)) = parse(body) else {
            return (reply(PARAMETER_ERROR, &[]), Outcome::Unchanged);
        };
        if command != LOGIN && command != AUTHENTICATE {
            return (reply(INVALID_COMMAND, &[]), Outcome::Unchanged);
        }
        if !self.enabled() {
            return (reply(SECURITY_NOT_ENABLED, &[]), Outcome::Unchanged);
        }
        let field = |id: u8| fields.iter().find(|(f, _)| *f == id).map(|(_, v)| *v);
        let user = field(FIELD_USER).map(String::from_utf8_lossy);
        let Some(user) = user.filter(|user| self.users.contains_key(user.as_ref())) else {
            return (reply(INVALID_USER, &[]), Outcome::Unchanged);
        };
        let user = user.into_owned();
        let sessions = || self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if command == AUTHENTICATE {
            let token = field(FIELD_SESSION_TOKEN).unwrap_or_default().to_vec();
            return if sessions().contains(&(user, token)) {
                (reply(OK, &[]), Outcome::Authenticated)
            } else {
                (reply(NOT_AUTHENTICATED, &[]), Outcome::Unchanged)
            };
        }
        let expected = self.users.get(&user).map(String::as_bytes);
        if field(FIELD_CREDENTIAL) != expected {
            return (reply(INVALID_CREDENTIAL, &[]), Outcome::Unchanged);
        }
        let serial = self.next_session.fetch_add(1, Ordering::Relaxed);
        let token = format!("testkit-session-{serial}").into_bytes();
        sessions().insert((user, token.clone()));
        let ttl = SESSION_TTL_SECS.to_be_bytes();
        let fields = [
            (FIELD_SESSION_TOKEN, &token[..]),
            (FIELD_SESSION_TTL, &ttl[..]),
        ];
        (reply(OK, &fields), Outcome::Authenticated)
    }
}

/// The fields of an admin message: id and data.
type Fields<'a> = Vec<(u8, &'a [u8])>;

/// The command and fields of an admin request body, or `None` if it is malformed.
fn parse(body: &[u8]) -> Option<(u8, Fields<'_>)> {
    let header = body.get(..ADMIN_HEADER_SIZE)?;
    let (command, field_count) = (header[2], header[3]);
    let mut rest = &body[ADMIN_HEADER_SIZE..];
    let mut fields = Vec::with_capacity(usize::from(field_count));
    for _ in 0..field_count {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let id = *rest.get(4)?;
        let data = rest.get(5..4 + len)?;
        fields.push((id, data));
        rest = &rest[4 + len..];
    }
    Some((command, fields))
}

/// An admin reply frame with a result code and fields.
fn reply(result_code: u8, fields: &[(u8, &[u8])]) -> Vec<u8> {
    let fields_len: usize = fields.iter().map(|(_, data)| 5 + data.len()).sum();
    let body_len = (ADMIN_HEADER_SIZE + fields_len) as u64;
    let mut out = Vec::with_capacity(8 + ADMIN_HEADER_SIZE + fields_len);
    out.extend_from_slice(&[PROTO_VERSION, TYPE_ADMIN]);
    out.extend_from_slice(&body_len.to_be_bytes()[2..]);
    let field_count = u8::try_from(fields.len()).unwrap_or(u8::MAX);
    out.extend_from_slice(&[0, result_code, 0, field_count]);
    out.extend_from_slice(&[0; ADMIN_HEADER_SIZE - 4]);
    for (id, data) in fields {
        let len = u32::try_from(data.len() + 1).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(*id);
        out.extend_from_slice(data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(command: u8, fields: &[(u8, &[u8])]) -> Vec<u8> {
        // A request has the reply's layout; only the body (after the frame header) is answered.
        let mut frame = reply(0, fields);
        frame[10] = command;
        frame.split_off(8)
    }

    fn result_code(frame: &[u8]) -> u8 {
        frame[9]
    }

    /// The hash a client sends for "secret" (the scheme is checked against a known answer of the
    /// client's in `hashes_passwords_as_the_client_does`).
    const SECRET_HASH: &str = "$2a$10$7EqJtq98hPqEX7fNZaFWoOu7NRZ0i7m5NbgPBEsHTCoJzZDEKQRb.";

    /// A known answer of the client's own tests (aerospike-core 3.0, `admin_command.rs`).
    #[test]
    fn hashes_passwords_as_the_client_does() {
        let security = Security::new(&[("app".into(), "password".into())]).unwrap();
        assert_eq!(
            security.users["app"],
            "$2a$10$7EqJtq98hPqEX7fNZaFWoOqUH6KN8IKy3Yk5Kz..RHGKNAUCoP/LG"
        );
    }

    #[test]
    fn login_issues_a_session_that_authenticates_other_connections() {
        let security = Security::new(&[("app".into(), "secret".into())]).unwrap();
        assert_eq!(security.users["app"], SECRET_HASH);
        let login = request(
            LOGIN,
            &[
                (FIELD_USER, b"app"),
                (FIELD_CREDENTIAL, SECRET_HASH.as_bytes()),
            ],
        );
        let (frame, outcome) = security.answer(&login);
        assert_eq!((result_code(&frame), outcome), (OK, Outcome::Authenticated));
        let (_, fields) = parse(&frame[8..]).unwrap();
        let token = fields[0].1;
        assert_eq!(fields[0].0, FIELD_SESSION_TOKEN);
        assert_eq!(
            fields[1],
            (FIELD_SESSION_TTL, &SESSION_TTL_SECS.to_be_bytes()[..])
        );

        let again = request(
            AUTHENTICATE,
            &[(FIELD_USER, b"app"), (FIELD_SESSION_TOKEN, token)],
        );
        assert_eq!(security.answer(&again).1, Outcome::Authenticated);
        let forged = request(
            AUTHENTICATE,
            &[(FIELD_USER, b"app"), (FIELD_SESSION_TOKEN, b"x")],
        );
        let (frame, outcome) = security.answer(&forged);
        assert_eq!(
            (result_code(&frame), outcome),
            (NOT_AUTHENTICATED, Outcome::Unchanged)
        );
    }

    #[test]
    fn wrong_credentials_and_users_are_refused() {
        let security = Security::new(&[("app".into(), "secret".into())]).unwrap();
        let wrong = request(
            LOGIN,
            &[(FIELD_USER, b"app"), (FIELD_CREDENTIAL, b"$2a$10$nope")],
        );
        assert_eq!(result_code(&security.answer(&wrong).0), INVALID_CREDENTIAL);
        let stranger = request(
            LOGIN,
            &[
                (FIELD_USER, b"eve"),
                (FIELD_CREDENTIAL, SECRET_HASH.as_bytes()),
            ],
        );
        assert_eq!(result_code(&security.answer(&stranger).0), INVALID_USER);
        assert_eq!(result_code(&security.answer(&[1, 2]).0), PARAMETER_ERROR);
    }

    #[test]
    fn without_users_security_is_not_enabled() {
        let security = Security::new(&[]).unwrap();
        let login = request(LOGIN, &[(FIELD_USER, b"app"), (FIELD_CREDENTIAL, b"x")]);
        let (frame, outcome) = security.answer(&login);
        assert_eq!(
            (result_code(&frame), outcome),
            (SECURITY_NOT_ENABLED, Outcome::Unchanged)
        );
    }
}
