//! Retry delays: exponential in the number of consecutive failures, capped, with "equal
//! jitter" (half fixed, half random) so many keys failing together do not retry together.

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `attempt` (1 = after the first failure).
pub(crate) fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_failure_within_jitter_and_stop_at_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..=10u32 {
            let full = (base * 2u32.pow(attempt - 1)).min(max);
            for _ in 0..50 {
                let d = delay(attempt, base, max);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
        assert!(delay(u32::MAX, base, max) <= max);
    }
}
