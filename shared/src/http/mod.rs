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

/// A transport error as one sentence with its causes (reqwest's own says only "error sending
/// request"), without the URL: "…: invalid peer certificate: UnknownIssuer".
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// The server's certificate was refused (unknown issuer, wrong name, expired): trying again
/// cannot help, a CA bundle (`--ca-file`) or a fixed certificate can.
pub fn is_certificate_error(e: &reqwest::Error) -> bool {
    describe(e).contains("certificate")
}

/// What to say about a refused certificate.
pub fn certificate_advice(e: &reqwest::Error) -> String {
    format!(
        "the server's TLS certificate is not trusted ({}); if it is signed by a private CA, add the connection with --ca-file",
        describe(e)
    )
}

/// A store's transport failure: a refused certificate is permanent (and says what to do), the
/// rest retryable.
pub fn transport_error(what: &str, e: &reqwest::Error) -> crate::Error {
    if is_certificate_error(e) {
        crate::Error::permanent(anyhow::anyhow!("{what}: {}", certificate_advice(e)))
    } else {
        crate::Error::retryable(anyhow::anyhow!("{what}: {}", describe(e)))
    }
}
