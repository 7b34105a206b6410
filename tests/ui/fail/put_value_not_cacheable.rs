use cacheaside::cache_put;

struct Report {
    rows: usize,
}

struct User {
    id: u64,
}

#[cache_put(set = "reports", key = id)]
async fn rebuild(id: u64) -> Result<Report, String> {
    Ok(Report { rows: id as usize })
}

#[cache_put(set = "users", key = user.id, value = user)]
fn save(user: User) -> Result<(), String> {
    let _ = user;
    Ok(())
}

fn main() {}
