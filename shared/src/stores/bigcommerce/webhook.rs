//! Callbacks: Standard Webhooks signatures (and a custom-header secret for hooks made with
//! one), `hash` dedupe, and each scope made into a fetch reference.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use super::connector::*;
use crate::error::{Error, Result};
use crate::http::standard_webhooks::{self, SignedHeaders};
use crate::ports::*;
use crate::records::{EntityKind, SourceSystem};
use crate::stores::fetch::FetchRequest;
use crate::stores::webhook::{Accepted, Check, Delivery, WebhookSource};

fn scope_of(delivery: &Delivery) -> Option<String> {
    serde_json::from_slice::<Value>(delivery.body).ok()?["scope"].as_str().map(String::from)
}

fn reference(connection: &Connection, kind: EntityKind, id: i64, hints: Value) -> FetchRequest {
    FetchRequest {
        connection_id: connection.id.clone(),
        source: SourceSystem::Bigcommerce,
        kind,
        id: id.to_string(),
        via: String::new(),
        received_at: Utc::now(),
        hints,
    }
}

#[async_trait]
impl WebhookSource for BcConnector {
    fn name(&self) -> &'static str {
        "bigcommerce"
    }

    fn title(&self) -> &'static str {
        "BigCommerce"
    }

    fn max_body_bytes(&self) -> usize {
        64 * 1024 // thin payloads: ids only
    }

    fn delivery_id(&self, delivery: &Delivery) -> Option<String> {
        delivery.header("webhook-id").map(String::from)
    }

    fn kind(&self, delivery: &Delivery) -> EntityKind {
        match scope_of(delivery).as_deref() {
            Some(s) if s.starts_with("store/order/refund") => EntityKind::Refund,
            Some(s) if s.starts_with("store/customer") => EntityKind::Customer,
            Some(s) if s.starts_with("store/shipment") => EntityKind::Shipment,
            _ => EntityKind::Order,
        }
    }

    fn claims_signature(&self, delivery: &Delivery) -> bool {
        delivery.header("webhook-signature").is_some() || delivery.header(HOOK_HEADER).is_some()
    }

    /// A Standard Webhooks signature, when the callback carries one, must verify with the client
    /// secret; the custom header, when the connection keeps a secret for it, must match. One of
    /// the two must be there: nothing unauthenticated gets through.
    fn check(&self, secrets: Option<&SecretBundle>, delivery: &Delivery) -> Check {
        let header_secret = secrets.and_then(|s| s.get(SECRET_HOOK_HEADER));
        if let Some(expected) = header_secret
            && !delivery.header(HOOK_HEADER).is_some_and(|given| same_secret(given, expected.expose()))
        {
            return Check::Refused {
                reason: "signature",
                message: format!("refused: the {HOOK_HEADER} header does not carry the hooks' secret"),
            };
        }
        if delivery.header("webhook-signature").is_none() && header_secret.is_some() {
            return Check::Verified; // a hook whose callbacks BigCommerce does not sign
        }
        let Some(secret) = secrets.and_then(|s| s.get(SECRET_CLIENT_SECRET)) else {
            return Check::Refused {
                reason: "no secret",
                message: "no client secret is stored for this connection".into(),
            };
        };
        let headers = SignedHeaders {
            id: delivery.header("webhook-id"),
            timestamp: delivery.header("webhook-timestamp"),
            signature: delivery.header("webhook-signature"),
        };
        match standard_webhooks::verify(secret.expose().as_bytes(), headers, delivery.body, Utc::now().timestamp()) {
            Ok(()) => Check::Verified,
            Err(why) => {
                Check::Refused { reason: "signature", message: format!("refused Standard Webhooks signature: {why}") }
            }
        }
    }

    fn topic(&self, delivery: &Delivery) -> std::result::Result<String, String> {
        scope_of(delivery).ok_or_else(|| "a signed callback without a scope".into())
    }

    async fn accept(
        &self,
        connection: &Connection,
        scope: &str,
        reference_id: &str,
        delivery: &Delivery,
    ) -> Result<Accepted> {
        let body: Value =
            serde_json::from_slice(delivery.body).map_err(|e| Error::bad_input(format!("malformed JSON: {e}")))?;
        if let Some(hash) = body["hash"].as_str()
            && !self.first_time(connection, hash).await?
        {
            return Ok(Accepted::Noted("duplicate event".into()));
        }
        let data = &body["data"];
        let id = |v: &Value| {
            v.as_i64().filter(|&i| i > 0).ok_or_else(|| Error::bad_input(format!("{scope}: no positive id")))
        };
        let request = match scope {
            "store/order/created" | "store/order/updated" | "store/order/statusUpdated" | "store/order/archived" => {
                reference(connection, EntityKind::Order, id(&data["id"])?, Value::Null)
            }
            "store/order/refund/created" => {
                let order = id(&data["id"])?;
                reference(
                    connection,
                    EntityKind::Refund,
                    id(&data["refund"]["refund_id"])?,
                    json!({ "order_id": order }),
                )
            }
            "store/customer/created" | "store/customer/updated" => {
                reference(connection, EntityKind::Customer, id(&data["id"])?, Value::Null)
            }
            "store/shipment/created" | "store/shipment/updated" => {
                let order = id(&data["orderId"])?;
                reference(connection, EntityKind::Shipment, id(&data["id"])?, json!({ "order_id": order }))
            }
            s if s.starts_with("store/customer/address/") => {
                reference(connection, EntityKind::Customer, id(&data["address"]["customer_id"])?, Value::Null)
            }
            // Nothing to read: the store has removed it. Odoo keeps its history; the trail says so.
            "store/customer/deleted" | "store/shipment/deleted" => {
                // Under the record's own id, so tracing it finds the deletion.
                let (record, what) = if scope == "store/customer/deleted" {
                    let customer = id(&data["id"])?;
                    (
                        customer.to_string(),
                        format!("customer {customer} was deleted in BigCommerce; its partner stays in Odoo"),
                    )
                } else {
                    let (shipment, order) = (id(&data["id"])?, id(&data["orderId"])?);
                    let what = format!(
                        "shipment {shipment} of order {order} was deleted in BigCommerce; the note on its invoice stays"
                    );
                    (format!("{order}-s{shipment}"), what)
                };
                let via = json!({ "delivery": reference_id });
                self.pipeline.audit(connection, self.kind(delivery), &record, AuditStage::Skipped, what, via).await;
                return Ok(Accepted::Noted("deleted in the store".into()));
            }
            other => {
                let message = format!("scope {other} is not handled");
                self.pipeline
                    .audit(connection, self.kind(delivery), reference_id, AuditStage::Skipped, message, json!({}))
                    .await;
                return Ok(Accepted::Noted("ignored".into()));
            }
        };
        let message = format!("{} {} queued to read", request.kind, request.id);
        Ok(Accepted::Fetch { requests: vec![request], message })
    }
}

/// Compares a header with the stored secret in constant time (through HMAC digests).
fn same_secret(given: &str, expected: &str) -> bool {
    use hmac::{Hmac, Mac};
    type H = Hmac<sha2::Sha256>;
    let digest = |v: &str| {
        let mut mac = H::new_from_slice(b"ml-connector hook header").expect("any key length");
        mac.update(v.as_bytes());
        mac
    };
    let expected = digest(expected).finalize().into_bytes();
    digest(given).verify_slice(&expected).is_ok()
}
