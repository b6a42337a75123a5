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
pub use webhook::{WebhookRequest, WebhookResponse, WooConnector, WooDeps};
