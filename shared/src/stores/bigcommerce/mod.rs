//! BigCommerce on the store seam: a quota-aware REST client, thin signed webhooks (Standard
//! Webhooks) that become fetch references, the fetch stage's reads, normalization, and the poller
//! (orders by `min_date_modified`, refunds by `created:min`, customers by `date_modified:min`).

mod checks;
pub mod client;
pub mod connector;
mod hooks;
pub mod normalize;
mod poll;
mod webhook;

pub use connector::BcConnector;

/// A BigCommerce connection's own settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BcSettings {
    pub store_hash: String,
    /// The API's base when not `https://api.bigcommerce.com/stores/{store_hash}` (tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<url::Url>,
}

impl BcSettings {
    pub fn of(connection: &crate::ports::Connection) -> crate::Result<BcSettings> {
        match &connection.settings {
            crate::stores::StoreSettings::Bigcommerce(s) => Ok(s.clone()),
            _ => Err(crate::Error::bad_input(format!(
                "connection {} has no BigCommerce store hash in its settings",
                connection.id
            ))),
        }
    }

    pub fn api_base(&self) -> crate::Result<url::Url> {
        match &self.api_base {
            Some(u) => Ok(u.clone()),
            None => url::Url::parse(&format!("https://api.bigcommerce.com/stores/{}", self.store_hash))
                .map_err(|_| crate::Error::bad_input("the store hash does not make a URL")),
        }
    }
}
