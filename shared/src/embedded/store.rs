//! Connections, sync state and the audit trail in the embedded SQLite database.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{OptionalExtension, params};

use super::db::{Db, now_ms, sqlite};
use crate::error::{Error, Result};
use crate::ids::{ConnectionId, IdempotencyKey, OdooRef, SourceId};
use crate::ports::*;
use crate::records::EntityKind;

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Db,
}

impl EmbeddedStore {
    /// Ends every in-progress claim now, so the next claimer takes it over (and looks for a move
    /// the dead worker may have created). Only for a worker holding the machine's worker lock.
    pub async fn expire_in_progress_claims(&self) -> Result<u64> {
        self.db
            .write(|conn| {
                let now = now_ms();
                conn.execute("UPDATE idempotency SET in_progress_until_ms = ?1 WHERE status = 'in_progress' AND in_progress_until_ms > ?1", params![now])
                    .map(|n| n as u64)
                    .map_err(sqlite)
            })
            .await
    }

    pub fn new(db: Db) -> Self {
        EmbeddedStore { db }
    }
}

fn from_us(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().expect("stored timestamps are in range")
}

fn json_err(what: &str, e: serde_json::Error) -> Error {
    Error::permanent(anyhow::anyhow!("stored {what} is unreadable: {e}"))
}

#[async_trait]
impl ConnectionStore for EmbeddedStore {
    async fn put_connection(&self, connection: &Connection) -> Result<()> {
        let id = connection.id.to_string();
        let json = serde_json::to_string(connection).expect("a connection serializes");
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO connections (id, json) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                    params![id, json],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>> {
        let id = id.to_string();
        let json: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT json FROM connections WHERE id = ?1", params![id], |r| r.get(0))
                    .optional()
                    .map_err(sqlite)
            })
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| json_err("connection", e))).transpose()
    }

    async fn connections(&self) -> Result<Vec<Connection>> {
        let rows: Vec<String> = self
            .db
            .call(|conn| {
                let mut stmt = conn.prepare("SELECT json FROM connections ORDER BY id").map_err(sqlite)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(sqlite)?;
                rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
            })
            .await?;
        rows.iter().map(|j| serde_json::from_str(j).map_err(|e| json_err("connection", e))).collect()
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<()> {
        let id = id.to_string();
        self.db
            .write(move |conn| {
                conn.execute("DELETE FROM connections WHERE id = ?1", params![id]).map_err(sqlite)?;
                conn.execute("DELETE FROM rules WHERE connection_id = ?1", params![id]).map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn save_rules(
        &self,
        id: &ConnectionId,
        expected: Option<u64>,
        rules: &serde_json::Value,
    ) -> Result<SaveRules> {
        let id = id.to_string();
        let json = rules.to_string();
        self.db
            .write(move |conn| {
                let current: Option<i64> = conn
                    .query_row("SELECT MAX(version) FROM rules WHERE connection_id = ?1", params![id], |r| r.get(0))
                    .map_err(sqlite)?;
                let current = current.map(|v| v as u64);
                if current != expected {
                    return Ok(SaveRules::Conflict { current });
                }
                let version = current.unwrap_or(0) + 1;
                conn.execute(
                    "INSERT INTO rules (connection_id, version, saved_at_us, json) VALUES (?1, ?2, ?3, ?4)",
                    params![id, version as i64, Utc::now().timestamp_micros(), json],
                )
                .map_err(sqlite)?;
                Ok(SaveRules::Saved { version })
            })
            .await
    }

    async fn latest_rules(&self, id: &ConnectionId) -> Result<Option<RuleSet>> {
        self.rules_where(id, None).await
    }

    async fn rules_version(&self, id: &ConnectionId, version: u64) -> Result<Option<RuleSet>> {
        self.rules_where(id, Some(version)).await
    }
}

impl EmbeddedStore {
    async fn rules_where(&self, id: &ConnectionId, version: Option<u64>) -> Result<Option<RuleSet>> {
        let id = id.to_string();
        let row: Option<(i64, i64, String)> = self
            .db
            .call(move |conn| {
                let row = match version {
                    Some(v) => conn.query_row(
                        "SELECT version, saved_at_us, json FROM rules WHERE connection_id = ?1 AND version = ?2",
                        params![id, v as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    ),
                    None => conn.query_row(
                        "SELECT version, saved_at_us, json FROM rules WHERE connection_id = ?1 ORDER BY version DESC LIMIT 1",
                        params![id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    ),
                };
                row.optional().map_err(sqlite)
            })
            .await?;
        row.map(|(version, saved_at, json)| {
            Ok(RuleSet {
                version: version as u64,
                saved_at: from_us(saved_at),
                rules: serde_json::from_str(&json).map_err(|e| json_err("rules", e))?,
            })
        })
        .transpose()
    }
}

#[async_trait]
impl SyncState for EmbeddedStore {
    async fn watermark(&self, connection: &ConnectionId, stream: &str) -> Result<Option<Watermark>> {
        let (c, s) = (connection.to_string(), stream.to_string());
        self.db
            .call(move |conn| {
                conn.query_row(
                    "SELECT at_us, cursor FROM watermarks WHERE connection_id = ?1 AND stream = ?2",
                    params![c, s],
                    |r| Ok(Watermark { at: from_us(r.get(0)?), cursor: r.get(1)? }),
                )
                .optional()
                .map_err(sqlite)
            })
            .await
    }

    async fn advance_watermark(&self, connection: &ConnectionId, stream: &str, to: &Watermark) -> Result<bool> {
        let (c, s, at, cursor) =
            (connection.to_string(), stream.to_string(), to.at.timestamp_micros(), to.cursor.clone());
        self.db
            .write(move |conn| {
                let changed = conn
                    .execute(
                        "INSERT INTO watermarks (connection_id, stream, at_us, cursor) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (connection_id, stream) DO UPDATE SET at_us = excluded.at_us, cursor = excluded.cursor
                         WHERE excluded.at_us >= watermarks.at_us",
                        params![c, s, at, cursor],
                    )
                    .map_err(sqlite)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn claim(&self, key: &IdempotencyKey, in_progress_for: Duration) -> Result<Claim> {
        let key = key.clone();
        let hold_ms = in_progress_for.as_millis() as i64;
        self.db
            .write(move |conn| {
                let now = now_ms();
                let existing: Option<(String, i64, Option<String>, Option<i64>)> = conn
                    .query_row(
                        "SELECT status, in_progress_until_ms, outcome, expires_at_ms FROM idempotency WHERE key = ?1",
                        params![key.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()
                    .map_err(sqlite)?;
                let took_over = match existing {
                    Some((status, _, outcome, expires)) if status == "completed" && expires.is_none_or(|e| e > now) => {
                        return Ok(Claim::Completed { outcome: outcome.unwrap_or_default() });
                    }
                    Some((status, until, _, _)) if status == "in_progress" && until > now => {
                        return Ok(Claim::InProgress { until: Utc.timestamp_millis_opt(until).single().expect("in range") });
                    }
                    Some((status, _, _, _)) => status == "in_progress",
                    None => false,
                };
                let token = uuid::Uuid::new_v4().to_string();
                conn.execute(
                    "INSERT OR REPLACE INTO idempotency (key, status, token, in_progress_until_ms, outcome, expires_at_ms)
                     VALUES (?1, 'in_progress', ?2, ?3, NULL, NULL)",
                    params![key.as_str(), token, now + hold_ms],
                )
                .map_err(sqlite)?;
                Ok(Claim::Acquired(ClaimToken { key, token, took_over }))
            })
            .await
    }

    async fn complete(&self, token: &ClaimToken, outcome: &str, keep_for: Option<Duration>) -> Result<bool> {
        let (key, tok, outcome) = (token.key.to_string(), token.token.clone(), outcome.to_string());
        self.db
            .write(move |conn| {
                let expires = keep_for.map(|k| now_ms() + k.as_millis() as i64);
                let changed = conn
                    .execute(
                        "UPDATE idempotency SET status = 'completed', outcome = ?3, expires_at_ms = ?4
                          WHERE key = ?1 AND token = ?2 AND status = 'in_progress'",
                        params![key, tok, outcome, expires],
                    )
                    .map_err(sqlite)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn release(&self, token: &ClaimToken) -> Result<()> {
        let (key, tok) = (token.key.to_string(), token.token.clone());
        self.db
            .write(move |conn| {
                conn.execute(
                    "DELETE FROM idempotency WHERE key = ?1 AND token = ?2 AND status = 'in_progress'",
                    params![key, tok],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn put_link(&self, link: &Link) -> Result<()> {
        let l = link.clone();
        self.db
            .write(move |conn| {
                let holder: Option<(String, String)> = conn
                    .query_row(
                        "SELECT kind, source_id FROM links WHERE connection_id = ?1 AND odoo_model = ?2 AND odoo_id = ?3",
                        params![l.connection_id.as_str(), l.odoo.model, l.odoo.id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(sqlite)?;
                if let Some((kind, source_id)) = holder.filter(|(k, s)| (k.as_str(), s.as_str()) != (l.kind.as_str(), l.source_id.as_str())) {
                    return Err(link_conflict(&l, &kind, &source_id));
                }
                conn.execute(
                    "INSERT INTO links (connection_id, kind, source_id, odoo_model, odoo_id, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (connection_id, kind, source_id) DO UPDATE
                        SET odoo_model = excluded.odoo_model, odoo_id = excluded.odoo_id, updated_at_us = excluded.updated_at_us",
                    params![l.connection_id.as_str(), l.kind.as_str(), l.source_id.as_str(), l.odoo.model, l.odoo.id, l.updated_at.timestamp_micros()],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn link_by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<Link>> {
        let (c, k, s) = (connection.to_string(), kind.as_str(), source_id.to_string());
        self.find_link("connection_id = ?1 AND kind = ?2 AND source_id = ?3", (c, k.to_string(), s)).await
    }

    async fn link_by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Option<Link>> {
        let c = connection.to_string();
        let (m, id) = (odoo.model.clone(), odoo.id);
        self.db
            .call(move |conn| {
                conn.query_row(
                    "SELECT connection_id, kind, source_id, odoo_model, odoo_id, updated_at_us FROM links
                      WHERE connection_id = ?1 AND odoo_model = ?2 AND odoo_id = ?3",
                    params![c, m, id],
                    row_to_link,
                )
                .optional()
                .map_err(sqlite)?
                .transpose()
            })
            .await
    }
}

pub(crate) fn link_conflict(link: &Link, kind: &str, source_id: &str) -> Error {
    Error::permanent(anyhow::anyhow!(
        "{} is already linked to {kind} {source_id}; refusing to link it to {} {} as well",
        link.odoo,
        link.kind,
        link.source_id
    ))
}

type LinkRow = Result<Link>;

fn row_to_link(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
    let (c, k, s, m, id, at): (String, String, String, String, i64, i64) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?);
    Ok((|| {
        Ok(Link {
            connection_id: ConnectionId::parse(c)?,
            kind: EntityKind::parse(&k)?,
            source_id: SourceId::parse(s)?,
            odoo: OdooRef::new(m, id),
            updated_at: from_us(at),
        })
    })())
}

impl EmbeddedStore {
    async fn find_link(&self, filter: &'static str, (c, k, s): (String, String, String)) -> Result<Option<Link>> {
        self.db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT connection_id, kind, source_id, odoo_model, odoo_id, updated_at_us FROM links WHERE {filter}"),
                    params![c, k, s],
                    row_to_link,
                )
                .optional()
                .map_err(sqlite)?
                .transpose()
            })
            .await
    }
}

#[async_trait]
impl AuditLog for EmbeddedStore {
    async fn append(&self, entry: &AuditEntry, retention: Retention) -> Result<()> {
        let e = entry.clone();
        let json = serde_json::to_string(entry).expect("an audit entry serializes");
        let expires = retention.expires_at(entry.at).map(|t| t.timestamp_micros());
        self.db
            .write(move |conn| {
                let now_us = Utc::now().timestamp_micros();
                // Now and then, the sweep of expired entries goes with it (they are never returned;
                // sweeping keeps the file small).
                if now_us % 64 == 0 {
                    conn.execute(
                        "DELETE FROM audit WHERE expires_at_us IS NOT NULL AND expires_at_us <= ?1",
                        params![now_us],
                    )
                    .map_err(sqlite)?;
                    let kept_from = hour_key(Utc::now() - chrono::Duration::days(ACTIVITY_KEPT_DAYS));
                    conn.execute("DELETE FROM activity WHERE hour < ?1", params![kept_from]).map_err(sqlite)?;
                }
                conn.execute(
                    "INSERT INTO activity (connection_id, hour, stage, n) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (connection_id, hour, stage) DO UPDATE SET n = n + 1",
                    params![e.connection_id.as_str(), hour_key(e.at), e.stage.as_str()],
                )
                .map_err(sqlite)?;
                conn.execute(
                    "INSERT INTO audit (connection_id, kind, source_id, odoo_model, odoo_id, at_us, expires_at_us, json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        e.connection_id.as_str(),
                        e.kind.as_str(),
                        e.source_id.as_str(),
                        e.odoo.as_ref().map(|o| o.model.clone()),
                        e.odoo.as_ref().map(|o| o.id),
                        e.at.timestamp_micros(),
                        expires,
                        json
                    ],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn by_source(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Vec<AuditEntry>> {
        let (c, k, s) = (connection.to_string(), kind.as_str().to_string(), source_id.to_string());
        self.audit_query("connection_id = ?1 AND kind = ?2 AND source_id = ?3", vec![c.into(), k.into(), s.into()])
            .await
    }

    async fn by_odoo(&self, connection: &ConnectionId, odoo: &OdooRef) -> Result<Vec<AuditEntry>> {
        let c = connection.to_string();
        self.audit_query(
            "connection_id = ?1 AND odoo_model = ?2 AND odoo_id = ?3",
            vec![c.into(), odoo.model.clone().into(), odoo.id.into()],
        )
        .await
    }

    async fn activity(
        &self,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<HourActivity>> {
        let (c, from, last) =
            (connection.to_string(), hour_key(from), hour_key(to - chrono::Duration::microseconds(1)));
        let rows: Vec<(String, String, i64)> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT hour, stage, n FROM activity WHERE connection_id = ?1 AND hour >= ?2 AND hour <= ?3
                         ORDER BY hour",
                    )
                    .map_err(sqlite)?;
                let rows = stmt
                    .query_map(params![c, from, last], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(sqlite)?;
                rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
            })
            .await?;
        Ok(crate::ports::activity_of_rows(rows.into_iter().map(|(h, s, n)| (h, s, n.max(0) as u64))))
    }
}

impl EmbeddedStore {
    async fn audit_query(&self, filter: &'static str, args: Vec<rusqlite::types::Value>) -> Result<Vec<AuditEntry>> {
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let sql = format!(
                    "SELECT json FROM audit WHERE {filter} AND (expires_at_us IS NULL OR expires_at_us > ?{n}) ORDER BY at_us, id",
                    n = args.len() + 1
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(sqlite)?;
                let mut args = args;
                args.push(Utc::now().timestamp_micros().into());
                let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(0)).map_err(sqlite)?;
                rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
            })
            .await?;
        rows.iter().map(|j| serde_json::from_str(j).map_err(|e| json_err("audit entry", e))).collect()
    }
}

#[async_trait]
impl FailedRecords for EmbeddedStore {
    async fn park(&self, record: &FailedRecord) -> Result<()> {
        let r = record.clone();
        let json = serde_json::to_string(record).expect("a failed record serializes");
        self.db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO failed_records (connection_id, kind, source_id, failed_at_us, json) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (connection_id, kind, source_id) DO UPDATE SET failed_at_us = excluded.failed_at_us, json = excluded.json",
                    params![r.connection_id.as_str(), r.kind.as_str(), r.source_id.as_str(), r.failed_at.timestamp_micros(), json],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }

    async fn failed(&self, connection: &ConnectionId) -> Result<Vec<FailedRecord>> {
        let c = connection.to_string();
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT json FROM failed_records WHERE connection_id = ?1 ORDER BY failed_at_us, kind, source_id")
                    .map_err(sqlite)?;
                let rows = stmt.query_map(params![c], |r| r.get(0)).map_err(sqlite)?;
                rows.collect::<rusqlite::Result<_>>().map_err(sqlite)
            })
            .await?;
        rows.iter().map(|j| serde_json::from_str(j).map_err(|e| json_err("failed record", e))).collect()
    }

    async fn get_failed(
        &self,
        connection: &ConnectionId,
        kind: EntityKind,
        source_id: &SourceId,
    ) -> Result<Option<FailedRecord>> {
        let (c, k, s) = (connection.to_string(), kind.as_str(), source_id.to_string());
        let row: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT json FROM failed_records WHERE connection_id = ?1 AND kind = ?2 AND source_id = ?3",
                    params![c, k, s],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sqlite)
            })
            .await?;
        row.map(|j| serde_json::from_str(&j).map_err(|e| json_err("failed record", e))).transpose()
    }

    async fn remove_failed(&self, connection: &ConnectionId, kind: EntityKind, source_id: &SourceId) -> Result<()> {
        let (c, k, s) = (connection.to_string(), kind.as_str(), source_id.to_string());
        self.db
            .write(move |conn| {
                conn.execute(
                    "DELETE FROM failed_records WHERE connection_id = ?1 AND kind = ?2 AND source_id = ?3",
                    params![c, k, s],
                )
                .map_err(sqlite)?;
                Ok(())
            })
            .await
    }
}
