//! WooCommerce's part of the poll loop (`crate::stores::poll`): orders in windows of
//! `modified_after`/`modified_before` with `dates_are_gmt=true`, paged with `orderby=id&order=asc`
//! inside a window (`orderby=modified` is not documented), one second earlier than the window's
//! start since both bounds are exclusive at one-second resolution.
//!
//! `/customers` takes no `modified_after`/`modified_before` (reference §1.3 lists them for orders
//! only; woocommerce/woocommerce#41371 asks for them), so customers are a whole stream: read in
//! one pass on their own cadence, queued only when changed. `customer.*` webhooks and the customer
//! data inside orders keep partners current between passes.

use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};

use super::normalize::{self, WooCustomer};
use super::webhook::WooConnector;
use crate::error::Result;
use crate::ports::Connection;
use crate::records::{Envelope, Record, SourceSystem};
use crate::stores::poll::{Listed, PollProgress, PollSource, Poller};
pub use crate::stores::poll::{PollReport, PollSettings};

pub const ORDERS: &str = "woocommerce:orders";
pub const CUSTOMERS: &str = "woocommerce:customers";

fn gmt_param(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[async_trait]
impl PollSource for WooConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Woocommerce
    }

    fn title(&self) -> &'static str {
        "WooCommerce"
    }

    fn windowed_streams(&self) -> &'static [&'static str] {
        &[ORDERS]
    }

    async fn list_window(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Listed> {
        let mut all = Listed::default();
        for page in 1.. {
            let (listed, more) = self.list_window_page(connection, stream, from, to, page).await?;
            all.orders += listed.orders;
            all.newest = all.newest.max(listed.newest);
            all.envelopes.extend(listed.envelopes);
            if !more {
                break;
            }
        }
        Ok(all)
    }

    async fn list_window_page(
        &self,
        connection: &Connection,
        _stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: u64,
    ) -> Result<(Listed, bool)> {
        let client = self.client(connection).await?;
        let query = vec![
            ("modified_after".to_string(), gmt_param(from - ChronoDuration::seconds(1))),
            ("modified_before".to_string(), gmt_param(to)),
            ("dates_are_gmt".to_string(), "true".to_string()),
            ("orderby".to_string(), "id".to_string()),
            ("order".to_string(), "asc".to_string()),
        ];
        let found = client.page("/orders", &query, page).await?;
        let more = page < found.total_pages && !found.items.is_empty();
        let mut listed = Listed::default();
        for item in found.items {
            let id = item["id"].as_i64().unwrap_or_default();
            match self.listed_order_envelopes(connection, item).await {
                Ok(list) => {
                    listed.newest = listed.newest.max(list.first().map(|e| e.source_updated_at));
                    listed.envelopes.extend(list);
                    listed.orders += 1;
                }
                // One bad order must not stop the others: it is explained in the log.
                Err(e) if e.class() == crate::ErrorClass::BadInput => {
                    tracing::warn!(order = id, error = %e, "order skipped by the poller");
                }
                Err(e) => return Err(e),
            }
        }
        Ok((listed, more))
    }

    fn whole_streams(&self) -> &'static [&'static str] {
        &[CUSTOMERS]
    }

    async fn list_whole(&self, connection: &Connection, stream: &str) -> Result<Listed> {
        let mut all = Listed::default();
        for page in 1.. {
            let (listed, more) = self.list_whole_page(connection, stream, page).await?;
            all.customers += listed.customers;
            all.envelopes.extend(listed.envelopes);
            if !more {
                break;
            }
        }
        Ok(all)
    }

    async fn list_whole_page(&self, connection: &Connection, _stream: &str, page: u64) -> Result<(Listed, bool)> {
        let client = self.client(connection).await?;
        let query = vec![("orderby".to_string(), "id".to_string()), ("order".to_string(), "asc".to_string())];
        let found = client.page("/customers", &query, page).await?;
        let more = page < found.total_pages && !found.items.is_empty();
        let mut listed = Listed::default();
        for item in found.items {
            let customer: WooCustomer = match serde_json::from_value(item) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "a customer the poller could not read was skipped");
                    continue;
                }
            };
            match normalize::customer(&customer) {
                Ok((id, at, c)) => {
                    listed.customers += 1;
                    listed.envelopes.push(Envelope::new(
                        connection.id.clone(),
                        SourceSystem::Woocommerce,
                        id,
                        at,
                        Record::Customer(c),
                    ));
                }
                Err(e) => tracing::warn!(customer = customer.id, error = %e, "customer skipped by the poller"),
            }
        }
        Ok((listed, more))
    }

    async fn requests_made(&self, connection: &Connection) -> u64 {
        self.client(connection).await.map(|c| c.pages_requested()).unwrap_or(0)
    }
}

impl WooConnector {
    fn poller(&self) -> Poller {
        Poller::new(self.pipeline.clone())
    }

    /// One poll of a connection up to `now`.
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
        // Fails early, and in plain words, when the store cannot be reached at all.
        self.client(connection).await?;
        self.poller().poll(self, connection, settings, now, progress).await
    }

    /// A scheduled poll (the poller Lambda's and `mlc serve`'s): see [`Poller::poll_scheduled`].
    pub async fn poll_scheduled(
        &self,
        input: &serde_json::Value,
        settings: &PollSettings,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value> {
        self.poller().poll_scheduled(self, input, settings, now).await
    }

    /// One order as the poster would receive it (for `mlc preview`).
    pub async fn fetch_order(&self, connection: &Connection, id: i64) -> Result<Envelope> {
        let client = self.client(connection).await?;
        let order = client.order(id).await?;
        let mut envelopes = self.order_envelopes(connection, &order, false).await?;
        Ok(envelopes.remove(0))
    }
}
