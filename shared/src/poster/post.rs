//! The posting paths: new moves in batches, changes to posted orders, credit notes, customers.

use std::collections::HashMap;

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;

use super::plan::{self, Credit, LineKind, Lookups, MovePlan, OriginalLine};
use super::{Context, Poster, RecordOutcome, Routed, Work, XMLID_MODULE, line_source, marker};
use crate::error::{Error, ErrorClass, Result};
use crate::ids::{ConnectionId, OdooRef, SourceId};
use crate::odoo::{OdooError, Val};
use crate::ports::{AuditStage, Link};
use crate::records::{Address, Customer, CustomerRef, EntityKind, Envelope, Record, Refund, SalesDocument};
use crate::rules::StatusDecision;
use crate::rules::{PostedChange, PostingMode};

const MOVE: &str = "account.move";

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

fn ids_of(v: Option<&Val>) -> Vec<i64> {
    v.and_then(Val::as_list).unwrap_or_default().iter().filter_map(Val::as_i64).collect()
}

/// A name Odoo accepts in an external id (no dots), readable when it can be.
fn xmlid_name(connection: &ConnectionId, what: &str, source: &SourceId) -> String {
    let clean: String = source
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    format!("{}_{what}_{clean}", connection.as_str().replace('-', "_"))
}

fn normalized_email(email: Option<&str>) -> Option<String> {
    email.map(|e| e.trim().to_lowercase()).filter(|e| e.contains('@'))
}

fn full_name(a: &Address) -> Option<String> {
    let name = [a.first_name.as_deref(), a.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    (!name.trim().is_empty()).then_some(name).or_else(|| a.company.clone())
}

/// A move that exists in Odoo with the store's total, to record.
struct Posted<'a> {
    id: i64,
    name: &'a str,
    line_ids: &'a [i64],
    /// Odoo's `amount_total`, as read back.
    odoo_total: Decimal,
    credited: Option<&'a OdooRef>,
}

/// The header of a move to create.
struct MoveHeader<'a> {
    partner: i64,
    date: &'a str,
    reference: &'a str,
    /// The marker that finds this move again: `mlc:<connection>:<kind>:<id>:<version>`.
    origin: &'a str,
    reversed: Option<i64>,
    /// Journal-entry refunds swap debits and credits.
    reverse_signs: bool,
}

impl Poster {
    pub(super) async fn route(&self, ctx: &Context, work: Work) -> Routed {
        let retention = ctx.connection.audit_retention;
        let result: Result<RecordOutcome> = match work.envelope.record.clone() {
            Record::Order(doc) | Record::Invoice(doc) => return self.route_document(ctx, work, doc).await,
            Record::Refund(refund) => self.post_refund(ctx, &work, &refund).await,
            Record::Customer(customer) => self.upsert_customer(ctx, &work, &customer).await,
            other => Ok(self.skip(ctx, &work, format!("{} records are not posted to accounting", other.kind())).await),
        };
        match result {
            Ok(outcome) => Routed::Done(work.idx, outcome),
            Err(err) => Routed::Done(work.idx, self.fail(&work.envelope, retention, Some(&work.token), err).await),
        }
    }

    async fn route_document(&self, ctx: &Context, work: Work, doc: SalesDocument) -> Routed {
        let retention = ctx.connection.audit_retention;
        let e = &work.envelope;
        // The decision is on the normalized status (and the connection's word for the raw one);
        // the raw status is what the trail names.
        let status = doc.source_status.to_lowercase();
        let posting = &ctx.rules.posting;
        let decision = posting.decision(doc.status, &doc.source_status);
        // Deliveries arrive out of order: a version older than one already applied is stale.
        let version = crate::ports::Watermark { at: e.source_updated_at, cursor: None };
        match self
            .deps
            .state
            .advance_watermark(&e.connection_id, &format!("version:{}:{}", e.kind(), e.source_id), &version)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
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
                Some(link) => match self.change_existing(ctx, &work, &doc, link).await {
                    Ok(true) => return Routed::Create(Box::new(work)),
                    Ok(false) => Ok(RecordOutcome::Parked("held for review".into())),
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

    async fn skip(&self, ctx: &Context, work: &Work, why: String) -> RecordOutcome {
        let _ = self
            .deps
            .state
            .complete(&work.token, &json!({ "skipped": why }).to_string(), self.settings.keep_outcome_for)
            .await;
        self.audit(&work.envelope, ctx.connection.audit_retention, AuditStage::Skipped, None, why.clone(), json!({}))
            .await;
        RecordOutcome::Skipped(why)
    }

    /// After a worker died mid-post, or a create's answer was lost: the move may exist already.
    /// Found by its marker (and move type: a credit note made by Odoo's reversal wizard copies
    /// its invoice's `invoice_origin`), it is checked like a new one, Odoo's total against the
    /// store's, and posted only when the two are equal; then recorded as this attempt would have.
    async fn adopt_by_marker(
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
                "an earlier attempt created account.move {id} ({state}), where Odoo computed {total} and the store's total is {}",
                plan.expected_total
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
    async fn discard_draft(&self, ctx: &Context, work: &Work, id: i64, why: String) -> RecordOutcome {
        let reason = match ctx.odoo.client.execute(crate::odoo::Call::new(MOVE, "unlink").ids(&[id])).await {
            Ok(_) => format!("{why}; the draft was removed"),
            Err(e) => format!(
                "{why}; Odoo refused to remove the draft ({e}), so account.move {id} is left in Odoo as a draft: delete it there, or replay once it is fixed"
            ),
        };
        self.park(&work.envelope, ctx.connection.audit_retention, Some(&work.token), ErrorClass::Permanent, reason)
            .await
    }

    /// A new version of an order already in Odoo. Returns true when a new move must be created.
    async fn change_existing(&self, ctx: &Context, work: &Work, doc: &SalesDocument, link: Link) -> Result<bool> {
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
    async fn reverse(&self, ctx: &Context, work: &Work, link: &Link, reason: &str) -> Result<OdooRef> {
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

    /// The document a refund credits: the invoice it names, else its order, else the invoice
    /// posted for its order (stores that book invoices, not orders).
    async fn refund_target(
        &self,
        connection: &ConnectionId,
        refund: &Refund,
    ) -> Result<Option<(EntityKind, SourceId, Link)>> {
        let state = &self.deps.state;
        if let Some(invoice) = &refund.invoice_id {
            let link = state.link_by_source(connection, EntityKind::Invoice, invoice).await?;
            return Ok(link.map(|l| (EntityKind::Invoice, invoice.clone(), l)));
        }
        if let Some(link) = state.link_by_source(connection, EntityKind::Order, &refund.order_id).await? {
            return Ok(Some((EntityKind::Order, refund.order_id.clone(), link)));
        }
        let alias = state.watermark(connection, &format!("invoice-for-order:{}", refund.order_id)).await?;
        let Some(invoice) = alias.and_then(|w| w.cursor).and_then(|c| SourceId::parse(c).ok()) else { return Ok(None) };
        let link = state.link_by_source(connection, EntityKind::Invoice, &invoice).await?;
        Ok(link.map(|l| (EntityKind::Invoice, invoice, l)))
    }

    /// The one shipping line a posted document has, by its store line id.
    async fn only_shipping_line(
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

    /// Per-order facts kept as watermarks (present = set): `refunded` (a refund was credited line
    /// by line) and `credited` (the order was credited in full), so the two never both happen.
    async fn flag(&self, connection: &ConnectionId, name: &str, order: &SourceId) -> Result<bool> {
        Ok(self.deps.state.watermark(connection, &format!("{name}:{order}")).await?.is_some())
    }

    async fn set_flag(&self, connection: &ConnectionId, name: &str, order: &SourceId) -> Result<()> {
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

    async fn credit_in_full(&self, ctx: &Context, work: &Work, link: Link) -> Result<RecordOutcome> {
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

    // -- Partners --------------------------------------------------------------------------

    fn partner_vals(
        &self,
        ctx: &Context,
        name: String,
        email: Option<String>,
        address: Option<&Address>,
        reference: Option<&str>,
    ) -> Val {
        let mut vals = vec![("name", Val::Str(name)), ("customer_rank", Val::Int(1))];
        if let Some(email) = email {
            vals.push(("email", Val::Str(email)));
        }
        if let Some(r) = reference {
            vals.push(("ref", Val::from(r)));
        }
        if let Some(a) = address {
            for (field, value) in [
                ("street", &a.line1),
                ("street2", &a.line2),
                ("city", &a.city),
                ("zip", &a.postcode),
                ("phone", &a.phone),
            ] {
                if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                    vals.push((field, Val::from(v)));
                }
            }
            if let Some(country) = a.country.as_ref().and_then(|c| ctx.odoo.country(c.as_str())) {
                vals.push(("country_id", Val::Int(country)));
                if let Some(state) = a.region.as_deref().and_then(|r| ctx.odoo.state(country, r)) {
                    vals.push(("state_id", Val::Int(state)));
                }
            }
        }
        Val::map(vals)
    }

    /// Finds or creates the partner of each document: registered customers by external id,
    /// guests by normalized email (never by name), new ones created together in one call.
    async fn resolve_partners(
        &self,
        ctx: &Context,
        docs: &[(usize, &SalesDocument)],
    ) -> std::result::Result<HashMap<usize, i64>, OdooError> {
        let conn = &ctx.connection.id;
        let client = &ctx.odoo.client;
        let mut found: HashMap<usize, i64> = HashMap::new();
        let mut wanted_xmlids: Vec<String> = Vec::new();
        let mut wanted_emails: Vec<String> = Vec::new();
        let key_of = |doc: &SalesDocument| -> (Option<String>, Option<String>, Option<String>) {
            match &doc.customer {
                CustomerRef::Registered { source_id, email, .. } => (
                    Some(format!("c:{source_id}")),
                    Some(xmlid_name(conn, "customer", source_id)),
                    normalized_email(email.as_deref()),
                ),
                CustomerRef::Guest { email } => {
                    let email = normalized_email(
                        email.as_deref().or(doc.billing_address.as_ref().and_then(|a| a.email.as_deref())),
                    );
                    (email.as_ref().map(|e| format!("e:{e}")), None, email)
                }
            }
        };
        for (idx, doc) in docs {
            let (key, xmlid, email) = key_of(doc);
            if let Some(id) = key.as_deref().and_then(|k| ctx.odoo.cached_partner(k)) {
                found.insert(*idx, id);
            } else if let Some(x) = xmlid {
                wanted_xmlids.push(x);
            } else if let Some(e) = email {
                wanted_emails.push(e);
            }
        }
        let mut by_xmlid: HashMap<String, i64> = HashMap::new();
        if !wanted_xmlids.is_empty() {
            let domain = Val::list([
                leaf("module", "=", Val::from(XMLID_MODULE)),
                leaf("name", "in", Val::list(wanted_xmlids.iter().map(String::as_str))),
            ]);
            for row in client.search_read("ir.model.data", domain, &["name", "res_id"], None, None).await? {
                if let (Some(n), Some(id)) =
                    (row.get("name").and_then(Val::as_str), row.get("res_id").and_then(Val::as_i64))
                {
                    by_xmlid.insert(n.to_string(), id);
                }
            }
        }
        // Registered customers not bound yet: a partner with their store id and email that no
        // external id points at is theirs — made by an earlier attempt whose answer was lost
        // before the binding, or entered by hand. It is bound, not created again.
        let mut unbound: Vec<(String, String, Option<String>)> = docs
            .iter()
            .filter_map(|(_, doc)| match &doc.customer {
                CustomerRef::Registered { source_id, email, .. } => {
                    let x = xmlid_name(conn, "customer", source_id);
                    (!by_xmlid.contains_key(&x) && ctx.odoo.cached_partner(&format!("c:{source_id}")).is_none())
                        .then(|| (x, source_id.to_string(), normalized_email(email.as_deref())))
                }
                CustomerRef::Guest { .. } => None,
            })
            .collect();
        unbound.sort();
        unbound.dedup_by(|a, b| a.0 == b.0);
        if !unbound.is_empty() {
            let refs: Vec<&str> = unbound.iter().map(|(_, r, _)| r.as_str()).collect();
            let domain = Val::list([leaf("ref", "in", Val::list(refs)), leaf("parent_id", "=", Val::Bool(false))]);
            let candidates = client.search_read("res.partner", domain, &["ref", "email"], None, Some("id")).await?;
            if !candidates.is_empty() {
                let ids: Vec<i64> = candidates.iter().filter_map(|c| c.get("id").and_then(Val::as_i64)).collect();
                let bound_domain =
                    Val::list([leaf("model", "=", Val::from("res.partner")), leaf("res_id", "in", Val::ids(&ids))]);
                let bound: Vec<i64> = client
                    .search_read("ir.model.data", bound_domain, &["res_id"], None, None)
                    .await?
                    .iter()
                    .filter_map(|r| r.get("res_id").and_then(Val::as_i64))
                    .collect();
                for (x, reference, email) in &unbound {
                    let found = candidates.iter().find(|c| {
                        let id = c.get("id").and_then(Val::as_i64).unwrap_or_default();
                        c.get("ref").and_then(Val::as_str) == Some(reference.as_str())
                            && normalized_email(c.get("email").and_then(Val::as_str)) == *email
                            && !bound.contains(&id)
                    });
                    if let Some(id) = found.and_then(|c| c.get("id").and_then(Val::as_i64)) {
                        client.bind_external_id(XMLID_MODULE, x, &OdooRef::new("res.partner", id)).await?;
                        by_xmlid.insert(x.clone(), id);
                    }
                }
            }
        }
        let mut by_email: HashMap<String, i64> = HashMap::new();
        if !wanted_emails.is_empty() {
            let domain = Val::list([leaf("email", "in", Val::list(wanted_emails.iter().map(String::as_str)))]);
            for row in client.search_read("res.partner", domain, &["email"], None, Some("id")).await? {
                if let (Some(e), Some(id)) =
                    (row.get("email").and_then(Val::as_str), row.get("id").and_then(Val::as_i64))
                {
                    by_email.entry(e.to_lowercase()).or_insert(id);
                }
            }
        }
        // Everything still unknown is created, once per customer even if they ordered twice.
        let mut to_create: Vec<(String, Option<String>, Val, Option<Val>)> = Vec::new(); // key, xmlid, vals, delivery child
        let mut pending: Vec<(usize, String)> = Vec::new();
        for (idx, doc) in docs {
            if found.contains_key(idx) {
                continue;
            }
            let (key, xmlid, email) = key_of(doc);
            if let Some(id) = xmlid
                .as_ref()
                .and_then(|x| by_xmlid.get(x))
                .or_else(|| email.as_ref().filter(|_| xmlid.is_none()).and_then(|e| by_email.get(e)))
            {
                found.insert(*idx, *id);
                if let Some(k) = &key {
                    ctx.odoo.remember_partner(k, *id);
                }
                continue;
            }
            let key = key.unwrap_or_else(|| format!("guest:{idx}"));
            if !to_create.iter().any(|(k, ..)| *k == key) {
                let billing = doc.billing_address.as_ref();
                let name =
                    billing.and_then(full_name).or_else(|| email.clone()).unwrap_or_else(|| "Guest customer".into());
                let reference = match &doc.customer {
                    CustomerRef::Registered { source_id, .. } => Some(source_id.to_string()),
                    CustomerRef::Guest { .. } => None,
                };
                let vals = self.partner_vals(ctx, name, email.clone(), billing, reference.as_deref());
                let delivery =
                    doc.shipping_address.as_ref().filter(|s| Some(*s) != billing && s.line1.is_some()).map(|s| {
                        self.partner_vals(
                            ctx,
                            full_name(s).unwrap_or_else(|| "Delivery address".into()),
                            None,
                            Some(s),
                            None,
                        )
                    });
                to_create.push((key.clone(), xmlid, vals, delivery));
            }
            pending.push((*idx, key));
        }
        if !to_create.is_empty() {
            let ids = client
                .create_many("res.partner", to_create.iter().map(|(_, _, v, _)| v.clone()).collect(), None)
                .await?;
            let bindings: Vec<Val> = to_create
                .iter()
                .zip(&ids)
                .filter_map(|((_, xmlid, ..), id)| {
                    xmlid.as_ref().map(|x| {
                        Val::map([
                            ("module", Val::from(XMLID_MODULE)),
                            ("name", Val::from(x.as_str())),
                            ("model", Val::from("res.partner")),
                            ("res_id", Val::Int(*id)),
                            ("noupdate", Val::Bool(true)),
                        ])
                    })
                })
                .collect();
            let mut ids = ids;
            if !bindings.is_empty()
                && let Err(e) = client.create_many("ir.model.data", bindings, None).await
            {
                if !matches!(e, OdooError::Validation { .. }) {
                    return Err(e);
                }
                // Another worker created one of these customers meanwhile (the external id is
                // unique): take theirs and remove ours, so no customer exists twice.
                for ((_, xmlid, ..), id) in to_create.iter().zip(ids.iter_mut()) {
                    let Some(x) = xmlid else { continue };
                    match client.find_external_id(XMLID_MODULE, x).await? {
                        Some(theirs) => {
                            client.execute(crate::odoo::Call::new("res.partner", "unlink").ids(&[*id])).await?;
                            *id = theirs.id;
                        }
                        None => {
                            client.bind_external_id(XMLID_MODULE, x, &OdooRef::new("res.partner", *id)).await?;
                        }
                    }
                }
            }
            // Shipping addresses that differ become delivery contacts under the new partner.
            let children: Vec<Val> = to_create
                .iter()
                .zip(&ids)
                .filter_map(|((.., delivery), id)| {
                    delivery.as_ref().map(|d| {
                        let mut m = d.as_map().cloned().unwrap_or_default();
                        m.insert("parent_id".into(), Val::Int(*id));
                        m.insert("type".into(), Val::from("delivery"));
                        m.remove("customer_rank");
                        Val::Map(m)
                    })
                })
                .collect();
            if !children.is_empty() {
                client.create_many("res.partner", children, None).await?;
            }
            let created: HashMap<&str, i64> =
                to_create.iter().zip(&ids).map(|((k, ..), id)| (k.as_str(), *id)).collect();
            for (k, id) in &created {
                if !k.starts_with("guest:") {
                    ctx.odoo.remember_partner(k, *id);
                }
            }
            for (idx, key) in pending {
                if let Some(id) = created.get(key.as_str()) {
                    found.insert(idx, *id);
                }
            }
        }
        Ok(found)
    }

    // -- New moves, in batches ---------------------------------------------------------------

    fn move_vals(&self, ctx: &Context, plan: &MovePlan, h: MoveHeader) -> Val {
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
                    PostingMode::Invoice => {
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
            PostingMode::Invoice => {
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
    async fn create_and_post(
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
                let why = format!("Odoo computed {total} where the store's total is {}", plan.expected_total);
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

    async fn link_move(&self, e: &Envelope, id: i64, plan: &MovePlan, line_ids: &[i64]) -> Result<()> {
        let state = &self.deps.state;
        let now = Utc::now();
        state
            .put_link(&Link {
                connection_id: e.connection_id.clone(),
                kind: e.kind(),
                source_id: e.source_id.clone(),
                odoo: OdooRef::new(MOVE, id),
                updated_at: now,
            })
            .await?;
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
        Ok(())
    }

    async fn finish_posted(
        &self,
        ctx: &Context,
        w: &Work,
        plan: &MovePlan,
        posted: Posted<'_>,
    ) -> Result<RecordOutcome> {
        let Posted { id, name, line_ids, odoo_total, credited } = posted;
        let e = &w.envelope;
        self.link_move(e, id, plan, line_ids).await?;
        self.deps
            .state
            .complete(&w.token, &json!({ "move": id, "name": name }).to_string(), self.settings.keep_outcome_for)
            .await?;
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
        let details = json!({
            "rules_version": ctx.rules_version, "move_type": plan.move_type, "name": name,
            "store_total": plan.store_total.to_string(), "odoo_total": odoo_total.to_string(),
            "rounding": plan.rounding.to_string(), "posted": ctx.rules.posting.post, "credits": credited.map(|c| c.id), "lines": lines,
        });
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
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo: OdooRef::new(MOVE, id), name: name.to_string() })
    }

    // -- Refunds -------------------------------------------------------------------------------

    async fn post_refund(&self, ctx: &Context, work: &Work, refund: &Refund) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let state = &self.deps.state;
        let client = &ctx.odoo.client;
        let Some((kind, target, order)) = self.refund_target(&e.connection_id, refund).await? else {
            return Err(Error::retryable(anyhow::anyhow!(
                "order {} is not in Odoo yet; the refund waits for it",
                refund.order_id
            )));
        };
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
                    Error::permanent(anyhow::anyhow!(
                        "{kind} {target} has no line {store_line} in Odoo ({original_name})"
                    ))
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

    // -- Customers -----------------------------------------------------------------------------

    async fn upsert_customer(&self, ctx: &Context, work: &Work, customer: &Customer) -> Result<RecordOutcome> {
        let e = &work.envelope;
        let client = &ctx.odoo.client;
        let xmlid = xmlid_name(&e.connection_id, "customer", &e.source_id);
        let address = customer.billing_address.as_ref().or(customer.addresses.first());
        let name = [customer.first_name.as_deref(), customer.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name.trim().is_empty() {
            customer.company.clone().or(customer.email.clone()).unwrap_or_else(|| format!("Customer {}", e.source_id))
        } else {
            name
        };
        let mut vals = self.partner_vals(
            ctx,
            name.clone(),
            normalized_email(customer.email.as_deref()),
            address,
            Some(e.source_id.as_str()),
        );
        if let (Val::Map(m), Some(phone)) = (&mut vals, customer.phone.as_deref()) {
            m.insert("phone".into(), Val::from(phone));
        }
        let existing = client.find_external_id(XMLID_MODULE, &xmlid).await?;
        let (id, verb) = match existing {
            Some(target) => {
                client.write("res.partner", &[target.id], vals).await?;
                (target.id, "updated")
            }
            None => {
                let id = client.create("res.partner", vals).await?;
                client.bind_external_id(XMLID_MODULE, &xmlid, &OdooRef::new("res.partner", id)).await?;
                (id, "created")
            }
        };
        ctx.odoo.remember_partner(&format!("c:{}", e.source_id), id);
        let odoo = OdooRef::new("res.partner", id);
        self.deps
            .state
            .put_link(&Link {
                connection_id: e.connection_id.clone(),
                kind: EntityKind::Customer,
                source_id: e.source_id.clone(),
                odoo: odoo.clone(),
                updated_at: Utc::now(),
            })
            .await?;
        self.deps
            .state
            .complete(&work.token, &json!({ "partner": id }).to_string(), self.settings.keep_outcome_for)
            .await?;
        self.audit(
            e,
            ctx.connection.audit_retention,
            AuditStage::Posted,
            Some(odoo.clone()),
            format!("{verb} partner {name} ({XMLID_MODULE}.{xmlid})"),
            json!({}),
        )
        .await;
        let _ = self.deps.failed.remove_failed(&e.connection_id, e.kind(), &e.source_id).await;
        Ok(RecordOutcome::Posted { odoo, name })
    }
}

/// Replays failed records: sends each back onto the queue (the poster's claim makes a record
/// already posted a no-op) and forgets it once queued.
pub async fn replay(
    failed: &dyn crate::ports::FailedRecords,
    queue: &dyn crate::ports::RecordQueue,
    audit: &dyn crate::ports::AuditLog,
    connection: &crate::ports::Connection,
    only: Option<(EntityKind, &SourceId)>,
) -> Result<usize> {
    let retention = connection.audit_retention;
    let connection = &connection.id;
    let records = match only {
        Some((kind, source)) => failed.get_failed(connection, kind, source).await?.into_iter().collect(),
        None => failed.failed(connection).await?,
    };
    let mut replayed = 0;
    for r in records {
        let envelope = Envelope::from_json(&r.body)?;
        let mut message = crate::ports::OutgoingMessage::for_envelope(&envelope);
        // A fresh deduplication id: the original one may still be inside the queue's window.
        message.deduplication_id = format!("replay:{}", uuid::Uuid::new_v4().simple());
        queue.send_batch(&[message]).await?;
        failed.remove_failed(connection, r.kind, &r.source_id).await?;
        let entry = crate::ports::AuditEntry {
            connection_id: connection.clone(),
            kind: r.kind,
            source_id: r.source_id.clone(),
            trace_id: envelope.trace_id,
            at: Utc::now(),
            stage: AuditStage::Replayed,
            odoo: None,
            message: format!("replayed after: {}", r.reason),
            details: json!({}),
        };
        audit.append(&entry, retention).await?;
        replayed += 1;
    }
    Ok(replayed)
}

/// Moves every message of a dead-letter queue back onto the main queue.
pub async fn redrive(dlq: &dyn crate::ports::QueueConsumer, queue: &dyn crate::ports::RecordQueue) -> Result<usize> {
    let mut moved = 0;
    loop {
        let batch = dlq.receive(10, std::time::Duration::ZERO, std::time::Duration::from_secs(30)).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for m in batch {
            let message = crate::ports::OutgoingMessage {
                group_id: m.group_id.clone(),
                deduplication_id: format!("redrive:{}", uuid::Uuid::new_v4().simple()),
                body: m.body.clone(),
            };
            queue.send_batch(&[message]).await?;
            dlq.delete(&m.receipt).await?;
            moved += 1;
        }
    }
}
