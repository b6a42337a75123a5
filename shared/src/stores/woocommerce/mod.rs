//! WooCommerce: REST API v3 client, webhook verification and handling, the fetch stage's reads,
//! normalization, polling, checks and webhook registration. The shape every store module follows.

pub mod checks;
pub mod client;
pub mod normalize;
pub mod poller;
pub mod registration;
pub mod signature;
pub mod webhook;

pub use poller::{PollReport, PollSettings};

/// A WooCommerce connection's own settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WooSettings {
    /// Items per page when listing (1 to 100, WooCommerce's limit): smaller pages for hosts that
    /// time out building 100 orders at once.
    pub page_size: u32,
}

impl Default for WooSettings {
    fn default() -> Self {
        WooSettings { page_size: client::MAX_PAGE_SIZE }
    }
}

impl WooSettings {
    /// The connection's WooCommerce settings (the defaults when it has none).
    pub fn of(connection: &crate::ports::Connection) -> WooSettings {
        match &connection.settings {
            crate::stores::StoreSettings::Woocommerce(s) => s.clone(),
            _ => WooSettings::default(),
        }
    }
}
pub use webhook::{WebhookRequest, WebhookResponse, WooConnector, WooDeps};
