//! One SQLite file holds the embedded queue, connections, sync state and audit trail.
//!
//! WAL with `synchronous=FULL`: a message acknowledged by `send_batch` survives a power cut.
//! Several handles (or processes) may open the same file.
//!
//! Writes go through [`Db::write`] to one writer thread per handle, which commits them in
//! groups: every write that arrives while a commit is being made to disk waits for the next one,
//! and that next commit carries them all (each in its own savepoint, so one failing write does
//! not undo the others). A commit costs an fsync whatever it holds, so under load many writes
//! share one. Each group is one `BEGIN IMMEDIATE` transaction, so a write that reads and then
//! writes is atomic against every other handle and process; no write is answered before its
//! group is on disk. Reads use a second connection (WAL lets them run beside a commit).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
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
CREATE INDEX IF NOT EXISTS queue_dedup_by_expiry ON queue_dedup (queue, expires_at_ms);
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
CREATE TABLE IF NOT EXISTS activity (
    connection_id  TEXT    NOT NULL,
    hour           TEXT    NOT NULL,
    stage          TEXT    NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (connection_id, hour, stage)
);
"#;

/// Told whether its group was committed (None) or not (the commit's error).
type Finish = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// One write waiting for a group: runs its statements and returns how to answer its caller.
type Job = Box<dyn FnOnce(&Connection) -> Finish + Send>;
/// The most writes one group carries (a bound on how long the first of them waits).
const MAX_GROUP: usize = 256;

/// A handle on the embedded database. Cheap to clone: clones share one connection for reads and
/// one writer thread, which owns the connection that writes and commits them in groups.
#[derive(Clone)]
pub struct Db {
    reader: Arc<Mutex<Connection>>,
    writer: std::sync::mpsc::Sender<Job>,
    /// Writes and groups committed so far: how many writes share an fsync.
    counts: Arc<[AtomicU64; 2]>,
    path: PathBuf,
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("opening the embedded database {}", path.display()))
        .map_err(Error::permanent)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
    Ok(conn)
}

impl Db {
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        let path = path.as_ref().to_path_buf();
        let writer = connect(&path)?;
        writer
            .execute_batch(SCHEMA)
            .with_context(|| format!("creating the schema in {}", path.display()))
            .map_err(Error::permanent)?;
        let reader = connect(&path)?;
        let counts: Arc<[AtomicU64; 2]> = Arc::default();
        let (jobs, queued) = std::sync::mpsc::channel::<Job>();
        let thread_counts = counts.clone();
        // The thread ends when the last handle is dropped (the channel closes).
        std::thread::Builder::new()
            .name("mlc-db-writer".into())
            .spawn(move || {
                while let Ok(first) = queued.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match queued.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    commit_group(&writer, group, &thread_counts);
                }
            })
            .context("starting the embedded database's writer thread")
            .map_err(Error::permanent)?;
        Ok(Db { reader: Arc::new(Mutex::new(reader)), writer: jobs, counts, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (writes, groups) committed through this handle and its clones so far.
    pub fn commit_counts(&self) -> (u64, u64) {
        (self.counts[0].load(Ordering::Relaxed), self.counts[1].load(Ordering::Relaxed))
    }

    /// Runs `f` with the reading connection on the blocking pool. Reads only: writes go through
    /// [`Db::write`] (a write here would not be grouped and could meet the writer's lock).
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::retryable(anyhow::anyhow!("embedded database task failed: {e}")))?
    }

    /// Runs `f`'s statements in the next group commit and answers once that group is on disk.
    /// `f` runs inside a transaction (it must not begin one); if it fails, its own statements
    /// are rolled back and the rest of the group is kept.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit_error| {
                let _ = answer.send(match commit_error {
                    None => result,
                    Some(e) => Err(sqlite_ref(e, "committing")),
                });
            })
        });
        let not_made = || Error::retryable(anyhow::anyhow!("embedded database: the write was not made; try again"));
        self.writer.send(job).map_err(|_| not_made())?;
        // A job dropped unanswered was never run or its group never began: nothing was written.
        answered.await.map_err(|_| not_made())?
    }
}

/// Commits `jobs` as one transaction: one fsync for all of them.
fn commit_group(conn: &Connection, jobs: Vec<Job>, counts: &[AtomicU64; 2]) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, writes = jobs.len(), "embedded database: could not begin a write group");
        return; // dropping the jobs tells each caller that nothing was written
    }
    let mut finishes = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A panicking write loses only itself: its savepoint is undone, its caller told (where
        // panics unwind; release builds abort instead).
        match catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok(finish) => finishes.push(finish),
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            counts[0].fetch_add(finishes.len() as u64, Ordering::Relaxed);
            counts[1].fetch_add(1, Ordering::Relaxed);
            finishes.into_iter().for_each(|f| f(None))
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            finishes.into_iter().for_each(|f| f(Some(&e)));
        }
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("SAVEPOINT write").map_err(sqlite)?;
    let result = f(conn);
    let end = if result.is_ok() { "RELEASE write" } else { "ROLLBACK TO write; RELEASE write" };
    conn.execute_batch(end).map_err(sqlite)?;
    result
}

/// [`sqlite`] for an error that several callers are told about.
fn sqlite_ref(e: &rusqlite::Error, doing: &str) -> Error {
    let busy = matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked));
    let e = anyhow::anyhow!("embedded database: {doing}: {e}");
    if busy { Error::retryable(e) } else { Error::permanent(e) }
}

/// Classifies a SQLite error: a busy or locked database is worth retrying, the rest is not.
pub(crate) fn sqlite(e: rusqlite::Error) -> Error {
    let busy = matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked));
    let e = anyhow::Error::new(e).context("embedded database");
    if busy { Error::retryable(e) } else { Error::permanent(e) }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(db: &Connection) -> i64 {
        db.query_row("SELECT COUNT(*) FROM connections", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_a_failing_one_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("db.sqlite")).unwrap();
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| {
                        conn.execute("INSERT INTO connections (id, json) VALUES (?1, '{}')", [format!("c{i}")])
                            .map_err(sqlite)?;
                        // Every tenth write fails after its insert: that insert must not survive.
                        if i % 10 == 0 { Err(Error::bad_input(format!("write {i} refused"))) } else { Ok(i) }
                    })
                    .await
                })
            })
            .collect();
        let mut refused = 0;
        for w in writes {
            match w.await.unwrap() {
                Ok(_) => {}
                Err(e) => {
                    assert!(e.to_string().contains("refused"), "{e}");
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 20);
        // Read back through a second connection: only what was committed is on disk.
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        assert_eq!(count(&other), 180);
        let present: i64 =
            other.query_row("SELECT COUNT(*) FROM connections WHERE id = 'c10'", [], |r| r.get(0)).unwrap();
        assert_eq!(present, 0, "a refused write's own insert was kept");
        let (writes, groups) = db.commit_counts();
        assert_eq!(writes, 200);
        assert!(groups < writes / 2, "200 concurrent writes took {groups} commits: they are not grouped");
    }

    #[tokio::test]
    async fn a_panicking_write_is_answered_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("db.sqlite")).unwrap();
        let panicked = db
            .write(|conn| -> Result<()> {
                conn.execute("INSERT INTO connections (id, json) VALUES ('lost', '{}')", []).map_err(sqlite)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(panicked.unwrap_err().to_string().contains("not made"));
        db.write(|conn| conn.execute("INSERT INTO connections (id, json) VALUES ('kept', '{}')", []).map_err(sqlite))
            .await
            .unwrap();
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        let ids: Vec<String> = other
            .prepare("SELECT id FROM connections")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(ids, ["kept"]);
    }

    #[tokio::test]
    async fn a_write_waits_for_another_process_holding_the_lock_and_then_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("db.sqlite")).unwrap();
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO connections (id, json) VALUES ('theirs', '{}')").unwrap();
        let write = tokio::spawn({
            let db = db.clone();
            async move {
                db.write(|conn| {
                    conn.execute("INSERT INTO connections (id, json) VALUES ('ours', '{}')", []).map_err(sqlite)
                })
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!write.is_finished(), "the write was answered while another process held the write lock");
        other.execute_batch("COMMIT").unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(count(&other), 2);
    }
}
