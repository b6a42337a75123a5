//! Where each record goes: documents by their status decision (create, change, credit in
//! full, wait), refunds and customers to their own paths; stale versions and empty orders skipped.

use chrono::Utc;
use serde_json::json;

use super::moves::MOVE;
use super::{Context, Poster, RecordOutcome, Routed, Work, line_source, marker};
use crate::error::{ErrorClass, Result};
use crate::ids::{ConnectionId, OdooRef, SourceId};
use crate::odoo::{OdooError, Val};
use crate::ports::{AuditStage, Link};
use crate::records::{Record, SalesDocument};
use crate::rules::StatusDecision;
use crate::rules::{PostedChange, PostingMode};

impl Poster {
    pub(super) async fn route(&self, ctx: &Context, work: Work) -> Routed {
        let retention = ctx.connection.audit_retention;
        let sale_orders = ctx.rules.posting.mode == PostingMode::SaleOrder;
        let result: Result<RecordOutcome> = match work.envelope.record.clone() {
            Record::Order(doc) if sale_orders => {
                let e = &work.envelope;
                let result = self.route_sale_order(ctx, &work, &doc).await;
                // Decided (posted, noted, skipped or kept as failed): this version is settled.
                if !matches!(result, Ok(RecordOutcome::Retry(_)) | Err(_)) {
                    let hash = e.content_hash.to_string();
                    let _ = self.settle(&e.connection_id, e.kind(), &e.source_id, e.source_updated_at, &hash).await;
                }
                result
            }
            Record::Invoice(doc) if sale_orders => {
                let why = format!(
                    "{} invoice {}: in sale-order mode the invoice is made from the sale order in Odoo",
                    work.envelope.source.title(),
                    doc.number
                );
                Ok(self.note_only(ctx, &work, why).await)
            }
            Record::Order(doc) if work.envelope.source.books_invoices() => {
                let why = format!(
                    "{} order {} ({}, total {} {}): the books are kept from its invoices and credit memos",
                    work.envelope.source.title(),
                    doc.number,
                    doc.source_status,
                    doc.totals.total,
                    doc.currency.as_str()
                );
                Ok(self.note_only(ctx, &work, why).await)
            }
            Record::Order(doc) | Record::Invoice(doc) => {
                let e = &work.envelope;
                let (connection, kind, id, at, hash) = (
                    e.connection_id.clone(),
                    e.kind(),
                    e.source_id.clone(),
                    e.source_updated_at,
                    e.content_hash.to_string(),
                );
                let routed = self.route_document(ctx, work, doc).await;
                // Decided here (not created later in the batch): this version is settled.
                if let Routed::Done(_, outcome) = &routed
                    && !matches!(outcome, RecordOutcome::Retry(_))
                {
                    let _ = self.settle(&connection, kind, &id, at, &hash).await;
                }
                return routed;
            }
            Record::Refund(refund) => self.post_refund(ctx, &work, &refund).await,
            Record::Customer(customer) => self.upsert_customer(ctx, &work, &customer).await,
            Record::Shipment(shipment) => self.note_shipment(ctx, &work, &shipment).await,
            other => Ok(self.skip(ctx, &work, format!("{} records are not posted to accounting", other.kind())).await),
        };
        match result {
            Ok(outcome) => Routed::Done(work.idx, outcome),
            Err(err) => Routed::Done(work.idx, self.fail(&work.envelope, retention, Some(&work.token), err).await),
        }
    }

    pub(super) async fn route_document(&self, ctx: &Context, work: Work, doc: SalesDocument) -> Routed {
        let retention = ctx.connection.audit_retention;
        let e = &work.envelope;
        // The decision is on the normalized status (and the connection's word for the raw one);
        // the raw status is what the trail names.
        let status = doc.source_status.to_lowercase();
        let posting = &ctx.rules.posting;
        let decision = posting.decision(doc.status, &doc.source_status);
        match self.is_stale(&work).await {
            Ok(false) => {}
            Ok(true) => {
                return Routed::Done(
                    work.idx,
                    self.skip(
                        ctx,
                        &work,
                        format!(
                            "stale: a newer version of {} {} (than {}) was already applied",
                            e.kind(),
                            e.source_id,
                            e.source_updated_at
                        ),
                    )
                    .await,
                );
            }
            Err(err) => return Routed::Done(work.idx, self.fail(e, retention, Some(&work.token), err).await),
        }
        let link = match self.deps.state.link_by_source(&e.connection_id, e.kind(), &e.source_id).await {
            Ok(link) => link,
            Err(err) => return Routed::Done(work.idx, self.fail(e, retention, Some(&work.token), err).await),
        };
        let empty =
            doc.lines.is_empty() && doc.shipping.is_empty() && doc.fees.is_empty() && doc.totals.total.is_zero();
        if link.is_none() && (empty || decision != StatusDecision::Post) {
            // Seen and not posted: what a later refund or shipment of this version finds.
            let _ = self.mark_unposted(&work, &doc.source_status).await;
        }
        let result = if empty && link.is_none() {
            // Nothing to book (a `-0` total with no lines): no empty draft is left in Odoo.
            Ok(self
                .skip(
                    ctx,
                    &work,
                    format!("order {} has no lines and a total of {}: nothing to post", doc.number, doc.totals.total),
                )
                .await)
        } else if decision == StatusDecision::Post {
            match link {
                None => return Routed::Create(Box::new(work)),
                // A repost (reconciliation found the move gone) goes where a change would.
                Some(link) if e.repost.is_some() => match self.change_existing(ctx, &work, &doc, link).await {
                    Ok(true) => return Routed::Create(Box::new(work)),
                    Ok(false) => Ok(RecordOutcome::Parked("held for review".into())),
                    Err(err) => Err(err),
                },
                Some(link) => match self.unchanged_for_the_books(ctx, &work, &doc, &link).await {
                    Ok(Some(outcome)) => Ok(outcome),
                    Ok(None) => match self.change_existing(ctx, &work, &doc, link).await {
                        Ok(true) => return Routed::Create(Box::new(work)),
                        Ok(false) => Ok(RecordOutcome::Parked("held for review".into())),
                        Err(err) => Err(err),
                    },
                    Err(err) => Err(err),
                },
            }
        } else if decision == StatusDecision::Credit {
            let refunded = self.flag(&e.connection_id, "refunded", &e.source_id).await;
            match link {
                Some(_) if matches!(refunded, Ok(true)) => Ok(self
                    .skip(ctx, &work, format!("status {status}: its refunds were already credited line by line"))
                    .await),
                Some(link) => self.credit_in_full(ctx, &work, link).await,
                None => Ok(self
                    .skip(ctx, &work, format!("status {status}: nothing was posted, so nothing to credit"))
                    .await),
            }
        } else if let Some(link) = link {
            // Posted earlier, now in a status that neither posts nor credits (on hold, disputed):
            // the books stay, the document's chatter says so.
            match self.booked(&work).await {
                Ok(Some((_, was))) if was == doc.source_status => {
                    Ok(self.skip(ctx, &work, format!("status {status}: nothing changed for the books")).await)
                }
                Ok(_) => self.note_status(ctx, &work, &doc, &link).await,
                Err(err) => Err(err),
            }
        } else {
            Ok(self
                .skip(
                    ctx,
                    &work,
                    format!("status {status} does not post (posting statuses: {})", posting.posting_statuses()),
                )
                .await)
        };
        match result {
            Ok(outcome) => Routed::Done(work.idx, outcome),
            Err(err) => Routed::Done(work.idx, self.fail(e, retention, Some(&work.token), err).await),
        }
    }

    /// Deliveries arrive out of order: a version older than one already applied is stale.
    /// Otherwise this version becomes the newest applied.
    pub(super) async fn is_stale(&self, work: &Work) -> Result<bool> {
        let e = &work.envelope;
        let version = crate::ports::Watermark { at: e.source_updated_at, cursor: None };
        let name = format!("version:{}:{}", e.kind(), e.source_id);
        Ok(!self.deps.state.advance_watermark(&e.connection_id, &name, &version).await?)
    }

    pub(super) async fn skip(&self, ctx: &Context, work: &Work, why: String) -> RecordOutcome {
        let _ = self
            .deps
            .state
            .complete(&work.token, &json!({ "skipped": why }).to_string(), self.settings.keep_outcome_for)
            .await;
        self.audit(&work.envelope, ctx.connection.audit_retention, AuditStage::Skipped, None, why.clone(), json!({}))
            .await;
        RecordOutcome::Skipped(why)
    }

    /// A record that books nothing by design, noted in its trail (not a skip to look into).
    pub(super) async fn note_only(&self, ctx: &Context, work: &Work, what: String) -> RecordOutcome {
        let _ = self
            .deps
            .state
            .complete(&work.token, &json!({ "noted": what }).to_string(), self.settings.keep_outcome_for)
            .await;
        self.audit(&work.envelope, ctx.connection.audit_retention, AuditStage::Noted, None, what.clone(), json!({}))
            .await;
        RecordOutcome::Skipped(what)
    }

    /// A new version of an order already in Odoo. Returns true when a new move must be created.
    pub(super) async fn change_existing(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        link: Link,
    ) -> Result<bool> {
        let client = &ctx.odoo.client;
        let rows = match client.read(MOVE, &[link.odoo.id], &["state", "name", "invoice_origin"]).await {
            Ok(rows) => rows,
            Err(OdooError::MissingRecord { .. }) => return Ok(true), // deleted in Odoo: post it again
            Err(e) => return Err(e.into()),
        };
        if rows.first().and_then(|r| r.get("invoice_origin")).and_then(Val::as_str)
            == Some(marker(&work.envelope).as_str())
        {
            // The linked move is this very version's (an earlier attempt failed after creating
            // it, or its answer was lost): the create path adopts it, posting it if need be.
            return Ok(true);
        }
        let state = rows.first().and_then(|r| r.get("state")).and_then(Val::as_str).unwrap_or_default().to_string();
        let name = rows.first().and_then(|r| r.get("name")).and_then(Val::as_str).unwrap_or_default().to_string();
        match state.as_str() {
            "draft" => {
                // Still a draft: drop it and create the new version in its place.
                client.execute(crate::odoo::Call::new(MOVE, "unlink").ids(&[link.odoo.id])).await?;
                Ok(true)
            }
            "posted" => match ctx.rules.posting.on_posted_change {
                PostedChange::HoldForReview => {
                    let why = format!(
                        "order {} changed after {name} was posted; held for review (on_posted_change = hold_for_review)",
                        doc.number
                    );
                    let _ = self
                        .park(
                            &work.envelope,
                            ctx.connection.audit_retention,
                            Some(&work.token),
                            ErrorClass::Permanent,
                            why,
                        )
                        .await;
                    Ok(false)
                }
                PostedChange::CreditAndRepost => {
                    // Until the new version is booked, a refund of this order waits for it.
                    let e = &work.envelope;
                    let mark = crate::ports::Watermark { at: e.source_updated_at, cursor: None };
                    let name_of = format!("reposting:{}:{}", e.kind(), e.source_id);
                    self.deps.state.advance_watermark(&e.connection_id, &name_of, &mark).await?;
                    let credit = self.reverse(ctx, work, &link, "order changed in the store").await?;
                    self.audit(
                        &work.envelope,
                        ctx.connection.audit_retention,
                        AuditStage::Posted,
                        Some(credit.clone()),
                        format!("credited {name} because the order changed; posting the new version"),
                        json!({}),
                    )
                    .await;
                    Ok(true)
                }
            },
            _ => Ok(true), // cancelled in Odoo: post the new version
        }
    }

    /// Reverses a posted move into a posted credit note, linked from the order.
    pub(super) async fn reverse(&self, ctx: &Context, work: &Work, link: &Link, reason: &str) -> Result<OdooRef> {
        let client = &ctx.odoo.client;
        let credit = client.reverse_moves(&[link.odoo.id], reason, None).await?;
        if ctx.rules.posting.post {
            client.call_method(MOVE, "action_post", &credit).await?;
        }
        let odoo = OdooRef::new(MOVE, credit[0]);
        let source = line_source(&work.envelope.source_id, &format!("credit:{}", link.odoo.id))?;
        self.deps
            .state
            .put_link(&Link {
                connection_id: link.connection_id.clone(),
                kind: link.kind,
                source_id: source,
                odoo: odoo.clone(),
                updated_at: Utc::now(),
            })
            .await?;
        Ok(odoo)
    }

    /// A document's version is settled: posted, noted, skipped or kept as failed. Refunds wait
    /// for the newest version queued to be settled (see `WebhookPipeline::enqueue`).
    pub(super) async fn settle(
        &self,
        connection: &ConnectionId,
        kind: crate::records::EntityKind,
        id: &SourceId,
        at: chrono::DateTime<Utc>,
        content: &str,
    ) -> Result<()> {
        let mark = crate::ports::Watermark { at, cursor: Some(content.to_string()) };
        self.deps.state.advance_watermark(connection, &format!("settled:{kind}:{id}"), &mark).await?;
        Ok(())
    }

    /// Marks the version being routed as seen and not posted (with its store status).
    pub(super) async fn mark_unposted(&self, work: &Work, status: &str) -> Result<()> {
        let e = &work.envelope;
        let mark = crate::ports::Watermark { at: e.source_updated_at, cursor: Some(status.to_string()) };
        self.deps
            .state
            .advance_watermark(&e.connection_id, &format!("unposted:{}:{}", e.kind(), e.source_id), &mark)
            .await?;
        Ok(())
    }

    /// The store status of an order whose newest version was seen and not posted; `None` when
    /// it was never seen, or its newest version is on its way into Odoo (a refund or shipment
    /// must then wait for it, not give up).
    pub(super) async fn never_posted(&self, connection: &ConnectionId, order: &SourceId) -> Result<Option<String>> {
        let state = &self.deps.state;
        let kind = crate::records::EntityKind::Order;
        let version = state.watermark(connection, &format!("version:{kind}:{order}")).await?;
        let unposted = state.watermark(connection, &format!("unposted:{kind}:{order}")).await?;
        Ok(match (version, unposted) {
            (Some(v), Some(u)) if v.at == u.at => Some(u.cursor.unwrap_or_default()),
            _ => None,
        })
    }

    /// Per-order facts kept as watermarks (present = set): `refunded` (a refund was credited line
    /// by line) and `credited` (the order was credited in full), so the two never both happen.
    pub(super) async fn flag(&self, connection: &ConnectionId, name: &str, order: &SourceId) -> Result<bool> {
        Ok(self.deps.state.watermark(connection, &format!("{name}:{order}")).await?.is_some())
    }

    pub(super) async fn set_flag(&self, connection: &ConnectionId, name: &str, order: &SourceId) -> Result<()> {
        self.deps
            .state
            .advance_watermark(
                connection,
                &format!("{name}:{order}"),
                &crate::ports::Watermark { at: Utc::now(), cursor: None },
            )
            .await?;
        Ok(())
    }

    pub(super) async fn credit_in_full(&self, ctx: &Context, work: &Work, link: Link) -> Result<RecordOutcome> {
        let rows = ctx.odoo.client.read(MOVE, &[link.odoo.id], &["state", "name"]).await?;
        let state = rows.first().and_then(|r| r.get("state")).and_then(Val::as_str).unwrap_or_default().to_string();
        let name = rows.first().and_then(|r| r.get("name")).and_then(Val::as_str).unwrap_or_default().to_string();
        if state != "posted" {
            return Ok(self.skip(ctx, work, format!("{name} is {state}, not posted: nothing to credit")).await);
        }
        let credit = self.reverse(ctx, work, &link, "order cancelled or refunded in the store").await?;
        self.set_flag(&work.envelope.connection_id, "credited", &work.envelope.source_id).await?;
        let credit_name = ctx.odoo.client.read(MOVE, &[credit.id], &["name"]).await?[0]
            .get("name")
            .and_then(Val::as_str)
            .unwrap_or_default()
            .to_string();
        self.deps
            .state
            .complete(&work.token, &json!({ "credit_note": credit.id }).to_string(), self.settings.keep_outcome_for)
            .await?;
        self.audit(
            &work.envelope,
            ctx.connection.audit_retention,
            AuditStage::Posted,
            Some(credit.clone()),
            format!("order cancelled: credited {name} in full with {credit_name}"),
            json!({ "credited": link.odoo.id }),
        )
        .await;
        Ok(RecordOutcome::Posted { odoo: credit, name: credit_name })
    }
}
