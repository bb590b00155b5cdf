//! Token secrets: `isth_` and 40 characters of lowercase base32 (200 random bits). Only
//! the sha256 of a secret is ever stored.

use std::path::Path;

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

/// The secret in a token file (trimmed); `None` when the file is missing, unreadable or
/// empty.
pub fn read_secret_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_string()).filter(|s| !s.is_empty())
}

/// Replaces a token file's secret atomically: a new file of mode 0600 beside it, synced,
/// then renamed over it, so a reader sees the old secret or the new one, never neither.
pub fn replace_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("token");
    let temp = dir.join(format!(".{name}.new"));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("create {}", temp.display()))?;
    writeln!(file, "{secret}").with_context(|| format!("write {}", temp.display()))?;
    file.sync_all()
        .with_context(|| format!("sync {}", temp.display()))?;
    std::fs::rename(&temp, path)
        .with_context(|| format!("rename {} to {}", temp.display(), path.display()))?;
    Ok(())
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
