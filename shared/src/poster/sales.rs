//! Sales-order mode: a store order becomes a `sale.order` (with the marker in `origin`),
//! confirmed or left a quotation; an online order also gets its invoice, made from the order
//! by Odoo's wizard and posted, and its payment in the journal its payment method maps to.
//! Every step reads Odoo's state before it acts, so a retry after a crash, a lost answer or a
//! fault carries on from where the last attempt stopped and never does a step twice.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;

use super::moves::{MOVE, ids_of, leaf};
use super::sale_plan::{SalePlan, plan_sale_order};
use super::{Context, Poster, RecordOutcome, Work, line_source, marker};
use crate::error::{Error, ErrorClass, Result};
use crate::ids::OdooRef;
use crate::odoo::{Call, OdooError, Val};
use crate::ports::{AuditStage, Link, Watermark};
use crate::records::{EntityKind, SalesDocument};
use crate::rules::StatusDecision;

pub(super) const SALE_ORDER: &str = "sale.order";

/// A sale order as read back.
pub(super) struct OdooOrder {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) state: String,
    pub(super) origin: String,
    pub(super) total: Decimal,
    pub(super) invoices: Vec<i64>,
    pub(super) pickings: Vec<i64>,
}

/// An invoice made from the order, posted, as recorded.
struct Invoiced {
    id: i64,
    name: String,
    paid_now: Option<Decimal>,
}

fn text(row: &Val, field: &str) -> String {
    row.get(field).and_then(Val::as_str).unwrap_or_default().to_string()
}

fn permanent(why: String) -> Error {
    Error::permanent(anyhow::anyhow!(why))
}

pub(super) async fn read_order(ctx: &Context, id: i64) -> Result<Option<OdooOrder>> {
    let fields = ["name", "state", "origin", "amount_total", "invoice_ids", "picking_ids"];
    let row = match ctx.odoo.client.read(SALE_ORDER, &[id], &fields).await {
        Ok(mut rows) if !rows.is_empty() => rows.remove(0),
        Ok(_) | Err(OdooError::MissingRecord { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(OdooOrder {
        id,
        name: text(&row, "name"),
        state: text(&row, "state"),
        origin: text(&row, "origin"),
        total: row.get("amount_total").and_then(Val::as_decimal).unwrap_or_default(),
        invoices: ids_of(row.get("invoice_ids")),
        pickings: ids_of(row.get("picking_ids")),
    }))
}

impl Poster {
    /// An order in sales-order mode, by its status decision and what Odoo already holds.
    pub(super) async fn route_sale_order(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
    ) -> Result<RecordOutcome> {
        let e = &work.envelope;
        if self.is_stale(work).await? {
            let why = format!(
                "stale: a newer version of order {} (than {}) was already applied",
                e.source_id, e.source_updated_at
            );
            return Ok(self.skip(ctx, work, why).await);
        }
        let decision = ctx.rules.posting.decision(doc.status, &doc.source_status);
        let link = self.deps.state.link_by_source(&e.connection_id, EntityKind::Order, &e.source_id).await?;
        match (link, decision) {
            (Some(link), _) if link.odoo.model != SALE_ORDER => Err(permanent(format!(
                "order {} was booked as {} before the connection switched to sale-order mode; it stays as it is",
                doc.number, link.odoo
            ))),
            (None, StatusDecision::Post) => self.create_sale_order(ctx, work, doc).await,
            (None, _) => {
                self.mark_unposted(work, &doc.source_status).await?;
                let why = match decision {
                    StatusDecision::Credit => {
                        format!("status {}: no sale order was made, so nothing to cancel", doc.source_status)
                    }
                    _ => format!(
                        "status {} does not sync (posting statuses: {})",
                        doc.source_status,
                        ctx.rules.posting.posting_statuses()
                    ),
                };
                Ok(self.skip(ctx, work, why).await)
            }
            (Some(link), StatusDecision::Credit) => self.cancel_sale_order(ctx, work, doc, &link).await,
            (Some(link), _) => self.sale_order_version(ctx, work, doc, &link, decision).await,
        }
    }

    async fn plan(&self, ctx: &Context, doc: &SalesDocument) -> Result<SalePlan> {
        let mut skus: Vec<String> = doc.lines.iter().filter_map(|l| l.sku.as_ref().map(|s| s.to_string())).collect();
        skus.extend(ctx.rules.sales.rounding_product.iter().chain(&ctx.rules.sales.fee_product).cloned());
        ctx.odoo.load_required_products(&skus).await?;
        let store = Some(ctx.connection.store_url.host_str().unwrap_or_default());
        plan_sale_order(doc, store, &ctx.rules, ctx.odoo.as_ref()).map_err(|e| permanent(e.0))
    }

    async fn create_sale_order(&self, ctx: &Context, work: &Work, doc: &SalesDocument) -> Result<RecordOutcome> {
        let (e, client) = (&work.envelope, &ctx.odoo.client);
        let plan = self.plan(ctx, doc).await?;
        // A sale order this version already made (a worker died, an answer was lost): carried on.
        let domain = Val::list([leaf("origin", "=", Val::Str(marker(e)))]);
        let found = client.search_read(SALE_ORDER, domain, &["name"], Some(1), None).await?;
        let id = match found.first().and_then(|r| r.get("id")).and_then(Val::as_i64) {
            Some(id) => id,
            None => {
                let partners = self.resolve_partners(ctx, &[(work.idx, doc)]).await?;
                let partner =
                    *partners.get(&work.idx).ok_or_else(|| permanent("no partner could be found or created".into()))?;
                let shipping = self.delivery_partner(ctx, doc, partner).unwrap_or(partner);
                let id = client.create(SALE_ORDER, order_vals(ctx, work, doc, &plan, partner, shipping)).await?;
                if self.crash_after_create.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    return Ok(RecordOutcome::Retry("worker died after create (test)".into()));
                }
                id
            }
        };
        // Linked at once: a later version (a cancellation) finds the order even if this stops here.
        self.deps
            .state
            .put_link(&Link {
                connection_id: e.connection_id.clone(),
                kind: EntityKind::Order,
                source_id: e.source_id.clone(),
                odoo: OdooRef::new(SALE_ORDER, id),
                updated_at: Utc::now(),
            })
            .await?;
        self.advance_sale_order(ctx, work, doc, &plan, id).await
    }

    /// Takes the order as far as the plan says: total checked, confirmed, invoiced and paid.
    async fn advance_sale_order(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        plan: &SalePlan,
        id: i64,
    ) -> Result<RecordOutcome> {
        let (e, client, retention) = (&work.envelope, &ctx.odoo.client, ctx.connection.audit_retention);
        let order =
            read_order(ctx, id).await?.ok_or_else(|| Error::retryable(anyhow::anyhow!("sale order {id} vanished")))?;
        if order.total != plan.expected_total {
            let mut why = format!(
                "Odoo computed {} for {} where the store's total is {}",
                order.total, order.name, plan.store_total
            );
            if order.state == "draft" {
                match client.execute(Call::new(SALE_ORDER, "unlink").ids(&[id])).await {
                    Ok(_) => why.push_str("; the quotation was removed"),
                    Err(err) => {
                        why.push_str(&format!("; Odoo refused to remove the quotation ({err}): delete it there"))
                    }
                }
            } else {
                why.push_str("; review it in Odoo");
            }
            return Ok(self.park(e, retention, Some(&work.token), ErrorClass::Permanent, why).await);
        }
        if plan.confirm && order.state == "draft" {
            client.call_method(SALE_ORDER, "action_confirm", &[id]).await?;
        }
        let confirmed = plan.confirm || order.state == "sale";
        let invoiced = match (plan.payment.online, confirmed) {
            (true, true) => match self.invoice_and_pay(ctx, work, plan, &order).await? {
                Ok(done) => Some(done),
                Err(why) => return Ok(self.park(e, retention, Some(&work.token), ErrorClass::Permanent, why).await),
            },
            _ => None,
        };
        let name = order.name.clone();
        self.remember_booked(work, &doc.booking_fingerprint(), &doc.source_status).await?;
        self.settle(&e.connection_id, e.kind(), &e.source_id, e.source_updated_at, &e.content_hash.to_string()).await?;
        let outcome = json!({ "name": name, "sale_order": id, "invoice": invoiced.as_ref().map(|i| i.id) });
        self.deps.state.complete(&work.token, &outcome.to_string(), self.settings.keep_outcome_for).await?;
        let state = if confirmed { "confirmed" } else { "a quotation" };
        let then = match (&invoiced, plan.payment.online) {
            (Some(i), _) => format!("; invoiced as {}", i.name),
            (None, true) => "; paid online, to invoice once it is confirmed in Odoo".into(),
            (None, false) => "; offline payment: invoiced later in Odoo".into(),
        };
        self.audit(
            e,
            retention,
            AuditStage::Posted,
            Some(OdooRef::new(SALE_ORDER, id)),
            format!(
                "{name} {state} (sale.order {} in Odoo, equal to the store's total {}){then}",
                order.total, plan.store_total
            ),
            sale_details(ctx, &name, plan),
        )
        .await;
        if let Some(i) = &invoiced {
            let paid = match (&i.paid_now, &plan.payment.journal) {
                (Some(amount), Some(journal)) => format!("; payment of {amount} registered in journal {journal}"),
                _ => "; already paid".into(),
            };
            let message = format!("invoice {} of {name} posted{paid}", i.name);
            let details =
                json!({ "invoice": i.name, "payment_method": plan.payment.method, "journal": plan.payment.journal });
            self.audit(e, retention, AuditStage::Posted, Some(OdooRef::new(MOVE, i.id)), message, details).await;
        }
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo: OdooRef::new(SALE_ORDER, id), name })
    }

    /// The order's invoice, made by Odoo's wizard if it has none, checked against the store's
    /// total, posted, paid once, and linked line by line for refunds. `Err(reason)`: kept as failed.
    async fn invoice_and_pay(
        &self,
        ctx: &Context,
        work: &Work,
        plan: &SalePlan,
        order: &OdooOrder,
    ) -> Result<std::result::Result<Invoiced, String>> {
        let client = &ctx.odoo.client;
        let live = |rows: &[Val]| -> Option<Val> { rows.iter().find(|r| text(r, "state") != "cancel").cloned() };
        let fields = ["state", "name", "amount_total", "amount_residual", "payment_state", "invoice_line_ids"];
        let mut invoice = live(&client.read(MOVE, &order.invoices, &fields).await?);
        if invoice.is_none() {
            let vals = Val::map([("advance_payment_method", Val::from("delivered"))]);
            match client.run_wizard("sale.advance.payment.inv", SALE_ORDER, &[order.id], vals, "create_invoices").await
            {
                Ok(_) => {}
                Err(OdooError::Validation { message }) => {
                    return Ok(Err(format!("Odoo could not invoice {} ({message})", order.name)));
                }
                Err(e) => return Err(e.into()),
            }
            let now = read_order(ctx, order.id).await?.map(|o| o.invoices).unwrap_or_default();
            invoice = live(&client.read(MOVE, &now, &fields).await?);
        }
        let Some(row) = invoice else { return Ok(Err(format!("Odoo made no invoice for {}", order.name))) };
        let id = row.get("id").and_then(Val::as_i64).unwrap_or_default();
        let total = row.get("amount_total").and_then(Val::as_decimal).unwrap_or_default();
        if total != plan.store_total {
            return Ok(Err(format!(
                "the invoice Odoo made from {} comes to {total} where the store's total is {}; it is left a draft for review",
                order.name, plan.store_total
            )));
        }
        if text(&row, "state") == "draft" {
            client.call_method(MOVE, "action_post", &[id]).await?;
        }
        let after = client.read(MOVE, &[id], &fields).await?.remove(0);
        let residual = after.get("amount_residual").and_then(Val::as_decimal).unwrap_or_default();
        // Paid once: a retry after the payment finds the invoice paid (or in payment, on 18+).
        let paid_now = if matches!(text(&after, "payment_state").as_str(), "paid" | "in_payment") || residual.is_zero()
        {
            None
        } else {
            let journal = plan
                .payment
                .journal_id
                .ok_or_else(|| permanent("an online payment method without a journal".into()))?;
            let e = &work.envelope;
            let vals = Val::map([
                ("journal_id", Val::Int(journal)),
                ("amount", Val::Num(residual)),
                ("payment_date", Val::Str(Utc::now().format("%Y-%m-%d").to_string())),
                ("communication", Val::Str(format!("{} #{}", e.source, order.name))),
            ]);
            client.register_payment(&[id], vals).await?;
            Some(residual)
        };
        self.link_invoice(ctx, work, plan, order, id, &ids_of(after.get("invoice_line_ids"))).await?;
        Ok(Ok(Invoiced { id, name: text(&after, "name"), paid_now }))
    }

    /// The invoice under the order's store id (kind invoice), and each store line under its
    /// invoice line, so a refund credits it as a refund of any invoice does.
    async fn link_invoice(
        &self,
        ctx: &Context,
        work: &Work,
        plan: &SalePlan,
        order: &OdooOrder,
        invoice: i64,
        invoice_lines: &[i64],
    ) -> Result<()> {
        let (e, state, client) = (&work.envelope, &self.deps.state, &ctx.odoo.client);
        let now = Utc::now();
        let order_lines = ids_of(client.read(SALE_ORDER, &[order.id], &["order_line"]).await?[0].get("order_line"));
        let mut by_order_line = std::collections::HashMap::new();
        for (line, planned) in order_lines.iter().zip(&plan.lines) {
            if let Some(store_line) = &planned.store_line {
                by_order_line.insert(*line, store_line.clone());
            }
        }
        for row in client.read("account.move.line", invoice_lines, &["sale_line_ids"]).await? {
            let id = row.get("id").and_then(Val::as_i64).unwrap_or_default();
            let Some(store_line) = ids_of(row.get("sale_line_ids")).iter().find_map(|l| by_order_line.get(l)) else {
                continue;
            };
            let link = Link {
                connection_id: e.connection_id.clone(),
                kind: EntityKind::Invoice,
                source_id: line_source(&e.source_id, store_line)?,
                odoo: OdooRef::new("account.move.line", id),
                updated_at: now,
            };
            state.put_link(&link).await?;
        }
        let shipping: Vec<&str> =
            plan.lines.iter().filter_map(|l| l.store_line.as_deref()?.strip_prefix("ship:")).collect();
        if !shipping.is_empty() {
            let mark = Watermark { at: now, cursor: Some(shipping.join(",")) };
            state
                .advance_watermark(&e.connection_id, &format!("shipping-lines:invoice:{}", e.source_id), &mark)
                .await?;
        }
        let alias = Watermark { at: e.source_updated_at, cursor: Some(e.source_id.to_string()) };
        state.advance_watermark(&e.connection_id, &format!("invoice-for-order:{}", e.source_id), &alias).await?;
        let link = Link {
            connection_id: e.connection_id.clone(),
            kind: EntityKind::Invoice,
            source_id: e.source_id.clone(),
            odoo: OdooRef::new(MOVE, invoice),
            updated_at: now,
        };
        state.put_link(&link).await?;
        Ok(())
    }

    /// A later version of an order that is a sale order: carried on if it is this version's
    /// own (an attempt that stopped), noted if only its status moved, held for review if the
    /// store changed what was sold.
    async fn sale_order_version(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        link: &Link,
        decision: StatusDecision,
    ) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let Some(order) = read_order(ctx, link.odoo.id).await? else {
            if decision == StatusDecision::Post {
                return self.create_sale_order(ctx, work, doc).await; // deleted in Odoo: made again
            }
            return Ok(self.skip(ctx, work, format!("{} is no longer in Odoo", link.odoo)).await);
        };
        if order.origin == marker(e) && decision == StatusDecision::Post {
            let plan = self.plan(ctx, doc).await?;
            return self.advance_sale_order(ctx, work, doc, &plan, order.id).await;
        }
        if order.state == "cancel" {
            let why = format!("{} is cancelled in Odoo: status {} is not applied", order.name, doc.source_status);
            return Ok(self.skip(ctx, work, why).await);
        }
        // The same books (a status change, or nothing): noted, or skipped, as for any document.
        if let Some(outcome) = self.unchanged_for_the_books(ctx, work, doc, link).await? {
            return Ok(outcome);
        }
        match self.booked(work).await? {
            Some(_) if decision == StatusDecision::Post => {
                let why = format!(
                    "order {} changed in the store after it became {} (lines, amounts or customer); the sale order was not changed: review it in Odoo",
                    doc.number, order.name
                );
                Ok(self.park(e, ctx.connection.audit_retention, Some(&work.token), ErrorClass::Permanent, why).await)
            }
            _ => self.note_status(ctx, work, doc, link).await,
        }
    }

    /// A cancelled store order: the sale order is cancelled (its posted invoice credited in
    /// full), or the cancellation is refused with the reason when its delivery is done.
    async fn cancel_sale_order(
        &self,
        ctx: &Context,
        work: &Work,
        doc: &SalesDocument,
        link: &Link,
    ) -> Result<RecordOutcome> {
        let (e, client, retention) = (&work.envelope, &ctx.odoo.client, ctx.connection.audit_retention);
        let Some(order) = read_order(ctx, link.odoo.id).await? else {
            return Ok(self.skip(ctx, work, format!("{} is no longer in Odoo: nothing to cancel", link.odoo)).await);
        };
        if order.state == "cancel" {
            return Ok(self.skip(ctx, work, format!("{} is already cancelled", order.name)).await);
        }
        let pickings = client.read("stock.picking", &order.pickings, &["name", "state"]).await?;
        let done: Vec<String> =
            pickings.iter().filter(|p| text(p, "state") == "done").map(|p| text(p, "name")).collect();
        if !done.is_empty() {
            let why = format!(
                "order {} was cancelled in the store (status {}), but its delivery {} is done in Odoo, so {} stays confirmed: take the goods back with a return in Odoo; the store's refund becomes the credit note",
                doc.number,
                doc.source_status,
                done.join(", "),
                order.name
            );
            return Ok(self.park(e, retention, Some(&work.token), ErrorClass::Permanent, why).await);
        }
        let credited = self.credit_order_invoices(ctx, work, &order).await?;
        let quiet = Val::map([("disable_cancel_warning", Val::Bool(true))]);
        client.execute(Call::new(SALE_ORDER, "action_cancel").ids(&[order.id]).context(quiet)).await?;
        let state = read_order(ctx, order.id).await?.map(|o| o.state).unwrap_or_default();
        if state != "cancel" {
            return Err(permanent(format!("Odoo left {} {state} after action_cancel", order.name)));
        }
        let body =
            format!("{} order {} cancelled in the store (status {})", e.source.title(), doc.number, doc.source_status);
        client.message_post(SALE_ORDER, order.id, &body).await?;
        if let Some((fingerprint, _)) = self.booked(work).await? {
            self.remember_booked(work, &fingerprint, &doc.source_status).await?;
        }
        let outcome = json!({ "cancelled": order.id, "name": order.name });
        self.deps.state.complete(&work.token, &outcome.to_string(), self.settings.keep_outcome_for).await?;
        let credits = if credited.is_empty() { String::new() } else { format!("; credited {}", credited.join(", ")) };
        let message = format!("cancelled {} (status {} in the store){credits}", order.name, doc.source_status);
        self.audit(e, retention, AuditStage::Posted, Some(OdooRef::new(SALE_ORDER, order.id)), message, json!({}))
            .await;
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo: OdooRef::new(SALE_ORDER, order.id), name: order.name })
    }

    /// Credits in full each posted invoice of a cancelled order, once: a credit note already
    /// made for it (an earlier attempt) is posted, not made again. A refund already credited
    /// line by line is left as it is. Answers what was credited, for the trail.
    async fn credit_order_invoices(&self, ctx: &Context, work: &Work, order: &OdooOrder) -> Result<Vec<String>> {
        let (e, client) = (&work.envelope, &ctx.odoo.client);
        if self.flag(&e.connection_id, "refunded", &e.source_id).await? {
            return Ok(vec![]);
        }
        let mut credited = Vec::new();
        for row in client.read(MOVE, &order.invoices, &["state", "name"]).await? {
            let id = row.get("id").and_then(Val::as_i64).unwrap_or_default();
            if text(&row, "state") != "posted" {
                continue;
            }
            let domain = Val::list([
                leaf("reversed_entry_id", "=", Val::Int(id)),
                leaf("move_type", "=", Val::from("out_refund")),
            ]);
            let existing = client.search_read(MOVE, domain, &["state"], Some(1), None).await?;
            let credit = match existing.first() {
                Some(c) => (c.get("id").and_then(Val::as_i64).unwrap_or_default(), text(c, "state")),
                None => {
                    let ids = client.reverse_moves(&[id], "order cancelled in the store", None).await?;
                    (ids[0], "draft".to_string())
                }
            };
            if credit.1 == "draft" && ctx.rules.posting.post {
                client.call_method(MOVE, "action_post", &[credit.0]).await?;
            }
            self.set_flag(&e.connection_id, "credited", &e.source_id).await?;
            let name = client.read(MOVE, &[credit.0], &["name"]).await?[0]
                .get("name")
                .and_then(Val::as_str)
                .unwrap_or_default()
                .to_string();
            credited.push(format!("{} with {name}", text(&row, "name")));
        }
        Ok(credited)
    }
}

fn order_vals(ctx: &Context, work: &Work, doc: &SalesDocument, plan: &SalePlan, partner: i64, shipping: i64) -> Val {
    let e = &work.envelope;
    let lines: Vec<Val> = plan
        .lines
        .iter()
        .map(|l| {
            let mut line = vec![
                ("name", Val::Str(l.name.clone())),
                ("product_id", Val::Int(l.product_id)),
                ("product_uom_qty", Val::Num(l.quantity)),
                ("price_unit", Val::Num(l.price_unit)),
                ("tax_ids", Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&l.tax_ids)])])),
                ("is_delivery", Val::Bool(l.is_delivery)),
            ];
            if !l.analytic.is_empty() {
                let shares = l.analytic.iter().map(|(k, v)| (k.clone(), Val::Num(*v))).collect();
                line.push(("analytic_distribution", Val::Map(shares)));
            }
            Val::list([Val::Int(0), Val::Int(0), Val::map(line)])
        })
        .collect();
    let mut vals = vec![
        ("partner_id", Val::Int(partner)),
        ("partner_invoice_id", Val::Int(partner)),
        ("partner_shipping_id", Val::Int(shipping)),
        ("client_order_ref", Val::Str(format!("{} #{}", e.source, doc.number))),
        ("origin", Val::Str(marker(e))),
        ("date_order", Val::Str(doc.created_at.format("%Y-%m-%d %H:%M:%S").to_string())),
        ("currency_id", Val::Int(plan.currency_id)),
        ("order_line", Val::List(lines)),
    ];
    for (field, id) in [
        ("pricelist_id", plan.pricelist_id),
        ("fiscal_position_id", plan.fiscal_position_id),
        ("carrier_id", plan.carrier_id),
        ("payment_term_id", ctx.rules.posting.payment_term.as_deref().and_then(|t| ctx.odoo.payment_term(t))),
    ] {
        if let Some(id) = id {
            vals.push((field, Val::Int(id)));
        }
    }
    Val::map(vals)
}

fn sale_details(ctx: &Context, name: &str, plan: &SalePlan) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = plan
        .lines
        .iter()
        .map(|l| {
            json!({
                "kind": l.kind, "store_line": l.store_line, "name": l.name, "product": l.product,
                "quantity": l.quantity.to_string(), "amount": l.amount.to_string(), "taxes": l.tax_ids, "analytic": l.analytic,
                "rule": l.decision.as_ref().map(|d| d.rule_name.clone()), "why": l.decision.as_ref().map(|d| d.reason.clone()),
            })
        })
        .collect();
    json!({
        "rules_version": ctx.rules_version, "name": name, "mode": "sale_order", "confirm": plan.confirm,
        "store_total": plan.store_total.to_string(), "rounding": plan.rounding.to_string(),
        "payment": plan.payment, "lines": lines,
    })
}
