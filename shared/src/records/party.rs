//! Who buys: customers, their addresses and countries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::SourceId;

/// ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        if value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CountryCode(value))
        } else {
            Err(Error::bad_input(format!("country {value:?}: must be two upper-case letters (ISO 3166-1)")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CountryCode {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::parse(value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> String {
        value.0
    }
}

/// A postal address as stores hold it. `region` is the store's state/province code (`"CA"`, `"NSW"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<CountryCode>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl Address {
    /// The place itself, for telling addresses apart: names and lines, not e-mail or phone
    /// (stores leave those off shipping addresses).
    pub fn place_key(&self) -> String {
        let parts = [
            &self.first_name,
            &self.last_name,
            &self.company,
            &self.line1,
            &self.line2,
            &self.city,
            &self.region,
            &self.postcode,
        ];
        let mut key: Vec<String> =
            parts.iter().map(|p| p.as_deref().unwrap_or_default().trim().to_lowercase()).collect();
        key.push(self.country.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default());
        key.join("|")
    }
}

/// Who bought: a registered customer (linked to a `res.partner` by their store id) or a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomerRef {
    Registered { source_id: SourceId, email: Option<String>, group: Option<String> },
    Guest { email: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub phone: Option<String>,
    /// The store's customer group or segment (`"wholesale"`); mapping rules may key on it.
    pub group: Option<String>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub addresses: Vec<Address>,
    pub created_at: Option<DateTime<Utc>>,
}
