//! WooCommerce: REST API v3 client, webhook verification and handling, normalization, polling.
//! The shape every store module follows.

pub mod client;
pub mod normalize;
pub mod poller;
pub mod signature;
pub mod webhook;

pub use poller::{PollReport, PollSettings};
pub use webhook::{WebhookRequest, WebhookResponse, WooConnector, WooDeps};
