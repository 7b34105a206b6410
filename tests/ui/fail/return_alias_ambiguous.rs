use cacheaside::cache_aside;

#[derive(Debug)]
pub struct DbError;
type DbResult<T> = Result<T, DbError>;
type MaybeOption<T> = Option<T>;

#[cache_aside(set = "users", ttl = 60)]
async fn get(id: u32) -> DbResult<u32> {
    Ok(id)
}

#[cache_aside(set = "users", ttl = 60)]
fn find(id: u32) -> MaybeOption<u32> {
    Some(id)
}

fn main() {
    // The functions are still emitted unchanged, so callers see no follow-on errors.
    drop(get(1));
    let _ = find(1);
}
