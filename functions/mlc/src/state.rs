//! Commands that read or act on a machine's embedded state: trace, failed, replay.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use shared::embedded::{Db, EmbeddedQueue, EmbeddedStore, Redrive};
use shared::ids::{ConnectionId, OdooRef, SourceId};
use shared::ports::*;
use shared::records::EntityKind;

pub struct State {
    pub store: Arc<EmbeddedStore>,
    pub queue: EmbeddedQueue,
}

pub fn open(dir: &Path) -> Result<State> {
    let file = dir.join("mlc.sqlite3");
    if !file.exists() {
        bail!("no ml-connector state in {} (run `mlc demo --dir {}` first, or point --dir at your state)", dir.display(), dir.display());
    }
    let db = Db::open(&file)?;
    Ok(State {
        store: Arc::new(EmbeddedStore::new(db.clone())),
        queue: EmbeddedQueue::new(db, "records", Some(Redrive { dead_letter_queue: "records-dlq".into(), max_receive_count: 5 })),
    })
}

/// The connection named, or the only one there is.
pub async fn connection(state: &State, name: Option<&str>) -> Result<Connection> {
    let all = state.store.connections().await?;
    match name {
        Some(n) => {
            let id = ConnectionId::parse(n)?;
            all.into_iter().find(|c| c.id == id).with_context(|| format!("no connection {n}"))
        }
        None => match all.len() {
            1 => Ok(all.into_iter().next().expect("one")),
            0 => bail!("there is no connection yet"),
            _ => bail!("several connections exist; say which with --connection"),
        },
    }
}

/// A record's journey: by store order id (`1042`), or by Odoo move id (`account.move:17` or `17`).
pub async fn trace(state: &State, connection: &Connection, what: &str, json: bool) -> Result<()> {
    let odoo_id = what.strip_prefix("account.move:").unwrap_or(what).parse::<i64>().ok().filter(|_| what.starts_with("account.move:"));
    let mut entries = match odoo_id {
        Some(id) => state.store.by_odoo(&connection.id, &OdooRef::new("account.move", id)).await?,
        None => {
            let source = SourceId::parse(what)?;
            let mut all = Vec::new();
            for kind in [EntityKind::Order, EntityKind::Invoice, EntityKind::Customer] {
                all.extend(state.store.by_source(&connection.id, kind, &source).await?);
            }
            if let Some(link) = state.store.link_by_source(&connection.id, EntityKind::Order, &source).await? {
                // Everything that touched its move: refunds and corrections included.
                for e in state.store.by_odoo(&connection.id, &link.odoo).await? {
                    if !all.contains(&e) {
                        all.push(e);
                    }
                }
            }
            all
        }
    };
    entries.sort_by_key(|e| e.at);
    if entries.is_empty() {
        bail!("nothing in the audit trail for {what} on {}", connection.id);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        let odoo = e.odoo.map(|o| format!(" → {o}")).unwrap_or_default();
        println!("{}  {:<8} {:<12} {}: {}{odoo}", e.at.format("%Y-%m-%d %H:%M:%S"), e.kind, format!("{:?}", e.stage), e.source_id, e.message);
    }
    Ok(())
}

pub async fn failed(state: &State, connection: &Connection, json: bool) -> Result<()> {
    let records = state.store.failed(&connection.id).await?;
    if json {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| serde_json::json!({ "kind": r.kind, "source_id": r.source_id, "failed_at": r.failed_at, "class": r.class, "reason": r.reason }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if records.is_empty() {
        println!("no failed records on {}", connection.id);
    }
    for r in records {
        println!("{} {}  ({}, {})\n    {}", r.kind, r.source_id, r.class, r.failed_at.format("%Y-%m-%d %H:%M:%S"), r.reason);
    }
    Ok(())
}

pub async fn replay(state: &State, connection: &Connection, record: Option<&str>, all: bool) -> Result<()> {
    let count = match (record, all) {
        (Some(id), false) => {
            let source = SourceId::parse(id)?;
            let n = shared::poster::replay(state.store.as_ref(), &state.queue, state.store.as_ref(), connection, Some((EntityKind::Order, &source))).await?;
            if n == 0 {
                bail!("order {id} is not a failed record on {}", connection.id);
            }
            n
        }
        (None, true) => shared::poster::replay(state.store.as_ref(), &state.queue, state.store.as_ref(), connection, None).await?,
        _ => bail!("say which record to replay, or --all"),
    };
    println!("queued {count} record(s) again; the poster takes them from the queue (each posts once)");
    Ok(())
}
