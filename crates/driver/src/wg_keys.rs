//! WireGuard key pairs (Curve25519, as `wg genkey | wg pubkey` makes them), from the
//! operating system's random source. A private key is handed out once and never kept by
//! the caller that asked for a client's pair; the gateway's own stays with its driver.

use isthmus_core::wg_key::WgKey;
use rand::rngs::OsRng;
use rand::RngCore;
use x25519_dalek::{PublicKey, StaticSecret};

/// A fresh key pair.
#[derive(Clone)]
pub struct KeyPair {
    pub private: WgKey,
    pub public: WgKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private half, not even in a log line.
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Generates a key pair. The secret is clamped by x25519 itself when used, exactly as
/// `wg genkey` clamps it when written, so both forms give the same public key.
pub fn generate() -> KeyPair {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = StaticSecret::from(bytes);
    from_secret(&secret)
}

/// The public key of a private key.
pub fn public_of(private: &WgKey) -> WgKey {
    from_secret(&StaticSecret::from(*private.as_bytes())).public
}

fn from_secret(secret: &StaticSecret) -> KeyPair {
    let public = PublicKey::from(secret);
    KeyPair {
        private: WgKey::from_bytes(secret.to_bytes()),
        public: WgKey::from_bytes(public.to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_fresh_and_consistent() {
        let a = generate();
        let b = generate();
        assert_ne!(a.private, b.private);
        assert_eq!(public_of(&a.private), a.public);
        assert!(!format!("{a:?}").contains(&a.private.to_string()));
    }

    #[test]
    fn the_public_key_is_the_one_wg_pubkey_derives() {
        // RFC 7748 section 6.1: Alice's private and public key.
        let private =
            WgKey::from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap();
        assert_eq!(
            public_of(&private).to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }
}
