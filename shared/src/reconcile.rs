//! Reconciliation: proof that the books are complete. For a period, the store's documents in
//! posting statuses (orders, or invoices where the books are kept from them, and refunds) are
//! compared with what Odoo holds under ml-connector's markers:
//!
//! - missing in Odoo (never made, or deleted there): sent again, once, unless told to list only;
//! - in Odoo twice, or at another amount than the store's: reported with both figures, never
//!   "fixed" (a finance user decides);
//! - in Odoo but not in the store at all.
//!
//! The store is read page by page with the poller's own listings (nothing is queued by reading);
//! Odoo is asked once per page of store documents (one `search_read` for all their markers), and
//! once per page of the period's moves for what the store does not have.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::checks::odoo_client;
use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ids::{OdooRef, SourceId};
use crate::odoo::{OdooClient, Val};
use crate::ports::{AuditEntry, AuditLog, AuditStage, Connection, ConnectionStore, SecretStore, SyncState, Watermark};
use crate::records::{EntityKind, Envelope, Record};
use crate::rules::{MappingRules, PostingMode, StatusDecision};
use crate::stores::Stores;
use crate::stores::webhook::StoreDeps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gap {
    MissingInOdoo,
    InOdooTwice,
    AmountDiffers,
    NotInStore,
}

impl Gap {
    pub fn as_str(self) -> &'static str {
        match self {
            Gap::MissingInOdoo => "missing in Odoo",
            Gap::InOdooTwice => "in Odoo twice",
            Gap::AmountDiffers => "amount differs",
            Gap::NotInStore => "in Odoo, not in the store",
        }
    }
}

/// The last day reconciled, per connection (a watermark whose cursor is the day).
const RECONCILED: &str = "reconciled-day";
/// The last run, per connection (a watermark whose cursor is the run's source id in the trail).
pub const LAST_RUN: &str = "reconciled-last-run";

/// One document of Odoo's, as reconciliation saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdooDocument {
    pub odoo: OdooRef,
    pub name: String,
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discrepancy {
    pub gap: Gap,
    pub kind: EntityKind,
    pub source_id: SourceId,
    /// The store's figure, where the store has the document.
    pub store_total: Option<Decimal>,
    pub odoo: Vec<OdooDocument>,
    /// Sent again to be posted (missing ones, when the connection backfills).
    pub backfilled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub connection: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Store documents in posting statuses created in the period.
    pub store_documents: u64,
    pub odoo_documents: u64,
    pub discrepancies: Vec<Discrepancy>,
    pub backfilled: u64,
    pub store_requests: u64,
    pub odoo_requests: u64,
}

impl ReconcileReport {
    pub fn count(&self, gap: Gap) -> usize {
        self.discrepancies.iter().filter(|d| d.gap == gap).count()
    }

    /// `7 missing in Odoo, 2 in Odoo twice`: the gaps found, each with its count.
    pub fn gaps(&self) -> String {
        let counts: Vec<String> = [Gap::MissingInOdoo, Gap::InOdooTwice, Gap::AmountDiffers, Gap::NotInStore]
            .iter()
            .filter(|g| self.count(**g) > 0)
            .map(|g| format!("{} {}", self.count(*g), g.as_str()))
            .collect();
        if counts.is_empty() { "no gap".into() } else { counts.join(", ") }
    }
}

pub struct Reconciler {
    pub stores: Arc<Stores>,
    pub connections: Arc<dyn ConnectionStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub audit: Arc<dyn AuditLog>,
    /// The day reconciled last, and the last run (for the console).
    pub state: Arc<dyn SyncState>,
    /// Where a run's gaps are announced, for connections with alerts.
    pub alerts: Option<Arc<dyn crate::alerts::AlertSink>>,
}

/// A store document to find in Odoo.
struct Expected {
    kind: EntityKind,
    envelope: Envelope,
    total: Decimal,
}

/// `mlc:<connection>:<kind>:<id>:<version>` → kind and id.
fn parse_marker(marker: &str, connection: &str) -> Option<(String, String)> {
    let rest = marker.strip_prefix("mlc:")?.strip_prefix(connection)?.strip_prefix(':')?;
    let (kind_and_id, _version) = rest.rsplit_once(':')?;
    let (kind, id) = kind_and_id.split_once(':')?;
    Some((kind.to_string(), id.to_string()))
}

/// A `=like` pattern matching every version of one document's marker.
fn marker_pattern(connection: &str, kind: EntityKind, id: &SourceId) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("mlc:{}:{kind}:{}:%", escape(connection), escape(id.as_str()))
}

/// `[ '|', a, '|', b, c ]`: any of the leaves.
fn any_of(leaves: Vec<Val>) -> Vec<Val> {
    let mut domain = Vec::with_capacity(leaves.len() * 2);
    for _ in 1..leaves.len() {
        domain.push(Val::from("|"));
    }
    domain.extend(leaves);
    domain
}

fn leaf(field: &str, op: &str, value: Val) -> Val {
    Val::list([Val::from(field), Val::from(op), value])
}

/// Counts the Odoo calls one run makes, for the report.
struct Odoo<'a> {
    client: &'a OdooClient,
    calls: u64,
}

impl Odoo<'_> {
    async fn search_read(
        &mut self,
        model: &str,
        domain: Vec<Val>,
        fields: &[&str],
        page: Option<(usize, usize)>,
    ) -> Result<Vec<Val>> {
        self.calls += 1;
        let domain = Val::List(domain);
        let rows = match page {
            None => self.client.search_read(model, domain, fields, None, Some("id")).await?,
            Some((limit, offset)) => {
                let call = crate::odoo::Call::new(model, "search_read")
                    .arg("domain", domain)
                    .kwarg("fields", Val::list(fields.iter().copied()))
                    .kwarg("offset", Val::Int(offset as i64))
                    .kwarg("limit", Val::Int(limit as i64))
                    .kwarg("order", Val::from("id"));
                self.client.execute(call).await?.as_list().map(<[Val]>::to_vec).unwrap_or_default()
            }
        };
        Ok(rows)
    }
}

fn document(row: &Val, model: &str) -> OdooDocument {
    OdooDocument {
        odoo: OdooRef::new(model, row.get("id").and_then(Val::as_i64).unwrap_or_default()),
        name: row.get("name").and_then(Val::as_str).unwrap_or_default().to_string(),
        total: row.get("amount_total").and_then(Val::as_decimal).unwrap_or_default(),
    }
}

impl Reconciler {
    /// Reconciliation over a deployment's ports (`stores` built on the same `deps`), its gaps
    /// announced to `alerts`.
    pub fn on(deps: &StoreDeps, stores: Arc<Stores>, alerts: Arc<dyn crate::alerts::AlertSink>) -> Reconciler {
        Reconciler {
            stores,
            connections: deps.connections.clone(),
            secrets: deps.secrets.clone(),
            audit: deps.audit.clone(),
            state: deps.state.clone(),
            alerts: Some(alerts),
        }
    }

    /// Reconciles `[from, to)` for one connection; with `backfill`, what is missing is sent again.
    pub async fn run(
        &self,
        connection: &Connection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        backfill: bool,
    ) -> Result<ReconcileReport> {
        if to <= from {
            return Err(Error::bad_input(format!("the period {from} .. {to} is empty")));
        }
        let rules = self
            .connections
            .latest_rules(&connection.id)
            .await?
            .ok_or_else(|| Error::bad_input(format!("{} has no mapping rules yet", connection.id)))?;
        let rules = MappingRules::from_json(&rules.rules)?;
        let secrets = self.secrets.get(&connection.id).await?.unwrap_or_default();
        let client = odoo_client(connection, &secrets, RetryPolicy::default())
            .await
            .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
        let mut odoo = Odoo { client: &client, calls: 0 };
        let store = self.stores.for_connection(connection)?;
        let poll = store.poll();
        let store_before = poll.requests_made(connection).await;
        let run = format!("reconcile-{}", Utc::now().format("%Y%m%dT%H%M%S"));
        let mut report = ReconcileReport {
            connection: connection.id.to_string(),
            from,
            to,
            store_documents: 0,
            odoo_documents: 0,
            discrepancies: vec![],
            backfilled: 0,
            store_requests: 0,
            odoo_requests: 0,
        };
        // Everything the store has in the period, whatever its status: what "not in the store" means.
        let mut in_store: HashSet<(String, String)> = HashSet::new();
        let mut checked: HashSet<(EntityKind, SourceId)> = HashSet::new();
        let until = Utc::now().max(to);
        for stream in poll.windowed_streams() {
            let mut start = from;
            while start < until {
                let end = (start + Duration::days(1)).min(until);
                for page in 1.. {
                    let (listed, more) = poll.list_window_page(connection, stream, start, end, page).await?;
                    let mut expected = Vec::new();
                    for e in listed.envelopes {
                        if let Some(x) = self.expected(&rules, connection, e, from, to, &mut in_store)
                            && checked.insert((x.kind, x.envelope.source_id.clone()))
                        {
                            expected.push(x);
                        }
                    }
                    report.store_documents += expected.len() as u64;
                    let found = self.compare(&mut odoo, &rules, connection, expected, backfill, &run).await?;
                    report.discrepancies.extend(found);
                    if !more {
                        break;
                    }
                }
                start = end;
            }
        }
        report.discrepancies.extend(
            self.not_in_store(&mut odoo, &rules, connection, from, to, &in_store, &mut report.odoo_documents).await?,
        );
        report.backfilled = report.discrepancies.iter().filter(|d| d.backfilled).count() as u64;
        report.store_requests = poll.requests_made(connection).await.saturating_sub(store_before);
        report.odoo_requests = odoo.calls;
        self.audit_report(connection, &report, &run).await;
        let last = Watermark { at: Utc::now(), cursor: Some(run) };
        if let Err(e) = self.state.advance_watermark(&connection.id, LAST_RUN, &last).await {
            tracing::warn!(error = %e, "the console will not show this reconciliation as the last one");
        }
        self.announce(connection, &report).await;
        Ok(report)
    }

    /// A scheduled run (`functions/reconciler`, and `mlc serve` once a day): `{"connection_id":
    /// "…"}` or `{}` for every active connection; the period is yesterday (UTC) unless
    /// `{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}` (both days included) say; `"list_only": true`
    /// reports what is missing without sending it again. One connection's failure does not stop
    /// the next; the run fails at the end if any did.
    pub async fn run_scheduled(&self, input: &serde_json::Value, now: DateTime<Utc>) -> Result<serde_json::Value> {
        let day = |key: &str| -> Result<Option<chrono::NaiveDate>> {
            input
                .get(key)
                .and_then(|v| v.as_str())
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| Error::bad_input(format!("{key} {d:?} is not a YYYY-MM-DD date")))
                })
                .transpose()
        };
        let yesterday = (now - Duration::days(1)).date_naive();
        let (first, last) = (day("from")?.unwrap_or(yesterday), day("to")?.unwrap_or(yesterday));
        let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let (from, to) = (midnight(first), midnight(last) + Duration::days(1));
        let backfill = !input.get("list_only").and_then(|v| v.as_bool()).unwrap_or(false);
        let connections = match input.get("connection_id").and_then(|c| c.as_str()) {
            Some(id) => {
                let id = crate::ids::ConnectionId::parse(id)?;
                let c = self.connections.connection(&id).await?;
                vec![c.ok_or_else(|| Error::bad_input(format!("connection {id} does not exist")))?]
            }
            None => self.connections.connections().await?,
        };
        let mut reports = serde_json::Map::new();
        let mut failed: Vec<String> = Vec::new();
        for c in connections.into_iter().filter(|c| !c.paused) {
            let span = tracing::info_span!("reconcile", connection_id = %c.id);
            let backfill = backfill && !c.reconcile_list_only;
            match tracing::Instrument::instrument(self.run(&c, from, to, backfill), span).await {
                Ok(r) => {
                    let figures = json!({
                        "from": first.to_string(), "to": last.to_string(), "store_documents": r.store_documents,
                        "missing_in_odoo": r.count(Gap::MissingInOdoo), "in_odoo_twice": r.count(Gap::InOdooTwice),
                        "amount_differs": r.count(Gap::AmountDiffers), "not_in_store": r.count(Gap::NotInStore),
                        "sent_again": r.backfilled, "store_requests": r.store_requests, "odoo_requests": r.odoo_requests,
                    });
                    reports.insert(c.id.to_string(), figures);
                }
                Err(e) => {
                    tracing::warn!(connection = %c.id, error = %e, "reconciliation failed; the next connection goes on");
                    failed.push(format!("{}: {e}", c.id));
                }
            }
        }
        if !failed.is_empty() {
            return Err(Error::retryable(anyhow::anyhow!("reconciliation failed for {}", failed.join("; "))));
        }
        Ok(serde_json::Value::Object(reports))
    }

    /// Yesterday's reconciliation of each active connection that has not had it yet (`mlc
    /// serve` asks every hour): a day is reconciled once, after it has ended, and the day done
    /// is kept in `state`. Answers the connections reconciled now.
    pub async fn reconcile_due(&self, now: DateTime<Utc>) -> Result<Vec<String>> {
        let state = self.state.as_ref();
        let yesterday = (now - Duration::days(1)).date_naive();
        let mut done = Vec::new();
        for c in self.connections.connections().await?.into_iter().filter(|c| !c.paused) {
            let mark = state.watermark(&c.id, RECONCILED).await?;
            if mark.and_then(|m| m.cursor).is_some_and(|day| day >= yesterday.to_string()) {
                continue;
            }
            let from = yesterday.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            let span = tracing::info_span!("reconcile", connection_id = %c.id);
            let run = self.run(&c, from, from + Duration::days(1), !c.reconcile_list_only);
            match tracing::Instrument::instrument(run, span).await {
                Ok(_) => {
                    let day = Watermark { at: now, cursor: Some(yesterday.to_string()) };
                    state.advance_watermark(&c.id, RECONCILED, &day).await?;
                    done.push(c.id.to_string());
                }
                // Tried again at the next hour's check.
                Err(e) => tracing::warn!(connection = %c.id, error = %e, "the daily reconciliation failed"),
            }
        }
        Ok(done)
    }

    /// The store document an envelope is, if the period's books must hold it.
    fn expected(
        &self,
        rules: &MappingRules,
        connection: &Connection,
        e: Envelope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        in_store: &mut HashSet<(String, String)>,
    ) -> Option<Expected> {
        let books_invoices = connection.source.books_invoices() && rules.posting.mode != PostingMode::SaleOrder;
        let (kind, created, total, posts) = match &e.record {
            Record::Order(doc) | Record::Invoice(doc) => {
                let kind = e.kind();
                let posts = rules.posting.decision(doc.status, &doc.source_status) == StatusDecision::Post;
                let books = (kind == EntityKind::Invoice) == books_invoices;
                (kind, doc.created_at, doc.totals.total, posts && books)
            }
            Record::Refund(r) => {
                (EntityKind::Refund, r.created_at, r.amount, rules.posting.mode != PostingMode::SaleOrder)
            }
            _ => return None,
        };
        in_store.insert((kind.to_string(), e.source_id.to_string()));
        (posts && created >= from && created < to).then_some(Expected { kind, envelope: e, total })
    }

    /// One page of store documents against Odoo: one `search_read` for all their markers.
    async fn compare(
        &self,
        odoo: &mut Odoo<'_>,
        rules: &MappingRules,
        connection: &Connection,
        expected: Vec<Expected>,
        backfill: bool,
        run: &str,
    ) -> Result<Vec<Discrepancy>> {
        if expected.is_empty() {
            return Ok(vec![]);
        }
        let conn = connection.id.as_str();
        let sale_orders = rules.posting.mode == PostingMode::SaleOrder;
        let (model, field) = if sale_orders { ("sale.order", "origin") } else { ("account.move", "invoice_origin") };
        let leaves = expected
            .iter()
            .map(|x| leaf(field, "=like", Val::Str(marker_pattern(conn, x.kind, &x.envelope.source_id))))
            .collect();
        let fields = ["name", field, "amount_total", "state", "reversed_entry_id", "move_type"];
        let fields: &[&str] = if sale_orders { &["name", "origin", "amount_total", "state"] } else { &fields };
        let rows = odoo.search_read(model, any_of(leaves), fields, None).await?;
        let mut by_document: BTreeMap<(String, String), Vec<Val>> = BTreeMap::new();
        for row in rows {
            if let Some(key) = row.get(field).and_then(Val::as_str).and_then(|m| parse_marker(m, conn)) {
                by_document.entry(key).or_default().push(row);
            }
        }
        let mut found = Vec::new();
        let mut resend = Vec::new();
        for x in expected {
            let rows = by_document.remove(&(x.kind.to_string(), x.envelope.source_id.to_string())).unwrap_or_default();
            let live = live_documents(&rows, x.kind, sale_orders, model);
            let gap = match live.as_slice() {
                [] => Gap::MissingInOdoo,
                [one] if one.total == x.total => continue,
                [_] => Gap::AmountDiffers,
                _ => Gap::InOdooTwice,
            };
            let backfilled = gap == Gap::MissingInOdoo && backfill;
            let d = Discrepancy {
                gap,
                kind: x.kind,
                source_id: x.envelope.source_id.clone(),
                store_total: Some(x.total),
                odoo: live,
                backfilled,
            };
            self.audit_gap(connection, &d, &x.envelope).await;
            if backfilled {
                let mut again = x.envelope;
                again.repost = Some(run.to_string());
                resend.push(again);
            }
            found.push(d);
        }
        if !resend.is_empty() {
            let title = self.stores.for_connection(connection)?.poll().title();
            self.stores.pipeline.enqueue(title, connection, &resend, "reconciliation").await?;
        }
        Ok(found)
    }

    /// The period's documents in Odoo whose store record the store does not have, a page of
    /// moves (or sale orders) at a time.
    #[allow(clippy::too_many_arguments)]
    async fn not_in_store(
        &self,
        odoo: &mut Odoo<'_>,
        rules: &MappingRules,
        connection: &Connection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        in_store: &HashSet<(String, String)>,
        seen: &mut u64,
    ) -> Result<Vec<Discrepancy>> {
        let conn = connection.id.as_str();
        let sale_orders = rules.posting.mode == PostingMode::SaleOrder;
        let prefix = format!("mlc:{}:%", conn.replace('_', "\\_"));
        let (model, field, date) = if sale_orders {
            ("sale.order", "origin", "date_order")
        } else {
            ("account.move", "invoice_origin", "date")
        };
        let day = |t: DateTime<Utc>| Val::Str(t.format("%Y-%m-%d").to_string());
        let mut domain =
            vec![leaf(field, "=like", Val::Str(prefix)), leaf(date, ">=", day(from)), leaf(date, "<", day(to))];
        if !sale_orders {
            domain.push(leaf("reversed_entry_id", "=", Val::Bool(false)));
        }
        let fields: &[&str] = if sale_orders {
            &["name", "origin", "amount_total", "state"]
        } else {
            &["name", "invoice_origin", "amount_total", "state", "move_type"]
        };
        let mut found = Vec::new();
        const PAGE: usize = 500;
        for offset in (0..).step_by(PAGE) {
            let rows = odoo.search_read(model, domain.clone(), fields, Some((PAGE, offset))).await?;
            *seen += rows.len() as u64;
            for row in &rows {
                let Some((kind, id)) = row.get(field).and_then(Val::as_str).and_then(|m| parse_marker(m, conn)) else {
                    continue;
                };
                if !matches!(kind.as_str(), "order" | "invoice") || in_store.contains(&(kind.clone(), id.clone())) {
                    continue;
                }
                if row.get("state").and_then(Val::as_str) == Some("cancel") {
                    continue;
                }
                let (Ok(source_id), Ok(kind)) = (SourceId::parse(id), EntityKind::parse(&kind)) else { continue };
                let d = Discrepancy {
                    gap: Gap::NotInStore,
                    kind,
                    source_id,
                    store_total: None,
                    odoo: vec![document(row, model)],
                    backfilled: false,
                };
                found.push(d);
            }
            if rows.len() < PAGE {
                break;
            }
        }
        Ok(found)
    }

    async fn audit_gap(&self, connection: &Connection, d: &Discrepancy, e: &Envelope) {
        let odoo: Vec<String> = d.odoo.iter().map(|o| format!("{} {}", o.name, o.total)).collect();
        let figures = match d.gap {
            Gap::MissingInOdoo if d.backfilled => {
                format!("store total {}; sent again to be posted", d.store_total.unwrap_or_default())
            }
            Gap::MissingInOdoo => {
                format!("store total {}; listed only (no backfill)", d.store_total.unwrap_or_default())
            }
            _ => format!(
                "store total {}, Odoo {}; left as it is for review",
                d.store_total.unwrap_or_default(),
                odoo.join(", ")
            ),
        };
        let entry = AuditEntry {
            connection_id: connection.id.clone(),
            kind: d.kind,
            source_id: d.source_id.clone(),
            trace_id: e.trace_id,
            at: Utc::now(),
            stage: if d.backfilled { AuditStage::Enqueued } else { AuditStage::Noted },
            odoo: d.odoo.first().map(|o| o.odoo.clone()),
            message: format!("reconciliation: {} ({figures})", d.gap.as_str()),
            details: json!({ "reconciliation": d }),
        };
        if let Err(err) = self.audit.append(&entry, connection.audit_retention).await {
            tracing::error!(error = %err, "could not write the reconciliation to the trail");
        }
    }

    /// One alert for a run that found gaps, where the connection has alerts; a failure to send
    /// is logged, never the run's.
    async fn announce(&self, connection: &Connection, report: &ReconcileReport) {
        let (Some(sink), Some(settings)) = (&self.alerts, &connection.alerts) else { return };
        if !settings.on_reconciliation_gap || report.discrepancies.is_empty() {
            return;
        }
        let alert = crate::alerts::Alert {
            connection: connection.id.to_string(),
            kind: "reconciliation",
            summary: format!(
                "reconciliation of {} ({} .. {}) found {}; {} sent again",
                connection.id,
                report.from.format("%Y-%m-%d"),
                report.to.format("%Y-%m-%d"),
                report.gaps(),
                report.backfilled
            ),
            at: Utc::now(),
            details: json!({ "from": report.from, "to": report.to, "discrepancies": report.discrepancies.len() }),
        };
        if let Err(e) = sink.send(connection, settings, &alert).await {
            tracing::warn!(connection = %connection.id, error = %e, "could not send the reconciliation alert");
        }
    }

    /// The run's result under its own name (`mlc trace reconcile-…`).
    async fn audit_report(&self, connection: &Connection, report: &ReconcileReport, run: &str) {
        let Ok(source_id) = SourceId::parse(run) else { return };
        let counts: Vec<String> = [Gap::MissingInOdoo, Gap::InOdooTwice, Gap::AmountDiffers, Gap::NotInStore]
            .iter()
            .map(|g| format!("{} {}", report.count(*g), g.as_str()))
            .collect();
        let entry = AuditEntry {
            connection_id: connection.id.clone(),
            kind: EntityKind::Order,
            source_id,
            trace_id: crate::ids::TraceId::new(),
            at: Utc::now(),
            stage: AuditStage::Noted,
            odoo: None,
            message: format!(
                "reconciliation of {} .. {}: {} store documents, {}; {} sent again",
                report.from.format("%Y-%m-%d %H:%M"),
                report.to.format("%Y-%m-%d %H:%M"),
                report.store_documents,
                counts.join(", "),
                report.backfilled
            ),
            details: json!(report),
        };
        if let Err(err) = self.audit.append(&entry, connection.audit_retention).await {
            tracing::error!(error = %err, "could not write the reconciliation to the trail");
        }
    }
}

/// What of a document Odoo holds now: its moves less those reversed by a move carrying the same
/// marker (a credit note of a repost), drafts and cancelled ones left out; a refund's credit
/// notes as they are; a sale order unless cancelled.
fn live_documents(rows: &[Val], kind: EntityKind, sale_orders: bool, model: &str) -> Vec<OdooDocument> {
    let state = |r: &Val| r.get("state").and_then(Val::as_str).unwrap_or_default().to_string();
    if sale_orders {
        return rows.iter().filter(|r| state(r) != "cancel").map(|r| document(r, model)).collect();
    }
    if kind == EntityKind::Refund {
        return rows.iter().filter(|r| state(r) == "posted").map(|r| document(r, model)).collect();
    }
    let reversed: HashSet<i64> =
        rows.iter().filter_map(|r| r.get("reversed_entry_id").and_then(Val::many2one_id)).collect();
    rows.iter()
        .filter(|r| r.get("reversed_entry_id").and_then(Val::many2one_id).is_none())
        .filter(|r| state(r) != "cancel")
        .filter(|r| !r.get("id").and_then(Val::as_i64).is_some_and(|id| reversed.contains(&id)))
        .map(|r| document(r, model))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_back_to_their_document_and_patterns_escape_wildcards() {
        assert_eq!(
            parse_marker("mlc:acme-woo:order:1042:0a1b2c3d4e5f", "acme-woo"),
            Some(("order".into(), "1042".into()))
        );
        assert_eq!(
            parse_marker("mlc:acme-woo:refund:1083-r1084:0a1b", "acme-woo"),
            Some(("refund".into(), "1083-r1084".into()))
        );
        assert_eq!(parse_marker("mlc:other:order:1:0a", "acme-woo"), None);
        assert_eq!(parse_marker("S00012", "acme-woo"), None);
        let id = SourceId::parse("a_b%c").unwrap();
        assert_eq!(marker_pattern("shop_1", EntityKind::Order, &id), "mlc:shop\\_1:order:a\\_b\\%c:%");
        let one = any_of(vec![Val::Int(1)]);
        assert_eq!(one, vec![Val::Int(1)]);
        let three = any_of(vec![Val::Int(1), Val::Int(2), Val::Int(3)]);
        assert_eq!(three, vec![Val::from("|"), Val::from("|"), Val::Int(1), Val::Int(2), Val::Int(3)]);
    }
}
