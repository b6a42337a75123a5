//! HTTP plumbing shared by Odoo and every store, each piece named for what it is:
//! [`guard`] (the SSRF guard and the pinned client it builds), [`retry`] (one retry policy:
//! `Retry-After`, quota headers, exponential backoff with jitter), [`oauth1`] (RFC 5849 request
//! signing, with WooCommerce's one-legged form as its special case) and [`standard_webhooks`]
//! (the Standard Webhooks signature scheme).

pub mod guard;
pub mod oauth1;
pub mod retry;
pub mod standard_webhooks;
#[cfg(test)]
mod vectors;

pub use guard::{GuardError, guarded_client};
pub use retry::RetryPolicy;
