//! `key = <expr>` with string, `&str`, integer and bytes keys; `_invalidate` takes exactly the
//! arguments the expression names.
use cacheaside::cache_aside;

#[cache_aside(set = "users", ttl = 60, key = format!("user:{}:{}", tenant, id))]
async fn by_formatted_key(tenant: &str, id: i64, verbose: bool) -> Option<String> {
    verbose.then(|| format!("{tenant}/{id}"))
}

#[cache_aside(set = "users", ttl = 60, key = email.as_str())]
async fn by_email(email: String, _retries: u32) -> Result<u64, String> {
    email.len().try_into().map_err(|_| email.clone())
}

#[cache_aside(set = "users", ttl = 60, key = id)]
async fn by_integer(id: i64) -> u64 {
    id.unsigned_abs()
}

#[cache_aside(set = "blobs", ttl = 60, key = digest.to_vec())]
async fn by_bytes(digest: &[u8]) -> Vec<u8> {
    digest.iter().rev().copied().collect()
}

#[cache_aside(set = "blobs", ttl = 60, key = digest)]
async fn by_byte_slice(digest: &[u8], label: String) -> String {
    format!("{label}:{}", digest.len())
}

#[cache_aside(set = "config", ttl = 60, key = "global")]
async fn constant_key() -> u32 {
    7
}

fn main() {
    drop(by_formatted_key("acme", 1, true));
    drop(by_formatted_key_invalidate("acme", 1));
    drop(by_formatted_key_refresh("acme", 1, false));
    drop(by_email("a@b.c".to_owned(), 3));
    drop(by_email_invalidate("a@b.c".to_owned()));
    drop(by_integer(5));
    drop(by_integer_invalidate(5));
    drop(by_bytes(b"abc"));
    drop(by_bytes_invalidate(b"abc"));
    drop(by_byte_slice(b"abc", String::new()));
    drop(by_byte_slice_invalidate(b"abc"));
    drop(constant_key());
    drop(constant_key_invalidate());
}
