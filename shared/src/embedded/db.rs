//! One SQLite file holds the embedded queue, connections, sync state and audit trail.
//!
//! WAL with `synchronous=FULL`: a message acknowledged by `send_batch` survives a power cut.
//! Each handle owns one connection behind a mutex and runs statements on tokio's blocking pool;
//! several handles (or processes) may open the same file, and writes that read-then-write use
//! `BEGIN IMMEDIATE`, so SQLite's file lock makes them atomic across all of them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, ErrorCode};

use crate::error::{Error, Result};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS queue_messages (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    queue          TEXT    NOT NULL,
    message_id     TEXT    NOT NULL,
    group_id       TEXT    NOT NULL,
    body           TEXT    NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    visible_at_ms  INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    receipt        TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_by_group ON queue_messages (queue, group_id, seq);
CREATE INDEX IF NOT EXISTS queue_messages_by_receipt ON queue_messages (receipt);
CREATE TABLE IF NOT EXISTS queue_dedup (
    queue          TEXT    NOT NULL,
    dedup_id       TEXT    NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);
CREATE TABLE IF NOT EXISTS connections (
    id    TEXT PRIMARY KEY,
    json  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rules (
    connection_id  TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    saved_at_us    INTEGER NOT NULL,
    json           TEXT    NOT NULL,
    PRIMARY KEY (connection_id, version)
);
CREATE TABLE IF NOT EXISTS watermarks (
    connection_id  TEXT    NOT NULL,
    stream         TEXT    NOT NULL,
    at_us          INTEGER NOT NULL,
    cursor         TEXT,
    PRIMARY KEY (connection_id, stream)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key                   TEXT PRIMARY KEY,
    status                TEXT    NOT NULL CHECK (status IN ('in_progress', 'completed')),
    token                 TEXT    NOT NULL,
    in_progress_until_ms  INTEGER NOT NULL,
    outcome               TEXT,
    expires_at_ms         INTEGER
);
CREATE TABLE IF NOT EXISTS links (
    connection_id  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    source_id      TEXT    NOT NULL,
    odoo_model     TEXT    NOT NULL,
    odoo_id        INTEGER NOT NULL,
    updated_at_us  INTEGER NOT NULL,
    PRIMARY KEY (connection_id, kind, source_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS links_by_odoo ON links (connection_id, odoo_model, odoo_id);
CREATE TABLE IF NOT EXISTS failed_records (
    connection_id  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    source_id      TEXT    NOT NULL,
    failed_at_us   INTEGER NOT NULL,
    json           TEXT    NOT NULL,
    PRIMARY KEY (connection_id, kind, source_id)
);
CREATE TABLE IF NOT EXISTS audit (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id  TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    source_id      TEXT    NOT NULL,
    odoo_model     TEXT,
    odoo_id        INTEGER,
    at_us          INTEGER NOT NULL,
    expires_at_us  INTEGER,
    json           TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_source ON audit (connection_id, kind, source_id, at_us);
CREATE INDEX IF NOT EXISTS audit_by_odoo ON audit (connection_id, odoo_model, odoo_id, at_us);
CREATE INDEX IF NOT EXISTS audit_by_expiry ON audit (expires_at_us) WHERE expires_at_us IS NOT NULL;
"#;

/// A handle on the embedded database. Cheap to clone (clones share one connection).
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path)
            .with_context(|| format!("opening the embedded database {}", path.display()))
            .map_err(Error::permanent)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("creating the schema in {}", path.display()))
            .map_err(Error::permanent)?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::retryable(anyhow::anyhow!("embedded database task failed: {e}")))?
    }
}

/// Classifies a SQLite error: a busy or locked database is worth retrying, the rest is not.
pub(crate) fn sqlite(e: rusqlite::Error) -> Error {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
    );
    let e = anyhow::Error::new(e).context("embedded database");
    if busy { Error::retryable(e) } else { Error::permanent(e) }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
