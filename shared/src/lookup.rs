//! Finding a record by what a finance team has in hand: its trail by store id, Odoo move id or
//! move name, and the move a store document would become. `mlc trace`, `mlc preview` and the
//! console ask the same questions, answered here once.

use crate::error::{Error, Result};
use crate::http::RetryPolicy;
use crate::ids::{OdooRef, SourceId};
use crate::odoo::Val;
use crate::ports::{AuditEntry, AuditLog, Connection, SecretStore, SyncState};
use crate::poster::{Poster, Preview};
use crate::records::{EntityKind, Record};
use crate::stores::Stores;
use crate::trail::{TrailStart, trail};

/// One connection's trail for `what`: a store id (`1042`, a refund `1083-r1084`), an Odoo move
/// id (`account.move:17`) or a move name (`INV/2026/00017`, looked up in Odoo). Empty when the
/// connection has none; with `several`, a move that is another connection's is not an error.
pub async fn trail_of(
    state: &dyn SyncState,
    audit: &dyn AuditLog,
    secrets: &dyn SecretStore,
    connection: &Connection,
    what: &str,
    several: bool,
) -> Result<Vec<AuditEntry>> {
    let what = what.trim();
    let odoo_id = match what.strip_prefix("account.move:") {
        Some(id) => {
            Some(id.parse::<i64>().map_err(|_| Error::bad_input(format!("{what:?}: the move id must be a number")))?)
        }
        None if what.contains('/') => match move_by_name(secrets, connection, what).await {
            Ok(id) => Some(id),
            Err(_) if several => return Ok(Vec::new()), // not in this connection's Odoo
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut start = TrailStart::default();
    match odoo_id {
        Some(id) => {
            let odoo = OdooRef::new("account.move", id);
            // And the store side of it (a line's link names its order: `1042#3`).
            if let Some(link) = state.link_by_odoo(&connection.id, &odoo).await? {
                let base = link.source_id.as_str().split('#').next().unwrap_or_default().to_string();
                start.sources.push((link.kind, SourceId::parse(base)?));
            } else if several {
                return Ok(Vec::new()); // another connection's move (ids are per Odoo)
            }
            start.odoo.push(odoo);
        }
        None => {
            let source = SourceId::parse(what)?;
            // Any record the trail names: orders, invoices, refunds, customers, shipments.
            for kind in
                [EntityKind::Order, EntityKind::Invoice, EntityKind::Refund, EntityKind::Customer, EntityKind::Shipment]
            {
                start.sources.push((kind, source.clone()));
                if let Some(link) = state.link_by_source(&connection.id, kind, &source).await? {
                    start.odoo.push(link.odoo);
                }
            }
        }
    }
    trail(audit, &connection.id, start).await
}

async fn move_by_name(secrets: &dyn SecretStore, connection: &Connection, name: &str) -> Result<i64> {
    let secrets = secrets.get(&connection.id).await?.unwrap_or_default();
    let client = crate::checks::odoo_client(connection, &secrets, RetryPolicy::default())
        .await
        .map_err(|f| Error::retryable(anyhow::anyhow!(f.what)))?;
    let domain = Val::list([Val::list([Val::from("name"), Val::from("="), Val::from(name)])]);
    let rows = client.search_read("account.move", domain, &["id"], Some(1), None).await.map_err(Error::from)?;
    rows.first()
        .and_then(|r| r.get("id"))
        .and_then(Val::as_i64)
        .ok_or_else(|| Error::bad_input(format!("Odoo has no move named {name}")))
}

/// What a preview was of: `order` or `invoice` (Adobe Commerce keeps the books from invoices).
pub fn previewed_document(stores: &Stores, connection: &Connection) -> Result<(EntityKind, &'static str)> {
    let store = stores.for_connection(connection)?;
    Ok(if store.source().books_invoices() { (EntityKind::Invoice, "invoice") } else { (EntityKind::Order, "order") })
}

/// The move the store document `id` would become, read from the store as the fetch stage reads
/// it and planned with the rules and Odoo master data posting uses; nothing is written.
pub async fn preview(stores: &Stores, poster: &Poster, connection: &Connection, id: &str) -> Result<Preview> {
    let store = stores.for_connection(connection)?;
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::bad_input(format!(
            "{:?} is not a {} order id",
            crate::refusals::bounded(id, 64),
            store.webhook().title()
        )));
    }
    let (kind, document) = previewed_document(stores, connection)?;
    let request = crate::stores::fetch::FetchRequest {
        connection_id: connection.id.clone(),
        source: store.source(),
        kind,
        id: id.to_string(),
        via: "preview".into(),
        received_at: chrono::Utc::now(),
        hints: serde_json::Value::Null,
    };
    let envelope = store
        .fetch()
        .fetch(connection, &request)
        .await?
        .into_iter()
        .find(|e| matches!(e.record, Record::Order(_) | Record::Invoice(_)))
        .ok_or_else(|| Error::bad_input(format!("the store has no {document} {id}")))?;
    poster.preview(&envelope).await
}
