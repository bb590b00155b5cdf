//! A WireGuard key as people and `wg(8)` write it: 32 bytes in standard base64 (44
//! characters, one `=`). The same bytes go to wireguard-go's UAPI socket in hex.
//!
//! Only the encoding lives here (core is pure): key pairs are made by the driver crate.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Curve25519 key (public or private), always 32 bytes: a malformed key cannot be held.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WgKey([u8; 32]);

/// Why a text is not a WireGuard key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a WireGuard key is 32 bytes in base64 (44 characters, as `wg genkey` writes it)")]
pub struct MalformedKey;

impl WgKey {
    pub const fn from_bytes(bytes: [u8; 32]) -> WgKey {
        WgKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as the UAPI protocol carries keys.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses the UAPI's hex form.
    pub fn from_hex(s: &str) -> Result<WgKey, MalformedKey> {
        if s.len() != 64 || !s.is_ascii() {
            return Err(MalformedKey);
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| MalformedKey)?;
        }
        Ok(WgKey(out))
    }
}

impl FromStr for WgKey {
    type Err = MalformedKey;

    fn from_str(s: &str) -> Result<WgKey, MalformedKey> {
        // Exactly 44 characters: the decoder alone would also take other lengths' padding.
        if s.len() != 44 {
            return Err(MalformedKey);
        }
        let bytes = STANDARD.decode(s).map_err(|_| MalformedKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MalformedKey)?;
        Ok(WgKey(bytes))
    }
}

impl fmt::Display for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

/// Debug shows the base64 form: these are public keys in every struct that derives Debug
/// (private keys are held as plain strings only for the moment they are handed out).
impl fmt::Debug for WgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WgKey({self})")
    }
}

impl Serialize for WgKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WgKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WgKey, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for WgKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A WireGuard public key: 32 bytes in base64 (44 characters).",
            ))
            .min_length(Some(44))
            .max_length(Some(44))
            .into()
    }
}

impl utoipa::ToSchema for WgKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_and_writes_as_wg_writes_it() {
        let text = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let key: WgKey = text.parse().unwrap();
        assert_eq!(key.to_string(), text);
        assert_eq!(WgKey::from_hex(&key.to_hex()).unwrap(), key);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "not a key",
            // 31 bytes
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBg==",
            // 44 characters that are not base64
            "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm!=",
        ] {
            assert_eq!(bad.parse::<WgKey>(), Err(MalformedKey), "{bad}");
        }
        assert!(WgKey::from_hex("zz").is_err());
    }
}
