//! Moves in Odoo: built from a plan, created and posted in batches, checked against the store's
//! total before they are posted, linked back to the store record, adopted after a crash.

use std::collections::HashMap;

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;

use super::plan::{self, MovePlan};
use super::{Context, Poster, RecordOutcome, Work, line_source, marker};
use crate::error::{Error, ErrorClass, Result};
use crate::ids::OdooRef;
use crate::odoo::{OdooError, Val};
use crate::ports::{AuditStage, Link};
use crate::records::{Envelope, Record, SalesDocument};
use crate::rules::PostingMode;

pub(super) const MOVE: &str = "account.move";

pub(super) fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

pub(super) fn ids_of(v: Option<&Val>) -> Vec<i64> {
    v.and_then(Val::as_list).unwrap_or_default().iter().filter_map(Val::as_i64).collect()
}

/// A move that exists in Odoo with the store's total, to record.
pub(super) struct Posted<'a> {
    pub(super) id: i64,
    pub(super) name: &'a str,
    pub(super) line_ids: &'a [i64],
    /// Odoo's `amount_total`, as read back.
    pub(super) odoo_total: Decimal,
    pub(super) credited: Option<&'a OdooRef>,
}

/// The header of a move to create.
pub(super) struct MoveHeader<'a> {
    pub(super) partner: i64,
    pub(super) date: &'a str,
    pub(super) reference: &'a str,
    /// The marker that finds this move again: `mlc:<connection>:<kind>:<id>:<version>`.
    pub(super) origin: &'a str,
    pub(super) reversed: Option<i64>,
    /// Journal-entry refunds swap debits and credits.
    pub(super) reverse_signs: bool,
}

impl Poster {
    /// After a worker died mid-post, or a create's answer was lost: the move may exist already.
    /// Found by its marker (and move type: a credit note made by Odoo's reversal wizard copies
    /// its invoice's `invoice_origin`), it is checked like a new one, Odoo's total against the
    /// store's, and posted only when the two are equal; then recorded as this attempt would have.
    pub(super) async fn adopt_by_marker(
        &self,
        ctx: &Context,
        work: &Work,
        plan: &MovePlan,
        credited: Option<&OdooRef>,
    ) -> Result<Option<RecordOutcome>> {
        let client = &ctx.odoo.client;
        let domain = Val::list([
            leaf("invoice_origin", "=", Val::Str(marker(&work.envelope))),
            leaf("move_type", "=", Val::from(plan.move_type)),
        ]);
        let found = client.search_read(MOVE, domain, &["state", "name", "amount_total"], Some(1), None).await?;
        let Some(row) = found.first() else { return Ok(None) };
        let id = row.get("id").and_then(Val::as_i64).unwrap_or_default();
        let state = row.get("state").and_then(Val::as_str).unwrap_or_default().to_string();
        let name = row.get("name").and_then(Val::as_str).unwrap_or_default().to_string();
        let total = row.get("amount_total").and_then(Val::as_decimal).unwrap_or_default();
        let retention = ctx.connection.audit_retention;
        if total != plan.expected_total || !matches!(state.as_str(), "draft" | "posted") {
            let why = format!(
                "an earlier attempt created account.move {id} ({state}), where Odoo computed {total} and {} was planned from the store's total of {}",
                plan.expected_total, plan.store_total
            );
            if state == "draft" {
                return Ok(Some(self.discard_draft(ctx, work, id, why).await));
            }
            let why = format!("{why}; this attempt did not post it: review it in Odoo");
            return Ok(Some(self.park(&work.envelope, retention, Some(&work.token), ErrorClass::Permanent, why).await));
        }
        if state == "draft" && ctx.rules.posting.post {
            match client.call_method(MOVE, "action_post", &[id]).await {
                Ok(_) => {}
                Err(e) if e.is_transient() => return Err(e.into()),
                Err(e) => {
                    return Ok(Some(
                        self.discard_draft(ctx, work, id, format!("Odoo refused to post account.move {id}: {e}")).await,
                    ));
                }
            }
        }
        let read = client.read(MOVE, &[id], &["name", "invoice_line_ids", "line_ids"]).await?.remove(0);
        let name = read.get("name").and_then(Val::as_str).map(String::from).unwrap_or(name);
        let verb = if state == "draft" && ctx.rules.posting.post { "posted it" } else { "adopted it" };
        self.audit(&work.envelope, retention, AuditStage::Posted, Some(OdooRef::new(MOVE, id)), format!("found {name}, created by an earlier attempt that did not finish; its total {total} equals the store's; {verb}"), json!({})).await;
        let lines = ids_of(read.get(if plan.mode == PostingMode::Invoice { "invoice_line_ids" } else { "line_ids" }));
        self.finish_posted(ctx, work, plan, Posted { id, name: &name, line_ids: &lines, odoo_total: total, credited })
            .await
            .map(Some)
    }

    /// Removes a draft that must not be posted and keeps its record as failed. The reason says
    /// what really happened to the draft: removed, or left in Odoo (with its id) when Odoo
    /// refused to remove it.
    pub(super) async fn discard_draft(&self, ctx: &Context, work: &Work, id: i64, why: String) -> RecordOutcome {
        let reason = match ctx.odoo.client.execute(crate::odoo::Call::new(MOVE, "unlink").ids(&[id])).await {
            Ok(_) => format!("{why}; the draft was removed"),
            Err(e) => format!(
                "{why}; Odoo refused to remove the draft ({e}), so account.move {id} is left in Odoo as a draft: delete it there, or replay once it is fixed"
            ),
        };
        self.park(&work.envelope, ctx.connection.audit_retention, Some(&work.token), ErrorClass::Permanent, reason)
            .await
    }

    pub(super) fn move_vals(&self, ctx: &Context, plan: &MovePlan, h: MoveHeader) -> Val {
        let MoveHeader { partner, date, reference, origin, reversed, reverse_signs } = h;
        let mut vals = vec![
            ("move_type", Val::from(plan.move_type)),
            ("partner_id", Val::Int(partner)),
            ("date", Val::from(date)),
            ("ref", Val::from(reference)),
            ("invoice_origin", Val::from(origin)),
        ];
        if let Some(journal) = ctx.rules.posting.journal.as_deref().and_then(|j| ctx.odoo.journal(j)) {
            vals.push(("journal_id", Val::Int(journal)));
        }
        if let Some(r) = reversed {
            vals.push(("reversed_entry_id", Val::Int(r)));
        }
        // An invoice is in the customer's currency; a journal entry stays in the company's
        // (its lines would need amounts in both, which the rules do not give yet).
        if let (Some(currency), PostingMode::Invoice) = (plan.currency_id, plan.mode) {
            vals.push(("currency_id", Val::Int(currency)));
        }
        let lines: Vec<Val> = plan
            .lines
            .iter()
            .map(|l| {
                let mut line = vec![("name", Val::Str(l.name.clone())), ("account_id", Val::Int(l.account_id))];
                if !l.analytic.is_empty() {
                    line.push((
                        "analytic_distribution",
                        Val::Map(l.analytic.iter().map(|(k, v)| (k.clone(), Val::Num(*v))).collect()),
                    ));
                }
                if let Some(p) = l.product_id {
                    line.push(("product_id", Val::Int(p)));
                }
                match plan.mode {
                    PostingMode::Invoice | PostingMode::SaleOrder => {
                        line.push(("quantity", Val::Num(l.quantity)));
                        line.push(("price_unit", Val::Num(l.price_unit)));
                        line.push((
                            "tax_ids",
                            Val::list([Val::list([Val::Int(6), Val::Int(0), Val::ids(&l.tax_ids)])]),
                        ));
                    }
                    PostingMode::JournalEntry => {
                        // Revenue and tax are credits, the receivable a debit; a refund swaps them.
                        let credit = if reverse_signs { -l.amount } else { l.amount };
                        line.push(("credit", Val::Num(credit.max(Decimal::ZERO))));
                        line.push(("debit", Val::Num((-credit).max(Decimal::ZERO))));
                        line.push(("partner_id", Val::Int(partner)));
                    }
                }
                Val::list([Val::Int(0), Val::Int(0), Val::map(line)])
            })
            .collect();
        match plan.mode {
            PostingMode::Invoice | PostingMode::SaleOrder => {
                vals.push(("invoice_date", Val::from(date)));
                if let Some(term) = ctx.rules.posting.payment_term.as_deref().and_then(|t| ctx.odoo.payment_term(t)) {
                    vals.push(("invoice_payment_term_id", Val::Int(term)));
                }
                vals.push(("invoice_line_ids", Val::List(lines)));
            }
            PostingMode::JournalEntry => vals.push(("line_ids", Val::List(lines))),
        }
        Val::map(vals)
    }

    pub(super) async fn create_moves(
        &self,
        ctx: &Context,
        works: Vec<Work>,
    ) -> Vec<(usize, crate::poster::RecordOutcome)> {
        let retention = ctx.connection.audit_retention;
        let mut out = Vec::new();
        if works.is_empty() {
            return out;
        }
        let docs: Vec<(usize, SalesDocument)> = works
            .iter()
            .filter_map(|w| match &w.envelope.record {
                Record::Order(d) | Record::Invoice(d) => Some((w.idx, d.clone())),
                _ => None,
            })
            .collect();
        let skus: Vec<String> = docs
            .iter()
            .flat_map(|(_, d)| d.lines.iter().filter_map(|l| l.sku.as_ref().map(|s| s.to_string())))
            .collect();
        let prepared = async {
            ctx.odoo.load_products(&skus).await?;
            let refs: Vec<(usize, &SalesDocument)> = docs.iter().map(|(i, d)| (*i, d)).collect();
            self.resolve_partners(ctx, &refs).await
        }
        .await;
        let partners = match prepared {
            Ok(p) => p,
            Err(err) => {
                for w in works {
                    out.push((w.idx, self.fail(&w.envelope, retention, Some(&w.token), err.clone().into()).await));
                }
                return out;
            }
        };
        // A move this record's version already made (by a worker that died, or before a failure
        // after the create) is adopted, never made twice. One search for the whole batch.
        let markers: Vec<String> = works.iter().map(|w| marker(&w.envelope)).collect();
        let existing: HashMap<String, i64> = match ctx
            .odoo
            .client
            .search_read(
                MOVE,
                // Not a credit note: Odoo's reversal wizard copies the invoice's `invoice_origin`.
                Val::list([
                    leaf("invoice_origin", "in", Val::list(markers.iter().map(String::as_str))),
                    leaf("move_type", "!=", Val::from("out_refund")),
                ]),
                &["invoice_origin"],
                None,
                None,
            )
            .await
        {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| Some((r.get("invoice_origin")?.as_str()?.to_string(), r.get("id")?.as_i64()?)))
                .collect(),
            Err(err) => {
                for w in works {
                    out.push((w.idx, self.fail(&w.envelope, retention, Some(&w.token), err.clone().into()).await));
                }
                return out;
            }
        };
        // Plan each; what cannot be planned is kept with the reason.
        let mut ready: Vec<(Work, MovePlan, Val)> = Vec::new();
        for w in works {
            let (Record::Order(doc) | Record::Invoice(doc)) = &w.envelope.record else { continue };
            let store = Some(ctx.connection.store_url.host_str().unwrap_or_default());
            let plan = match plan::plan_sales_document(doc, store, &ctx.rules, ctx.odoo.as_ref()) {
                Ok(plan) => plan,
                Err(e) => {
                    let left = existing
                        .get(&marker(&w.envelope))
                        .map(|id| format!(" (account.move {id}, made by an earlier attempt, stays a draft in Odoo)"))
                        .unwrap_or_default();
                    let outcome = self
                        .park(&w.envelope, retention, Some(&w.token), ErrorClass::Permanent, format!("{}{left}", e.0))
                        .await;
                    out.push((w.idx, outcome));
                    continue;
                }
            };
            if existing.contains_key(&marker(&w.envelope)) {
                let outcome = match self.adopt_by_marker(ctx, &w, &plan, None).await {
                    Ok(Some(o)) => o,
                    Ok(None) => RecordOutcome::Retry("the move vanished while being adopted".into()),
                    Err(err) => self.fail(&w.envelope, retention, Some(&w.token), err).await,
                };
                out.push((w.idx, outcome));
                continue;
            }
            let Some(&partner) = partners.get(&w.idx) else {
                let outcome = self
                    .park(
                        &w.envelope,
                        retention,
                        Some(&w.token),
                        ErrorClass::Permanent,
                        "no partner could be found or created".into(),
                    )
                    .await;
                out.push((w.idx, outcome));
                continue;
            };
            let date = doc.created_at.format("%Y-%m-%d").to_string();
            let reference = format!("{} #{}", w.envelope.source, doc.number);
            let header = MoveHeader {
                partner,
                date: &date,
                reference: &reference,
                origin: &marker(&w.envelope),
                reversed: None,
                reverse_signs: false,
            };
            let vals = self.move_vals(ctx, &plan, header);
            ready.push((w, plan, vals));
        }
        out.extend(self.create_and_post(ctx, ready, None).await);
        out
    }

    /// Creates moves in one call (one by one if the batch is refused, to find the bad one),
    /// checks Odoo's totals against the store's, posts them in one call, and records everything.
    pub(super) async fn create_and_post(
        &self,
        ctx: &Context,
        ready: Vec<(Work, MovePlan, Val)>,
        credited: Option<OdooRef>,
    ) -> Vec<(usize, RecordOutcome)> {
        let retention = ctx.connection.audit_retention;
        let client = &ctx.odoo.client;
        let mut out = Vec::new();
        if ready.is_empty() {
            return out;
        }
        let created: Vec<(Work, MovePlan, std::result::Result<i64, OdooError>)> =
            match client.create_many(MOVE, ready.iter().map(|(_, _, v)| v.clone()).collect(), None).await {
                Ok(ids) => ready.into_iter().zip(ids).map(|((w, p, _), id)| (w, p, Ok(id))).collect(),
                Err(err) if !err.is_transient() && ready.len() > 1 => {
                    let mut each = Vec::new();
                    for (w, p, v) in ready {
                        let r = client.create_many(MOVE, vec![v], None).await.map(|ids| ids[0]);
                        each.push((w, p, r));
                    }
                    each
                }
                Err(err) => ready.into_iter().map(|(w, p, _)| (w, p, Err(err.clone()))).collect(),
            };
        if self.crash_after_create.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // The process "dies" here: no link, no claim completed or released, no acknowledgement.
            return created
                .into_iter()
                .map(|(w, ..)| (w.idx, RecordOutcome::Retry("worker died after create (test)".into())))
                .collect();
        }
        let mut made: Vec<(Work, MovePlan, i64)> = Vec::new();
        for (w, plan, result) in created {
            match result {
                Ok(id) => made.push((w, plan, id)),
                Err(err) => out.push((w.idx, self.fail(&w.envelope, retention, Some(&w.token), err.into()).await)),
            }
        }
        if made.is_empty() {
            return out;
        }
        let ids: Vec<i64> = made.iter().map(|(_, _, id)| *id).collect();
        let check = match client.read(MOVE, &ids, &["amount_total", "invoice_line_ids", "line_ids"]).await {
            Ok(rows) => rows,
            Err(err) => {
                for (w, ..) in made {
                    out.push((w.idx, self.fail(&w.envelope, retention, Some(&w.token), err.clone().into()).await));
                }
                return out;
            }
        };
        let mut good: Vec<(Work, MovePlan, i64, Vec<i64>, Decimal)> = Vec::new();
        for ((w, plan, id), row) in made.into_iter().zip(check) {
            let total = row.get("amount_total").and_then(Val::as_decimal).unwrap_or_default();
            let line_ids =
                ids_of(row.get(if plan.mode == PostingMode::Invoice { "invoice_line_ids" } else { "line_ids" }));
            if total != plan.expected_total {
                let why = format!(
                    "Odoo computed {total} where {} was planned from the store's total of {}",
                    plan.expected_total, plan.store_total
                );
                out.push((w.idx, self.discard_draft(ctx, &w, id, why).await));
                continue;
            }
            good.push((w, plan, id, line_ids, total));
        }
        if ctx.rules.posting.post && !good.is_empty() {
            let ids: Vec<i64> = good.iter().map(|g| g.2).collect();
            if let Err(err) = client.call_method(MOVE, "action_post", &ids).await {
                let mut still = Vec::new();
                for g in good {
                    let one = if ids.len() > 1 && !err.is_transient() {
                        client.call_method(MOVE, "action_post", &[g.2]).await.err()
                    } else {
                        Some(err.clone())
                    };
                    match one {
                        None => still.push(g),
                        Some(e) if e.is_transient() => {
                            // It may have posted: the link lets the retry find it and check it again.
                            let _ = self.link_move(&g.0.envelope, g.2, &g.1, &g.3).await;
                            out.push((
                                g.0.idx,
                                self.fail(
                                    &g.0.envelope,
                                    retention,
                                    Some(&g.0.token),
                                    Error::from(e).context(format!("posting move {}", g.2)),
                                )
                                .await,
                            ));
                        }
                        Some(e) => {
                            let why = format!("Odoo refused to post account.move {}: {e}", g.2);
                            out.push((g.0.idx, self.discard_draft(ctx, &g.0, g.2, why).await));
                        }
                    }
                }
                good = still;
            }
        }
        if good.is_empty() {
            return out;
        }
        let ids: Vec<i64> = good.iter().map(|g| g.2).collect();
        let names: HashMap<i64, String> = match client.read(MOVE, &ids, &["name"]).await {
            Ok(rows) => rows
                .iter()
                .filter_map(|r| Some((r.get("id")?.as_i64()?, r.get("name")?.as_str()?.to_string())))
                .collect(),
            Err(_) => HashMap::new(),
        };
        for (w, plan, id, line_ids, odoo_total) in good {
            let name = names.get(&id).cloned().unwrap_or_default();
            let posted = Posted { id, name: &name, line_ids: &line_ids, odoo_total, credited: credited.as_ref() };
            let outcome = match self.finish_posted(ctx, &w, &plan, posted).await {
                Ok(o) => o,
                Err(err) => self.fail(&w.envelope, retention, Some(&w.token), err).await,
            };
            out.push((w.idx, outcome));
        }
        out
    }

    pub(super) async fn link_move(&self, e: &Envelope, id: i64, plan: &MovePlan, line_ids: &[i64]) -> Result<()> {
        let state = &self.deps.state;
        let now = Utc::now();
        // Facts a later refund needs: which invoice an order became (for stores that book
        // invoices), and the document's shipping lines (for a shipping refund by amount).
        if let crate::records::Record::Invoice(doc) = &e.record
            && let Some(order) = &doc.order_id
        {
            let alias = crate::ports::Watermark { at: e.source_updated_at, cursor: Some(e.source_id.to_string()) };
            state.advance_watermark(&e.connection_id, &format!("invoice-for-order:{order}"), &alias).await?;
        }
        let shipping: Vec<&str> =
            plan.lines.iter().filter_map(|l| l.store_line.as_deref()?.strip_prefix("ship:")).collect();
        if !shipping.is_empty() {
            let mark = crate::ports::Watermark { at: now, cursor: Some(shipping.join(",")) };
            state
                .advance_watermark(&e.connection_id, &format!("shipping-lines:{}:{}", e.kind(), e.source_id), &mark)
                .await?;
        }
        for (line, odoo_line) in plan.lines.iter().zip(line_ids) {
            let Some(store_line) = &line.store_line else { continue };
            let link = Link {
                connection_id: e.connection_id.clone(),
                kind: e.kind(),
                source_id: line_source(&e.source_id, store_line)?,
                odoo: OdooRef::new("account.move.line", *odoo_line),
                updated_at: now,
            };
            state.put_link(&link).await?;
        }
        // The document's own link last: whoever sees it (a refund) finds its lines' links too.
        state
            .put_link(&Link {
                connection_id: e.connection_id.clone(),
                kind: e.kind(),
                source_id: e.source_id.clone(),
                odoo: OdooRef::new(MOVE, id),
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    pub(super) async fn finish_posted(
        &self,
        ctx: &Context,
        w: &Work,
        plan: &MovePlan,
        posted: Posted<'_>,
    ) -> Result<RecordOutcome> {
        let Posted { id, name, line_ids, odoo_total, credited } = posted;
        let e = &w.envelope;
        self.link_move(e, id, plan, line_ids).await?;
        if let crate::records::Record::Order(doc) | crate::records::Record::Invoice(doc) = &e.record {
            self.remember_booked(w, &doc.booking_fingerprint(), &doc.source_status).await?;
            let hash = e.content_hash.to_string();
            self.settle(&e.connection_id, e.kind(), &e.source_id, e.source_updated_at, &hash).await?;
        }
        // A refund whose payment is registered too completes once the payment is (refunds.rs):
        // until then a retry finds the credit note by its marker and pays it.
        if !pays_refund(ctx, e) {
            self.deps
                .state
                .complete(&w.token, &json!({ "move": id, "name": name }).to_string(), self.settings.keep_outcome_for)
                .await?;
        }
        let lines: Vec<serde_json::Value> = plan
            .lines
            .iter()
            .map(|l| {
                json!({
                    "kind": l.kind, "store_line": l.store_line, "name": l.name, "account": l.account_code,
                    "amount": l.amount.to_string(), "taxes": l.tax_ids, "analytic": l.analytic,
                    "rule": l.decision.as_ref().map(|d| d.rule_name.clone()),
                    "why": l.decision.as_ref().map(|d| d.reason.clone()),
                })
            })
            .collect();
        let mut details = json!({
            "rules_version": ctx.rules_version, "move_type": plan.move_type, "name": name,
            "store_total": plan.store_total.to_string(), "odoo_total": odoo_total.to_string(),
            "rounding": plan.rounding.to_string(), "posted": ctx.rules.posting.post, "credits": credited.map(|c| c.id), "lines": lines,
        });
        // The base currency's figures, where the store keeps them: booked nowhere, kept here.
        if let crate::records::Record::Order(doc) | crate::records::Record::Invoice(doc) = &e.record
            && let Some(base) = &doc.base_figures
        {
            details["base"] = json!(base);
        }
        let verb = if ctx.rules.posting.post { "posted" } else { "created as draft" };
        self.audit(
            e,
            ctx.connection.audit_retention,
            AuditStage::Posted,
            Some(OdooRef::new(MOVE, id)),
            format!(
                "{verb} {name} ({} {odoo_total} in Odoo, equal to the store's total {})",
                plan.move_type, plan.store_total
            ),
            details,
        )
        .await;
        if let crate::records::Record::Invoice(doc) = &e.record
            && let Some(order) = &doc.order_id
        {
            // The order's own trail leads to its invoice's move (`mlc trace <order number>`).
            let entry = crate::ports::AuditEntry {
                connection_id: e.connection_id.clone(),
                kind: crate::records::EntityKind::Order,
                source_id: order.clone(),
                trace_id: e.trace_id,
                at: Utc::now(),
                stage: AuditStage::Posted,
                odoo: Some(OdooRef::new(MOVE, id)),
                message: format!("invoice {} of order {order} {verb} as {name}", doc.number),
                details: json!({ "invoice": doc.number, "base": doc.base_figures }),
            };
            if let Err(err) = self.deps.audit.append(&entry, ctx.connection.audit_retention).await {
                tracing::error!(error = %err, "could not write the order's trail");
            }
        }
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo: OdooRef::new(MOVE, id), name: name.to_string() })
    }
}

/// Does this record's credit note get the refund payment registered against it?
pub(super) fn pays_refund(ctx: &Context, e: &crate::records::Envelope) -> bool {
    matches!(e.record, crate::records::Record::Refund(_))
        && ctx.rules.posting.post
        && ctx.rules.posting.refund_payment_journal.is_some()
}
