//! Refunds as credit notes against whichever document was posted for them (the order, or its
//! invoice), line by line, with shipping by line or by amount.

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;

use super::moves::{MOVE, MoveHeader, ids_of};
use super::plan::{self, Credit, LineKind, Lookups, OriginalLine};
use super::{Context, Poster, RecordOutcome, Work, line_source, marker};
use crate::error::{Error, Result};
use crate::ids::{ConnectionId, SourceId};
use crate::odoo::Val;
use crate::ports::{AuditStage, Link};
use crate::records::{EntityKind, Refund};
use crate::rules::PostingMode;

impl Poster {
    pub(super) async fn post_refund(&self, ctx: &Context, work: &Work, refund: &Refund) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let state = &self.deps.state;
        let client = &ctx.odoo.client;
        let Some((kind, target, order)) = self.refund_target(&e.connection_id, refund).await? else {
            if let Some(status) = self.never_posted(&e.connection_id, &refund.order_id).await? {
                // Already refunded (or never payable) when first seen: nothing was booked, so
                // there is nothing to credit. Not retried.
                let why = format!(
                    "order {} was never posted (status {status}): the refund has nothing to credit",
                    refund.order_id
                );
                return Ok(self.skip(ctx, work, why).await);
            }
            if let Some(order) = state.link_by_source(&e.connection_id, EntityKind::Order, &refund.order_id).await?
                && order.odoo.model == super::sales::SALE_ORDER
            {
                return Err(Error::permanent(anyhow::anyhow!(
                    "order {} is {} in Odoo with no invoice to credit (an offline order, invoiced later in Odoo): invoice it there, then replay the refund",
                    refund.order_id,
                    order.odoo
                )));
            }
            return Err(Error::retryable(anyhow::anyhow!(
                "order {} is not in Odoo yet; the refund waits for it",
                refund.order_id
            )));
        };
        // A newer version of the document is on its way (queued, or reposting after a change):
        // the refund credits the invoice that is live once it is settled, so it waits for it.
        let mark = |name: String| async move { state.watermark(&e.connection_id, &name).await };
        let queued = mark(format!("queued:{kind}:{target}")).await?;
        let reposting = mark(format!("reposting:{kind}:{target}")).await?.map(|w| w.at);
        let settled = mark(format!("settled:{kind}:{target}")).await?;
        // A queued version with the settled one's content is no news (the queue drops it).
        let pending_version = queued.filter(|q| settled.as_ref().is_none_or(|s| s.at < q.at && s.cursor != q.cursor));
        let pending_repost = reposting.filter(|r| settled.as_ref().is_none_or(|s| s.at < *r));
        if pending_version.is_some() || pending_repost.is_some() {
            return Err(Error::retryable(anyhow::anyhow!(
                "a newer version of {kind} {target} is on its way to Odoo; the refund waits for it, to credit the invoice that is live then"
            )));
        }
        if self.flag(&e.connection_id, "credited", &target).await? {
            return Ok(self.skip(ctx, work, format!("{kind} {target} was already credited in full")).await);
        }
        self.set_flag(&e.connection_id, "refunded", &target).await?;
        let original = client.read(MOVE, &[order.odoo.id], &["partner_id", "state", "name"]).await?.remove(0);
        let partner = original
            .get("partner_id")
            .and_then(Val::many2one_id)
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("the original move has no partner")))?;
        let original_name = original.get("name").and_then(Val::as_str).unwrap_or_default().to_string();

        // Which Odoo lines the refunded store lines became.
        type Wanted = (String, LineKind, Decimal, Decimal, Decimal, Vec<(i64, Decimal)>);
        let mut wanted: Vec<Wanted> = Vec::new();
        for l in &refund.lines {
            let tax = crate::money::sum(l.taxes.iter().map(|t| t.amount), "a refund line's tax")?;
            let by_rate: Vec<(i64, Decimal)> = l
                .taxes
                .iter()
                .filter_map(|t| Some((ctx.odoo.tax(ctx.rules.tax_for(&t.rate_id)?)?.id, t.amount.abs())))
                .collect();
            wanted.push((
                l.order_line_id.clone(),
                LineKind::Product,
                l.quantity.abs(),
                l.amount.abs(),
                tax.abs(),
                by_rate,
            ));
        }
        if !refund.shipping.is_zero() {
            // A store that refunds shipping as an amount (no line id) refunds the document's
            // shipping line when it has exactly one; with several it must say which.
            let shipping_line = match &refund.shipping_line_id {
                Some(line) => line.clone(),
                None => self.only_shipping_line(&e.connection_id, kind, &target).await?,
            };
            wanted.push((
                format!("ship:{shipping_line}"),
                LineKind::Shipping,
                Decimal::ONE,
                refund.shipping.abs(),
                refund.shipping_tax.abs(),
                vec![],
            ));
        }
        let mut odoo_lines = Vec::new();
        for (store_line, ..) in &wanted {
            let link = state
                .link_by_source(&e.connection_id, kind, &line_source(&target, store_line)?)
                .await?
                .ok_or_else(|| {
                    let why = anyhow::anyhow!("{kind} {target} has no line {store_line} in Odoo ({original_name})");
                    // Just posted (or reposted) by another worker: its line links may be on their way.
                    if Utc::now() - order.updated_at < chrono::Duration::minutes(10) {
                        Error::retryable(why)
                    } else {
                        Error::permanent(why)
                    }
                })?;
            odoo_lines.push(link.odoo.id);
        }
        let rows = if odoo_lines.is_empty() {
            vec![]
        } else {
            client
                .read(
                    "account.move.line",
                    &odoo_lines,
                    &["name", "account_id", "tax_ids", "analytic_distribution", "product_id"],
                )
                .await?
        };
        let originals: Vec<OriginalLine> = rows
            .iter()
            .map(|r| {
                let account_id = r.get("account_id").and_then(Val::many2one_id).unwrap_or_default();
                OriginalLine {
                    name: r.get("name").and_then(Val::as_str).unwrap_or_default().to_string(),
                    account_id,
                    account_code: ctx.odoo.account_code(account_id).unwrap_or_default(),
                    tax_ids: ids_of(r.get("tax_ids")),
                    analytic: r
                        .get("analytic_distribution")
                        .and_then(Val::as_map)
                        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_decimal()?))).collect())
                        .unwrap_or_default(),
                    product_id: r.get("product_id").and_then(Val::many2one_id),
                }
            })
            .collect();
        let credits: Vec<Credit> = wanted
            .iter()
            .zip(&originals)
            .map(|((store_line, kind, quantity, amount, store_tax, by_rate), original)| Credit {
                original,
                kind: *kind,
                store_line: store_line.clone(),
                quantity: *quantity,
                amount: *amount,
                store_tax: *store_tax,
                store_taxes: by_rate.clone(),
            })
            .collect();
        let session = ctx.odoo.clone();
        let note = plan::CreditNote {
            credits: &credits,
            unallocated: refund.unallocated.abs(),
            adjustments: refund.adjustments.clone(),
            currency: refund.currency.as_str(),
            store_total: refund.amount.abs(),
            what: format!("refund {} of {original_name}", e.source_id),
        };
        let plan = plan::plan_credit(&note, &ctx.rules, &|id| session.tax_by_id(id), ctx.odoo.as_ref())
            .map_err(|p| Error::permanent(anyhow::anyhow!(p.0)))?;
        let date = refund.created_at.format("%Y-%m-%d").to_string();
        let reference = format!(
            "Refund {} of {original_name}{}",
            e.source_id,
            refund.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        );
        let header = MoveHeader {
            partner,
            date: &date,
            reference: &reference,
            origin: &marker(e),
            reversed: Some(order.odoo.id),
            reverse_signs: plan.mode == PostingMode::JournalEntry,
        };
        let outcome = match self.adopt_by_marker(ctx, work, &plan, Some(&order.odoo)).await? {
            Some(adopted) => adopted,
            None => {
                let vals = self.move_vals(ctx, &plan, header);
                let work = Work { idx: work.idx, envelope: e.clone(), token: work.token.clone() };
                let mut outcomes = self.create_and_post(ctx, vec![(work, plan, vals)], Some(order.odoo.clone())).await;
                outcomes.pop().map(|(_, o)| o).unwrap_or(RecordOutcome::Retry("no outcome".into()))
            }
        };
        if let RecordOutcome::Posted { odoo, name } = &outcome
            && super::moves::pays_refund(ctx, e)
        {
            self.pay_refund(ctx, work, refund, odoo, name).await?;
        }
        if let RecordOutcome::Posted { odoo, name } = &outcome {
            // The order's own trail says it was credited, so tracing the order finds the refund.
            let entry = crate::ports::AuditEntry {
                connection_id: e.connection_id.clone(),
                kind,
                source_id: target.clone(),
                trace_id: e.trace_id,
                at: Utc::now(),
                stage: AuditStage::Posted,
                odoo: Some(odoo.clone()),
                message: format!("refund {} credited {original_name} with {name}", e.source_id),
                details: json!({ "refund": e.source_id, "credits": order.odoo.id }),
            };
            let _ = self.deps.audit.append(&entry, ctx.connection.audit_retention).await;
        }
        Ok(outcome)
    }

    /// The store's payment reversal: the refund payment registered against the posted credit
    /// note in the rules' journal, for what is still open on it (nothing twice: a retry after a
    /// payment finds the note paid). Completes the record's claim.
    async fn pay_refund(
        &self,
        ctx: &Context,
        work: &Work,
        refund: &Refund,
        credit: &crate::ids::OdooRef,
        name: &str,
    ) -> Result<()> {
        let client = &ctx.odoo.client;
        let code = ctx.rules.posting.refund_payment_journal.as_deref().unwrap_or_default();
        let journal = ctx
            .odoo
            .journal(code)
            .ok_or_else(|| Error::permanent(anyhow::anyhow!("Odoo has no journal {code:?} for refund payments")))?;
        let row = client.read(MOVE, &[credit.id], &["payment_state", "amount_residual"]).await?.remove(0);
        let open = row.get("amount_residual").and_then(Val::as_decimal).unwrap_or_default();
        let paid_already = matches!(row.get("payment_state").and_then(Val::as_str), Some("paid" | "in_payment"));
        if !paid_already && open > Decimal::ZERO {
            let vals = Val::map([
                ("journal_id", Val::Int(journal)),
                ("amount", Val::Num(open)),
                ("payment_date", Val::Str(refund.created_at.format("%Y-%m-%d").to_string())),
                ("communication", Val::Str(format!("Refund {} ({name})", work.envelope.source_id))),
            ]);
            client.register_payment(&[credit.id], vals).await?;
            self.audit(
                &work.envelope,
                ctx.connection.audit_retention,
                AuditStage::Posted,
                Some(credit.clone()),
                format!("registered the refund payment of {open} {} against {name} in journal {code}", refund.currency),
                json!({ "journal": code, "amount": open.to_string() }),
            )
            .await;
        }
        self.deps
            .state
            .complete(
                &work.token,
                &json!({ "move": credit.id, "name": name, "paid": true }).to_string(),
                self.settings.keep_outcome_for,
            )
            .await?;
        Ok(())
    }

    /// The document a refund credits: the invoice it names, else its order, else the invoice
    /// posted for its order (stores that book invoices, not orders).
    pub(super) async fn refund_target(
        &self,
        connection: &ConnectionId,
        refund: &Refund,
    ) -> Result<Option<(EntityKind, SourceId, Link)>> {
        let state = &self.deps.state;
        if let Some(invoice) = &refund.invoice_id {
            let link = state.link_by_source(connection, EntityKind::Invoice, invoice).await?;
            return Ok(link.map(|l| (EntityKind::Invoice, invoice.clone(), l)));
        }
        // An order that is a sale order (sales-order mode) is credited through its invoice.
        if let Some(link) = state.link_by_source(connection, EntityKind::Order, &refund.order_id).await?
            && link.odoo.model == MOVE
        {
            return Ok(Some((EntityKind::Order, refund.order_id.clone(), link)));
        }
        let alias = state.watermark(connection, &format!("invoice-for-order:{}", refund.order_id)).await?;
        let Some(invoice) = alias.and_then(|w| w.cursor).and_then(|c| SourceId::parse(c).ok()) else { return Ok(None) };
        let link = state.link_by_source(connection, EntityKind::Invoice, &invoice).await?;
        Ok(link.map(|l| (EntityKind::Invoice, invoice, l)))
    }

    /// The one shipping line a posted document has, by its store line id.
    pub(super) async fn only_shipping_line(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        target: &SourceId,
    ) -> Result<String> {
        let lines = self.deps.state.watermark(connection, &format!("shipping-lines:{kind}:{target}")).await?;
        let ids: Vec<String> =
            lines.and_then(|w| w.cursor).map(|c| c.split(',').map(String::from).collect()).unwrap_or_default();
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::permanent(anyhow::anyhow!(
                "the refund returns shipping, but {kind} {target} has no shipping line in Odoo"
            ))),
            _ => Err(Error::permanent(anyhow::anyhow!(
                "the refund returns shipping without saying which of {kind} {target}'s {} shipping lines",
                ids.len()
            ))),
        }
    }
}
