//! With the cache disabled every call runs the original body: `?`, `return`, `mut` arguments,
//! patterns and `&self` behave exactly as written.
use cacheaside::cache_aside;

#[cache_aside(set = "s", ttl = 60)]
async fn parse_sum(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    let mut sum = 0;
    for part in text.split(',') {
        sum += part.trim().parse::<i64>().map_err(|e| e.to_string())?;
    }
    Ok(sum)
}

#[cache_aside(set = "s", ttl = 60)]
async fn adjust((a, b): (u32, u32), mut total: u32) -> Option<u32> {
    total += a * b;
    (total > 10).then_some(total)
}

struct Scale(u32);

impl Scale {
    #[cache_aside(set = "s", ttl = 60)]
    async fn apply(&self, value: u32) -> u32 {
        self.0 * value
    }
}

fn main() {
    // Safe here: no other thread is running yet.
    std::env::set_var("CACHEASIDE_DISABLED", "1");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(parse_sum("1, 2,3").await, Ok(6));
        assert_eq!(parse_sum("").await, Err("empty".to_owned()));
        assert!(parse_sum("1,x").await.is_err());
        assert_eq!(parse_sum_refresh("4,5").await, Ok(9));
        assert_eq!(adjust((2, 3), 5).await, Some(11));
        assert_eq!(adjust((1, 1), 1).await, None);
        assert_eq!(Scale(3).apply(4).await, 12);
        assert_eq!(Scale(3).apply_refresh(5).await, 15);
    });
}
