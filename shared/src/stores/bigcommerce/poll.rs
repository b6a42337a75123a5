//! The poller's reads: orders by `min_date_modified`, refunds by `created:min`, customers by
//! `date_modified:min`, each window's bounds inclusive at one-second resolution.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::connector::*;
use crate::error::Result;
use crate::ports::*;
use crate::records::{Envelope, SourceSystem};
use crate::stores::poll::{Listed, PollSource};

/// RFC-2822, as Orders V2 filters take dates.
fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[async_trait]
impl PollSource for BcConnector {
    fn source(&self) -> SourceSystem {
        SourceSystem::Bigcommerce
    }

    fn title(&self) -> &'static str {
        "BigCommerce"
    }

    fn windowed_streams(&self) -> &'static [&'static str] {
        &[ORDERS, REFUNDS, CUSTOMERS]
    }

    async fn list_window(
        &self,
        connection: &Connection,
        stream: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Listed> {
        let client = self.client(connection).await?;
        let mut listed = Listed::default();
        let keep = |result: Result<Envelope>, listed: &mut Listed| match result {
            Ok(e) => {
                listed.newest = listed.newest.max(Some(e.source_updated_at));
                listed.envelopes.push(e);
                Ok(())
            }
            // One bad record must not stop the others: it is explained in the log.
            Err(e) if e.class() == crate::ErrorClass::BadInput => {
                tracing::warn!(error = %e, stream, "a record skipped by the poller");
                Ok(())
            }
            Err(e) => Err(e),
        };
        match stream {
            ORDERS => {
                let query = [
                    ("min_date_modified".to_string(), rfc2822(from)),
                    // Both bounds are inclusive, at one-second resolution: the window ends a second
                    // before the next one starts, so no order is listed twice.
                    ("max_date_modified".to_string(), rfc2822(to - chrono::Duration::seconds(1))),
                    ("sort".to_string(), "date_modified:asc".to_string()),
                ];
                for order in client.v2_all("/v2/orders", &query).await? {
                    listed.orders += 1;
                    keep(self.order_record(connection, &order).await, &mut listed)?;
                    // A shipment changes its order's modified date: the window that lists the
                    // order reads its shipments too (only for orders with items shipped).
                    if order["items_shipped"].as_i64().unwrap_or(0) > 0
                        && let Some(id) = order["id"].as_i64()
                    {
                        match self.shipments_of(connection, id).await {
                            Ok(found) => listed.envelopes.extend(found),
                            Err(e) if e.class() == crate::ErrorClass::BadInput => {
                                tracing::warn!(error = %e, order = id, "shipments skipped by the poller")
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            REFUNDS => {
                let query =
                    [("created:min".to_string(), from.to_rfc3339()), ("created:max".to_string(), to.to_rfc3339())];
                for refund in client.v3_all("/v3/orders/payment_actions/refunds", &query).await? {
                    keep(self.refund_record(connection, &refund).await, &mut listed)?;
                }
            }
            _ => {
                let query = [
                    ("date_modified:min".to_string(), from.format("%Y-%m-%dT%H:%M:%S").to_string()),
                    ("date_modified:max".to_string(), to.format("%Y-%m-%dT%H:%M:%S").to_string()),
                    ("include".to_string(), "addresses".to_string()),
                ];
                for customer in client.v3_all("/v3/customers", &query).await? {
                    listed.customers += 1;
                    keep(Self::customer_record(connection, &customer), &mut listed)?;
                }
            }
        }
        Ok(listed)
    }

    fn whole_streams(&self) -> &'static [&'static str] {
        &[]
    }

    async fn list_whole(&self, _connection: &Connection, _stream: &str) -> Result<Listed> {
        Ok(Listed::default())
    }

    async fn requests_made(&self, connection: &Connection) -> u64 {
        self.client(connection).await.map(|c| c.requests_made()).unwrap_or(0)
    }

    /// BigCommerce deactivates a hook after about 48 hours of failed deliveries: each poll
    /// re-enables or re-creates the connection's hooks, and backfills from when one stopped.
    async fn watchdog(&self, connection: &Connection) -> Result<Option<DateTime<Utc>>> {
        self.watch_hooks(connection).await
    }
}
