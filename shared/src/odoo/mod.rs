//! The Odoo gateway: one client over XML-RPC or JSON-2, the URL policy and SSRF guard, error
//! classes, and a sandbox Odoo to test against.

pub mod changes;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod value;

pub use client::{Call, OdooClient, OdooConfig, Transport, TransportChoice};
pub use endpoint::{Deployment, OdooEndpoint};
pub use error::OdooError;
pub use value::Val;
