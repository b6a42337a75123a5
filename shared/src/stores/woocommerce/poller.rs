//! The poller: catches whatever webhooks missed. Orders and customers are read in bounded time
//! windows (`modified_after`/`modified_before` with `dates_are_gmt=true`, paged with
//! `orderby=id&order=asc` inside a window, since `orderby=modified` is not documented), each
//! window starting a little before the last one ended (WooCommerce's bounds are exclusive and
//! `date_modified` can lag), and the watermark moves to the largest `date_modified_gmt` seen,
//! never to "now".
//!
//! `/customers` takes no `modified_after`/`modified_before` (reference §1.3 lists them for orders
//! only; woocommerce/woocommerce#41371 asks for them), so a window would re-read every customer.
//! Customers are read instead in one pass, at most every [`PollSettings::customers_every`], and
//! only those whose content differs from the last version seen are queued; `customer.*` webhooks
//! and the customer data inside orders are what keeps partners current between passes.

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::normalize::{self, WooCustomer, WooOrder};
use super::webhook::WooConnector;
use crate::error::{Error, Result};
use crate::ports::{Connection, Watermark};
use crate::records::{Envelope, Record, SourceSystem};

pub const ORDERS: &str = "woocommerce:orders";
pub const CUSTOMERS: &str = "woocommerce:customers";

#[derive(Debug, Clone)]
pub struct PollSettings {
    /// Where a first run starts (the backfill start date).
    pub start: DateTime<Utc>,
    pub window: ChronoDuration,
    pub overlap: ChronoDuration,
    /// A backfill keeps its own watermarks, named by this tag (its start date): it resumes where
    /// it stopped, and never moves the regular poller's.
    pub backfill: Option<String>,
    /// How often the customer pass runs (a slow safety net: see the module's doc).
    pub customers_every: ChronoDuration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            start: Utc::now() - ChronoDuration::days(30),
            window: ChronoDuration::hours(6),
            overlap: ChronoDuration::minutes(5),
            backfill: None,
            customers_every: ChronoDuration::hours(1),
        }
    }
}

/// Where a poll is, after each window: for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct PollProgress<'a> {
    pub stream: &'a str,
    /// Seconds of the stream's time range covered so far, and in all.
    pub covered: i64,
    pub span: i64,
    pub report: &'a PollReport,
}

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct PollReport {
    pub windows: u64,
    pub orders: u64,
    pub customers: u64,
    pub records_queued: u64,
    pub pages: u64,
}

fn gmt_param(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

impl WooConnector {
    /// One poll of a connection up to `now`: every window from the watermark, orders then customers.
    pub async fn poll(
        &self,
        connection: &Connection,
        settings: &PollSettings,
        now: DateTime<Utc>,
    ) -> Result<PollReport> {
        self.poll_with_progress(connection, settings, now, &|_| {}).await
    }

    /// One poll, reporting progress after every window.
    pub async fn poll_with_progress(
        &self,
        connection: &Connection,
        settings: &PollSettings,
        now: DateTime<Utc>,
        progress: &(dyn Fn(PollProgress) + Sync),
    ) -> Result<PollReport> {
        let client = self.client(connection).await?;
        let pages_before = client.pages_requested();
        let mut report = PollReport::default();
        self.poll_orders(connection, &client, settings, now, progress, &mut report).await?;
        report.pages = client.pages_requested() - pages_before;
        self.poll_customers(connection, &client, settings, now, &mut report).await?;
        report.pages = client.pages_requested() - pages_before;
        progress(PollProgress { stream: CUSTOMERS, covered: 1, span: 1, report: &report });
        Ok(report)
    }

    /// The customer pass: every customer, once, queued only when changed since the last pass.
    async fn poll_customers(
        &self,
        connection: &Connection,
        client: &super::client::WooClient,
        settings: &PollSettings,
        now: DateTime<Utc>,
        report: &mut PollReport,
    ) -> Result<()> {
        let mark_name = match &settings.backfill {
            Some(tag) => format!("{CUSTOMERS}:backfill:{tag}"),
            None => CUSTOMERS.to_string(),
        };
        let last_pass = self.deps.state.watermark(&connection.id, &mark_name).await?;
        let due = match (&last_pass, &settings.backfill) {
            (None, _) => true,
            (Some(_), Some(_)) => false, // a backfill's pass is done once
            (Some(w), None) => now - w.at >= settings.customers_every,
        };
        if !due {
            return Ok(());
        }
        let query = vec![("orderby".to_string(), "id".to_string()), ("order".to_string(), "asc".to_string())];
        let mut changed: Vec<(Envelope, String)> = Vec::new();
        for item in client.all("/customers", &query).await? {
            let customer: WooCustomer = match serde_json::from_value(item) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "a customer the poller could not read was skipped");
                    continue;
                }
            };
            let (id, at, c) = match normalize::customer(&customer) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(customer = customer.id, error = %e, "customer skipped by the poller");
                    continue;
                }
            };
            report.customers += 1;
            let envelope = Envelope::new(connection.id.clone(), SourceSystem::Woocommerce, id, at, Record::Customer(c));
            let seen = format!("{CUSTOMERS}:seen:{}", envelope.source_id);
            let hash = envelope.content_hash.as_str().to_string();
            if self.deps.state.watermark(&connection.id, &seen).await?.and_then(|w| w.cursor).as_deref()
                != Some(hash.as_str())
            {
                changed.push((envelope, seen));
            }
        }
        let envelopes: Vec<Envelope> = changed.iter().map(|(e, _)| e.clone()).collect();
        self.enqueue(connection, &envelopes, "the poller").await?;
        report.records_queued += envelopes.len() as u64;
        // Remembered only once queued: a failed enqueue is read again on the next pass.
        for (e, seen) in &changed {
            let mark = Watermark { at: e.source_updated_at, cursor: Some(e.content_hash.as_str().to_string()) };
            self.deps.state.advance_watermark(&connection.id, seen, &mark).await?;
        }
        self.deps.state.advance_watermark(&connection.id, &mark_name, &Watermark { at: now, cursor: None }).await?;
        Ok(())
    }

    /// Orders, in windows from the watermark.
    async fn poll_orders(
        &self,
        connection: &Connection,
        client: &super::client::WooClient,
        settings: &PollSettings,
        now: DateTime<Utc>,
        progress: &(dyn Fn(PollProgress) + Sync),
        report: &mut PollReport,
    ) -> Result<()> {
        let pages_before = client.pages_requested();
        {
            let stream = ORDERS;
            let mark_name = match &settings.backfill {
                Some(tag) => format!("{stream}:backfill:{tag}"),
                None => stream.to_string(),
            };
            let mark = self.deps.state.watermark(&connection.id, &mark_name).await?;
            let mut from = mark.map(|w| (w.at - settings.overlap).max(settings.start)).unwrap_or(settings.start);
            let span = (now - settings.start).num_seconds().max(1);
            while from < now {
                let to = (from + settings.window).min(now);
                let query = vec![
                    // Both bounds are exclusive, at one-second resolution: one second earlier
                    // keeps a record modified exactly on a window's edge in the next window.
                    ("modified_after".to_string(), gmt_param(from - ChronoDuration::seconds(1))),
                    ("modified_before".to_string(), gmt_param(to)),
                    ("dates_are_gmt".to_string(), "true".to_string()),
                    ("orderby".to_string(), "id".to_string()),
                    ("order".to_string(), "asc".to_string()),
                ];
                let items = client.all("/orders", &query).await?;
                let mut newest: Option<DateTime<Utc>> = None;
                let mut envelopes: Vec<Envelope> = Vec::new();
                for item in items {
                    // An order lists its refunds (`refunds: [{id, total}]`); only those with some
                    // cost a request for their lines.
                    let with_refunds = item["refunds"].as_array().is_none_or(|r| !r.is_empty());
                    let order: WooOrder =
                        serde_json::from_value(item).map_err(|e| Error::bad_input(format!("not an order: {e}")))?;
                    match self.order_envelopes(connection, &order, with_refunds).await {
                        Ok(list) => {
                            newest = newest.max(list.first().map(|e| e.source_updated_at));
                            envelopes.extend(list);
                            report.orders += 1;
                        }
                        // One bad order must not stop the others: it is explained in the audit trail.
                        Err(e) if e.class() == crate::ErrorClass::BadInput => {
                            tracing::warn!(order = order.id, error = %e, "order skipped by the poller");
                        }
                        Err(e) => return Err(e),
                    }
                }
                self.enqueue(connection, &envelopes, "the poller").await?;
                report.records_queued += envelopes.len() as u64;
                report.windows += 1;
                // A backfill's empty windows move its mark too (its range is fixed, so nothing can
                // appear there later that the regular poller will not see as modified).
                let mark_at = if settings.backfill.is_some() { newest.max(Some(to)) } else { newest };
                if let Some(at) = mark_at {
                    self.deps
                        .state
                        .advance_watermark(&connection.id, &mark_name, &Watermark { at, cursor: None })
                        .await?;
                }
                from = to;
                report.pages = client.pages_requested() - pages_before;
                progress(PollProgress { stream, covered: (to - settings.start).num_seconds(), span, report });
            }
        }
        Ok(())
    }
}

impl WooConnector {
    /// One order as the poster would receive it (for `mlc preview`).
    pub async fn fetch_order(&self, connection: &Connection, id: i64) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order = client.order(id).await?;
        let mut envelopes = self.order_envelopes(connection, &order, false).await?;
        Ok(envelopes.remove(0))
    }

    /// What a schedule runs: `{"connection_id": "…"}` polls one connection, `{}` every active
    /// WooCommerce connection. Returns a report per connection.
    pub async fn poll_scheduled(
        &self,
        input: &serde_json::Value,
        settings: &PollSettings,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value> {
        let connections = match input.get("connection_id").and_then(|c| c.as_str()) {
            Some(id) => {
                let id = crate::ids::ConnectionId::parse(id)?;
                vec![
                    self.deps
                        .connections
                        .connection(&id)
                        .await?
                        .ok_or_else(|| Error::bad_input(format!("connection {id} does not exist")))?,
                ]
            }
            None => self.deps.connections.connections().await?,
        };
        let mut reports = serde_json::Map::new();
        for c in connections.into_iter().filter(|c| c.source == SourceSystem::Woocommerce && !c.paused) {
            let r = self.poll(&c, settings, now).await?;
            reports.insert(
                c.id.to_string(),
                serde_json::json!({ "windows": r.windows, "orders": r.orders, "customers": r.customers, "queued": r.records_queued, "pages": r.pages }),
            );
        }
        Ok(serde_json::Value::Object(reports))
    }
}
