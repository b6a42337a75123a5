//! Identifiers, parsed once at the edge so the rest of the code can trust them.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Declares a string newtype whose only constructor is `parse`, which serde also goes through.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value)
                    .map_err(|why| Error::bad_input(format!("{} {:?}: {}", stringify!($name), value, why)))?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }
    };
}

string_id!(
    /// A merchant's connection between one store and one Odoo database. It appears in webhook URLs,
    /// storage keys and secret names, so it is kept to lowercase letters, digits, `-` and `_`.
    ConnectionId,
    |s| {
        if s.is_empty() || s.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err("may hold only a-z, 0-9, '-' and '_'".into());
        }
        Ok(())
    }
);

string_id!(
    /// A record's id in the system it comes from (a WooCommerce order id, a Magento increment id, ...).
    SourceId,
    |s| {
        if s.is_empty() || s.len() > 256 {
            return Err("must be 1 to 256 characters".into());
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(())
    }
);

string_id!(
    /// A stock keeping unit as the store spells it (case and inner spaces kept; edges trimmed by the caller).
    Sku,
    |s| {
        if s.trim().is_empty() || s.len() > 255 {
            return Err("must be 1 to 255 characters and not blank".into());
        }
        if s.trim() != s {
            return Err("must not start or end with white space".into());
        }
        Ok(())
    }
);

string_id!(
    /// The key of one unit of work that must happen once (for example posting one version of one order).
    IdempotencyKey,
    |s| {
        if s.is_empty() || s.len() > 512 {
            return Err("must be 1 to 512 characters".into());
        }
        Ok(())
    }
);

string_id!(
    /// ISO 4217 alphabetic currency code.
    CurrencyCode,
    |s| {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(())
        } else {
            Err("must be three upper-case letters (ISO 4217)".into())
        }
    }
);

/// Follows one record through every system it touches; stamped on the envelope and every audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceId(uuid::Uuid);

impl TraceId {
    pub fn new() -> Self {
        TraceId(uuid::Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        uuid::Uuid::parse_str(s).map(TraceId).map_err(|e| Error::bad_input(format!("trace id {s:?}: {e}")))
    }
}

impl Default for TraceId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// SHA-256 of a record's canonical JSON, hex-encoded: equal content, equal hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl ContentHash {
    pub fn of_bytes(bytes: &[u8]) -> Self {
        ContentHash(hex::encode(Sha256::digest(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContentHash {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        if value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(ContentHash(value))
        } else {
            Err(Error::bad_input(format!("content hash {value:?}: must be 64 lower-case hex digits")))
        }
    }
}

impl From<ContentHash> for String {
    fn from(value: ContentHash) -> String {
        value.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A record in Odoo: model name and database id (for example `account.move` 17).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OdooRef {
    pub model: String,
    pub id: i64,
}

impl OdooRef {
    pub fn new(model: impl Into<String>, id: i64) -> Self {
        OdooRef { model: model.into(), id }
    }
}

impl fmt::Display for OdooRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.model, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_safe_in_urls_and_keys() {
        assert!(ConnectionId::parse("acme-shop_1").is_ok());
        for bad in ["", "Acme", "a#b", "a/b", "a b", &"x".repeat(65)] {
            assert!(ConnectionId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        assert!(serde_json::from_str::<CurrencyCode>("\"EUR\"").is_ok());
        let err = serde_json::from_str::<CurrencyCode>("\"eur\"").unwrap_err();
        assert!(err.to_string().contains("ISO 4217"), "{err}");
        assert!(serde_json::from_str::<Sku>("\" SKU-1\"").is_err());
        assert!(serde_json::from_str::<SourceId>("\"a\\nb\"").is_err());
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            ContentHash::of_bytes(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ContentHash::try_from("ABC".to_string()).is_err());
    }
}
