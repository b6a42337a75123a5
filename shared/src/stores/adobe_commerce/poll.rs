//! The poller's reads: orders, invoices, credit memos and customers, each a `searchCriteria`
//! window on `updated_at` (`gteq` the start, `lt` the end, in UTC) sorted by `updated_at` then
//! id, one page at a time, stopping on `total_count` (an out-of-range page answers the last
//! page again). Each stream keeps its own watermark; the shared poll loop adds the overlap.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::AdobeSettings;
use super::connector::*;
use super::search::SearchCriteria;
use crate::error::Result;
use crate::ports::*;
use crate::records::{Envelope, SourceSystem};
use crate::stores::poll::{Listed, PollSource};

/// Each stream's search endpoint and id field.
fn endpoint(stream: &str) -> (&'static str, &'static str) {
    match stream {
        ORDERS => ("/V1/orders", "entity_id"),
        INVOICES => ("/V1/invoices", "entity_id"),
        CREDIT_MEMOS => ("/V1/creditmemos", "entity_id"),
        _ => ("/V1/customers/search", "entity_id"),
    }
}

impl AdobeConnector {
    async fn record(&self, connection: &Connection, stream: &str, item: &Value) -> Result<Envelope> {
        match stream {
            ORDERS => self.order_record(connection, item).await,
            INVOICES => self.invoice_record(connection, item).await,
            CREDIT_MEMOS => self.credit_memo_record(connection, item).await,
            _ => self.customer_record(connection, item).await,
        }
    }
}

#[async_trait]
impl PollSource for AdobeConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::AdobeCommerce
    }

    fn title(&self) -> &'static str {
        "Adobe Commerce"
    }

    fn windowed_streams(&self) -> &'static [&'static str] {
        &[ORDERS, INVOICES, CREDIT_MEMOS, CUSTOMERS]
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
            all.envelopes.extend(listed.envelopes);
            all.newest = all.newest.max(listed.newest);
            all.orders += listed.orders;
            all.customers += listed.customers;
            if !more {
                break;
            }
        }
        Ok(all)
    }

    async fn list_window_page(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        page: u64,
    ) -> Result<(Listed, bool)> {
        let client = self.client(connection).await?;
        let size = AdobeSettings::of(connection)?.page_size.clamp(1, 300);
        let (path, id_field) = endpoint(stream);
        let page = u32::try_from(page).unwrap_or(u32::MAX);
        let criteria = SearchCriteria::updated_between(from, to, id_field).page(size, page);
        let (items, total) = client.search(path, &criteria).await?;
        let mut listed = Listed::default();
        for item in &items {
            if stream == CUSTOMERS {
                listed.customers += 1;
            } else {
                listed.orders += 1;
            }
            match self.record(connection, stream, item).await {
                Ok(e) => {
                    listed.newest = listed.newest.max(Some(e.source_updated_at));
                    listed.envelopes.push(e);
                }
                // One bad record must not stop the others: it is explained in the log.
                Err(e) if e.class() == crate::ErrorClass::BadInput => {
                    tracing::warn!(error = %e, stream, "a record skipped by the poller")
                }
                Err(e) => return Err(e),
            }
        }
        Ok((listed, u64::from(page) * u64::from(size) < total))
    }

    async fn requests_made(&self, connection: &Connection) -> u64 {
        self.client(connection).await.map(|c| c.requests_made()).unwrap_or(0)
    }
}
