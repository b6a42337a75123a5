//! What operations need to see on an Odoo document without anything booked: a status change
//! that leaves the lines and amounts as they were, and a shipment with its tracking. Each is an
//! internal note on the move's chatter (`message_post`) and a `Noted` entry in the trail.

use chrono::Utc;
use serde_json::json;

use super::{Context, Poster, RecordOutcome, Work};
use crate::error::{Error, Result};
use crate::ids::OdooRef;
use crate::odoo::Val;
use crate::ports::{AuditStage, Link, Watermark};
use crate::records::{EntityKind, SalesDocument, Shipment};

/// What was booked for a document: its fingerprint and the store status it had, kept so the
/// next version can tell a status-only change from one the books must follow.
pub(super) fn booked_key(kind: EntityKind, id: &crate::ids::SourceId) -> String {
    format!("booked:{kind}:{id}")
}

impl Poster {
    /// Records what a document booked (its fingerprint) under the store status it now has.
    pub(super) async fn remember_booked(&self, work: &Work, fingerprint: &str, status: &str) -> Result<()> {
        let e = &work.envelope;
        let mark = Watermark { at: e.source_updated_at, cursor: Some(format!("{fingerprint}|{status}")) };
        self.deps.state.advance_watermark(&e.connection_id, &booked_key(e.kind(), &e.source_id), &mark).await?;
        Ok(())
    }

    /// The fingerprint booked for a document and the store status it was last noted with.
    pub(super) async fn booked(&self, work: &Work) -> Result<Option<(String, String)>> {
        let e = &work.envelope;
        let mark = self.deps.state.watermark(&e.connection_id, &booked_key(e.kind(), &e.source_id)).await?;
        Ok(mark.and_then(|w| w.cursor).and_then(|c| c.split_once('|').map(|(f, s)| (f.to_string(), s.to_string()))))
    }

    /// A version of a posted document that books exactly what was booked: `Some` outcome (a
    /// chatter note when only the status moved, a skip when nothing did); `None` when the books
    /// must follow the change (or nothing is known of what was booked).
    pub(super) async fn unchanged_for_the_books(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        link: &Link,
    ) -> Result<Option<RecordOutcome>> {
        let e = &work.envelope;
        let Some((fingerprint, status)) = self.booked(work).await? else { return Ok(None) };
        if fingerprint != doc.booking_fingerprint() {
            return Ok(None);
        }
        if status == doc.source_status {
            let why = format!("{} {}: nothing changed for the books", e.kind(), e.source_id);
            return Ok(Some(self.skip(ctx, work, why).await));
        }
        Ok(Some(self.note_status(ctx, work, doc, link).await?))
    }

    /// A status change on a document already in Odoo, when the books stay as they are.
    pub(super) async fn note_status(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        link: &Link,
    ) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let booked = self.booked(work).await?;
        let was = booked.as_ref().map(|(_, s)| format!(" (was {s})")).unwrap_or_default();
        let body = format!("{} order {}: status {}{was}", e.source.title(), doc.number, doc.source_status);
        let name = self.note(ctx, &link.odoo, &body).await?;
        // The books still hold what was booked: only the status moves on.
        if let Some((fingerprint, _)) = booked {
            self.remember_booked(work, &fingerprint, &doc.source_status).await?;
        }
        let why = format!("status {} noted on {name}; nothing booked", doc.source_status);
        self.finish_note(ctx, work, &link.odoo, why, json!({ "status": doc.source_status })).await
    }

    /// A shipment: its items, carrier and tracking on the order's document. A shipment of an
    /// order not in Odoo yet waits; of one that will never post, it is skipped with the reason.
    pub(super) async fn note_shipment(&self, ctx: &Context, work: &Work, shipment: &Shipment) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let state = &self.deps.state;
        let link = state.link_by_source(&e.connection_id, EntityKind::Order, &shipment.order_id).await?;
        let Some(link) = link else {
            if let Some(status) = self.never_posted(&e.connection_id, &shipment.order_id).await? {
                let why = format!(
                    "order {} was not posted (status {status}), so its shipment has no document to go on",
                    shipment.order_id
                );
                return Ok(self.skip(ctx, work, why).await);
            }
            return Err(Error::retryable(anyhow::anyhow!(
                "order {} is not in Odoo yet; the shipment waits for it",
                shipment.order_id
            )));
        };
        let items: Vec<String> =
            shipment.lines.iter().map(|l| format!("{} × {}", l.quantity.normalize(), l.sku)).collect();
        let tracking: Vec<String> = shipment
            .tracking
            .iter()
            .map(|t| {
                let url = t.url.as_ref().map(|u| format!(" ({u})")).unwrap_or_default();
                format!("{} {}{url}", t.carrier, t.number)
            })
            .collect();
        let body = format!(
            "{} shipment {} of order {} on {}: {}{}",
            e.source.title(),
            e.source_id,
            shipment.order_id,
            shipment.shipped_at.format("%Y-%m-%d %H:%M UTC"),
            if items.is_empty() { "no items listed".to_string() } else { items.join(", ") },
            if tracking.is_empty() { String::new() } else { format!("; tracking {}", tracking.join(", ")) },
        );
        if link.odoo.model == super::sales::SALE_ORDER && ctx.rules.sales.store_ships {
            return self.ship_delivery(ctx, work, shipment, &link, &body).await;
        }
        let name = self.note(ctx, &link.odoo, &body).await?;
        let details = json!({
            "order": shipment.order_id, "items": shipment.lines.len(),
            "tracking": shipment.tracking.iter().map(|t| json!({ "carrier": t.carrier, "number": t.number })).collect::<Vec<_>>(),
        });
        let why = format!("shipment of order {} noted on {name}", shipment.order_id);
        self.finish_note(ctx, work, &link.odoo, why, details).await
    }

    /// Posts the note on the document (a move, a sale order) and answers its name.
    async fn note(&self, ctx: &Context, document: &OdooRef, body: &str) -> Result<String> {
        let client = &ctx.odoo.client;
        client.message_post(&document.model, document.id, body).await?;
        let rows = client.read(&document.model, &[document.id], &["name"]).await?;
        Ok(rows.first().and_then(|r| r.get("name")).and_then(Val::as_str).unwrap_or_default().to_string())
    }

    /// The store shipped a sale order's goods: its open delivery is validated with the
    /// tracking, once (a delivery already done is only noted).
    async fn ship_delivery(
        &self,
        ctx: &Context,
        work: &Work,
        shipment: &Shipment,
        link: &Link,
        body: &str,
    ) -> Result<RecordOutcome> {
        let client = &ctx.odoo.client;
        let pickings = client.read(&link.odoo.model, &[link.odoo.id], &["picking_ids"]).await?;
        let ids = super::moves::ids_of(pickings.first().and_then(|p| p.get("picking_ids")));
        let rows = client.read("stock.picking", &ids, &["name", "state"]).await?;
        let open = rows.iter().find(|r| !matches!(r.get("state").and_then(Val::as_str), Some("done" | "cancel")));
        let order = self.note(ctx, &link.odoo, body).await?;
        let Some(picking) = open else {
            let why = format!("shipment of order {} noted on {order}: no delivery left to validate", shipment.order_id);
            return self.finish_note(ctx, work, &link.odoo, why, json!({})).await;
        };
        let id = picking.get("id").and_then(Val::as_i64).unwrap_or_default();
        let name = picking.get("name").and_then(Val::as_str).unwrap_or_default().to_string();
        if let Some(t) = shipment.tracking.first() {
            client
                .write("stock.picking", &[id], Val::map([("carrier_tracking_ref", Val::Str(t.number.clone()))]))
                .await?;
        }
        client.call_method("stock.picking", "button_validate", &[id]).await?;
        let tracking: Vec<&str> = shipment.tracking.iter().map(|t| t.number.as_str()).collect();
        let why = format!(
            "shipment of order {} recorded on {name} of {order}: validated{}",
            shipment.order_id,
            if tracking.is_empty() { String::new() } else { format!(", tracking {}", tracking.join(", ")) }
        );
        let picking_ref = OdooRef::new("stock.picking", id);
        self.finish_note(ctx, work, &picking_ref, why, json!({ "delivery": name, "tracking": tracking })).await
    }

    async fn finish_note(
        &self,
        ctx: &Context,
        work: &Work,
        odoo: &OdooRef,
        why: String,
        details: serde_json::Value,
    ) -> Result<RecordOutcome> {
        self.deps
            .state
            .complete(
                &work.token,
                &json!({ "noted": odoo.id, "at": Utc::now() }).to_string(),
                self.settings.keep_outcome_for,
            )
            .await?;
        self.audit(
            &work.envelope,
            ctx.connection.audit_retention,
            AuditStage::Noted,
            Some(odoo.clone()),
            why.clone(),
            details,
        )
        .await;
        Ok(RecordOutcome::Skipped(why))
    }
}
