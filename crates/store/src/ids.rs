//! Makes new ids: the clock's seconds, then a per-process counter seeded at random, so ids
//! made in one process are strictly increasing and ids of two processes do not collide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use isthmus_core::Id;

fn counter() -> &'static AtomicU64 {
    static COUNTER: OnceLock<AtomicU64> = OnceLock::new();
    // The top 24 bits stay random per process; the low 40 count.
    COUNTER.get_or_init(|| AtomicU64::new(rand::random::<u64>() & 0xffff_ff00_0000_0000))
}

pub fn new_id() -> Id {
    let secs = chrono::Utc::now().timestamp().clamp(0, u32::MAX as i64) as u32;
    let n = counter().fetch_add(1, Ordering::Relaxed);
    Id::from_parts(secs, n.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_one_process_are_unique_and_increasing() {
        let ids: Vec<String> = (0..1000).map(|_| new_id().to_string()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
    }
}
