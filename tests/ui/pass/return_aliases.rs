//! Return types behind aliases: `returns = …` says the kind; `anyhow::Result<T>` is read as a
//! `Result`; `returns = value` caches every value on purpose.
use cacheaside::cache_aside;

#[derive(Debug)]
pub struct DbError;

type DbResult<T> = Result<T, DbError>;
type Maybe<T> = Option<T>;
type Lookup = Result<u32, String>;

/// Stands in for the `anyhow` crate: `anyhow::Result<T>` is `Result<T, anyhow::Error>`.
mod anyhow {
    #[derive(Debug)]
    pub struct Error;
    pub type Result<T, E = Error> = core::result::Result<T, E>;
}

#[cache_aside(set = "aliases", ttl = 60, returns = result)]
async fn db_result(id: u32) -> DbResult<u32> {
    if id == 0 {
        return Err(DbError);
    }
    Ok(id)
}

#[cache_aside(set = "aliases", ttl = 60, returns = option)]
fn maybe(id: u32) -> Maybe<u32> {
    Some(id)
}

#[cache_aside(set = "aliases", ttl = 60, returns = result)]
fn lookup(id: u32) -> Lookup {
    Ok(id)
}

#[cache_aside(set = "aliases", ttl = 60)]
async fn with_anyhow(id: u32) -> anyhow::Result<u32> {
    Ok(id)
}

/// Caches `Err` too, as asked.
#[cache_aside(set = "aliases", ttl = 60, returns = value)]
fn whole(id: u32) -> Result<u32, String> {
    Err(format!("{id}"))
}

fn main() {
    drop(db_result(1));
    let _: Maybe<u32> = maybe(1);
    let _: Lookup = lookup(1);
    drop(with_anyhow(1));
    let _: Result<u32, String> = whole(1);
}
