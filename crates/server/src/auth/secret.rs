//! Token secrets: `isth_` and 40 characters of lowercase base32 (200 random bits). Only
//! the sha256 of a secret is ever stored.

use rand::Rng;
use sha2::{Digest, Sha256};

pub const SECRET_PREFIX: &str = "isth_";
const SECRET_CHARS: usize = 40;
const BASE32_LOWER: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh secret from the thread's CSPRNG.
pub fn new_secret() -> String {
    let mut rng = rand::thread_rng();
    let body: String = (0..SECRET_CHARS)
        .map(|_| BASE32_LOWER[rng.gen_range(0..BASE32_LOWER.len())] as char)
        .collect();
    format!("{SECRET_PREFIX}{body}")
}

/// The stored form of a secret: sha256, lowercase hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape_and_differ() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        let body = a.strip_prefix(SECRET_PREFIX).expect("prefix");
        assert_eq!(body.len(), SECRET_CHARS);
        assert!(body.bytes().all(|c| BASE32_LOWER.contains(&c)));
    }

    #[test]
    fn hashes_are_sha256_hex_and_never_the_secret() {
        let h = hash_secret("isth_example");
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, hash_secret("isth_example"));
        assert_ne!(h, hash_secret("isth_other"));
    }
}
