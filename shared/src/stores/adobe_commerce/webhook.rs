//! Adobe Commerce Webhooks: the RSA signature over base64 of the raw body, the after-save
//! observer events for orders, invoices, credit memos and customers, each made into a fetch
//! reference.
//!
//! These webhooks are synchronous: Commerce waits for the answer inside the shopper's checkout
//! or the admin's save, and a failed or `exception` answer can stop it. So every answer is
//! `200 {"op":"success"}`, whatever became of the delivery: refused, kept for review, or not
//! queued because our queue is down. The pipeline still enqueues nothing it did not verify, and
//! says in the audit trail what it refused or left to the poller.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};

use super::SECRET_WEBHOOK_PUBLIC_KEY;
use super::connector::AdobeConnector;
use super::signature::{HEADER, WebhookKey};
use crate::error::{Error, Result};
use crate::ports::*;
use crate::records::{EntityKind, SourceSystem};
use crate::stores::fetch::FetchRequest;
use crate::stores::webhook::{Accepted, Check, Delivery, Outcome, Reply, WebhookSource};

/// The observer events a connection's hooks subscribe to, and what each is about.
pub const EVENTS: [(&str, EntityKind, &str); 5] = [
    ("observer.sales_order_save_after", EntityKind::Order, "order"),
    ("observer.sales_order_invoice_save_after", EntityKind::Invoice, "invoice"),
    ("observer.sales_order_creditmemo_save_after", EntityKind::Refund, "creditmemo"),
    ("observer.customer_save_after", EntityKind::Customer, "customer"),
    ("observer.customer_address_save_after", EntityKind::Customer, "customer_address"),
];

fn event_of(delivery: &Delivery) -> Option<String> {
    serde_json::from_slice::<Value>(delivery.body).ok()?["eventName"].as_str().map(String::from)
}

#[async_trait]
impl WebhookSource for AdobeConnector {
    fn name(&self) -> &'static str {
        "adobe-commerce"
    }

    fn title(&self) -> &'static str {
        "Adobe Commerce"
    }

    /// Commerce sends no delivery id: a delivery sent twice is read twice, and the poster's
    /// exactly-once keeps the books right.
    fn delivery_id(&self, _delivery: &Delivery) -> Option<String> {
        None
    }

    fn kind(&self, delivery: &Delivery) -> EntityKind {
        let event = event_of(delivery).unwrap_or_default();
        EVENTS.iter().find(|(e, ..)| *e == event).map(|(_, k, _)| *k).unwrap_or(EntityKind::Order)
    }

    fn claims_signature(&self, delivery: &Delivery) -> bool {
        delivery.header(HEADER).is_some()
    }

    fn check(&self, secrets: Option<&SecretBundle>, delivery: &Delivery) -> Check {
        let Some(pem) = secrets.and_then(|s| s.get(SECRET_WEBHOOK_PUBLIC_KEY)) else {
            return Check::Refused {
                reason: "no secret",
                message: format!(
                    "no webhook public key is stored for this connection ({SECRET_WEBHOOK_PUBLIC_KEY}): enable signatures in Commerce and add the key"
                ),
            };
        };
        let key = match WebhookKey::from_pem(pem.expose()) {
            Ok(k) => k,
            Err(why) => {
                return Check::Refused {
                    reason: "no secret",
                    message: format!("the stored webhook public key is unusable: {why}"),
                };
            }
        };
        let Some(signature) = delivery.header(HEADER) else {
            return Check::Refused { reason: "signature", message: format!("refused: no {HEADER} header") };
        };
        match key.verify(delivery.body, signature) {
            Ok(()) => Check::Verified,
            Err(why) => Check::Refused { reason: "signature", message: format!("refused webhook signature: {why}") },
        }
    }

    fn topic(&self, delivery: &Delivery) -> std::result::Result<String, String> {
        event_of(delivery).ok_or_else(|| "a signed webhook without an eventName".into())
    }

    async fn accept(
        &self,
        connection: &Connection,
        event: &str,
        reference: &str,
        delivery: &Delivery,
    ) -> Result<Accepted> {
        let body: Value =
            serde_json::from_slice(delivery.body).map_err(|e| Error::bad_input(format!("malformed JSON: {e}")))?;
        let Some((_, kind, object)) = EVENTS.iter().find(|(e, ..)| *e == event) else {
            let message = format!("event {event} is not handled");
            self.pipeline
                .audit(connection, EntityKind::Order, reference, AuditStage::Skipped, message, json!({}))
                .await;
            return Ok(Accepted::Noted("ignored".into()));
        };
        let data = &body["data"][object];
        // An address names its customer; everything else is read by its own entity id.
        let entity = if *object == "customer_address" {
            data["parent_id"].as_i64().or_else(|| data["customer_id"].as_i64())
        } else {
            data["entity_id"].as_i64().or_else(|| data["id"].as_i64())
        };
        let entity = entity
            .filter(|&i| i > 0)
            .ok_or_else(|| Error::bad_input(format!("{event}: no positive entity id in data.{object}")))?;
        // Named in the trail by the number people see when the hook's fields carry it.
        let id = match kind {
            EntityKind::Customer => entity.to_string(),
            _ => data["increment_id"].as_str().map(String::from).unwrap_or_else(|| entity.to_string()),
        };
        let request = FetchRequest {
            connection_id: connection.id.clone(),
            source: SourceSystem::AdobeCommerce,
            kind: *kind,
            id,
            via: String::new(),
            received_at: Utc::now(),
            hints: json!({ "entity_id": entity }),
        };
        let message = format!("{} {} queued to read", request.kind, request.id);
        Ok(Accepted::Fetch { requests: vec![request], message })
    }

    /// A synchronous hook must never stop the store's own operation.
    fn blocks_the_store(&self) -> bool {
        true
    }

    fn reply(&self, _outcome: &Outcome) -> Reply {
        Reply { status: 200, content_type: "application/json", body: r#"{"op":"success"}"#.into() }
    }
}
