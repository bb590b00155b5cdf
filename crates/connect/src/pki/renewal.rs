//! When a certificate is renewed: once two thirds of its lifetime have passed, leaving a
//! third for retries before it actually expires.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub fn needs_renewal(not_after: DateTime<Utc>, now: DateTime<Utc>, lifetime: Duration) -> bool {
    let remaining = not_after - now;
    let threshold = chrono::Duration::from_std(lifetime / 3).unwrap_or(chrono::Duration::MAX);
    remaining <= threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn issued_at(now: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
        now + chrono::Duration::from_std(lifetime).unwrap()
    }

    #[test]
    fn a_fresh_certificate_is_kept() {
        let now = Utc::now();
        let lifetime = 90 * DAY;
        assert!(!needs_renewal(issued_at(now, lifetime), now, lifetime));
    }

    #[test]
    fn a_certificate_is_kept_until_two_thirds_of_its_lifetime() {
        let issued = Utc::now();
        let lifetime = 90 * DAY;
        let not_after = issued_at(issued, lifetime);
        let day_59 = issued + chrono::Duration::days(59);
        let day_60 = issued + chrono::Duration::days(60);
        assert!(!needs_renewal(not_after, day_59, lifetime));
        assert!(needs_renewal(not_after, day_60, lifetime));
    }

    #[test]
    fn an_expired_certificate_needs_renewal() {
        let now = Utc::now();
        let lifetime = Duration::from_secs(30);
        assert!(needs_renewal(
            now - chrono::Duration::seconds(1),
            now,
            lifetime
        ));
    }
}
